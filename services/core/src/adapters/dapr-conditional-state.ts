import { type DaprClient, StateConcurrencyEnum, StateConsistencyEnum } from "@dapr/dapr";
import { UnavailableError } from "../domain/errors.ts";

// Keys in a Dapr state store written with first-write concurrency: a write names the ETag it
// read (or that the key must be absent), and the store refuses it when another writer came
// first. The notification table and the leases keep their rows this way.

export type StateEntry<T> = { value: T; etag: string };

/** The key's value and ETag (getBulk is the SDK call that returns the ETag), or null. */
export async function readEntry<T>(client: DaprClient, store: string, key: string): Promise<StateEntry<T> | null> {
  const [item] = await client.state.getBulk(store, [key]);
  if (!item?.data || !item.etag) return null;
  const value = typeof item.data === "string" ? JSON.parse(item.data) : item.data;
  return { value: value as T, etag: String(item.etag) };
}

/** Writes unless the key changed since `expect` (or exists, for "absent"); false when another writer won. */
export async function writeEntry(
  client: DaprClient,
  store: string,
  key: string,
  value: unknown,
  expect: { etag: string } | "absent",
): Promise<boolean> {
  const result = await client.state.save(store, [
    {
      key,
      value,
      ...(typeof expect === "object" && { etag: expect.etag }),
      options: {
        concurrency: StateConcurrencyEnum.CONCURRENCY_FIRST_WRITE,
        consistency: StateConsistencyEnum.CONSISTENCY_STRONG,
      },
    },
  ]);
  if (!result.error) return true;
  if (isConflict(result.error)) return false;
  throw new UnavailableError(`state store ${store}: ${result.error.message}`, { cause: result.error });
}

/**
 * Another writer won: a stale ETag is a 409 (ERR_STATE_SAVE, ETag mismatch); a create of a
 * key that exists is a 409 from Table Storage and "failed to set key" from state.redis.
 */
function isConflict(error: Error): boolean {
  return /"status":409|failed to set key/.test(error.message);
}
