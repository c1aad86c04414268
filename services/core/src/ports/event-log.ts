import type { EventMetadata, HeraldEvent, RecordedEvent } from "../domain/events.ts";

/** "no_stream": the stream must not exist; "any": no check; a bigint: the stream's last revision. */
export type ExpectedRevision = "no_stream" | "any" | bigint;

export type NewEvent = HeraldEvent & { metadata?: Partial<EventMetadata> };

export type AppendResult = { nextRevision: bigint; position: bigint };

export type ReadStreamOptions = { direction?: "forwards" | "backwards"; fromRevision?: bigint; maxCount?: number };

export interface Subscription {
  stop(): Promise<void>;
}

export type SubscribeAllOptions = {
  /** Exclusive start: the first event delivered is the one after this position. null = from the start. */
  after: bigint | null;
  /** Called once when the subscription has delivered everything that existed when it started. */
  onCaughtUp?: () => void;
  /** Called when the subscription stops on an error (the handler's or the store's). */
  onError?: (error: unknown) => void;
};

export interface EventLog {
  /** Appends all events atomically, or none (ConcurrencyError when expectedRevision does not hold). */
  append(stream: string, events: NewEvent[], options?: { expectedRevision?: ExpectedRevision }): Promise<AppendResult>;
  /** Events of one stream; [] when the stream does not exist. */
  readStream(stream: string, options?: ReadStreamOptions): Promise<RecordedEvent[]>;
  /** Events of all streams in global order, after `after` (exclusive). */
  readAll(options: { after: bigint | null; maxCount?: number }): Promise<RecordedEvent[]>;
  /** Catch-up subscription: delivers every event after `after`, then live ones, one at a time, in order. */
  subscribeAll(options: SubscribeAllOptions, handler: (event: RecordedEvent) => Promise<void>): Subscription;
  /** Whether the store answers right now (for /readyz). */
  ping(): Promise<void>;
  close(): Promise<void>;
}

/** Durable positions of the log's followers (the relay, projections). */
export interface CheckpointStore {
  load(name: string): Promise<bigint | null>;
  save(name: string, position: bigint): Promise<void>;
}
