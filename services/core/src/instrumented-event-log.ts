import type { Metrics } from "./metrics.ts";
import type { EventLog } from "./ports.ts";

/** Counts appended events by type, whatever the backend. */
export function instrumentEventLog<L extends EventLog>(log: L, metrics: Metrics): L {
  return {
    ...log,
    async append(stream, events, options) {
      const result = await log.append(stream, events, options);
      for (const event of events) metrics.eventsAppended.inc({ type: event.type });
      return result;
    },
  };
}
