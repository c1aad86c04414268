import { execFileSync, spawnSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { BlockList, isIPv6 } from "node:net";
import { join } from "node:path";
import { parseAllDocuments } from "yaml";
import { daprComponents } from "@herald/core";
import { repoRoot } from "./herald-process.ts";

// The Helm chart (helm/herald) rendered by a real helm, and the checks its objects must pass.
// Each check returns the problems it found (empty: none), so a test can show it failing on a
// broken object as well as passing on the chart's.

export const chartDir = join(repoRoot, "helm/herald");

let cached: string | undefined;
/** helm from scripts/get-helm.sh ($HELM, PATH, or a build cached in ~/.cache/herald). */
export function helmPath(): string {
  if (cached) return cached;
  try {
    cached = execFileSync(join(repoRoot, "scripts/get-helm.sh"), {
      encoding: "utf8",
      stdio: ["ignore", "pipe", "inherit"],
    }).trim();
  } catch {
    throw new Error(
      "helm is required for the chart tests and could not be found or built. " +
        "Run scripts/get-helm.sh (it builds helm from the Go module), install helm, or set HELM.",
    );
  }
  return cached;
}

/** Runs helm; never throws: the caller checks status and output. */
export function helm(args: string[]): { status: number; stdout: string; stderr: string } {
  const r = spawnSync(helmPath(), args, { cwd: repoRoot, encoding: "utf8", maxBuffer: 64 * 1024 * 1024 });
  return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

export type K8sObject = {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  spec?: any;
  data?: Record<string, string>;
  scopes?: string[];
  auth?: { secretStore: string };
  [key: string]: any;
};

export const parseObjects = (text: string): K8sObject[] =>
  parseAllDocuments(text)
    .map((d) => d.toJS() as K8sObject | null)
    .filter((o): o is K8sObject => o !== null && typeof o === "object");

/** `helm template` with these values files (relative to the chart) and --set pairs. */
export function render(valuesFiles: string[] = [], set: string[] = [], release = "herald"): string {
  const args = ["template", release, chartDir, "--namespace", "herald"];
  for (const f of valuesFiles) args.push("-f", join(chartDir, f));
  for (const s of set) args.push("--set", s);
  const r = helm(args);
  if (r.status !== 0) throw new Error(`helm ${args.join(" ")} failed (${r.status}):\n${r.stderr}`);
  return r.stdout;
}

export const byKind = (objects: K8sObject[], kind: string) => objects.filter((o) => o.kind === kind);
export const find = (objects: K8sObject[], kind: string, name: string) =>
  objects.find((o) => o.kind === kind && o.metadata.name === name);

type Meta = { name: string; value?: unknown; envRef?: string; secretKeyRef?: { name: string; key: string } };
const metaOf = (component: K8sObject | undefined): Meta[] => (component?.spec?.metadata ?? []) as Meta[];
export const metaValue = (component: K8sObject | undefined, name: string) =>
  metaOf(component).find((m) => m.name === name)?.value;

const deployments = (objects: K8sObject[]) => byKind(objects, "Deployment");
const appId = (d: K8sObject): string | undefined => d.spec?.template?.metadata?.annotations?.["dapr.io/app-id"];

/**
 * Pod security `restricted`, resources, probes: every container of every Deployment runs as
 * non-root with a read-only root filesystem, no privilege escalation, ALL capabilities dropped,
 * seccomp RuntimeDefault (its own or the pod's), CPU and memory requests and a memory limit,
 * /tmp on an emptyDir; and the probes are on the paths and ports each service answers.
 */
export function securityProblems(objects: K8sObject[]): string[] {
  const problems: string[] = [];
  const expectedProbes: Record<string, { liveness: string; readiness: string }> = {
    web: { liveness: "/healthz", readiness: "/readyz" },
    notifier: { liveness: "/livez", readiness: "/healthz" },
  };
  if (deployments(objects).length === 0) problems.push("no Deployment rendered");
  for (const d of deployments(objects)) {
    const pod = d.spec?.template?.spec ?? {};
    const podSec = pod.securityContext ?? {};
    const where = `Deployment ${d.metadata.name}`;
    if (podSec.runAsNonRoot !== true) problems.push(`${where}: pod securityContext.runAsNonRoot is not true`);
    if (pod.hostNetwork || pod.hostPID || pod.hostIPC) problems.push(`${where}: uses host namespaces`);
    const tmpVolumes = new Set(
      (pod.volumes ?? []).filter((v: any) => v.emptyDir !== undefined).map((v: any) => v.name as string),
    );
    const containers = [...(pod.initContainers ?? []), ...(pod.containers ?? [])];
    if (containers.length === 0) problems.push(`${where}: no containers`);
    for (const c of containers) {
      const at = `${where} container ${c.name}`;
      const sec = c.securityContext ?? {};
      if (sec.runAsNonRoot !== true && podSec.runAsNonRoot !== true) problems.push(`${at}: may run as root`);
      if (sec.runAsUser === 0 || podSec.runAsUser === 0) problems.push(`${at}: runAsUser 0`);
      if (sec.readOnlyRootFilesystem !== true) problems.push(`${at}: root filesystem is not read-only`);
      if (sec.allowPrivilegeEscalation !== false) problems.push(`${at}: allowPrivilegeEscalation is not false`);
      if (sec.privileged) problems.push(`${at}: privileged`);
      if (!(sec.capabilities?.drop ?? []).includes("ALL")) problems.push(`${at}: capabilities do not drop ALL`);
      if ((sec.capabilities?.add ?? []).length > 0) problems.push(`${at}: adds capabilities`);
      const seccomp = sec.seccompProfile?.type ?? podSec.seccompProfile?.type;
      if (seccomp !== "RuntimeDefault" && seccomp !== "Localhost")
        problems.push(`${at}: seccomp profile is ${seccomp}`);
      const r = c.resources ?? {};
      if (!r.requests?.cpu) problems.push(`${at}: no CPU request`);
      if (!r.requests?.memory) problems.push(`${at}: no memory request`);
      if (!r.limits?.memory) problems.push(`${at}: no memory limit`);
      const tmp = (c.volumeMounts ?? []).find((m: any) => m.mountPath === "/tmp");
      if (!tmp || !tmpVolumes.has(tmp.name)) problems.push(`${at}: /tmp is not an emptyDir`);
      const expected = expectedProbes[appId(d) ?? ""];
      if (!expected) {
        problems.push(`${at}: unknown Dapr app id ${appId(d)}`);
        continue;
      }
      const port = (name: unknown) =>
        typeof name === "number" ? name : (c.ports ?? []).find((p: any) => p.name === name)?.containerPort;
      const appPort = (c.ports ?? []).find((p: any) => p.name === "http")?.containerPort;
      for (const [kind, path] of [
        ["livenessProbe", expected.liveness],
        ["readinessProbe", expected.readiness],
      ] as const) {
        const probe = c[kind]?.httpGet;
        if (!probe) problems.push(`${at}: no HTTP ${kind}`);
        else {
          if (probe.path !== path) problems.push(`${at}: ${kind} on ${probe.path}, expected ${path}`);
          if (appPort === undefined || port(probe.port) !== appPort)
            problems.push(`${at}: ${kind} on port ${probe.port}, not the app's port ${appPort}`);
        }
      }
    }
  }
  return problems;
}

/**
 * The Dapr sidecar annotations: each Deployment is a Dapr app (web, notifier) with the
 * chart's Configuration and metrics on; the notifier's sidecar delivers to its container port
 * and checks its /healthz. Every component an app may use (scopes) exists.
 */
export function daprAnnotationProblems(objects: K8sObject[]): string[] {
  const problems: string[] = [];
  const configNames = byKind(objects, "Configuration").map((c) => c.metadata.name);
  const ids = deployments(objects).map(appId);
  for (const required of ["web", "notifier"]) if (!ids.includes(required)) problems.push(`no Dapr app ${required}`);
  for (const d of deployments(objects)) {
    const a = d.spec?.template?.metadata?.annotations ?? {};
    const at = `Deployment ${d.metadata.name}`;
    if (a["dapr.io/enabled"] !== "true") problems.push(`${at}: dapr.io/enabled is not "true"`);
    if (!configNames.includes(a["dapr.io/config"]))
      problems.push(`${at}: dapr.io/config ${a["dapr.io/config"]} is not a rendered Configuration`);
    if (a["dapr.io/enable-metrics"] !== "true") problems.push(`${at}: Dapr metrics off`);
    if (appId(d) === "notifier") {
      const container = d.spec.template.spec.containers[0];
      const port = (container.ports ?? []).find((p: any) => p.name === "http")?.containerPort;
      if (a["dapr.io/app-port"] !== String(port))
        problems.push(`${at}: dapr.io/app-port ${a["dapr.io/app-port"]} is not the container port ${port}`);
      const env = Object.fromEntries((container.env ?? []).map((e: any) => [e.name, e.value]));
      const cm = find(objects, "ConfigMap", container.envFrom?.[0]?.configMapRef?.name ?? "");
      const appPortSetting = env.APP_PORT ?? cm?.data?.APP_PORT;
      if (appPortSetting !== String(port))
        problems.push(`${at}: APP_PORT ${appPortSetting} is not the container port ${port}`);
      if (a["dapr.io/enable-app-health-check"] !== "true") problems.push(`${at}: no app health check`);
      if (a["dapr.io/app-health-check-path"] !== "/healthz")
        problems.push(`${at}: app health check on ${a["dapr.io/app-health-check-path"]}`);
    }
    // An envRef in a component is read from the sidecar's environment: dapr.io/env must list it.
    const envRefs = byKind(objects, "Component")
      .filter((c) => !c.scopes || c.scopes.includes(appId(d) ?? ""))
      .flatMap((c) => metaOf(c).flatMap((m) => (m.envRef ? [m.envRef] : [])));
    const daprEnv = String(a["dapr.io/env"] ?? "")
      .split(",")
      .map((kv) => (kv.split("=")[0] ?? "").trim());
    for (const ref of envRefs) if (!daprEnv.includes(ref)) problems.push(`${at}: envRef ${ref} not in dapr.io/env`);
  }
  return problems;
}

/**
 * The KEDA trigger watches what the Dapr components use: the Redis stream of the topic and
 * the consumer group of the pub/sub component (on its Redis), or the Storage Queue of the
 * input binding; and it scales the notifier's Deployment.
 */
export function kedaProblems(objects: K8sObject[]): string[] {
  const problems: string[] = [];
  const scaled = byKind(objects, "ScaledObject");
  if (scaled.length !== 1) return [`expected one ScaledObject, found ${scaled.length}`];
  const so = scaled[0]!;
  const target = deployments(objects).find((d) => d.metadata.name === so.spec?.scaleTargetRef?.name);
  if (!target || appId(target) !== "notifier")
    problems.push(`ScaledObject scales ${so.spec?.scaleTargetRef?.name}, not the notifier`);
  if (target && target.spec.replicas !== undefined)
    problems.push("the notifier Deployment sets replicas although KEDA owns them");
  const auths = byKind(objects, "TriggerAuthentication").map((t) => t.metadata.name);
  for (const trigger of so.spec?.triggers ?? []) {
    const m = trigger.metadata ?? {};
    if (trigger.authenticationRef && !auths.includes(trigger.authenticationRef.name))
      problems.push(`trigger ${trigger.type}: TriggerAuthentication ${trigger.authenticationRef.name} is not rendered`);
    if (trigger.type === "redis-streams") {
      const pubsub = find(objects, "Component", daprComponents.pubsub);
      if (!pubsub) {
        problems.push("redis-streams trigger without the Redis pub/sub component");
        continue;
      }
      const subscription = byKind(objects, "Subscription").find(
        (s) => s.spec?.pubsubname === daprComponents.pubsub && s.spec?.deadLetterTopic,
      );
      if (m.stream !== subscription?.spec?.topic)
        problems.push(`trigger stream ${m.stream} is not the subscribed topic ${subscription?.spec?.topic}`);
      if (m.consumerGroup !== metaValue(pubsub, "consumerID"))
        problems.push(
          `trigger consumerGroup ${m.consumerGroup} is not the component's consumerID ${metaValue(pubsub, "consumerID")}`,
        );
      if (m.address !== metaValue(pubsub, "redisHost"))
        problems.push(
          `trigger address ${m.address} is not the component's redisHost ${metaValue(pubsub, "redisHost")}`,
        );
      const password = metaOf(pubsub).find((x) => x.name === "redisPassword");
      if (password && !trigger.authenticationRef)
        problems.push("Redis has a password but the trigger no authentication");
    } else if (trigger.type === "azure-queue") {
      const input = find(objects, "Component", daprComponents.queueIn);
      if (m.queueName !== metaValue(input, "queueName"))
        problems.push(
          `trigger queueName ${m.queueName} is not the input binding's queueName ${metaValue(input, "queueName")}`,
        );
      if (!trigger.authenticationRef) problems.push("azure-queue trigger without authentication");
    } else problems.push(`unexpected trigger type ${trigger.type}`);
  }
  return problems;
}

const secretish = /password|secret|key|token|connection|credential|smtp_url|eventstore_url|unsubscribe/i;
/**
 * No secret value in the output: no Secret objects; component fields that hold secrets use
 * secretKeyRef (never value); env vars that hold secrets come from secretKeyRef; and none of
 * the given sentinel strings appears anywhere in the rendered text.
 */
export function secretProblems(objects: K8sObject[], renderedText: string, sentinels: string[] = []): string[] {
  const problems: string[] = [];
  for (const o of objects) if (o.kind === "Secret") problems.push(`renders Secret ${o.metadata.name}`);
  for (const c of byKind(objects, "Component")) {
    for (const m of metaOf(c)) {
      if (/password|accountKey|connectionString|token/i.test(m.name) && m.value !== undefined)
        problems.push(`Component ${c.metadata.name}: ${m.name} has a literal value`);
      if (m.secretKeyRef && c.auth?.secretStore !== "kubernetes")
        problems.push(`Component ${c.metadata.name}: secretKeyRef without auth.secretStore`);
    }
  }
  for (const d of deployments(objects)) {
    for (const c of d.spec.template.spec.containers ?? []) {
      for (const e of c.env ?? []) {
        if (secretish.test(e.name) && e.value !== undefined)
          problems.push(`Deployment ${d.metadata.name}: env ${e.name} has a literal value`);
      }
    }
  }
  for (const cm of byKind(objects, "ConfigMap")) {
    for (const k of Object.keys(cm.data ?? {})) {
      if (/SMTP_URL|EVENTSTORE_URL|CONNECTION_STRING|PASSWORD|TOKEN|SECRET/.test(k))
        problems.push(`ConfigMap ${cm.metadata.name}: holds ${k}`);
    }
  }
  for (const s of sentinels) if (renderedText.includes(s)) problems.push(`the output contains the secret value ${s}`);
  return problems;
}

/** components/<set>/*.yaml of the repo: what `dapr run` loads. */
export function repoComponents(set: "local" | "azure"): K8sObject[] {
  const dir = join(repoRoot, "components", set);
  return readdirSync(dir)
    .filter((f) => f.endsWith(".yaml"))
    .flatMap((f) => parseObjects(readFileSync(join(dir, f), "utf8")));
}

/**
 * The chart's Dapr objects mirror components/<set>: the same components (type, and each
 * metadata field the repo gives a literal value), the same scopes, the same subscriptions
 * and resiliency targets.
 */
export function parityProblems(objects: K8sObject[], set: "local" | "azure"): string[] {
  const problems: string[] = [];
  const daprKinds = ["Component", "Subscription", "Resiliency"];
  const repo = repoComponents(set).filter((o) => daprKinds.includes(o.kind));
  const chart = objects.filter((o) => daprKinds.includes(o.kind));
  const key = (o: K8sObject) => `${o.kind}/${o.metadata.name}`;
  const names = (list: K8sObject[]) => list.map(key).sort();
  if (names(repo).join() !== names(chart).join())
    problems.push(`Dapr objects ${names(chart).join(", ")} differ from components/${set}: ${names(repo).join(", ")}`);
  for (const r of repo) {
    const c = chart.find((o) => key(o) === key(r));
    if (!c) continue;
    const scopes = (o: K8sObject) => [...(o.scopes ?? [])].sort().join();
    if (scopes(r) !== scopes(c))
      problems.push(`${key(r)}: scopes [${scopes(c)}], components/${set} has [${scopes(r)}]`);
    if (r.kind === "Component") {
      if (r.spec.type !== c.spec.type) problems.push(`${key(r)}: type ${c.spec.type}, expected ${r.spec.type}`);
      for (const m of metaOf(r)) {
        if (m.value === undefined) continue;
        const chartValue = metaValue(c, m.name);
        if (String(chartValue) !== String(m.value))
          problems.push(`${key(r)}: ${m.name} is ${chartValue}, components/${set} has ${m.value}`);
      }
    } else if (JSON.stringify(r.spec) !== JSON.stringify(c.spec)) {
      problems.push(`${key(r)}: spec differs from components/${set}`);
    }
  }
  return problems;
}

/**
 * Where a pod opens a connection: an address outside the cluster (`ip`), or a pod of the
 * cluster by its namespace and labels; on a port, TCP unless said otherwise.
 */
export type Destination = {
  what: string;
  port: number;
  protocol?: "TCP" | "UDP";
  ip?: string;
  pod?: { namespace: string; labels: Record<string, string> };
};

/** The namespace `render` installs into: a peer with only a podSelector means this one. */
const releaseNamespace = "herald";

type Selector = {
  matchLabels?: Record<string, string>;
  matchExpressions?: Array<{ key: string; operator: string; values?: string[] }>;
};
function selects(selector: Selector, labels: Record<string, string>): boolean {
  const labelsMatch = Object.entries(selector.matchLabels ?? {}).every(([k, v]) => labels[k] === v);
  const expressionsMatch = (selector.matchExpressions ?? []).every(({ key, operator, values = [] }) => {
    switch (operator) {
      case "In":
        return key in labels && values.includes(labels[key]!);
      case "NotIn":
        return !(key in labels) || !values.includes(labels[key]!);
      case "Exists":
        return key in labels;
      case "DoesNotExist":
        return !(key in labels);
      default:
        throw new Error(`unknown selector operator ${operator}`);
    }
  });
  return labelsMatch && expressionsMatch;
}

function inBlock(ip: string, cidr: string): boolean {
  const [network, prefix] = cidr.split("/");
  const family = isIPv6(ip) ? "ipv6" : "ipv4";
  if (isIPv6(network!) !== (family === "ipv6")) return false;
  const block = new BlockList();
  block.addSubnet(network!, Number(prefix), family);
  return block.check(ip, family);
}

function peerMatches(peer: any, to: Destination): boolean {
  if (peer.ipBlock) {
    const { cidr, except = [] } = peer.ipBlock as { cidr: string; except?: string[] };
    return to.ip !== undefined && inBlock(to.ip, cidr) && !except.some((e) => inBlock(to.ip!, e));
  }
  if (!to.pod) return false;
  const namespaceLabels = { "kubernetes.io/metadata.name": to.pod.namespace };
  const namespaceOk = peer.namespaceSelector
    ? selects(peer.namespaceSelector, namespaceLabels)
    : to.pod.namespace === releaseNamespace;
  return namespaceOk && selects(peer.podSelector ?? {}, to.pod.labels);
}

/** An egress rule allows a destination when a port entry and a peer match (none: all). */
function ruleAllows(rule: any, to: Destination): boolean {
  const protocol = to.protocol ?? "TCP";
  const ports: any[] = rule.ports ?? [];
  const portOk =
    ports.length === 0 ||
    ports.some(
      (p) =>
        (p.protocol ?? "TCP") === protocol &&
        (p.port === undefined ||
          p.port === to.port ||
          (p.endPort !== undefined && p.port <= to.port && to.port <= p.endPort)),
    );
  const peers: any[] = rule.to ?? [];
  return portOk && (peers.length === 0 || peers.some((peer) => peerMatches(peer, to)));
}

/** The NetworkPolicies restricting the egress of pods with these labels. */
function egressPoliciesOf(objects: K8sObject[], podLabels: Record<string, string>): K8sObject[] {
  return byKind(objects, "NetworkPolicy").filter((p) => {
    const types: string[] = p.spec?.policyTypes ?? (p.spec?.egress ? ["Ingress", "Egress"] : ["Ingress"]);
    return types.includes("Egress") && selects(p.spec?.podSelector ?? {}, podLabels);
  });
}

/**
 * Whether the pods of a Dapr app (web, notifier) may open this connection, as Kubernetes
 * decides it: allowed when no NetworkPolicy restricts their egress, else when a rule of one of
 * them allows it. (Connections to the pod's own localhost, app to sidecar, are never subject.)
 */
export function mayReach(objects: K8sObject[], app: string, to: Destination): boolean {
  const deployment = deployments(objects).find((d) => appId(d) === app);
  if (!deployment) throw new Error(`no Deployment of the Dapr app ${app}`);
  const policies = egressPoliciesOf(objects, deployment.spec.template.metadata.labels ?? {});
  return policies.length === 0 || policies.some((p) => (p.spec.egress ?? []).some((r: any) => ruleAllows(r, to)));
}

/** What every sidecar must reach in a cluster: DNS, and the Dapr 1.18 control plane's pods. */
export const clusterDestinations: Destination[] = [
  ...(["UDP", "TCP"] as const).map((protocol) => ({
    what: `DNS (${protocol} 53)`,
    port: 53,
    protocol,
    pod: { namespace: "kube-system", labels: { "k8s-app": "kube-dns" } },
  })),
  ...(
    [
      ["sentry", 50001],
      ["operator", 6500],
      ["placement-server", 50005],
      ["scheduler-server", 50006],
    ] as const
  ).map(([service, port]) => ({
    what: `the Dapr ${service} (${port})`,
    port,
    pod: { namespace: "dapr-system", labels: { app: `dapr-${service}` } },
  })),
];

/**
 * Egress: every pod has a NetworkPolicy restricting its egress, and may still reach DNS (UDP
 * and TCP) and the Dapr control plane, without which its sidecar cannot start.
 */
export function egressProblems(objects: K8sObject[]): string[] {
  const problems: string[] = [];
  for (const d of deployments(objects)) {
    const at = `Deployment ${d.metadata.name}`;
    if (egressPoliciesOf(objects, d.spec.template.metadata.labels ?? {}).length === 0) {
      problems.push(`${at}: no NetworkPolicy restricts its egress`);
      continue;
    }
    for (const to of clusterDestinations)
      if (!mayReach(objects, appId(d) ?? "", to)) problems.push(`${at}: may not reach ${to.what}`);
  }
  return problems;
}
