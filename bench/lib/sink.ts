import type { ParsedMail } from "mailparser";
import type { SmtpSink } from "../../test/support/smtp-sink.ts";

// When each email reached the sink. The test sink (test/support/smtp-sink.ts) parses every
// message in full and keeps it in `messages`, but records no time, and its countNotification()
// scans all messages per call. So the benchmark stamps each message as the sink stores it (it
// pushes to that array once the message is parsed, just before it answers 250), keyed by the
// id the pipeline put in it, and drops the parsed message to keep memory flat over a long run.

/** Herald puts X-Herald-Notification-Id and Message-ID <notificationId@herald>; the baselines only the Message-ID. */
export function idOf(mail: ParsedMail): string | undefined {
  const header = mail.headers.get("x-herald-notification-id");
  if (typeof header === "string") return header;
  return /^<([^@>]+)@/.exec(mail.messageId ?? "")?.[1];
}

export type Arrivals = {
  /** performance.now() of every copy of `id` received, in order. */
  of(id: string): readonly number[] | undefined;
  /** Messages received since the last reset, with or without an id. */
  count(): number;
  reset(): void;
};

export function watchArrivals(sink: SmtpSink): Arrivals {
  const times = new Map<string, number[]>();
  let count = 0;
  sink.messages.push = (...mails: ParsedMail[]) => {
    const now = performance.now();
    for (const mail of mails) {
      count += 1;
      const id = idOf(mail) ?? "(no id)";
      const seen = times.get(id);
      if (seen) seen.push(now);
      else times.set(id, [now]);
    }
    return 0;
  };
  return {
    of: (id) => times.get(id),
    count: () => count,
    reset() {
      times.clear();
      count = 0;
    },
  };
}
