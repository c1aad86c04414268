import { randomUUID } from "node:crypto";
import { hostname } from "node:os";
import {
  type Config,
  createLogger,
  closeServer,
  listenOn,
  createMetrics,
  createNotificationCommands,
  createReadModels,
  followLog,
  relayCheckpoint,
  type Running,
  type SharedPlatform,
  queueNotification,
  startRelay,
  startStallWatch,
  type QueueStats,
  unsubscribeSecret,
  type WorkQueue,
  whileLeader,
} from "@herald/core";
import {
  loadDirectory,
  openBlobStore,
  openDaprQueue,
  openEventLog,
  openLeaseStore,
  openOutbox,
  openQueueInspector,
} from "@herald/core/adapters";
import { createWebApp } from "./app.ts";
import { signInSettings } from "./auth/index.ts";

// The web's composition root: config → adapters → read models (replay the log, then follow it)
// → the relay → the HTTP app → listen. Every adapter choice is made in the wiring
// (@herald/core/adapters), from config.

export type WebOptions = Partial<SharedPlatform> & {
  /**
   * Embedded mode: the in-process queue the relay publishes to (Dapr mode opens the sidecar's).
   * It forgets what it held when the process stops, so at start every notification the relay
   * had already passed and that is not final is queued again.
   */
  queue?: WorkQueue & { stats(): Promise<QueueStats> };
};

export type RunningWeb = Running & { url: string };

export async function startWeb(config: Config, shared: WebOptions = {}): Promise<RunningWeb> {
  // ---- platform and adapters -------------------------------------------------------------
  const logger = shared.logger ?? createLogger(config.LOG_LEVEL, "herald-web");
  const metrics = shared.metrics ?? createMetrics();
  const directory = shared.directory ?? loadDirectory(config, logger);
  const { log, store } = shared.eventLog ?? openEventLog(config, metrics);
  const blobs = await openBlobStore(config);
  const commands = createNotificationCommands(log);

  // ---- read models: replay the log, then follow it ---------------------------------------
  const readModels = createReadModels();
  let caughtUp = false;
  let projection!: ReturnType<typeof followLog>;
  await new Promise<void>((replayed) => {
    const onCaughtUp = () => {
      caughtUp = true;
      replayed();
    };
    projection = followLog(log, { name: "read-models", after: null, logger, onCaughtUp }, async (event) =>
      readModels.apply(event),
    );
  });

  // ---- queue and relay -------------------------------------------------------------------
  const queue = shared.queue ?? openDaprQueue(config);
  if (shared.queue) {
    const relayedUpTo = await store.load(relayCheckpoint);
    const pending = relayedUpTo === null ? [] : readModels.unfinished(relayedUpTo);
    for (const message of pending) await queue.publish(message);
    if (pending.length > 0) logger.info({ count: pending.length }, "requeued unfinished notifications after restart");
  }
  const inspector = openQueueInspector(config);
  const queueStats = inspector?.stats ?? shared.queue?.stats;
  if (queueStats) metrics.trackQueue(queueStats);
  // The relay queues what is requested; the stall watch queues again what the queue lost.
  const startRelayHere = async () => {
    const relay = await startRelay({
      log,
      commands,
      checkpoints: store,
      queue,
      metrics,
      logger: logger.child({ component: "relay" }),
    });
    const stallWatch = startStallWatch({
      stalled: readModels.stalled,
      requeue: ({ message }, reason) =>
        queueNotification({ commands, queue }, message, { traceparent: message.traceparent, reason }),
      stallAfterMs: config.HERALD_STALL_AFTER_MS,
      metrics,
      logger: logger.child({ component: "stall-watch" }),
    });
    return { stop: () => Promise.all([stallWatch.stop(), relay.stop()]).then(() => undefined) };
  };
  // Embedded mode has one web. In Dapr mode web replicas scale out, and the relay runs in the
  // one that holds its lease: two relays would queue every notification twice.
  const relay = shared.queue
    ? await startRelayHere()
    : whileLeader({
        leases: openLeaseStore(config),
        name: relayCheckpoint,
        holder: `${hostname()}-${process.pid}-${randomUUID().slice(0, 8)}`,
        ttlMs: config.HERALD_RELAY_LEASE_MS,
        logger: logger.child({ component: "relay" }),
        start: startRelayHere,
        onChange: (leading) => metrics.relayLeader.set(leading ? 1 : 0),
      });
  if (shared.queue) metrics.relayLeader.set(1);

  // ---- HTTP ------------------------------------------------------------------------------
  const app = createWebApp({
    log,
    commands,
    blobs,
    directory,
    readModels,
    metrics,
    logger,
    maxUploadBytes: config.HERALD_MAX_UPLOAD_BYTES,
    uploadIdleTimeoutMs: config.HERALD_UPLOAD_IDLE_TIMEOUT_MS,
    uploadRateLimits: {
      perUserPerMinute: config.HERALD_UPLOADS_PER_USER_PER_MINUTE,
      perGroupPerMinute: config.HERALD_UPLOADS_PER_GROUP_PER_MINUTE,
    },
    groupQuotaBytes: config.HERALD_GROUP_QUOTA_BYTES,
    isCaughtUp: () => caughtUp,
    outbox: openOutbox(config),
    authFailuresPerMinute: config.HERALD_AUTH_FAILURES_PER_MINUTE,
    unsubscribeSecret: unsubscribeSecret(config, logger),
    signIn: signInSettings(config, logger),
    trustProxy: config.HERALD_TRUST_PROXY,
  });
  const { server, port } = await listenOn(app, config.PORT, "PORT");
  server.requestTimeout = 10 * 60_000; // large uploads take a while; a stalled one is cut off
  server.headersTimeout = 30_000;
  // Past this many open connections new ones are closed at once: file descriptors and memory
  // stay bounded whatever clients do.
  server.maxConnections = config.HERALD_MAX_CONNECTIONS;
  logger.info(
    {
      port,
      mode: config.HERALD_MODE,
      eventLog: config.EVENTSTORE_URL ? "eventstoredb" : "sqlite",
      queue: config.HERALD_MODE === "dapr" ? config.HERALD_QUEUE : "in-process",
      mail: config.SMTP_URL ? "smtp" : "outbox",
    },
    "herald web listening",
  );

  return {
    url: `http://127.0.0.1:${port}`,
    logger,
    async stop() {
      await closeServer(server);
      await relay.stop();
      await inspector?.close();
      await projection.stop();
      if (!shared.eventLog) await store.close();
    },
  };
}
