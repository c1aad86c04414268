import type { Logger } from "pino";
import { repeatEvery } from "../platform/lifecycle.ts";
import type { LeaseStore } from "../ports/index.ts";

// Work that must run in one replica at a time (the relay: two would queue every notification
// twice) runs while this replica holds its lease, and stops when it loses it. The lease is
// renewed every third of its TTL; a replica that stops hands it over at once (release), one
// that dies lets it expire. A replica stalled past the TTL (a long GC pause, a partition)
// may overlap the next holder for up to one renewal: the work must be safe to do twice, as
// the relay is (the notifier's claim sends each notification once).

export type LeaderWork = { stop(): Promise<void> };

export function whileLeader({
  leases,
  name,
  holder,
  ttlMs,
  logger,
  start,
  onChange,
}: {
  leases: LeaseStore;
  name: string;
  /** This replica, unique among replicas and across restarts. */
  holder: string;
  ttlMs: number;
  logger: Logger;
  start: () => Promise<LeaderWork>;
  /** Told true when this replica starts the work, false when it stops it. */
  onChange?: (leading: boolean) => void;
}) {
  let work: LeaderWork | null = null;
  let stopped = false;

  async function tick() {
    const holding = await leases.acquire(name, holder, ttlMs).catch((error) => {
      logger.warn({ err: error, lease: name }, "could not renew the lease; not leading until it can");
      return false;
    });
    if (stopped) return;
    if (holding && !work) {
      try {
        work = await start();
        logger.info({ lease: name, holder }, "took the lease: leading");
        onChange?.(true);
      } catch (error) {
        logger.error({ err: error, lease: name }, "took the lease but could not start; handing it back");
        await leases.release(name, holder).catch(() => undefined);
      }
    } else if (!holding && work) {
      logger.warn({ lease: name, holder }, "lost the lease: stopping");
      await stopWork();
    }
  }

  async function stopWork() {
    const leading = work;
    work = null;
    if (!leading) return;
    await leading.stop().catch((error) => logger.warn({ err: error }, "leader work did not stop cleanly"));
    onChange?.(false);
  }

  const renewing = repeatEvery(ttlMs / 3, tick);

  return {
    isLeading: () => work !== null,
    async stop() {
      stopped = true;
      await renewing.stop();
      const wasLeading = work !== null;
      await stopWork();
      if (wasLeading) await leases.release(name, holder).catch(() => undefined);
    },
  };
}
