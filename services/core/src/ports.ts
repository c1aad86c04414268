import type { Readable } from "node:stream";
import type { EventMetadata, HeraldEvent, RecordedEvent } from "./events.ts";
import type { Notification } from "./notification.ts";

// The domain talks to the outside through these small interfaces. Each has one adapter per
// backend (embedded today; Dapr, EventStoreDB and Azure slot in beside them).

// ---- event log -------------------------------------------------------------------------

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

// ---- blobs -----------------------------------------------------------------------------

export interface BlobStore {
  /** Stores the stream under key; rejects (leaving nothing behind) if the stream errors. */
  put(key: string, content: Readable, contentType: string): Promise<void>;
  get(key: string): Promise<Readable>;
  delete(key: string): Promise<void>;
  exists(key: string): Promise<boolean>;
}

// ---- queue between web (relay) and notifier --------------------------------------------

/** What travels on the queue: ids only. Everything else the notifier reads from the log. */
export type NotificationMessage = {
  version: 1;
  notificationId: string;
  uploadId: string;
  /** When the relay handed it to the queue (ISO 8601): queue lag is measured from here. */
  enqueuedAt: string;
  traceparent?: string;
};

export interface WorkQueue {
  publish(message: NotificationMessage): Promise<void>;
  /** Stops taking messages and lets those in flight finish (queues that run in this process). */
  close?(): Promise<void>;
}

/** The answer a consumer gives for one delivery, with Dapr's meaning. */
export type DeliveryStatus = "SUCCESS" | "RETRY" | "DROP";

// ---- the notification table ------------------------------------------------------------

/** The notifier's working record of one notification: the fold of its events, plus a lease. */
export type NotificationRecord = Omit<Notification, "queuedAt"> & {
  /** While status is "sending": until when the notifier that claimed it may still be at work. */
  leaseUntil: string | null;
};

/** What a write expects of the record already there. */
export type TableExpectation = { etag: string } | "absent" | "any";

export interface NotificationTable {
  get(notificationId: string): Promise<{ record: NotificationRecord; etag: string } | null>;
  /** Writes unless the expectation fails; false when another writer got there first. */
  put(record: NotificationRecord, expect: TableExpectation): Promise<boolean>;
}

// ---- mail ------------------------------------------------------------------------------

export type MailMessage = {
  to: string;
  subject: string;
  html: string;
  text: string;
  /** Stable per notification, so a receiving system can recognise a resend. */
  messageId: string;
  headers?: Record<string, string>;
};

export interface Mailer {
  send(message: MailMessage): Promise<{ messageId: string }>;
  /** Checks that the mail server answers (connects and greets), without sending anything. */
  verify?(): Promise<void>;
}

/**
 * Raised by a Mailer. permanent: the server refused for good (5xx, bad address); retrying is
 * useless. unreachable: no server answered at all (refused, timed out, dropped): the fault is
 * the mail server's, not the message's, and every other message would fail the same way.
 */
export class MailError extends Error {
  readonly unreachable: boolean;
  constructor(
    message: string,
    readonly permanent: boolean,
    options?: { cause?: unknown; unreachable?: boolean },
  ) {
    super(message, options);
    this.name = "MailError";
    this.unreachable = options?.unreachable ?? false;
  }
}

// ---- who is who ------------------------------------------------------------------------

export type User = { id: string; email: string; name: string };
export type Group = { id: string; name: string; admins: string[]; members: string[] };

export interface Directory {
  /** The user a bearer token belongs to, looked up by its hash (tokenHash). */
  userByTokenHash(hash: string): User | undefined;
  user(id: string): User | undefined;
  group(id: string): Group | undefined;
}
