import type { AddressInfo } from "node:net";
import { simpleParser, type ParsedMail } from "mailparser";
import { SMTPServer, type SMTPServerOptions } from "smtp-server";

// A real SMTP server for tests (smtp-server from npm), recording every message it accepted.

export type SinkOptions = {
  /** Answer the first N messages with this error (e.g. a 4xx for "try later"). */
  refuseFirst?: { count: number; code: number; message: string };
  /** Refuse these recipients for good (550). */
  rejectRecipients?: string[];
  /** Slow down every MAIL FROM by this much, to keep work in flight. */
  delayMs?: number;
  /** Let this many messages start, then hold every later one at MAIL FROM until release(). */
  holdAfter?: number;
  /** Require AUTH with these credentials: 530 to a client that sends without, 535 to others. Unset: any AUTH is accepted. */
  credentials?: { user: string; pass: string };
};

export type SmtpSink = {
  url: string;
  messages: ParsedMail[];
  /** The username of every AUTH that reached the server, in clear: the sink offers no STARTTLS. */
  authAttempts: string[];
  /** Accepts only these credentials from now on (535 to others). */
  acceptCredentials(credentials: { user: string; pass: string }): void;
  /** Messages per recipient address. */
  countFor(address: string): number;
  /** How many messages carried this X-Herald-Notification-Id. */
  countNotification(notificationId: string): number;
  /** Refuses these recipients for good (550) from now on; [] accepts everyone again. */
  rejectRecipients(addresses: string[]): void;
  /** Answers the next `count` messages with this error. */
  refuseNext(count: number, code: number, message: string): void;
  /** Lets held messages (and all later ones) through. */
  release(): void;
  /** Stops listening (connections are refused) until up(). */
  down(): Promise<void>;
  /** Listens again, on the same port. */
  up(): Promise<void>;
  waitFor(count: number, timeoutMs?: number): Promise<ParsedMail[]>;
  close(): Promise<void>;
};

export async function startSmtpSink(options: SinkOptions = {}): Promise<SmtpSink> {
  const messages: ParsedMail[] = [];
  const authAttempts: string[] = [];
  let credentials = options.credentials;
  let refused = 0;
  let refusal = options.refuseFirst;
  let rejected = new Set(options.rejectRecipients ?? []);
  let started = 0;
  let holding = options.holdAfter !== undefined;
  const held: Array<() => void> = [];
  const serverOptions: SMTPServerOptions = {
    authOptional: !options.credentials,
    // No STARTTLS, yet AUTH offered: a server a client could hand its password to in clear.
    disabledCommands: ["STARTTLS"],
    logger: false,
    onAuth(auth, _session, callback) {
      authAttempts.push(auth.username ?? "");
      if (!credentials || (auth.username === credentials.user && auth.password === credentials.pass))
        return callback(null, { user: auth.username });
      callback(Object.assign(new Error("Authentication credentials invalid"), { responseCode: 535 }));
    },
    onMailFrom(_address, _session, callback) {
      started += 1;
      const proceed = () => (options.delayMs ? setTimeout(() => callback(), options.delayMs) : callback());
      if (holding && started > options.holdAfter!) held.push(proceed);
      else proceed();
    },
    onRcptTo(address, _session, callback) {
      if (rejected.has(address.address)) {
        const error = Object.assign(new Error("No such user here"), { responseCode: 550 });
        return callback(error);
      }
      callback();
    },
    onData(stream, _session, callback) {
      if (refusal && refused < refusal.count) {
        refused += 1;
        const { message, code } = refusal;
        stream.resume();
        stream.on("end", () => callback(Object.assign(new Error(message), { responseCode: code })));
        return;
      }
      simpleParser(stream).then(
        (mail) => {
          messages.push(mail);
          callback();
        },
        (error) => callback(error),
      );
    },
  };
  const listen = async (port: number) => {
    const server = new SMTPServer(serverOptions);
    // A client killed mid-transaction resets its connection: that is the fault tests' point,
    // not an error of the sink's.
    server.on("error", () => undefined);
    await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", resolve));
    return server;
  };
  let server: SMTPServer | null = await listen(0);
  const { port } = server.server.address() as AddressInfo;
  const close = async () => {
    const closing = server;
    server = null;
    if (closing) await new Promise<void>((resolve) => closing.close(() => resolve()));
  };

  const addresses = (mail: ParsedMail) =>
    [mail.to].flat().flatMap((to) => (to ? to.value.map((v) => v.address?.toLowerCase()) : []));

  return {
    url: `smtp://127.0.0.1:${port}`,
    messages,
    authAttempts,
    acceptCredentials(accepted) {
      credentials = accepted;
    },
    countFor: (address) => messages.filter((m) => addresses(m).includes(address.toLowerCase())).length,
    countNotification: (id) => messages.filter((m) => m.headers.get("x-herald-notification-id") === id).length,
    rejectRecipients(addresses) {
      rejected = new Set(addresses);
    },
    refuseNext(count, code, message) {
      refusal = { count, code, message };
      refused = 0;
    },
    release() {
      holding = false;
      held.splice(0).forEach((proceed) => proceed());
    },
    async waitFor(count, timeoutMs = 15_000) {
      const deadline = Date.now() + timeoutMs;
      while (messages.length < count) {
        if (Date.now() > deadline)
          throw new Error(`SMTP sink: ${messages.length} of ${count} messages after ${timeoutMs} ms`);
        await new Promise((r) => setTimeout(r, 50));
      }
      return messages;
    },
    down: close,
    async up() {
      server ??= await listen(port);
    },
    close,
  };
}
