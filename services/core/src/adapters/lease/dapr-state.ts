import type { DaprClient } from "@dapr/dapr";
import type { LeaseStore } from "../../ports/index.ts";
import { readEntry, writeEntry } from "../dapr-conditional-state.ts";

type LeaseRecord = { holder: string; expiresAt: string };

/**
 * Leases as rows of a Dapr state store (key `lease-{name}`), taken and renewed with
 * first-write concurrency: of two replicas reaching for a free lease at once, the store lets
 * one write. Expiry is judged on the reader's clock against the holder's: keep the TTL well
 * above the clock skew between replicas.
 */
export function createDaprLeaseStore(client: DaprClient, store: string): LeaseStore {
  const key = (name: string) => `lease-${name}`;
  return {
    async acquire(name, holder, ttlMs) {
      const current = await readEntry<LeaseRecord>(client, store, key(name));
      const now = Date.now();
      if (current && current.value.holder !== holder && Date.parse(current.value.expiresAt) > now) return false;
      const lease: LeaseRecord = { holder, expiresAt: new Date(now + ttlMs).toISOString() };
      return writeEntry(client, store, key(name), lease, current ? { etag: current.etag } : "absent");
    },
    async release(name, holder) {
      const current = await readEntry<LeaseRecord>(client, store, key(name));
      if (current?.value.holder !== holder) return;
      const expired: LeaseRecord = { holder, expiresAt: new Date(0).toISOString() };
      await writeEntry(client, store, key(name), expired, { etag: current.etag });
    },
  };
}
