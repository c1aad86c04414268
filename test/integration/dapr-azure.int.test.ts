import assert from "node:assert/strict";
import { createHash, randomUUID } from "node:crypto";
import { after, before, describe, it } from "node:test";
import { BlobServiceClient } from "@azure/storage-blob";
import { QueueServiceClient } from "@azure/storage-queue";
import { deadLetterStream } from "@herald/core";
import { openEventStoreEventLog } from "@herald/core/adapters";
import { client, notificationWhen, tokens } from "../support/api-client.ts";
import { type Azurite, startAzurite } from "../support/azurite.ts";
import { type DaprTopology, startDaprTopology, stateRowWhen } from "../support/dapr-topology.ts";
import { eventually } from "../support/herald-process.ts";
import { type SmtpSink, startSmtpSink } from "../support/smtp-sink.ts";

// Dapr mode with components/azure, against Azurite: the queue is Azure Storage Queues (the
// Dapr binding), the notification table is Azure Table Storage, blobs are in Azure Blob
// Storage. No Redis anywhere.

let azurite: Azurite;
let sink: SmtpSink;
let herald: DaprTopology;

before(async () => {
  azurite = await startAzurite();
  sink = await startSmtpSink();
  herald = await startDaprTopology({
    set: "azure",
    componentEnv: { ...azurite.env, AZURE_QUEUE_VISIBILITY_TIMEOUT: "2s" },
    appEnv: {
      SMTP_URL: sink.url,
      HERALD_QUEUE: "binding",
      HERALD_MAX_ATTEMPTS: "3",
      AZURE_STORAGE_CONNECTION_STRING: azurite.env.AZURE_STORAGE_CONNECTION_STRING,
    },
  });
});
after(async () => {
  await herald?.stop();
  await azurite?.stop();
  await sink?.close();
});

describe("Dapr, Azure components (Azurite)", () => {
  it("queues through Storage Queues, emails each admin once, keeps the table row and the blob", async () => {
    const api = client(herald.web.url);
    const content = "stored in Azure Blob Storage\n".repeat(50);
    const res = await api.upload("design", tokens.carol, { name: "azure.txt", content });
    assert.equal(res.status, 202, JSON.stringify(res.body));
    await sink.waitFor(2, 30_000);
    await new Promise((r) => setTimeout(r, 3000)); // a redelivery would come after the 2 s visibility timeout
    assert.equal(sink.countFor("alice@example.test"), 1);
    assert.equal(sink.countFor("bob@example.test"), 1);

    for (const { notificationId } of res.body.notifications) {
      const row = await stateRowWhen(herald.webSidecar, notificationId, "sent");
      assert.equal(row.attempts, 1);
      assert.ok(Date.parse(row.startedAt) <= Date.parse(row.completedAt));
    }

    const blobs = BlobServiceClient.fromConnectionString(azurite.env.AZURE_STORAGE_CONNECTION_STRING);
    const blob = blobs.getContainerClient("uploads").getBlobClient(`design/${res.body.uploadId}`);
    const stored = await blob.downloadToBuffer();
    assert.equal(createHash("sha256").update(stored).digest("hex"), res.body.sha256);
    assert.equal(res.body.sha256, createHash("sha256").update(content).digest("hex"));
  });

  it("when the SMTP server says 'try later', the queue redelivers and the email arrives once, after 2 attempts", async () => {
    const api = client(herald.web.url);
    sink.refuseNext(2, 421, "4.7.0 Busy, try later");
    const before = sink.messages.length;
    const res = await api.upload("design", tokens.carol, { name: "azure-retry.txt", content: "again" });
    assert.equal(res.status, 202);
    await sink.waitFor(before + 2, 30_000);
    await new Promise((r) => setTimeout(r, 3000));
    for (const { notificationId } of res.body.notifications) {
      assert.equal(sink.countNotification(notificationId), 1);
      const view = await notificationWhen(api, notificationId, "sent");
      assert.equal(view.attempts, 2);
    }
  });
});

describe("Dapr, Azure components: poison queue", () => {
  it("after HERALD_MAX_ATTEMPTS deliveries the message goes to the poison queue and the notification is dead-lettered", async () => {
    const api = client(herald.web.url);
    sink.refuseNext(1000, 421, "4.7.0 Busy, try later");
    const res = await api.upload("design", tokens.carol, { name: "never.txt", content: "no luck" });
    assert.equal(res.status, 202);
    try {
      for (const { notificationId } of res.body.notifications) {
        const view = await notificationWhen(api, notificationId, "dead-lettered", 40_000);
        assert.equal(view.attempts, 3);
        assert.match(
          view.lastError,
          /moved to the poison queue after 3 deliveries, 3 send attempts; last error: .*421/,
        );
        assert.equal(sink.countNotification(notificationId), 0);
      }
    } finally {
      sink.refuseNext(0, 421, "");
    }
  });
});

describe("Dapr, Azure components: poison messages", () => {
  it("a message that is not JSON is recorded, moved to the poison queue at once, and not redelivered", async () => {
    const queues = QueueServiceClient.fromConnectionString(azurite.env.AZURE_STORAGE_CONNECTION_STRING);
    const poison = queues.getQueueClient("herald-notifications-poison");
    // Told apart by content, not by counting the poison queue: the previous test's last
    // dead-lettered message may still be on its way there (it is recorded first, then moved).
    const garbage = `garbage ${randomUUID()}, not JSON`;
    // The binding decodes base64 (decodeBase64: "true"), as the web's output binding encodes it.
    await queues.getQueueClient("herald-notifications").sendMessage(Buffer.from(garbage).toString("base64"));

    const log = openEventStoreEventLog(herald.store.url);
    try {
      const recorded = await eventually(
        async () => {
          const events = await log.readStream(deadLetterStream);
          return events.find((e) => e.type === "MessageDeadLettered" && e.data.message === garbage);
        },
        20_000,
        "the message recorded as MessageDeadLettered",
      );
      assert.match(recorded.type === "MessageDeadLettered" ? recorded.data.reason : "", /unreadable message/);
      await new Promise((r) => setTimeout(r, 3000)); // a redelivery would come after the 2 s visibility timeout
      const again = (await log.readStream(deadLetterStream)).filter(
        (e) => e.type === "MessageDeadLettered" && e.data.message === garbage,
      );
      assert.equal(again.length, 1, "handled once, not redelivered");
    } finally {
      await log.close();
    }
    const poisoned = (await poison.peekMessages({ numberOfMessages: 32 })).peekedMessageItems.filter((m) =>
      Buffer.from(m.messageText, "base64").toString("utf8").includes(garbage),
    );
    assert.equal(poisoned.length, 1, "moved to the poison queue once, as it came");
    const { approximateMessagesCount } = await queues.getQueueClient("herald-notifications").getProperties();
    assert.equal(approximateMessagesCount, 0, "the work queue is not blocked by it");
  });
});
