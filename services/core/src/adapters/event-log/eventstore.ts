import {
  ANY,
  BACKWARDS,
  END,
  EventStoreDBClient,
  FORWARDS,
  jsonEvent,
  NO_STREAM,
  type Position,
  type ResolvedEvent,
  START,
  StreamNotFoundError,
  WrongExpectedVersionError,
} from "@eventstore/db-client";
import { ConcurrencyError, UnavailableError } from "../../domain/errors.ts";
import type { EventMetadata, RecordedEvent } from "../../domain/events.ts";
import type { CheckpointStore, EventLog, ExpectedRevision, NewEvent, Subscription } from "../../ports/index.ts";

// The event log on EventStoreDB, through the official client. This is the only module that
// imports the client: driver errors become Herald's (ConcurrencyError, UnavailableError).
//
// Positions: EventStoreDB orders $all by (commit, prepare). Herald's port has one bigint, so
// both are packed into it, commit in the high 64 bits: the packed values sort exactly as $all
// does, and unpack back to the Position the client needs to resume.

const shift = 64n;
const low = (1n << shift) - 1n;
const packPosition = ({ commit, prepare }: Position): bigint => (commit << shift) | prepare;
const unpackPosition = (position: bigint): Position => ({ commit: position >> shift, prepare: position & low });

/** Streams and event types starting with `$` are EventStoreDB's own. */
const isSystem = (streamName: string, type: string) => streamName.startsWith("$") || type.startsWith("$");

export type EventStoreEventLog = EventLog & CheckpointStore;

export function openEventStoreEventLog(connectionString: string): EventStoreEventLog {
  const client = EventStoreDBClient.connectionString(connectionString);
  const trimmed = new Set<string>();

  const translate = (error: unknown, what: string): Error => {
    if (error instanceof ConcurrencyError || error instanceof UnavailableError) return error;
    return new UnavailableError(`EventStoreDB: ${what} failed: ${(error as Error).message}`, { cause: error });
  };

  const toRecorded = (resolved: ResolvedEvent): RecordedEvent | null => {
    const event = resolved.event;
    if (!event || isSystem(event.streamId, event.type)) return null;
    const position =
      event.position ??
      (resolved.commitPosition !== undefined
        ? { commit: resolved.commitPosition, prepare: resolved.commitPosition }
        : undefined);
    if (!position) throw new Error(`EventStoreDB returned ${event.streamId}@${event.revision} without a position`);
    const metadata = (event.metadata ?? {}) as Partial<EventMetadata>;
    return {
      type: event.type,
      data: event.data,
      metadata: { ...metadata, occurredAt: metadata.occurredAt ?? event.created.toISOString() },
      streamName: event.streamId,
      revision: event.revision,
      position: packPosition(position),
    } as RecordedEvent;
  };

  async function collect(read: AsyncIterable<ResolvedEvent>, what: string): Promise<RecordedEvent[]> {
    const events: RecordedEvent[] = [];
    try {
      for await (const resolved of read) {
        const recorded = toRecorded(resolved);
        if (recorded) events.push(recorded);
      }
    } catch (error) {
      if (error instanceof StreamNotFoundError) return [];
      throw translate(error, what);
    }
    return events;
  }

  async function headPosition(): Promise<bigint | null> {
    const [last] = await collectRaw(client.readAll({ direction: BACKWARDS, fromPosition: END, maxCount: 1 }));
    return last?.event?.position ? packPosition(last.event.position) : null;
  }

  async function collectRaw(read: AsyncIterable<ResolvedEvent>) {
    const all: ResolvedEvent[] = [];
    for await (const resolved of read) all.push(resolved);
    return all;
  }

  const log: EventStoreEventLog = {
    async append(stream: string, events: NewEvent[], options: { expectedRevision?: ExpectedRevision } = {}) {
      const expected = options.expectedRevision ?? "any";
      const now = new Date().toISOString();
      try {
        const result = await client.appendToStream(
          stream,
          events.map((e) =>
            jsonEvent({
              type: e.type,
              data: e.data,
              metadata: { occurredAt: e.metadata?.occurredAt ?? now, ...e.metadata },
            }),
          ),
          { expectedRevision: expected === "any" ? ANY : expected === "no_stream" ? NO_STREAM : expected },
        );
        if (!result.position) throw new Error("the server did not say where the events were written");
        return { nextRevision: result.nextExpectedRevision, position: packPosition(result.position) };
      } catch (error) {
        if (error instanceof WrongExpectedVersionError) {
          throw new ConcurrencyError(stream, String(expected), String(error.actualVersion));
        }
        throw translate(error, `append to ${stream}`);
      }
    },

    async readStream(stream, { direction = "forwards", fromRevision, maxCount } = {}) {
      const forwards = direction === "forwards";
      return collect(
        client.readStream(stream, {
          direction: forwards ? FORWARDS : BACKWARDS,
          fromRevision: fromRevision ?? (forwards ? START : END),
          ...(maxCount !== undefined && { maxCount: BigInt(maxCount) }),
        }),
        `read ${stream}`,
      );
    },

    async readAll({ after, maxCount = 1000 }) {
      // Reads from a position include it; the port's `after` does not.
      const events = await collect(
        client.readAll({
          direction: FORWARDS,
          fromPosition: after === null ? START : unpackPosition(after),
          maxCount: BigInt(maxCount + 1),
        }),
        "read $all",
      );
      return events.filter((e) => after === null || e.position > after).slice(0, maxCount);
    },

    subscribeAll({ after, onCaughtUp, onError }, handler) {
      let stopped = false;
      let caughtUp = false;
      const subscription = client.subscribeToAll({ fromPosition: after === null ? START : unpackPosition(after) });
      const markCaughtUp = () => {
        if (caughtUp || stopped) return;
        caughtUp = true;
        onCaughtUp?.();
      };
      // Servers before 23.10 never say "caught up": compare with the head of $all as well.
      const head = headPosition().then(
        (position) => {
          if (position === null || (after !== null && after >= position)) markCaughtUp();
          return position;
        },
        () => null,
      );
      subscription.on("caughtUp", markCaughtUp);

      const run = async () => {
        for await (const resolved of subscription) {
          if (stopped) return;
          const raw = resolved.event?.position ? packPosition(resolved.event.position) : null;
          const recorded = toRecorded(resolved);
          if (recorded) await handler(recorded);
          const top = await head;
          if (raw !== null && top !== null && raw >= top) markCaughtUp();
        }
        if (!stopped) throw new UnavailableError("EventStoreDB ended the subscription");
      };
      const done = run().catch((error) => {
        if (!stopped) onError?.(translate(error, "subscription to $all"));
      });
      return {
        async stop() {
          stopped = true;
          await subscription.unsubscribe().catch(() => undefined);
          await done;
        },
      } satisfies Subscription;
    },

    async ping() {
      try {
        await headPosition();
      } catch (error) {
        throw translate(error, "ping");
      }
    },

    // Checkpoints live in the store too, one stream per follower, so that whoever runs the
    // relay next (another pod, after a restart) resumes from the same place.
    async load(name) {
      const [last] = await log.readStream(checkpointStream(name), { direction: "backwards", maxCount: 1 });
      return last ? BigInt((last.data as unknown as { position: string }).position) : null;
    },

    async save(name, position) {
      if (!trimmed.has(name)) {
        // Only the latest checkpoint matters: let the server scavenge older ones.
        await client.setStreamMetadata(checkpointStream(name), { maxCount: 10 }).catch((error) => {
          throw translate(error, `set metadata of checkpoint ${name}`);
        });
        trimmed.add(name);
      }
      await client
        .appendToStream(
          checkpointStream(name),
          jsonEvent({ type: "CheckpointStored", data: { position: position.toString() } }),
        )
        .catch((error) => {
          throw translate(error, `save checkpoint ${name}`);
        });
    },

    async close() {
      await client.dispose();
    },
  };
  return log;
}

const checkpointStream = (name: string) => `herald-checkpoint-${name}`;
