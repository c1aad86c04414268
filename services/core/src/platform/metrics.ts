import client from "prom-client";
import type { QueueStats } from "../ports/index.ts";

// One registry per process; names follow Prometheus conventions (herald_ prefix, base units,
// _total for counters, bounded label sets).

export function createMetrics() {
  const registry = new client.Registry();
  client.collectDefaultMetrics({ register: registry, prefix: "herald_" });
  const registers = [registry];
  // Read at scrape time from whatever the process can see (set by its entry file).
  let queueStats: (() => Promise<QueueStats>) | null = null;
  let relayLag: (() => Promise<number>) | null = null;

  const oldestMessageAge = new client.Gauge({
    name: "herald_queue_oldest_message_age_seconds",
    help: "Age of the oldest notification message waiting or in flight in the queue (0 when empty).",
    registers,
  });

  const uploadRefusals = new client.Counter({
    name: "herald_upload_refusals_total",
    help: "Uploads refused for a limit on users and groups: user_rate, group_rate (429), group_quota (507).",
    labelNames: ["reason"] as const,
    registers,
  });
  // At 0 from the start, so the first refusal after a restart shows in rate() and increase().
  for (const reason of ["user_rate", "group_rate", "group_quota"]) uploadRefusals.labels({ reason }).inc(0);

  const preferenceChanges = new client.Counter({
    name: "herald_preference_changes_total",
    help: "Notification preference changes recorded, by source: api (PUT /api/me/preferences) or unsubscribe (an email's one-click link).",
    labelNames: ["source"] as const,
    registers,
  });
  for (const source of ["api", "unsubscribe"]) preferenceChanges.labels({ source }).inc(0);

  return {
    registry,
    httpRequestDuration: new client.Histogram({
      name: "herald_http_request_duration_seconds",
      help: "HTTP requests handled by the web, by route template and status code.",
      labelNames: ["method", "route", "status"] as const,
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    }),
    uploads: new client.Counter({
      name: "herald_uploads_total",
      help: "Uploads accepted (202).",
      registers,
    }),
    uploadBytes: new client.Counter({
      name: "herald_upload_bytes_total",
      help: "Bytes of accepted uploads.",
      registers,
    }),
    uploadRefusals,
    preferenceChanges,
    eventsAppended: new client.Counter({
      name: "herald_events_appended_total",
      help: "Events appended to the event log, by event type.",
      labelNames: ["type"] as const,
      registers,
    }),
    eventAppendDuration: new client.Histogram({
      name: "herald_event_append_duration_seconds",
      help: "Time to append one batch of events to the event log, by result.",
      labelNames: ["result"] as const,
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers,
    }),
    relayedEvents: new client.Counter({
      name: "herald_relay_events_total",
      help: "Notification requests the relay handed to the queue.",
      registers,
    }),
    stalledRequeued: new client.Counter({
      name: "herald_stalled_notifications_requeued_total",
      help: "Notifications the stall watch queued again: unfinished, and nothing recorded for them for HERALD_STALL_AFTER_MS.",
      registers,
    }),
    relayDelay: new client.Histogram({
      name: "herald_relay_delay_seconds",
      help: "Time from a notification request being appended to the relay queuing it (relay lag).",
      buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900],
      registers,
    }),
    queueLag: new client.Histogram({
      name: "herald_queue_lag_seconds",
      help: "Time from the relay enqueuing a notification to the notifier picking it up.",
      buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300],
      registers,
    }),
    authFailures: new client.Counter({
      name: "herald_auth_failures_total",
      help: "API requests refused for their credentials: missing, unknown or revoked token, or the client address throttled after too many.",
      labelNames: ["reason"] as const,
      registers,
    }),
    notifications: new client.Counter({
      name: "herald_notifications_total",
      help: "Outcomes of notification deliveries handled by the notifier.",
      labelNames: ["outcome"] as const,
      registers,
    }),
    queueDepth: new client.Gauge({
      name: "herald_queue_depth",
      help: "Notification messages in the queue: waiting (no notifier took them yet) or in_flight (taken, not acknowledged).",
      labelNames: ["state"] as const,
      registers,
      async collect() {
        if (!queueStats) return;
        const stats = await queueStats().catch(() => null);
        if (!stats) return;
        this.set({ state: "waiting" }, stats.waiting);
        this.set({ state: "in_flight" }, stats.inFlight);
        oldestMessageAge.set(stats.oldestAgeSeconds);
      },
    }),
    relayLagEvents: new client.Gauge({
      name: "herald_relay_lag_events",
      help: "Notification requests and redrives the relay has not handed to the queue yet (read over at most 10000 events after its checkpoint).",
      registers,
      async collect() {
        const lag = relayLag ? await relayLag().catch(() => null) : null;
        if (lag !== null) this.set(lag);
      },
    }),
    /** Tells the queue gauges where to read from. */
    trackQueue(read: () => Promise<QueueStats>) {
      queueStats = read;
    },
    /** Tells the relay-lag gauge how to count (the relay does, at its start). */
    trackRelayLag(read: () => Promise<number>) {
      relayLag = read;
    },
    relayLeader: new client.Gauge({
      name: "herald_relay_leader",
      help: "1 while this web replica runs the relay (it holds the relay's lease), else 0. Summed over replicas: 1, or 0 during a handover.",
      registers,
    }),
    mailUp: new client.Gauge({
      name: "herald_mail_server_up",
      help: "1 while the SMTP server answers, 0 while it is unreachable (the notifier then pauses deliveries).",
      // Registered by watchMailer, in the process that sends mail: a web that sends none must
      // not export a 0 that reads as "unreachable".
      registers: [],
    }),
    digestsRequested: new client.Counter({
      name: "herald_digests_requested_total",
      help: "Digests requested by the digest runner (one per admin, group and window with uploads); a window another run already requested is not counted.",
      registers,
    }),
    digestsSent: new client.Counter({
      name: "herald_digests_sent_total",
      help: "Digest emails the SMTP server accepted.",
      registers,
    }),
    digestUploads: new client.Histogram({
      name: "herald_digest_uploads",
      help: "Uploads listed per digest requested.",
      buckets: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000],
      registers,
    }),
    digestLateness: new client.Histogram({
      name: "herald_digest_lateness_seconds",
      help: "Schedule lateness: time from a digest's window end (the admin's HH:MM) to the run that requested it. At least HERALD_DIGEST_GRACE_SECONDS.",
      buckets: [1, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 4 * 3600, 24 * 3600],
      registers,
    }),
    digestRuns: new client.Counter({
      name: "herald_digest_runs_total",
      help: "Runs of the digest runner, by result: ok, or error (the event log did not answer; the next tick tries again).",
      labelNames: ["result"] as const,
      registers,
    }),
    digestLastRun: new client.Gauge({
      name: "herald_digest_last_run_timestamp_seconds",
      help: "When the digest runner last completed a run, or started if it has not run yet (Unix time); stale means no digest is being requested. 0 in a process without a runner.",
      registers,
    }),
    smtpDuration: new client.Histogram({
      name: "herald_smtp_send_duration_seconds",
      help: "Time to hand one email to the SMTP server, by result.",
      labelNames: ["result"] as const,
      buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    }),
  };
}

export type Metrics = ReturnType<typeof createMetrics>;
