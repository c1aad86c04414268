import client from "prom-client";
import type { QueueStats } from "./adapters/queue-inspectors.ts";

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
      help: "Events in the log after the relay's checkpoint (counted up to 10000).",
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
    /** Tells the relay-lag gauge how to count. */
    trackRelayLag(read: () => Promise<number>) {
      relayLag = read;
    },
    mailUp: new client.Gauge({
      name: "herald_mail_server_up",
      help: "1 while the SMTP server answers, 0 while it is unreachable (the notifier then pauses deliveries).",
      // Registered by watchMailer, in the process that sends mail: a web that sends none must
      // not export a 0 that reads as "unreachable".
      registers: [],
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
