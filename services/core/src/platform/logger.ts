import { AsyncLocalStorage } from "node:async_hooks";
import { pino, type Logger } from "pino";

// Every log line carries the ids of the work it belongs to (uploadId, notificationId,
// traceparent, requestId) without passing a logger around: they live in AsyncLocalStorage.

export type LogContext = {
  requestId?: string;
  userId?: string;
  uploadId?: string;
  notificationId?: string;
  traceparent?: string;
};

const context = new AsyncLocalStorage<LogContext>();

export function withLogContext<T>(fields: LogContext, fn: () => T): T {
  return context.run({ ...context.getStore(), ...fields }, fn);
}

/** Adds fields to the current context (e.g. the uploadId once it is known). */
export function addLogContext(fields: LogContext): void {
  const store = context.getStore();
  if (store) Object.assign(store, fields);
}

/**
 * JSON lines, for log collectors; but a person running Herald in a terminal in development
 * reads them through pino-pretty (one line per event, the message first). Piped or in
 * production, the output is JSON whatever the terminal.
 */
export function createLogger(level: string, name = "herald"): Logger {
  const forPerson = process.stdout.isTTY === true && process.env.NODE_ENV !== "production";
  return pino({
    name,
    level,
    base: { service: name },
    timestamp: pino.stdTimeFunctions.isoTime,
    mixin: () => ({ ...context.getStore() }),
    ...(forPerson && {
      transport: {
        target: "pino-pretty",
        options: { translateTime: "SYS:HH:MM:ss", ignore: "pid,hostname,service", singleLine: true },
      },
    }),
  });
}

export type { Logger };
