import assert from "node:assert/strict";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { stringify } from "yaml";
import { daprdPath } from "../support/daprd.ts";
import { answers, freePort, repoRoot, startProcess, tempDir } from "../support/herald-process.ts";
import {
  byKind,
  chartDir,
  daprAnnotationProblems,
  type Destination,
  egressProblems,
  find,
  helm,
  kedaProblems,
  type K8sObject,
  mayReach,
  parityProblems,
  parseObjects,
  render,
  secretProblems,
  securityProblems,
} from "../support/helm.ts";
import { type Redis, startRedis } from "../support/redis.ts";

// The Helm chart helm/herald, with a real helm (scripts/get-helm.sh): lint, render with the
// default, local and azure values, the schema refusing bad values, the policy checks on the
// rendered objects (each shown failing on a broken object too), and the rendered Dapr
// components loaded by a real daprd against a real Redis.

const valueSets = [
  { name: "default", files: [] as string[], set: "local" as const },
  { name: "local", files: ["values-local.yaml"], set: "local" as const },
  { name: "azure", files: ["values-azure.yaml"], set: "azure" as const },
];
const rendered = new Map<string, { text: string; objects: K8sObject[] }>();
const clone = <T>(x: T): T => structuredClone(x);

before(() => {
  for (const v of valueSets) {
    const text = render(v.files);
    rendered.set(v.name, { text, objects: parseObjects(text) });
  }
});

describe("helm lint and template", () => {
  for (const v of valueSets) {
    it(`helm lint --strict passes with the ${v.name} values`, () => {
      const r = helm(["lint", "--strict", chartDir, ...v.files.flatMap((f) => ["-f", join(chartDir, f)])]);
      assert.equal(r.status, 0, r.stdout + r.stderr);
      assert.match(r.stdout, /1 chart\(s\) linted, 0 chart\(s\) failed/);
    });
  }

  it("renders each service's Deployment, Service and ConfigMap, and the Dapr objects of the chosen set", () => {
    for (const v of valueSets) {
      const { objects } = rendered.get(v.name)!;
      for (const svc of ["web", "notifier"]) {
        for (const kind of ["Deployment", "Service", "ConfigMap", "PodDisruptionBudget", "NetworkPolicy"])
          assert.ok(find(objects, kind, `herald-${svc}`), `${v.name}: ${kind} herald-${svc}`);
      }
      assert.equal(byKind(objects, "Configuration").length, 1, `${v.name}: one Dapr Configuration`);
      assert.equal(byKind(objects, "ScaledObject").length, 1, `${v.name}: one ScaledObject`);
      const components = byKind(objects, "Component")
        .map((c) => c.spec.type)
        .sort();
      assert.deepEqual(
        components,
        v.set === "local"
          ? ["bindings.cron", "pubsub.redis", "state.redis"]
          : [
              "bindings.azure.storagequeues",
              "bindings.azure.storagequeues",
              "bindings.azure.storagequeues",
              "bindings.cron",
              "state.azure.tablestorage",
            ],
        v.name,
      );
    }
    const local = rendered.get("local")!.objects;
    const azure = rendered.get("azure")!.objects;
    for (const kind of ["ServiceMonitor", "PodMonitor", "PrometheusRule"])
      assert.ok(byKind(local, kind).length > 0, kind);
    assert.equal(byKind(rendered.get("default")!.objects, "PrometheusRule").length, 0, "monitoring is off by default");
    assert.ok(find(azure, "TriggerAuthentication", "herald-notifier"));
  });

  it("the PrometheusRule carries every alert of alerts/herald.rules.yml, the dashboard ConfigMap dashboards/herald.json", () => {
    // The chart holds copies (Helm reads only files inside the chart); they must not drift.
    for (const [copy, original] of [
      ["files/herald.rules.yml", "alerts/herald.rules.yml"],
      ["files/herald.json", "dashboards/herald.json"],
    ] as const) {
      assert.equal(
        readFileSync(join(chartDir, copy), "utf8"),
        readFileSync(join(repoRoot, original), "utf8"),
        `helm/herald/${copy} differs from ${original}: run npm run k8s:render`,
      );
    }
    const objects = rendered.get("local")!.objects;
    const rule = byKind(objects, "PrometheusRule")[0]!;
    const alerts = rule.spec.groups.flatMap((g: any) => g.rules.map((r: any) => r.alert));
    const expected = [
      ...readFileSync(join(repoRoot, "alerts/herald.rules.yml"), "utf8").matchAll(/- alert: (\w+)/g),
    ].map((m) => m[1]);
    assert.deepEqual(alerts, expected);
    assert.ok(alerts.includes("HeraldDeadLettersGrowing"));
    const dashboard = find(objects, "ConfigMap", "herald-dashboard")!;
    assert.equal(dashboard.metadata.labels?.grafana_dashboard, "1");
    assert.deepEqual(
      JSON.parse(dashboard.data!["herald.json"]!),
      JSON.parse(readFileSync(join(repoRoot, "dashboards/herald.json"), "utf8")),
    );
  });
});

describe("values.schema.json", () => {
  const broken: Array<[string, string, RegExp]> = [
    ["an unknown queue kind", "queue: kafka\n", /queue/],
    ["a literal Redis password", "redis:\n  password: hunter2\n", /password/],
    ["a writable root filesystem", "securityContext:\n  readOnlyRootFilesystem: false\n", /readOnlyRootFilesystem/],
    ["a Redis host without a port", "redis:\n  host: redis-master\n", /host/],
    ["a missing EventStoreDB Secret name", 'secrets:\n  eventstoreUrl: { name: "", key: url }\n', /eventstoreUrl/],
    [
      "an egress peer given as a host name",
      "networkPolicy:\n  egress:\n    smtp: { to: [{ ipBlock: { cidr: smtp.example.org } }], ports: [465] }\n",
      /smtp\/to\/0\/ipBlock\/cidr/,
    ],
    [
      "an egress destination without ports",
      "networkPolicy:\n  egress:\n    eventStore: { to: [], ports: [] }\n",
      /eventStore\/ports/,
    ],
  ];
  for (const [what, values, mentions] of broken) {
    it(`refuses ${what} (helm template and helm lint fail)`, () => {
      const file = join(tempDir("values"), "broken.yaml");
      writeFileSync(file, values);
      for (const command of [
        ["template", "herald", chartDir, "-f", file],
        ["lint", chartDir, "-f", file],
      ]) {
        const r = helm(command);
        assert.notEqual(r.status, 0, `helm ${command[0]} accepted ${what}`);
        const output = r.stdout + r.stderr;
        assert.match(output, /values don't meet the specifications of the schema/);
        assert.match(output, mentions);
      }
    });
  }
});

describe("policy checks on the rendered objects", () => {
  for (const v of valueSets) {
    it(`${v.name} values: pod security restricted, resources, probes, Dapr annotations, KEDA, no secrets, parity with components/${v.set}`, () => {
      const { text, objects } = rendered.get(v.name)!;
      assert.deepEqual(securityProblems(objects), []);
      assert.deepEqual(daprAnnotationProblems(objects), []);
      assert.deepEqual(kedaProblems(objects), []);
      assert.deepEqual(secretProblems(objects, text), []);
      assert.deepEqual(parityProblems(objects, v.set), []);
      assert.deepEqual(egressProblems(objects), []);
    });
  }

  it("secrets set by reference never reach the output", () => {
    // The Secret names and keys are in the output, never what they hold; and no value key
    // for a secret exists (the schema refuses one, above).
    const text = render(
      ["values-azure.yaml"],
      ["secrets.smtpUrl.name=smtp-creds", "azure.accountKeySecret.key=primaryKey"],
    );
    const objects = parseObjects(text);
    assert.deepEqual(secretProblems(objects, text, ["hunter2"]), []);
    const queue = find(objects, "Component", "notification-queue")!;
    assert.deepEqual(
      queue.spec.metadata.find((m: any) => m.name === "accountKey"),
      { name: "accountKey", secretKeyRef: { name: "herald-azure-storage", key: "primaryKey" } },
    );
    const web = find(objects, "Deployment", "herald-web")!;
    const smtp = web.spec.template.spec.containers[0].env.find((e: any) => e.name === "SMTP_URL");
    assert.deepEqual(smtp.valueFrom, { secretKeyRef: { name: "smtp-creds", key: "url" } });
  });

  it("each check fails on a broken object", () => {
    const base = rendered.get("local")!.objects;
    const azure = rendered.get("azure")!.objects;
    const deployment = (objects: K8sObject[], name: string) => find(objects, "Deployment", name)!;
    const container = (objects: K8sObject[], name: string) =>
      deployment(objects, name).spec.template.spec.containers[0];
    const broken = (mutate: (objects: K8sObject[]) => void, from = base) => {
      const copy = clone(from);
      mutate(copy);
      return copy;
    };
    const cases: Array<[string, (o: K8sObject[]) => string[], K8sObject[], RegExp]> = [
      [
        "root user",
        securityProblems,
        broken((o) => {
          deployment(o, "herald-web").spec.template.spec.securityContext = {};
          delete container(o, "herald-web").securityContext.runAsNonRoot;
        }),
        /may run as root/,
      ],
      [
        "writable root",
        securityProblems,
        broken((o) => (container(o, "herald-notifier").securityContext.readOnlyRootFilesystem = false)),
        /not read-only/,
      ],
      [
        "no memory limit",
        securityProblems,
        broken((o) => delete container(o, "herald-web").resources.limits),
        /no memory limit/,
      ],
      [
        "liveness on /healthz for the notifier",
        securityProblems,
        broken((o) => (container(o, "herald-notifier").livenessProbe.httpGet.path = "/healthz")),
        /livenessProbe on \/healthz, expected \/livez/,
      ],
      [
        "readiness on the wrong port",
        securityProblems,
        broken((o) => (container(o, "herald-web").readinessProbe.httpGet.port = 9999)),
        /readinessProbe on port 9999/,
      ],
      [
        "no /tmp emptyDir",
        securityProblems,
        broken((o) => (container(o, "herald-web").volumeMounts = [])),
        /\/tmp is not an emptyDir/,
      ],
      [
        "notifier app-port wrong",
        daprAnnotationProblems,
        broken(
          (o) => (deployment(o, "herald-notifier").spec.template.metadata.annotations["dapr.io/app-port"] = "3000"),
        ),
        /app-port 3000/,
      ],
      [
        "no app health check",
        daprAnnotationProblems,
        broken(
          (o) =>
            delete deployment(o, "herald-notifier").spec.template.metadata.annotations["dapr.io/app-health-check-path"],
        ),
        /app health check on undefined/,
      ],
      [
        "unknown config",
        daprAnnotationProblems,
        broken((o) => (deployment(o, "herald-web").spec.template.metadata.annotations["dapr.io/config"] = "other")),
        /not a rendered Configuration/,
      ],
      [
        "envRef not in dapr.io/env",
        daprAnnotationProblems,
        broken((o) =>
          find(o, "Component", "notification-state")!.spec.metadata.push({ name: "redisHost", envRef: "REDIS_HOST" }),
        ),
        /envRef REDIS_HOST not in dapr.io\/env/,
      ],
      [
        "consumer group drift",
        kedaProblems,
        broken(
          (o) =>
            (find(o, "Component", "notification-pubsub")!.spec.metadata.find(
              (m: any) => m.name === "consumerID",
            ).value = "other"),
        ),
        /consumerGroup herald-notifier is not the component's consumerID other/,
      ],
      [
        "stream drift",
        kedaProblems,
        broken((o) => (byKind(o, "ScaledObject")[0]!.spec.triggers[0].metadata.stream = "notes")),
        /stream notes/,
      ],
      [
        "queue name drift",
        kedaProblems,
        broken((o) => (byKind(o, "ScaledObject")[0]!.spec.triggers[0].metadata.queueName = "q"), azure),
        /queueName q is not/,
      ],
      [
        "literal password",
        (o) => secretProblems(o, ""),
        broken((o) =>
          find(o, "Component", "notification-pubsub")!.spec.metadata.push({ name: "redisPassword", value: "x" }),
        ),
        /redisPassword has a literal value/,
      ],
      [
        "literal SMTP_URL",
        (o) => secretProblems(o, ""),
        broken((o) => container(o, "herald-web").env.push({ name: "SMTP_URL", value: "smtp://u:p@h" })),
        /env SMTP_URL has a literal value/,
      ],
      [
        "a Secret object",
        (o) => secretProblems(o, ""),
        broken((o) => o.push({ apiVersion: "v1", kind: "Secret", metadata: { name: "s" } })),
        /renders Secret s/,
      ],
      [
        "scope drift",
        (o) => parityProblems(o, "local"),
        broken((o) => (find(o, "Component", "notification-pubsub")!.scopes = ["web"])),
        /scopes \[web\], components\/local has \[notifier,web\]/,
      ],
      [
        "no DNS",
        egressProblems,
        broken((o) => {
          const policy = find(o, "NetworkPolicy", "herald-notifier")!;
          policy.spec.egress = policy.spec.egress.filter((r: any) => r.ports[0].port !== 53);
        }),
        /herald-notifier: may not reach DNS \(UDP 53\)/,
      ],
      [
        "DNS over UDP only",
        egressProblems,
        broken((o) => {
          const dns = find(o, "NetworkPolicy", "herald-web")!.spec.egress[0];
          dns.ports = dns.ports.filter((p: any) => p.protocol === "UDP");
        }),
        /herald-web: may not reach DNS \(TCP 53\)/,
      ],
      [
        "the Dapr control plane in another namespace",
        egressProblems,
        broken(
          (o) =>
            (find(o, "NetworkPolicy", "herald-web")!.spec.egress[1].to[0].namespaceSelector.matchLabels[
              "kubernetes.io/metadata.name"
            ] = "dapr"),
        ),
        /herald-web: may not reach the Dapr sentry \(50001\)/,
      ],
      [
        "egress not restricted",
        egressProblems,
        broken((o) => (find(o, "NetworkPolicy", "herald-notifier")!.spec.policyTypes = ["Ingress"])),
        /herald-notifier: no NetworkPolicy restricts its egress/,
      ],
      [
        "dead-letter topic drift",
        (o) => parityProblems(o, "local"),
        broken((o) => delete find(o, "Subscription", "notifications")!.spec.deadLetterTopic),
        /Subscription\/notifications: spec differs/,
      ],
    ];
    for (const [what, check, objects, expected] of cases) {
      const problems = check(objects);
      assert.ok(
        problems.some((p) => expected.test(p)),
        `${what}: expected a problem matching ${expected}, got ${JSON.stringify(problems)}`,
      );
    }
  });
});

describe("egress: what each pod may reach (networkPolicy.egress)", () => {
  const address = (what: string, ip: string, port: number): Destination => ({ what, ip, port });
  const inNamespace = (what: string, labels: Record<string, string>, port: number, namespace = "herald") => ({
    what,
    port,
    pod: { namespace, labels },
  });
  /** Which of the two apps may open this connection. */
  const reaching = (objects: K8sObject[], to: Destination) =>
    ["web", "notifier"].filter((app) => mayReach(objects, app, to));

  it("with the default values, each pod reaches the ports of what it uses at any address, and nothing else", () => {
    const { objects } = rendered.get("default")!;
    const anywhere = "198.51.100.7";
    assert.deepEqual(reaching(objects, address("EventStoreDB", anywhere, 2113)), ["web", "notifier"]);
    assert.deepEqual(reaching(objects, address("Redis (queue=redis)", anywhere, 6379)), ["web", "notifier"]);
    for (const port of [25, 465, 587])
      assert.deepEqual(reaching(objects, address(`SMTP ${port}`, anywhere, port)), ["notifier"], `SMTP ${port}`);
    // No blobs in Azure, no queue=azure, no OIDC issuer: no HTTPS at all.
    assert.deepEqual(reaching(objects, address("HTTPS", anywhere, 443)), []);
    assert.deepEqual(reaching(objects, address("SSH", anywhere, 22)), []);
    assert.deepEqual(reaching(objects, address("DNS outside the cluster", "8.8.8.8", 53)), []);
    assert.deepEqual(reaching(objects, inNamespace("a pod's HTTP port", { app: "other" }, 8080)), []);
  });

  it("when destinations are listed, each pod reaches only those addresses: SMTP the notifier, OIDC and blobs the web", () => {
    const objects = parseObjects(
      render(
        [],
        [
          "secrets.blobConnectionString.name=herald-azure-storage",
          "config.extra.HERALD_OIDC_ISSUER=https://id.example.org",
          "networkPolicy.egress.smtp.to[0].ipBlock.cidr=198.51.100.25/32",
          "networkPolicy.egress.smtp.ports={465}",
          "networkPolicy.egress.oidc.to[0].ipBlock.cidr=192.0.2.10/32",
          "networkPolicy.egress.azureStorage.to[0].ipBlock.cidr=20.60.0.0/16",
          "networkPolicy.egress.azureStorage.to[0].ipBlock.except={20.60.9.0/24}",
        ],
      ),
    );
    assert.deepEqual(egressProblems(objects), []);
    assert.deepEqual(reaching(objects, address("the SMTP relay", "198.51.100.25", 465)), ["notifier"]);
    assert.deepEqual(reaching(objects, address("the SMTP relay on 587", "198.51.100.25", 587)), []);
    assert.deepEqual(reaching(objects, address("another SMTP server", "198.51.100.26", 465)), []);
    assert.deepEqual(reaching(objects, address("the OIDC issuer", "192.0.2.10", 443)), ["web"]);
    assert.deepEqual(reaching(objects, address("Blob Storage", "20.60.1.2", 443)), ["web"]);
    assert.deepEqual(reaching(objects, address("an excepted range", "20.60.9.1", 443)), []);
    assert.deepEqual(reaching(objects, address("any other HTTPS", "203.0.113.80", 443)), []);
  });

  it("with queue=azure both pods reach Azure Storage (the sidecars' queues and table)", () => {
    const { objects } = rendered.get("azure")!;
    assert.deepEqual(reaching(objects, address("Azure Storage", "20.60.1.2", 443)), ["web", "notifier"]);
    assert.deepEqual(reaching(objects, address("Redis", "10.0.0.5", 6379)), []);
  });

  it("with the local values, the pods reach the kind walkthrough's EventStoreDB, Redis and mail catcher in their namespace only", () => {
    const { objects } = rendered.get("local")!;
    const eventstore = { app: "eventstore" };
    assert.deepEqual(reaching(objects, inNamespace("EventStoreDB", eventstore, 2113)), ["web", "notifier"]);
    assert.deepEqual(reaching(objects, inNamespace("EventStoreDB elsewhere", eventstore, 2113, "other")), []);
    assert.deepEqual(reaching(objects, address("EventStoreDB outside", "198.51.100.7", 2113)), []);
    const redis = { "app.kubernetes.io/name": "redis", "app.kubernetes.io/component": "master" };
    assert.deepEqual(reaching(objects, inNamespace("Redis", redis, 6379)), ["web", "notifier"]);
    assert.deepEqual(reaching(objects, inNamespace("mailpit", { app: "mailpit" }, 1025)), ["notifier"]);
    assert.deepEqual(reaching(objects, inNamespace("mailpit's web UI", { app: "mailpit" }, 8025)), []);
  });

  it("a Zipkin endpoint opens its port to both sidecars; extra rules are added as given", () => {
    const objects = parseObjects(
      render(
        [],
        [
          "dapr.zipkinEndpoint=http://zipkin.monitoring:9411/api/v2/spans",
          "networkPolicy.egress.tracing.to[0].namespaceSelector.matchLabels.kubernetes\\.io/metadata\\.name=monitoring",
          "networkPolicy.egress.extra[0].to[0].ipBlock.cidr=10.20.0.0/16",
          "networkPolicy.egress.extra[0].ports[0].port=8200",
        ],
      ),
    );
    const zipkin = inNamespace("Zipkin", { app: "zipkin" }, 9411, "monitoring");
    assert.deepEqual(reaching(objects, zipkin), ["web", "notifier"]);
    assert.deepEqual(reaching(objects, { ...zipkin, pod: { ...zipkin.pod, namespace: "herald" } }), []);
    assert.deepEqual(reaching(objects, address("a Vault", "10.20.3.4", 8200)), ["web", "notifier"]);
  });

  it("when networkPolicy.egress.enabled is false, egress is not restricted (and the check says so)", () => {
    const objects = parseObjects(render([], ["networkPolicy.egress.enabled=false"]));
    for (const name of ["herald-web", "herald-notifier"]) {
      const policy = find(objects, "NetworkPolicy", name)!;
      assert.deepEqual(policy.spec.policyTypes, ["Ingress"]);
      assert.equal(policy.spec.egress, undefined);
    }
    assert.deepEqual(reaching(objects, address("SSH", "198.51.100.7", 22)), ["web", "notifier"]);
    assert.deepEqual(egressProblems(objects), [
      "Deployment herald-notifier: no NetworkPolicy restricts its egress",
      "Deployment herald-web: no NetworkPolicy restricts its egress",
    ]);
  });
});

describe("the rendered Dapr objects in a real daprd", () => {
  let redis: Redis;
  before(async () => {
    redis = await startRedis();
  });
  after(async () => {
    await redis?.stop();
  });

  /** The chart's Dapr objects for queue=redis on this Redis, as daprd's resources folder. */
  function resources(redisHost: string): { dir: string; config: string } {
    const objects = parseObjects(
      render(["values-local.yaml"], [`redis.host=${redisHost}`, "redis.passwordSecret.name="]),
    );
    const dir = tempDir("helm-dapr");
    const resourcesDir = join(dir, "resources");
    mkdirSync(resourcesDir);
    for (const o of objects.filter((o) => ["Component", "Subscription", "Resiliency"].includes(o.kind)))
      writeFileSync(join(resourcesDir, `${o.kind}-${o.metadata.name}.yaml`), stringify(o));
    const config = join(dir, "config.yaml");
    writeFileSync(config, stringify(byKind(objects, "Configuration")[0]));
    return { dir: resourcesDir, config };
  }

  async function daprd(appId: string, res: { dir: string; config: string }) {
    const [http, grpc, internal, metrics] = await Promise.all([freePort(), freePort(), freePort(), freePort()]);
    const url = `http://127.0.0.1:${http}`;
    const args = [
      "--app-id",
      appId,
      "--dapr-http-port",
      String(http),
      "--dapr-grpc-port",
      String(grpc),
      "--dapr-internal-grpc-port",
      String(internal),
      "--metrics-port",
      String(metrics),
      "--resources-path",
      res.dir,
      "--config",
      res.config,
      "--placement-host-address",
      "",
      "--scheduler-host-address",
      "",
      "--log-level",
      "info",
    ];
    const running = await startProcess(
      `daprd ${appId}`,
      daprdPath(),
      args,
      {},
      answers(`${url}/v1.0/healthz/outbound`),
      30_000,
    );
    return { ...running, url };
  }

  it("loads the chart's components, subscriptions and resiliency and starts cleanly against Redis", async () => {
    const res = resources(redis.host);
    for (const appId of ["notifier", "web"]) {
      const sidecar = await daprd(appId, res);
      try {
        const metadata = (await (await fetch(`${sidecar.url}/v1.0/metadata`)).json()) as {
          id: string;
          components: Array<{ name: string; type: string }>;
        };
        assert.equal(metadata.id, appId);
        assert.deepEqual(metadata.components.map((c) => `${c.name}:${c.type}`).sort(), [
          // The digests' clock is the notifier's alone (scopes).
          ...(appId === "notifier" ? ["digest-schedule:bindings.cron"] : []),
          "notification-pubsub:pubsub.redis",
          "notification-state:state.redis",
        ]);
        // The state store answers through the sidecar: the component really talks to Redis.
        const save = await fetch(`${sidecar.url}/v1.0/state/notification-state`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify([{ key: `helm-${appId}`, value: { ok: true } }]),
        });
        assert.equal(save.status, 204, await save.text());
        const publish = await fetch(`${sidecar.url}/v1.0/publish/notification-pubsub/notifications-probe`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: "{}",
        });
        assert.equal(publish.status, 204, await publish.text());
        const log = sidecar.output();
        assert.doesNotMatch(log, /level=(error|fatal)|"level":"(error|fatal)"/, log);
        if (appId === "notifier") assert.match(log, /herald-local/, "the Resiliency policy is loaded");
      } finally {
        await sidecar.stop();
      }
    }
  });

  it("fails to start when the rendered Redis address is wrong (so the check above can fail)", async () => {
    const closed = await freePort();
    await assert.rejects(daprd("notifier", resources(`127.0.0.1:${closed}`)), /exited with|not ready/);
  });
});
