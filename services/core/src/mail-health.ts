import type { Logger } from "./logger.ts";
import type { Metrics } from "./metrics.ts";
import { MailError, type Mailer } from "./ports.ts";

// Whether the mail server answers. A send that reaches no server (refused, timed out, dropped)
// marks it down; from then on the watcher asks it every probeIntervalMs (connect and greet, no
// mail) and marks it up at its first answer, as does any send the server answers. While it is
// down the notifier stops taking messages: in Dapr mode its /healthz fails, so the sidecar
// pauses deliveries; in embedded mode the in-process queue holds them. An outage is the mail
// server's fault, not the messages': it must not use up their retries and dead-letter them.

export type MailHealthStatus = { up: boolean; since: string; lastError: string | null };

export type MailHealth = {
  /** The watched mailer: send through this one. */
  mailer: Mailer;
  isUp(): boolean;
  status(): MailHealthStatus;
  /** Called on every change, up or down. */
  onChange(listener: (up: boolean) => void): void;
  stop(): void;
};

export function watchMailer(
  mailer: Mailer,
  { probeIntervalMs, logger, metrics }: { probeIntervalMs: number; logger: Logger; metrics: Metrics },
): MailHealth {
  let status: MailHealthStatus = { up: true, since: new Date().toISOString(), lastError: null };
  const listeners: Array<(up: boolean) => void> = [];
  let probe: NodeJS.Timeout | null = null;
  let stopped = false;
  metrics.registry.registerMetric(metrics.mailUp);
  metrics.mailUp.set(1);

  const change = (up: boolean, error: MailError | null) => {
    if (status.up === up) return;
    status = { up, since: new Date().toISOString(), lastError: error?.message ?? null };
    metrics.mailUp.set(up ? 1 : 0);
    if (up) {
      logger.info("mail server answers again; taking notifications");
    } else {
      logger.warn({ err: error }, "mail server unreachable; pausing notifications until it answers");
      scheduleProbe();
    }
    for (const listener of listeners) listener(up);
  };

  const scheduleProbe = () => {
    if (stopped || probe || !mailer.verify) return;
    probe = setTimeout(async () => {
      probe = null;
      if (status.up) return;
      try {
        await mailer.verify!();
        change(true, null);
      } catch (error) {
        status.lastError = (error as Error).message;
        scheduleProbe();
      }
    }, probeIntervalMs);
    probe.unref();
  };

  const observe = (error: unknown) => {
    if (error instanceof MailError && error.unreachable) change(false, error);
    else if (error instanceof MailError) change(true, null); // a server answered, if only to refuse
  };

  return {
    mailer: {
      async send(message) {
        try {
          const sent = await mailer.send(message);
          change(true, null);
          return sent;
        } catch (error) {
          observe(error);
          throw error;
        }
      },
      verify: mailer.verify?.bind(mailer),
    },
    isUp: () => status.up,
    status: () => ({ ...status }),
    onChange: (listener) => void listeners.push(listener),
    stop() {
      stopped = true;
      if (probe) clearTimeout(probe);
    },
  };
}
