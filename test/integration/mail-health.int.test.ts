import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { createLogger, createMetrics, createSmtpMailer, MailError, type MailMessage, watchMailer } from "@herald/core";
import { eventually } from "../support/herald-process.ts";
import { type SmtpSink, startSmtpSink } from "../support/smtp-sink.ts";

// The SMTP mailer against a real SMTP server (smtp-server from npm): how each failure is
// classified, and how the watcher follows the server going away and coming back.

let sink: SmtpSink;
before(async () => {
  sink = await startSmtpSink({ rejectRecipients: ["nobody@example.test"] });
});
after(() => sink.close());

const mail = (to: string, id: string): MailMessage => ({
  to,
  subject: "s",
  text: "t",
  html: "<p>t</p>",
  messageId: `<${id}@herald>`,
});

const failureOf = async (send: Promise<unknown>) => {
  const error = await send.then(
    () => assert.fail("expected the send to fail"),
    (e: unknown) => e,
  );
  assert.ok(error instanceof MailError);
  return { permanent: error.permanent, unreachable: error.unreachable, message: error.message };
};

describe("SMTP failures, classified", () => {
  const mailer = () => createSmtpMailer(sink.url, "Herald <herald@example.test>");

  it("a refused recipient (550) is permanent, and the server was reachable", async () => {
    const failure = await failureOf(mailer().send(mail("nobody@example.test", "c1")));
    assert.deepEqual([failure.permanent, failure.unreachable], [true, false]);
    assert.match(failure.message, /550/);
  });

  it("a 4xx is worth retrying, and the server was reachable", async () => {
    sink.refuseNext(1, 451, "Try again later");
    const failure = await failureOf(mailer().send(mail("alice@example.test", "c2")));
    assert.deepEqual([failure.permanent, failure.unreachable], [false, false]);
    assert.match(failure.message, /451/);
  });

  it("no server listening is worth retrying, and marked unreachable; verify() says the same", async () => {
    await sink.down();
    try {
      const failure = await failureOf(mailer().send(mail("alice@example.test", "c3")));
      assert.deepEqual([failure.permanent, failure.unreachable], [false, true]);
      assert.match(failure.message, /ECONNREFUSED/);
      const verify = await failureOf(mailer().verify!());
      assert.equal(verify.unreachable, true);
    } finally {
      await sink.up();
    }
    await mailer().verify!();
  });
});

describe("the mail server watcher", () => {
  it("goes down on the first unreachable send, probes while down, and comes up when the server answers", async () => {
    const metrics = createMetrics();
    const health = watchMailer(createSmtpMailer(sink.url, "Herald <herald@example.test>"), {
      probeIntervalMs: 100,
      logger: createLogger("silent", "test"),
      metrics,
    });
    const changes: boolean[] = [];
    health.onChange((up) => changes.push(up));
    const gauge = async () => (await metrics.mailUp.get()).values[0]?.value;
    try {
      await health.mailer.send(mail("alice@example.test", "w1"));
      assert.equal(health.isUp(), true);
      assert.equal(await gauge(), 1);

      // A permanent refusal says nothing against the server.
      await failureOf(health.mailer.send(mail("nobody@example.test", "w2")));
      assert.equal(health.isUp(), true);

      await sink.down();
      await failureOf(health.mailer.send(mail("alice@example.test", "w3")));
      assert.equal(health.isUp(), false);
      assert.equal(await gauge(), 0);
      assert.match(health.status().lastError ?? "", /ECONNREFUSED/);
      await new Promise((r) => setTimeout(r, 350)); // a few probes, all refused
      assert.equal(health.isUp(), false, "still down while nothing listens");

      await sink.up();
      await eventually(async () => health.isUp() || undefined, 2000, "the watcher to see the server again");
      assert.equal(await gauge(), 1);
      assert.deepEqual(changes, [false, true]);
      await health.mailer.send(mail("alice@example.test", "w4"));
      assert.equal(sink.countFor("alice@example.test"), 2, "w1 and w4 arrived; w3 never did");
    } finally {
      health.stop();
      await sink.up();
    }
  });
});
