import { z } from "zod";

// Every setting is one environment variable, read and validated once at start. A bad value
// stops the process with a message naming the variable (see loadConfig).

const positiveInt = z.coerce.number().int().positive();

const schema = z
  .object({
    /** embedded: everything in one process (npm start). dapr: web and notifier behind sidecars. */
    HERALD_MODE: z.enum(["embedded", "dapr"]).default("embedded"),
    /** Dapr mode: how the relay hands work to the notifier (Redis pub/sub, or the Storage Queue binding). */
    HERALD_QUEUE: z.enum(["pubsub", "binding"]).default("pubsub"),
    /** Dapr mode: the sidecar's HTTP endpoint (`dapr run` sets DAPR_HTTP_PORT). */
    DAPR_HOST: z.string().min(1).default("127.0.0.1"),
    DAPR_HTTP_PORT: z.coerce.number().int().min(1).max(65535).default(3500),
    /** Dapr mode: the notifier's HTTP port, where its sidecar delivers (`dapr run` sets APP_PORT). */
    APP_PORT: z.coerce.number().int().min(0).max(65535).default(8081),
    /** Dapr mode with pub/sub on Redis: the Redis (host:port) the queue gauges read the stream from. */
    HERALD_QUEUE_REDIS_HOST: z
      .string()
      .regex(/^[^\s:]+:\d+$/, "must be host:port")
      .optional(),
    /** Blobs in Azure Blob Storage (or Azurite) instead of HERALD_DATA_DIR/blobs. */
    AZURE_STORAGE_CONNECTION_STRING: z.string().min(1).optional(),
    HERALD_BLOB_CONTAINER: z
      .string()
      .regex(/^[a-z0-9](?:[a-z0-9-]{1,61}[a-z0-9])$/, "must be a valid blob container name")
      .default("uploads"),
    /** How long one send may take before another delivery may take the notification over. */
    HERALD_SEND_LEASE_MS: positiveInt.default(60_000),
    NODE_ENV: z.enum(["development", "production", "test"]).default("development"),
    PORT: z.coerce.number().int().min(0).max(65535).default(8080),
    /** Where the web is reached by people; used for links in emails. Default http://localhost:PORT. */
    HERALD_PUBLIC_URL: z.url().optional(),
    /** smtp://user:pass@host:port or smtps://...; unset = write mail to the local outbox. */
    SMTP_URL: z
      .url()
      .refine((u) => /^smtps?:$/.test(new URL(u).protocol), "must be an smtp:// or smtps:// URL")
      .optional(),
    MAIL_FROM: z.string().min(3).default("Herald <herald@localhost>"),
    /** While the SMTP server or the event log is unreachable, how often the notifier checks whether it is back. */
    HERALD_PROBE_INTERVAL_MS: positiveInt.default(2000),
    /** esdb://host:2113?tls=false: the event log (and relay checkpoint) on EventStoreDB; unset = SQLite. */
    EVENTSTORE_URL: z
      .string()
      .regex(/^esdb(\+discover)?:\/\/\S+$/, "must be an esdb:// or esdb+discover:// connection string")
      .optional(),
    HERALD_DATA_DIR: z.string().min(1).default("./data"),
    HERALD_MAX_UPLOAD_BYTES: positiveInt.default(100 * 1024 * 1024),
    /** An upload that sends no bytes for this long is cut off (408): slow-loris clients hold no slot. */
    HERALD_UPLOAD_IDLE_TIMEOUT_MS: positiveInt.default(30_000),
    /** Path to a JSON seed of users and groups; unset = the demo seed. */
    HERALD_SEED: z.string().min(1).optional(),
    /** Embedded queue: deliveries per notification before it is dead-lettered. */
    HERALD_MAX_ATTEMPTS: positiveInt.default(5),
    /** Embedded queue: first retry delay; doubles per attempt up to 60 s. */
    HERALD_RETRY_BASE_MS: positiveInt.default(1000),
    /** Notifications the embedded notifier works on at once. */
    HERALD_NOTIFIER_CONCURRENCY: positiveInt.default(4),
    LOG_LEVEL: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
  })
  .superRefine((c, ctx) => {
    // Two processes append to the log in Dapr mode; the SQLite file belongs to one process.
    if (c.HERALD_MODE === "dapr" && !c.EVENTSTORE_URL) {
      ctx.addIssue({ code: "custom", path: ["EVENTSTORE_URL"], message: "required when HERALD_MODE=dapr" });
    }
  });

export type Config = z.infer<typeof schema> & { HERALD_PUBLIC_URL: string };

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  ${p}`).join("\n")}`);
    this.name = "ConfigError";
  }
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  // An empty variable means "not set", as in most shells' habits.
  const present = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ""));
  const parsed = schema.safeParse(present);
  if (!parsed.success) {
    throw new ConfigError(parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`));
  }
  const config = parsed.data;
  return { ...config, HERALD_PUBLIC_URL: config.HERALD_PUBLIC_URL ?? `http://localhost:${config.PORT}` };
}
