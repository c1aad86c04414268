import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, describe, it } from "node:test";
import type { ParsedMail } from "mailparser";
import type { MailMessage, Mailer } from "@herald/core";

// The behaviour every Mailer adapter must have. Each backend's test file calls this with a
// factory that also says what arrived at the other end (the SMTP server's mailbox, the outbox
// folder), parsed as a mail client would. What passes here is what the notifier relies on: one
// send, one email, with the Message-ID that lets a recipient recognise a resend.

/** One email as it arrived, parsed from what went over the wire (or into the file). */
export type ReceivedMail = {
  /** The To: addresses, lower-cased, comma-separated. */
  to: string;
  subject: string;
  messageId: string;
  text: string;
  html: string;
  /** Every header, by lower-cased name. */
  headers: Record<string, string>;
};

export type MailerFactory = {
  name: string;
  open(): Promise<Mailer>;
  /** Everything that arrived since open(), oldest first. */
  received(): Promise<ReceivedMail[]>;
  /** Whether this mailer has verify() (a server to ask); one without is always healthy. */
  verifies: boolean;
  /** Removes what open() created. */
  cleanup?(): Promise<void>;
};

/** A parsed email (mailparser's, as both backends produce it) in the contract's terms. */
export function receivedMail(mail: ParsedMail): ReceivedMail {
  const to = [mail.to ?? []]
    .flat()
    .flatMap((group) => group.value.map((v) => v.address?.toLowerCase() ?? ""))
    .join(", ");
  const headers: Record<string, string> = {};
  for (const { key, line } of mail.headerLines) {
    const parsed = mail.headers.get(key);
    headers[key] = typeof parsed === "string" ? parsed : line.slice(line.indexOf(":") + 1).trim();
  }
  return {
    to,
    subject: mail.subject ?? "",
    messageId: mail.messageId ?? "",
    text: mail.text ?? "",
    html: mail.html || "",
    headers,
  };
}

const CASE = { timeout: 30_000 };

function message(overrides: Partial<MailMessage> = {}): MailMessage {
  const id = randomUUID();
  return {
    to: `admin-${id.slice(0, 8)}@example.test`,
    subject: `New file in design: report-${id.slice(0, 8)}.pdf`,
    text: `carol uploaded report.pdf (${id})`,
    html: `<p>carol uploaded <b>report.pdf</b> (${id})</p>`,
    messageId: `<${id}@herald>`,
    headers: { "X-Herald-Notification-Id": id },
    ...overrides,
  };
}

export function mailerContract(factory: MailerFactory) {
  describe(`Mailer contract: ${factory.name}`, () => {
    let mailer: Mailer;
    before(async () => {
      mailer = await factory.open();
    });
    after(async () => {
      await factory.cleanup?.();
    });

    /** The copies of one message that arrived; waits (bounded) for at least `atLeast`. */
    async function arrived(messageId: string, atLeast = 1, timeoutMs = 5_000): Promise<ReceivedMail[]> {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const copies = (await factory.received()).filter((m) => m.messageId === messageId);
        if (copies.length >= atLeast) return copies;
        if (Date.now() > deadline) {
          const all = (await factory.received()).map((m) => m.messageId);
          assert.fail(
            `${copies.length} of ${atLeast} copies of ${messageId} arrived within ${timeoutMs} ms; all: ${all}`,
          );
        }
        await new Promise((r) => setTimeout(r, 50));
      }
    }

    it("delivers a sent message once, with its recipient, subject, bodies, Message-ID and headers", CASE, async () => {
      const sent = message();
      const result = await mailer.send(sent);
      assert.equal(result.messageId, sent.messageId, "send() must report the Message-ID it was given");
      await new Promise((r) => setTimeout(r, 200)); // a duplicate would be there by now
      const copies = await arrived(sent.messageId);
      assert.equal(copies.length, 1, "one send, one email");
      const mail = copies[0]!;
      assert.equal(mail.to, sent.to);
      assert.equal(mail.subject, sent.subject);
      assert.equal(mail.text.trim(), sent.text);
      assert.equal(mail.html.trim(), sent.html);
      assert.equal(mail.headers["x-herald-notification-id"], sent.headers!["X-Herald-Notification-Id"]);
      assert.ok(mail.headers.from, "the email must have a From: header");
    });

    it("sends each message to its own recipient only", CASE, async () => {
      const first = message();
      const second = message();
      await Promise.all([mailer.send(first), mailer.send(second)]);
      assert.deepEqual(
        (await arrived(first.messageId)).map((m) => m.to),
        [first.to],
      );
      assert.deepEqual(
        (await arrived(second.messageId)).map((m) => m.to),
        [second.to],
      );
    });

    it("gives a resend the same Message-ID as the first copy", CASE, async () => {
      const sent = message();
      await mailer.send(sent);
      await mailer.send({ ...sent });
      const copies = await arrived(sent.messageId);
      assert.ok(copies.length >= 1 && copies.length <= 2, `${copies.length} copies for 2 sends`);
      for (const copy of copies) {
        assert.equal(copy.messageId, sent.messageId);
        assert.equal(copy.headers["x-herald-notification-id"], sent.headers!["X-Herald-Notification-Id"]);
      }
    });

    it("keeps a non-ASCII subject and body intact (accents, CJK, emoji)", CASE, async () => {
      const name = "Résumé 履歴書 🎉.pdf";
      const sent = message({
        subject: `New file in design: ${name}`,
        text: `uploaded ${name}`,
        html: `<p>${name}</p>`,
      });
      await mailer.send(sent);
      const [mail] = await arrived(sent.messageId);
      assert.equal(mail!.subject, sent.subject);
      assert.equal(mail!.text.trim(), sent.text);
      assert.equal(mail!.html.trim(), sent.html);
    });

    it("does not let CR/LF in a subject add a header or a recipient", CASE, async () => {
      const sent = message({
        subject: "New file: a.txt\r\nBcc: victim@example.test\r\nX-Injected: yes\r\n\r\nforged body",
      });
      await mailer.send(sent);
      await new Promise((r) => setTimeout(r, 200));
      const copies = await arrived(sent.messageId);
      assert.equal(copies.length, 1);
      const mail = copies[0]!;
      assert.equal(mail.headers["x-injected"], undefined, "the subject added a header");
      assert.equal(mail.headers.bcc, undefined, "the subject added a Bcc header");
      assert.equal(mail.to, sent.to, "the subject changed the recipients");
      assert.doesNotMatch(mail.subject, /[\r\n]/, "the subject arrived on more than one line");
      assert.ok(mail.subject.startsWith("New file: a.txt"), `subject arrived as ${JSON.stringify(mail.subject)}`);
      assert.equal(mail.text.trim(), sent.text, "the subject replaced the body");
      const others = (await factory.received()).filter((m) => m.to.includes("victim@example.test"));
      assert.equal(others.length, 0, "an email reached the injected recipient");
    });

    it("answers the health probe while mail can be sent, without sending anything", CASE, async () => {
      assert.equal(typeof mailer.verify, factory.verifies ? "function" : "undefined");
      const before = (await factory.received()).length;
      // Exactly as the dependency health probe calls it.
      await (mailer.verify?.() ?? Promise.resolve());
      await new Promise((r) => setTimeout(r, 200));
      assert.equal((await factory.received()).length, before, "verify() must not send an email");
    });
  });
}
