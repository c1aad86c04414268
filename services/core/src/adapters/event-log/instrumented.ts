import type { Metrics } from "../../platform/metrics.ts";
import type { EventLog } from "../../ports/index.ts";

/** Times appends and counts appended events by type, whatever the backend. */
export function instrumentEventLog<L extends EventLog>(log: L, metrics: Metrics): L {
  return {
    ...log,
    async append(stream, events, options) {
      const stop = metrics.eventAppendDuration.startTimer();
      try {
        const result = await log.append(stream, events, options);
        stop({ result: "ok" });
        for (const event of events) metrics.eventsAppended.inc({ type: event.type });
        return result;
      } catch (error) {
        stop({ result: (error as Error).name === "ConcurrencyError" ? "conflict" : "error" });
        throw error;
      }
    },
  };
}
