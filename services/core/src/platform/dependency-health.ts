import type { Gauge } from "prom-client";
import { tapErrors, UnavailableError } from "../domain/errors.ts";
import type { Logger } from "./logger.ts";
import type { Metrics } from "./metrics.ts";
import { type EventLog, MailError, type Mailer } from "../ports/index.ts";

// Whether a dependency the notifier cannot work without (the mail server, the event log)
// answers. It is watched passively: a call that reaches nothing (or, for the mail server, one
// it refuses as ours rather than the message's: our credentials) marks it down, and from then
// on the watcher probes it every probeIntervalMs and marks it up at the first probe that
// passes. Nothing is probed while it is up, so a slow but working dependency never reads as down.
// While one is down the notifier takes no work: in Dapr mode its /healthz fails and the sidecar
// pauses deliveries; in embedded mode the in-process queue holds them. An outage is not the
// messages' fault: it must not use up their retries and dead-letter them.

export type DependencyStatus = { up: boolean; since: string; lastError: string | null };

export type DependencyHealth = {
  isUp(): boolean;
  status(): DependencyStatus;
  /** A call reached nothing, or was refused as ours: down, and probing until a probe passes. */
  reportDown(error: Error): void;
  /** A call got an answer, if only a refusal of that one call. */
  reportUp(): void;
  /** Called on every change, up or down. */
  onChange(listener: (up: boolean) => void): void;
  stop(): void;
};

function watchDependency(
  name: string,
  options: { probe: () => Promise<void>; probeIntervalMs: number; logger: Logger; gauge?: Gauge },
): DependencyHealth {
  const { probe, probeIntervalMs, logger, gauge } = options;
  let status: DependencyStatus = { up: true, since: new Date().toISOString(), lastError: null };
  const listeners: Array<(up: boolean) => void> = [];
  let timer: NodeJS.Timeout | null = null;
  let stopped = false;
  gauge?.set(1);

  const change = (up: boolean, error: Error | null) => {
    if (status.up === up) return;
    status = { up, since: new Date().toISOString(), lastError: error?.message ?? null };
    gauge?.set(up ? 1 : 0);
    if (up) logger.info({ dependency: name }, `${name} answers again; taking work`);
    else {
      logger.warn({ dependency: name, err: error }, `${name} unreachable; taking no work until it answers`);
      scheduleProbe();
    }
    for (const listener of listeners) listener(up);
  };

  const scheduleProbe = () => {
    if (stopped || timer) return;
    timer = setTimeout(async () => {
      timer = null;
      if (status.up) return;
      try {
        await probe();
        change(true, null);
      } catch (error) {
        status.lastError = (error as Error).message;
        scheduleProbe();
      }
    }, probeIntervalMs);
    timer.unref();
  };

  return {
    isUp: () => status.up,
    status: () => ({ ...status }),
    reportDown: (error) => change(false, error),
    reportUp: () => change(true, null),
    onChange: (listener) => void listeners.push(listener),
    stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
    },
  };
}

type WatchOptions = { probeIntervalMs: number; logger: Logger; metrics: Metrics };

/**
 * The mail server: down at a send it takes no mail from us for (MailError.outage: no server
 * answered, it refused our credentials, or it cannot protect them), up at any other answer.
 * Probed with the mailer's verify() (connect, greet and, with credentials, authenticate; no
 * mail), so it comes back only once the credentials work too. herald_mail_server_up.
 */
export function watchMailer(mailer: Mailer, { probeIntervalMs, logger, metrics }: WatchOptions) {
  // Registered here, in the process that sends mail: a web that sends none must not export a
  // 0 that reads as "unreachable".
  metrics.registry.registerMetric(metrics.mailUp);
  const health = watchDependency("mail server", {
    probe: () => mailer.verify?.() ?? Promise.resolve(),
    probeIntervalMs,
    logger,
    gauge: metrics.mailUp,
  });
  const watched: Mailer = {
    async send(message) {
      try {
        const sent = await mailer.send(message);
        health.reportUp();
        return sent;
      } catch (error) {
        if (error instanceof MailError) {
          if (error.outage) health.reportDown(error);
          else health.reportUp(); // the server took us, if only to refuse this message
        }
        throw error;
      }
    },
    verify: mailer.verify?.bind(mailer),
    close: mailer.close?.bind(mailer),
  };
  return { mailer: watched, health };
}

/** The event log: down when a read or append fails with UnavailableError. Probed with ping(). */
export function watchEventLog<L extends EventLog>(log: L, { probeIntervalMs, logger }: Omit<WatchOptions, "metrics">) {
  const health = watchDependency("event log", { probe: () => log.ping(), probeIntervalMs, logger });
  const unavailable = (error: unknown) => error instanceof UnavailableError && health.reportDown(error);
  const watched: L = {
    ...log,
    append: tapErrors(log.append.bind(log), unavailable),
    readStream: tapErrors(log.readStream.bind(log), unavailable),
    readAll: tapErrors(log.readAll.bind(log), unavailable),
  };
  return { log: watched, health };
}
