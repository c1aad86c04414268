import assert from "node:assert/strict";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { after, before, describe, it } from "node:test";
import { stringify } from "yaml";
import { repoRoot } from "../support/herald-process.ts";
import { find, type K8sObject, parseObjects, render } from "../support/helm.ts";
import { type KubeApiServer, startKubeApiServer } from "../support/kube.ts";

// Server-side validation: a real kube-apiserver + etcd (built from their Go modules by
// scripts/get-kube.sh, cached) with the Dapr, KEDA and prometheus-operator CRDs applied
// (scripts/get-crds.sh). Every object `helm template` renders with the default, local and
// azure values, and every file in k8s/, must pass `kubectl apply --dry-run=server`: the API
// server's own validation (built-in types, the CRDs' OpenAPI schemas, strict field
// validation, admission). Broken objects are refused, so the check can fail.

const namespace = "herald";
let kube: KubeApiServer;

before(async () => {
  kube = await startKubeApiServer([namespace]);
});
after(async () => {
  await kube?.stop();
});

const dryRun = (args: string[], input?: string) =>
  kube.kubectl(["apply", "--dry-run=server", "-n", namespace, ...args], input);

/** What `kubectl apply` prints for an object it would create: `deployment.apps/herald-web`. */
const resourceName = (o: K8sObject) => {
  const group = o.apiVersion.includes("/") ? `.${o.apiVersion.split("/")[0]}` : "";
  return `${o.kind.toLowerCase()}${group}/${o.metadata.name}`;
};

/** Objects that kubectl did not report as created (server dry run). */
function notCreated(objects: K8sObject[], stdout: string): string[] {
  const lines = new Set(stdout.split("\n").map((l) => l.trim()));
  return objects.map(resourceName).filter((name) => !lines.has(`${name} created (server dry run)`));
}

const yamlFiles = (dir: string): string[] =>
  readdirSync(dir)
    .sort()
    .flatMap((name) => {
      const path = join(dir, name);
      return statSync(path).isDirectory() ? yamlFiles(path) : path.endsWith(".yaml") ? [path] : [];
    });

const toYaml = (objects: K8sObject[]) => objects.map((o) => stringify(o)).join("---\n");

describe("kubectl apply --dry-run=server on a real kube-apiserver", () => {
  it("the server has the Dapr, KEDA and prometheus-operator CRDs, and the namespace", () => {
    const crds = kube.kubectlOk(["get", "crd", "-o", "name"]);
    for (const crd of [
      "components.dapr.io",
      "configurations.dapr.io",
      "resiliencies.dapr.io",
      "subscriptions.dapr.io",
      "scaledobjects.keda.sh",
      "triggerauthentications.keda.sh",
      "servicemonitors.monitoring.coreos.com",
      "podmonitors.monitoring.coreos.com",
      "prometheusrules.monitoring.coreos.com",
    ])
      assert.ok(crds.includes(`customresourcedefinition.apiextensions.k8s.io/${crd}\n`), crd);
    kube.kubectlOk(["get", "namespace", namespace]);
  });

  for (const v of [
    { name: "default", files: [] as string[] },
    { name: "local", files: ["values-local.yaml"] },
    { name: "azure", files: ["values-azure.yaml"] },
  ]) {
    it(`every object of helm template with the ${v.name} values is accepted`, () => {
      const text = render(v.files);
      const objects = parseObjects(text);
      assert.ok(objects.length >= 10, `${v.name}: ${objects.length} objects rendered`);
      const r = dryRun(["-f", "-"], text);
      assert.equal(r.status, 0, r.stdout + r.stderr);
      assert.deepEqual(notCreated(objects, r.stdout), [], r.stdout);
      const kinds = ["Deployment", "Service", "ConfigMap", "PodDisruptionBudget", "NetworkPolicy"];
      kinds.push("Component", "Configuration", "ScaledObject");
      if (v.name !== "default") kinds.push("TriggerAuthentication", "ServiceMonitor", "PodMonitor", "PrometheusRule");
      if (v.name !== "azure") kinds.push("Subscription", "Resiliency");
      for (const kind of kinds)
        assert.ok(
          objects.some((o) => o.kind === kind),
          `${v.name}: a ${kind} was checked`,
        );
    });
  }

  it("the NetworkPolicies with every egress destination listed (addresses, selectors, Zipkin, OIDC, extra rules) are accepted", () => {
    const text = render(
      ["values-local.yaml"],
      [
        "secrets.blobConnectionString.name=herald-azure-storage",
        "config.extra.HERALD_OIDC_ISSUER=https://id.example.org",
        "dapr.zipkinEndpoint=http://zipkin.monitoring:9411/api/v2/spans",
        "networkPolicy.egress.dns.to[0].ipBlock.cidr=169.254.20.10/32",
        "networkPolicy.egress.azureStorage.to[0].ipBlock.cidr=20.60.0.0/16",
        "networkPolicy.egress.azureStorage.to[0].ipBlock.except={20.60.9.0/24}",
        "networkPolicy.egress.oidc.to[0].ipBlock.cidr=2001:db8::/32",
        "networkPolicy.egress.tracing.to[0].namespaceSelector.matchExpressions[0].key=kubernetes.io/metadata.name",
        "networkPolicy.egress.tracing.to[0].namespaceSelector.matchExpressions[0].operator=In",
        "networkPolicy.egress.tracing.to[0].namespaceSelector.matchExpressions[0].values={monitoring}",
        "networkPolicy.egress.extra[0].to[0].ipBlock.cidr=10.20.0.0/16",
        "networkPolicy.egress.extra[0].ports[0].port=8200",
      ],
    );
    const policies = parseObjects(text).filter((o) => o.kind === "NetworkPolicy");
    assert.equal(policies.length, 2);
    const egress = (name: string) => JSON.stringify(find(policies, "NetworkPolicy", name)!.spec.egress);
    for (const listed of ["169.254.20.10/32", "2001:db8::/32", "20.60.9.0/24", "monitoring", "8200", "9411"])
      assert.ok(egress("herald-web").includes(listed), listed);
    const r = dryRun(["-f", "-"], toYaml(policies));
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.deepEqual(notCreated(policies, r.stdout), [], r.stdout);
  });

  for (const set of readdirSync(join(repoRoot, "k8s")).sort()) {
    it(`every file in k8s/${set} is accepted`, () => {
      const files = yamlFiles(join(repoRoot, "k8s", set));
      assert.ok(files.length >= 10, `k8s/${set}: ${files.length} files`);
      const r = dryRun(files.flatMap((f) => ["-f", f]));
      assert.equal(r.status, 0, r.stdout + r.stderr);
      for (const file of files) {
        const objects = parseObjects(readFileSync(file, "utf8"));
        assert.ok(objects.length > 0, relative(repoRoot, file));
        assert.deepEqual(notCreated(objects, r.stdout), [], `${relative(repoRoot, file)}:\n${r.stdout}`);
      }
    });
  }

  it("a dry run stores nothing", () => {
    const r = kube.kubectlOk([
      "get",
      "deployments,components.dapr.io,scaledobjects.keda.sh",
      "-n",
      namespace,
      "-o",
      "name",
    ]);
    assert.equal(r.trim(), "");
  });

  describe("broken objects are refused with the API server's error", () => {
    const local = () => parseObjects(render(["values-local.yaml"]));
    const cases: { name: string; error: RegExp; broken: (objects: K8sObject[]) => K8sObject }[] = [
      {
        name: "a Deployment without a selector",
        error: /The Deployment "herald-notifier" is invalid: [\s\S]*spec\.selector: Required value/,
        broken: (objects) => {
          const d = find(objects, "Deployment", "herald-notifier")!;
          delete d.spec.selector;
          return d;
        },
      },
      {
        name: "a container with an imagePullPolicy Kubernetes does not know",
        error: /Unsupported value: "Sometimes"/,
        broken: (objects) => {
          const d = find(objects, "Deployment", "herald-web")!;
          d.spec.template.spec.containers[0].imagePullPolicy = "Sometimes";
          return d;
        },
      },
      {
        name: "a ScaledObject without scaleTargetRef",
        error: /The ScaledObject "herald-notifier" is invalid: [\s\S]*spec\.scaleTargetRef: Required value/,
        broken: (objects) => {
          const so = objects.find((o) => o.kind === "ScaledObject")!;
          delete so.spec.scaleTargetRef;
          return so;
        },
      },
      {
        name: "a Dapr Component without a version",
        error: /The Component "notification-pubsub" is invalid: [\s\S]*spec\.version: Required value/,
        broken: (objects) => {
          const c = find(objects, "Component", "notification-pubsub")!;
          delete c.spec.version;
          return c;
        },
      },
      {
        name: "an egress peer with both an ipBlock and a podSelector",
        error: /The NetworkPolicy "herald-web" is invalid: [\s\S]*spec\.egress\[0\]\.to\[0\]/,
        broken: (objects) => {
          const policy = find(objects, "NetworkPolicy", "herald-web")!;
          policy.spec.egress[0].to[0].ipBlock = { cidr: "10.0.0.0/8" };
          return policy;
        },
      },
      {
        name: "a Subscription with a field its schema does not have",
        error: /unknown field "spec\.deadLetterQueue"/,
        broken: (objects) => {
          const s = objects.find((o) => o.kind === "Subscription")!;
          s.spec.deadLetterQueue = s.spec.deadLetterTopic;
          return s;
        },
      },
    ];
    for (const c of cases) {
      it(c.name, () => {
        const objects = local();
        const broken = c.broken(objects);
        const r = dryRun(["-f", "-"], toYaml([broken]));
        assert.notEqual(r.status, 0, `accepted:\n${r.stdout}`);
        assert.match(r.stderr, c.error);
        assert.doesNotMatch(r.stdout, /created \(server dry run\)/);
      });
    }
  });
});
