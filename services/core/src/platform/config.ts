import { isIP } from "node:net";
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
    /** SMTP connections each notifier keeps open and sends over. */
    HERALD_SMTP_MAX_CONNECTIONS: positiveInt.default(10),
    /** Lets the credentials of an smtp:// SMTP_URL go in clear when the server offers no STARTTLS: a trusted local relay only. */
    HERALD_SMTP_ALLOW_PLAINTEXT_AUTH: z
      .enum(["true", "false"], "must be true or false")
      .default("false")
      .transform((value) => value === "true"),
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
    /** Uploads one user may start per minute (accepted or in flight); more get 429. Far above what a person does by hand. */
    HERALD_UPLOADS_PER_USER_PER_MINUTE: positiveInt.default(30),
    /** Uploads all members of one group together may start per minute (accepted or in flight); more get 429. */
    HERALD_UPLOADS_PER_GROUP_PER_MINUTE: positiveInt.default(120),
    /** Bytes of recorded uploads one group may hold; past it, uploads get 507. Unset = no quota. */
    HERALD_GROUP_QUOTA_BYTES: positiveInt.optional(),
    /**
     * Dapr mode: the relay runs in one web replica, the holder of a lease in the state store;
     * another replica takes over within this long when the holder dies (at once when it stops).
     */
    HERALD_RELAY_LEASE_MS: positiveInt.default(15_000),
    /**
     * A notification queued but unfinished with nothing recorded for it for this long is queued
     * again (application/stall-watch.ts): the queue lost or forgot its message. Keep it above
     * the longest backlog the queue is expected to drain; a requeue of a message still waiting
     * costs one more delivery, never one more email.
     */
    HERALD_STALL_AFTER_MS: positiveInt.default(30 * 60_000),
    /** Path to a JSON seed of users and groups; unset = the demo seed. */
    HERALD_SEED: z.string().min(1).optional(),
    /** Embedded queue: deliveries per notification before it is dead-lettered. */
    HERALD_MAX_ATTEMPTS: positiveInt.default(5),
    /** Embedded queue: first retry delay; doubles per attempt up to 60 s. */
    HERALD_RETRY_BASE_MS: positiveInt.default(1000),
    /** Notifications the embedded notifier works on at once (Dapr mode: the component's concurrency). */
    HERALD_NOTIFIER_CONCURRENCY: positiveInt.default(32),
    /** Open HTTP connections the web accepts; more are closed at once. */
    HERALD_MAX_CONNECTIONS: positiveInt.default(1000),
    /** Failed authentications one client address may make per minute; then 429 until the minute is out. */
    HERALD_AUTH_FAILURES_PER_MINUTE: positiveInt.default(20),
    /**
     * Signs the one-click unsubscribe links in emails (HMAC-SHA256); the web and the notifier
     * need the same one. Unset outside production: a public development secret (logged).
     */
    HERALD_UNSUBSCRIBE_SECRET: z.string().min(32, "must be at least 32 characters").optional(),
    /**
     * Signs the web's session cookies (HMAC-SHA256); every web replica needs the same one.
     * Unset outside production: a public development secret (logged). See docs/sign-in.md.
     */
    HERALD_SESSION_SECRET: z.string().min(32, "must be at least 32 characters").optional(),
    /** How long a sign-in lasts; the cookie is then refused and the user signs in again. */
    HERALD_SESSION_TTL_MINUTES: positiveInt.default(480),
    /** The OpenID Connect identity provider's issuer URL (its discovery document is under it). Unset = no sign-in through an IdP. */
    HERALD_OIDC_ISSUER: z.url().optional(),
    /** Herald's client id at the identity provider. */
    HERALD_OIDC_CLIENT_ID: z.string().min(1).optional(),
    /** Herald's client secret at the identity provider; or HERALD_OIDC_CLIENT_SECRET_FILE, a file holding it. Never logged. */
    HERALD_OIDC_CLIENT_SECRET: z.string().min(1).optional(),
    HERALD_OIDC_CLIENT_SECRET_FILE: z.string().min(1).optional(),
    /**
     * Where the identity provider sends the browser back; register it at the IdP. Default
     * HERALD_PUBLIC_URL + /auth/callback; with neither set, /auth/callback on the address the
     * browser used.
     */
    HERALD_OIDC_REDIRECT_URL: z.url().optional(),
    /** Scopes asked for at sign-in, separated by spaces; must include openid. */
    HERALD_OIDC_SCOPES: z
      .string()
      .default("openid email profile")
      .refine((s) => s.split(/\s+/).includes("openid"), "must include openid"),
    /** The name on the sign-in page's "Sign in with …" button; default the issuer's host name. */
    HERALD_OIDC_LABEL: z.string().min(1).max(60).optional(),
    /** The audience (aud) the IdP's JWT access tokens for Herald's API carry. Unset = /api takes no JWT access tokens. */
    HERALD_OIDC_AUDIENCE: z.string().min(1).optional(),
    /** How often the digest runner looks for digests that are due (embedded mode: an in-process timer). */
    HERALD_DIGEST_TICK_SECONDS: positiveInt.default(60),
    /**
     * How long after a digest moment its digest waits, so that an upload stamped a moment before
     * it (an append in flight, another replica's clock a little ahead) is in the log when the
     * window is read.
     */
    HERALD_DIGEST_GRACE_SECONDS: z.coerce.number().int().min(0).default(10),
    LOG_LEVEL: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
    /**
     * Which proxies in front of the web to believe about the client's address and protocol
     * (X-Forwarded-For, X-Forwarded-Proto): express's `trust proxy`. "false" (the default: the
     * web is reached directly), "true" (any: only when nothing reaches the web but through the
     * proxy), a number of hops, or a comma-separated list of addresses, subnets (10.0.0.0/8) or
     * loopback / linklocal / uniquelocal. Behind a TLS-terminating proxy it is what makes the web
     * see HTTPS: Secure cookies, HSTS and upgrade-insecure-requests follow from it.
     */
    HERALD_TRUST_PROXY: z.string().default("false").transform(parseTrustProxy),
  })
  .superRefine((c, ctx) => {
    // Two processes append to the log in Dapr mode; the SQLite file belongs to one process.
    if (c.HERALD_MODE === "dapr" && !c.EVENTSTORE_URL) {
      ctx.addIssue({ code: "custom", path: ["EVENTSTORE_URL"], message: "required when HERALD_MODE=dapr" });
    }
    // Without it mail goes to the local outbox, a development aid: in production that would
    // be every group's mail in a folder, and nobody emailed.
    if (c.NODE_ENV === "production" && !c.SMTP_URL) {
      ctx.addIssue({
        code: "custom",
        path: ["SMTP_URL"],
        message: "required when NODE_ENV=production (the local outbox is for development)",
      });
    }
    // Anyone who can sign an unsubscribe link can turn anyone's mail off, and anyone who can
    // sign a session cookie is signed in as anyone: production brings its own secrets, not the
    // public development ones.
    if (c.NODE_ENV === "production") {
      const secrets = {
        HERALD_UNSUBSCRIBE_SECRET: "it signs the unsubscribe links in emails",
        HERALD_SESSION_SECRET: "it signs the session cookies",
      } as const;
      for (const [variable, purpose] of Object.entries(secrets)) {
        const secret = c[variable as keyof typeof secrets];
        const problem = !secret
          ? `required when NODE_ENV=production (${purpose}; e.g. \`openssl rand -base64 48\`)`
          : secret.startsWith("dev-")
            ? 'must not start with "dev-" when NODE_ENV=production (that is the public development secret)'
            : null;
        if (problem) ctx.addIssue({ code: "custom", path: [variable], message: problem });
      }
    }
    // Sign-in through an identity provider needs all of issuer, client id and one client
    // secret; half a setup is a mistake to name at start, not a sign-in page that fails later.
    const oidcIssue = (variable: string, message: string) =>
      ctx.addIssue({ code: "custom", path: [variable], message });
    const secrets = [c.HERALD_OIDC_CLIENT_SECRET, c.HERALD_OIDC_CLIENT_SECRET_FILE].filter(Boolean).length;
    if (c.HERALD_OIDC_ISSUER) {
      if (!c.HERALD_OIDC_CLIENT_ID) oidcIssue("HERALD_OIDC_CLIENT_ID", "required when HERALD_OIDC_ISSUER is set");
      if (secrets === 0)
        oidcIssue(
          "HERALD_OIDC_CLIENT_SECRET",
          "required when HERALD_OIDC_ISSUER is set (or HERALD_OIDC_CLIENT_SECRET_FILE, a file holding it)",
        );
    } else {
      const dependents = [
        "HERALD_OIDC_CLIENT_ID",
        "HERALD_OIDC_CLIENT_SECRET",
        "HERALD_OIDC_CLIENT_SECRET_FILE",
        "HERALD_OIDC_REDIRECT_URL",
        "HERALD_OIDC_AUDIENCE",
      ] as const;
      for (const name of dependents)
        if (c[name]) oidcIssue(name, "set, but HERALD_OIDC_ISSUER is not: set both, or neither");
    }
    if (secrets === 2)
      oidcIssue("HERALD_OIDC_CLIENT_SECRET", "set together with HERALD_OIDC_CLIENT_SECRET_FILE: set one of them");
  });

/** HERALD_TRUST_PROXY as express's `trust proxy` takes it. */
function parseTrustProxy(value: string, ctx: z.RefinementCtx): boolean | number | string[] {
  if (value === "false") return false;
  if (value === "true") return true;
  if (/^\d+$/.test(value)) return Number(value);
  const entries = value.split(",").map((entry) => entry.trim());
  const named = new Set(["loopback", "linklocal", "uniquelocal"]);
  const bad = entries.filter((entry) => {
    const [address, bits, ...rest] = entry.split("/");
    if (named.has(entry)) return false;
    const family = isIP(address ?? "");
    const maxBits = family === 6 ? 128 : 32;
    return family === 0 || rest.length > 0 || (bits !== undefined && !(/^\d+$/.test(bits) && Number(bits) <= maxBits));
  });
  if (bad.length > 0) {
    ctx.addIssue({
      code: "custom",
      message: `must be true, false, a number of hops, or addresses/subnets/loopback/linklocal/uniquelocal separated by commas; not ${bad.join(", ")}`,
    });
    return z.NEVER;
  }
  return entries;
}

export type Config = z.infer<typeof schema> & { HERALD_PUBLIC_URL: string };

/** A setting that cannot work; each problem starts with the variable's name. */
export class ConfigError extends Error {
  readonly problems: string[];
  constructor(problems: string[] | string) {
    const list = typeof problems === "string" ? [problems] : problems;
    super(`Invalid configuration:\n${list.map((p) => `  ${p}`).join("\n")}`);
    this.problems = list;
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
  return {
    ...config,
    HERALD_PUBLIC_URL: config.HERALD_PUBLIC_URL ?? `http://localhost:${config.PORT}`,
    // Neither set: the web takes the address the browser used (development on any host name).
    HERALD_OIDC_REDIRECT_URL:
      config.HERALD_OIDC_REDIRECT_URL ??
      (config.HERALD_PUBLIC_URL ? new URL("/auth/callback", config.HERALD_PUBLIC_URL).href : undefined),
  };
}
