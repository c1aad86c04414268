import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { client } from "../support/api-client.ts";
import { type Sidecar, startSidecar } from "../support/daprd.ts";
import { startEsdbTestServer } from "../support/esdb-test-server.ts";
import { answers, eventually, freePort, tempDir } from "../support/herald-process.ts";
import { buildImages, podman, startContainer } from "../support/podman.ts";
import { startRedis } from "../support/redis.ts";
import { type SmtpSink, startSmtpSink } from "../support/smtp-sink.ts";

// The images a cluster would run, built from the Dockerfile with podman and run locked down
// (non-root, read-only root, no capabilities; see test/support/podman.ts): the all-in-one image
// with production settings, and the web and notifier images each behind a real daprd, as the
// Helm chart deploys them. The first build on a fresh machine makes the Debian base (~7 min).

let images: Awaited<ReturnType<typeof buildImages>>;
let sink: SmtpSink;

before(async () => {
  images = await buildImages("test");
  sink = await startSmtpSink();
});
after(async () => {
  await sink?.close();
});

/** A production seed: tokens long enough for NODE_ENV=production. */
function productionSeed() {
  const token = (who: string) => `${who}-${randomBytes(24).toString("base64url")}`;
  const seed = {
    users: [
      { id: "ana", email: "ana@example.test", name: "Ana Admin", token: token("ana") },
      { id: "max", email: "max@example.test", name: "Max Member", token: token("max") },
    ],
    groups: [{ id: "ops", name: "Ops", admins: ["ana"], members: ["max"] }],
  };
  const file = join(tempDir("seed"), "seed.json");
  writeFileSync(file, JSON.stringify(seed));
  return { file, tokens: { ana: seed.users[0]!.token, max: seed.users[1]!.token } };
}

const mailOf = (notificationId: string) =>
  sink.messages.find((m) => m.headers.get("x-herald-notification-id") === notificationId);

const secret = () => randomBytes(36).toString("base64url");

describe("Images: built with podman from the Dockerfile", () => {
  it("run as uid 10001, not root, with tsx among the production dependencies and no dev tools", async () => {
    for (const image of [images.web, images.notifier, images.embedded]) {
      assert.equal(await podman("image", "inspect", "--format", "{{.Config.User}}", image), "10001:10001", image);
      const listing = await podman("run", "--rm", "--entrypoint", "ls", image, "node_modules");
      assert.match(listing, /^tsx$/m, `${image}: tsx, the loader Herald runs with`);
      assert.doesNotMatch(
        listing,
        /^(typescript|prettier|azurite|smtp-server|playwright-core)$/m,
        `${image}: dev dependencies left out`,
      );
    }
    const sizes = await Promise.all(
      [images.web, images.notifier, images.embedded].map(async (image) => {
        const bytes = Number(await podman("image", "inspect", "--format", "{{.Size}}", image));
        return `${image} ${(bytes / 1e6).toFixed(0)} MB`;
      }),
    );
    console.log(`# image sizes: ${sizes.join(", ")}`);
  });

  it("the all-in-one image, production settings, read-only root: ready, takes an upload, emails the admin, exits 0 on SIGTERM within 10 s", async () => {
    const seed = productionSeed();
    const port = await freePort();
    const herald = await startContainer({
      name: "herald-embedded",
      image: images.embedded,
      env: {
        NODE_ENV: "production",
        PORT: String(port),
        SMTP_URL: sink.url,
        HERALD_SEED: "/config/seed.json",
        HERALD_UNSUBSCRIBE_SECRET: secret(),
        HERALD_SESSION_SECRET: secret(),
        HERALD_PUBLIC_URL: `http://127.0.0.1:${port}`,
      },
      mounts: { [seed.file]: "/config/seed.json" },
      ready: answers(`http://127.0.0.1:${port}/readyz`),
    });
    try {
      const api = client(`http://127.0.0.1:${port}`);
      const res = await api.upload("ops", seed.tokens.max, { name: "runbook.txt", content: "in a container" });
      assert.equal(res.status, 202, JSON.stringify(res.body));
      const [{ notificationId }] = res.body.notifications;
      const mail = await eventually(async () => mailOf(notificationId), 20_000, "the admin's email");
      assert.match([mail.to].flat()[0]?.text ?? "", /ana@example\.test/);
      assert.equal(sink.countNotification(notificationId), 1);
    } finally {
      const started = Date.now();
      await herald.stop();
      const tookMs = Date.now() - started;
      assert.equal(herald.exitCode(), 0, `exit code after SIGTERM:\n${herald.output().slice(-3000)}`);
      assert.ok(tookMs < 10_000, `stopped in ${tookMs} ms`);
    }
  });

  it("the web and notifier images, each behind a real daprd (Redis pub/sub and state): an upload is emailed to every admin", async () => {
    const redis = await startRedis();
    const store = await startEsdbTestServer({ dataFile: join(tempDir("esdb"), "events.jsonl") });
    const stopping: Array<{ stop(): Promise<void> }> = [redis, store];
    try {
      const resources = "components/local";
      const componentEnv = { REDIS_HOST: redis.host };
      const appEnv = {
        HERALD_MODE: "dapr",
        NODE_ENV: "development",
        EVENTSTORE_URL: store.url,
        SMTP_URL: sink.url,
        HERALD_QUEUE_REDIS_HOST: redis.host,
      };
      const [notifierPort, notifierDaprPort, webPort] = await Promise.all([freePort(), freePort(), freePort()]);
      const notifierSidecar: Sidecar = await startSidecar({
        appId: "notifier",
        appPort: notifierPort,
        httpPort: notifierDaprPort,
        resources,
        env: componentEnv,
      });
      stopping.push(notifierSidecar);
      const notifier = await startContainer({
        name: "herald-notifier",
        image: images.notifier,
        env: { ...appEnv, APP_PORT: String(notifierPort), DAPR_HTTP_PORT: String(notifierDaprPort) },
        ready: answers(`http://127.0.0.1:${notifierPort}/healthz`),
      });
      stopping.push(notifier);
      const webSidecar = await startSidecar({ appId: "web", resources, env: componentEnv });
      stopping.push(webSidecar);
      const web = await startContainer({
        name: "herald-web",
        image: images.web,
        env: { ...appEnv, PORT: String(webPort), DAPR_HTTP_PORT: String(webSidecar.httpPort) },
        ready: answers(`http://127.0.0.1:${webPort}/readyz`),
      });
      stopping.push(web);

      const api = client(`http://127.0.0.1:${webPort}`);
      const res = await api.upload("design", "dev-carol-token", { name: "dapr.txt", content: "through the sidecars" });
      assert.equal(res.status, 202, JSON.stringify(res.body));
      for (const { notificationId } of res.body.notifications) {
        await eventually(async () => mailOf(notificationId), 30_000, `email ${notificationId}`);
        assert.equal(sink.countNotification(notificationId), 1);
      }
      for (const container of [web, notifier]) {
        await container.stop();
        stopping.splice(stopping.indexOf(container), 1);
        assert.equal(container.exitCode(), 0, `${container.name} after SIGTERM:\n${container.output().slice(-3000)}`);
      }
    } finally {
      for (const part of stopping.reverse()) await part.stop().catch(() => undefined);
    }
  });
});
