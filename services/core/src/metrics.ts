import client from "prom-client";

// One registry per process; names follow Prometheus conventions (herald_ prefix, base units,
// _total for counters, bounded label sets).

export function createMetrics() {
  const registry = new client.Registry();
  client.collectDefaultMetrics({ register: registry, prefix: "herald_" });
  const registers = [registry];
  let depthOf: () => number = () => 0;

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
      help: "Notification messages waiting, in flight or scheduled for a retry in the queue.",
      registers,
      collect() {
        this.set(depthOf());
      },
    }),
    /** Tells the queue-depth gauge where to read from. */
    trackQueueDepth(read: () => number) {
      depthOf = read;
    },
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

/** The outcomes counted in herald_notifications_total{outcome}. */
export type SendOutcome = "sent" | "retried" | "failed" | "dead_lettered" | "duplicate";
