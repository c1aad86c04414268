import { randomBytes } from "node:crypto";

// W3C trace context: the upload request's traceparent (or a new one) is stored in the events'
// metadata and carried on the queue, so one id ties together the request, the relay, the
// notifier and the notification's history.

const traceparentPattern = /^00-([0-9a-f]{32})-([0-9a-f]{16})-[0-9a-f]{2}$/;

export function isValidTraceparent(value: string | undefined): value is string {
  const match = value ? traceparentPattern.exec(value) : null;
  return !!match && !/^0+$/.test(match[1]!) && !/^0+$/.test(match[2]!);
}

export function newTraceparent(): string {
  return `00-${randomBytes(16).toString("hex")}-${randomBytes(8).toString("hex")}-01`;
}

export const traceIdOf = (traceparent: string) => traceparent.split("-")[1];
