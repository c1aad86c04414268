import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, describe, it } from "node:test";
import { MailError, type MailMessage, type Mailer } from "@herald/core";
import { createSmtpMailer } from "@herald/core/adapters";
import { type SmtpSink, startSmtpSink } from "../support/smtp-sink.ts";
import { mailerContract, receivedMail } from "./mailer.contract.ts";

// The SMTP mailer against a real SMTP server (smtp-server from npm, test/support/smtp-sink.ts).

const FROM = "herald@example.test";

let contractSink: SmtpSink | undefined;
mailerContract({
  name: "SMTP (smtp-server)",
  verifies: true,
  async open() {
    contractSink = await startSmtpSink();
    return createSmtpMailer(contractSink.url, FROM);
  },
  received: async () => contractSink!.messages.map(receivedMail),
  cleanup: async () => contractSink?.close(),
});

// What only a mailer with a server behind it can meet: refusals and outages, and how the
// notifier tells them apart (permanent: give up; outage: the server's fault, pause and retry later).
describe("SMTP mailer: refusals and outages", () => {
  const CASE = { timeout: 30_000 };
  let sink: SmtpSink;
  let mailer: Mailer;
  before(async () => {
    sink = await startSmtpSink();
    mailer = createSmtpMailer(sink.url, FROM);
  });
  after(async () => {
    await sink?.close();
  });

  const message = (to = `admin-${randomUUID().slice(0, 8)}@example.test`): MailMessage => {
    const id = randomUUID();
    return { to, subject: "New file", text: "text", html: "<p>html</p>", messageId: `<${id}@herald>` };
  };

  async function sendError(m: MailMessage): Promise<MailError> {
    const error = await mailer.send(m).then(
      () => assert.fail("send() resolved, but it had to fail"),
      (e: unknown) => e,
    );
    assert.ok(error instanceof MailError, `expected a MailError, got ${error}`);
    return error;
  }

  it("throws a permanent MailError when the server refuses the recipient for good (550)", CASE, async () => {
    const refused = "gone@example.test";
    sink.rejectRecipients([refused]);
    try {
      const before = sink.messages.length;
      const error = await sendError(message(refused));
      assert.equal(error.permanent, true, "a 5xx refusal is permanent");
      assert.equal(error.outage, false, "the server refused the message, not us");
      assert.equal(sink.messages.length, before, "nothing may arrive for a refused recipient");
    } finally {
      sink.rejectRecipients([]);
    }
  });

  it("throws a MailError worth retrying, neither permanent nor an outage, on a 4xx answer", CASE, async () => {
    sink.refuseNext(1, 451, "Try again later");
    const error = await sendError(message());
    assert.equal(error.permanent, false, "a 4xx is temporary");
    assert.equal(error.outage, false, "the server answered this message: it is not an outage");
    // The retry goes through.
    const retry = message();
    await mailer.send(retry);
    assert.equal(sink.messages.filter((m) => m.messageId === retry.messageId).length, 1);
  });

  it(
    "throws an outage, not permanent, MailError while the server is down, and sends again once it is back",
    CASE,
    async () => {
      await sink.down();
      try {
        const started = Date.now();
        const error = await sendError(message());
        assert.equal(error.outage, true, `no server answered: an outage (got ${error.message})`);
        assert.equal(error.permanent, false, "an outage is not the message's fault");
        assert.ok(Date.now() - started < 15_000, "a refused connection must fail fast");
      } finally {
        await sink.up();
      }
      const after = message();
      await mailer.send(after);
      assert.equal(sink.messages.filter((m) => m.messageId === after.messageId).length, 1);
    },
  );

  it("verify() rejects while the server is down, and resolves again once it is back", CASE, async () => {
    await mailer.verify!();
    await sink.down();
    try {
      const error = await mailer.verify!().then(
        () => assert.fail("verify() resolved with the server down"),
        (e: unknown) => e,
      );
      assert.ok(error instanceof MailError, `expected a MailError, got ${error}`);
      assert.equal(error.outage, true);
      assert.equal(error.permanent, false);
    } finally {
      await sink.up();
    }
    await mailer.verify!();
  });
});

// Credentials: over smtp:// they go only inside TLS (STARTTLS), unless the setting
// HERALD_SMTP_ALLOW_PLAINTEXT_AUTH says the relay is trusted. A server that refuses our
// credentials, or that cannot protect them, takes no mail from us at all: that is an outage
// (the notifier pauses), not a refusal of the message.
describe("SMTP mailer: credentials", () => {
  const CASE = { timeout: 30_000 };
  const credentials = { user: "herald", pass: "s3cret" };
  let sink: SmtpSink;
  const opened: Mailer[] = [];
  before(async () => {
    sink = await startSmtpSink({ credentials });
  });
  after(async () => {
    await Promise.all(opened.map((m) => m.close?.()));
    await sink?.close();
  });

  const open = (url: string, options?: Parameters<typeof createSmtpMailer>[2]) => {
    const mailer = createSmtpMailer(url, FROM, options);
    opened.push(mailer);
    return mailer;
  };
  /** The sink's URL carrying these credentials, as SMTP_URL would. */
  const urlWith = ({ user, pass }: { user: string; pass: string }) => {
    const url = new URL(sink.url);
    url.username = user;
    url.password = pass;
    return url.href;
  };
  const message = (): MailMessage => {
    const id = randomUUID();
    return {
      to: "admin@example.test",
      subject: "New file",
      text: "text",
      html: "<p>html</p>",
      messageId: `<${id}@herald>`,
    };
  };
  const failure = async (call: Promise<unknown>): Promise<MailError> => {
    const error = await call.then(
      () => assert.fail("the call resolved, but it had to fail"),
      (e: unknown) => e,
    );
    assert.ok(error instanceof MailError, `expected a MailError, got ${error}`);
    return error;
  };

  it("sends no credentials to a server without STARTTLS: the send and verify() fail as an outage", CASE, async () => {
    const mailer = open(urlWith(credentials));
    const attemptsBefore = sink.authAttempts.length;
    for (const error of [await failure(mailer.send(message())), await failure(mailer.verify!())]) {
      assert.equal(error.outage, true, `the server cannot take mail from us at all (got ${error.message})`);
      assert.equal(error.permanent, false, "no message is to blame");
      assert.match(
        error.message,
        /the SMTP server offers no STARTTLS; refusing to send credentials in clear \(set HERALD_SMTP_ALLOW_PLAINTEXT_AUTH=true for a trusted local relay\)/,
      );
    }
    assert.equal(sink.authAttempts.length, attemptsBefore, "an AUTH reached the server in clear");
    assert.equal(sink.messages.length, 0);
  });

  it("sends through that server, credentials in clear, when plaintext AUTH is allowed", CASE, async () => {
    const mailer = open(urlWith(credentials), { allowPlaintextAuth: true });
    const sent = message();
    await mailer.send(sent);
    await mailer.verify!();
    assert.equal(sink.messages.filter((m) => m.messageId === sent.messageId).length, 1);
    assert.ok(sink.authAttempts.includes(credentials.user), "the server saw no AUTH");
  });

  it(
    "treats refused credentials (535) as an outage, and verify() checks them, until the server accepts them",
    CASE,
    async () => {
      const rotated = { user: "herald", pass: "rotated" };
      const mailer = open(urlWith(rotated), { allowPlaintextAuth: true });
      for (const error of [await failure(mailer.send(message())), await failure(mailer.verify!())]) {
        assert.equal(error.outage, true, `refused credentials refuse every message (got ${error.message})`);
        assert.equal(error.permanent, false, "a 535 is not the recipient's refusal");
        assert.match(error.message, /535/);
      }
      sink.acceptCredentials(rotated);
      try {
        await mailer.verify!();
        const sent = message();
        await mailer.send(sent);
        assert.equal(sink.messages.filter((m) => m.messageId === sent.messageId).length, 1);
      } finally {
        sink.acceptCredentials(credentials);
      }
    },
  );

  it("treats a server that requires credentials we do not give (530) as an outage", CASE, async () => {
    const error = await failure(open(sink.url).send(message()));
    assert.equal(error.outage, true, `no message gets through without credentials (got ${error.message})`);
    assert.equal(error.permanent, false);
    assert.match(error.message, /530/);
  });
});
