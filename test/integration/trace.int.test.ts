import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { client, tokens } from "../support/api-client.ts";
import { type DaprTopology, type LocalDaprHerald, startLocalDaprHerald } from "../support/dapr-topology.ts";
import { eventually } from "../support/herald-process.ts";
import type { SmtpSink } from "../support/smtp-sink.ts";

// One trace id from the client's request to the email: a W3C traceparent sent with the upload
// shows up in the web's log line for the upload, in the notifier's log lines for each of its
// notifications (after the relay, Dapr pub/sub and Redis), and on every event of the
// notifications' histories.

const traceId = "4bf92f3577b34da6a3ce929d0e0e4736";
const traceparent = `00-${traceId}-00f067aa0ba902b7-01`;
const traceIdOf = (value: unknown) => (typeof value === "string" ? value.split("-")[1] : undefined);

let local: LocalDaprHerald;
let sink: SmtpSink;
let herald: DaprTopology;

before(async () => {
  local = await startLocalDaprHerald();
  ({ sink, herald } = local);
});
after(async () => local?.stop());

type LogLine = Record<string, unknown> & { msg?: string };
/** The JSON log lines a process printed (anything else it printed is skipped). */
const logLines = (output: string): LogLine[] =>
  output
    .split("\n")
    .filter((line) => line.startsWith("{"))
    .flatMap((line) => {
      try {
        return [JSON.parse(line) as LogLine];
      } catch {
        return [];
      }
    });

describe("trace context, Dapr mode (local components)", () => {
  it("the client's traceparent reaches the web's log, the notifier's log and the notification history", async () => {
    const api = client(herald.web.url);
    const form = new FormData();
    form.append("file", new Blob(["traced content"], { type: "text/plain" }), "traced.txt");
    const res = await api.post("/api/groups/design/uploads", tokens.carol, form, { traceparent });
    assert.equal(res.status, 202, JSON.stringify(res.body));
    const { uploadId } = res.body as { uploadId: string };
    const notificationIds = (res.body.notifications as Array<{ notificationId: string }>).map((n) => n.notificationId);
    assert.equal(notificationIds.length, 2);
    await sink.waitFor(2, 30_000);

    // The web: its log line for this upload carries the traceparent the client sent.
    const webLine = await eventually(
      async () => logLines(herald.web.output()).find((l) => l.uploadId === uploadId && l.msg === "upload accepted"),
      5_000,
      `the web's "upload accepted" log line for ${uploadId}`,
    );
    assert.equal(webLine.traceparent, traceparent, JSON.stringify(webLine));

    for (const notificationId of notificationIds) {
      // The notifier: its log line for this notification, in another process, after Dapr.
      const notifierLine = await eventually(
        async () =>
          logLines(herald.notifier.output()).find(
            (l) => l.notificationId === notificationId && l.msg === "notification sent",
          ),
        10_000,
        `the notifier's "notification sent" log line for ${notificationId}`,
      );
      assert.equal(traceIdOf(notifierLine.traceparent), traceId, JSON.stringify(notifierLine));
      assert.equal(notifierLine.uploadId, uploadId);

      // The history: every event of the notification, from the web's and the notifier's appends.
      const history = await eventually(
        async () => {
          const r = await api.get(`/api/notifications/${notificationId}/history`, tokens.alice);
          const items = r.body.items as Array<{ type: string; traceparent: string | null }> | undefined;
          return items?.some((e) => e.type === "NotificationSent") ? items : undefined;
        },
        10_000,
        `the history of ${notificationId} to show NotificationSent`,
      );
      assert.deepEqual(
        history.map((e) => e.type),
        ["NotificationRequested", "NotificationQueued", "NotificationStarted", "NotificationSent"],
      );
      for (const event of history) {
        assert.equal(traceIdOf(event.traceparent), traceId, `${event.type}: ${JSON.stringify(event)}`);
      }
    }

    // And nothing else in either log claims this trace for another upload.
    const others = [...logLines(herald.web.output()), ...logLines(herald.notifier.output())].filter(
      (l) => traceIdOf(l.traceparent) === traceId && l.uploadId !== undefined && l.uploadId !== uploadId,
    );
    assert.deepEqual(others, []);
  });
});
