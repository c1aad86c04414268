import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { parse } from "yaml";
import { client, tokens } from "../support/api-client.ts";
import { type DaprTopology, startDaprTopology } from "../support/dapr-topology.ts";
import {
  answers,
  eventually,
  freePort,
  repoRoot,
  type RunningProcess,
  startProcess,
  tempDir,
} from "../support/herald-process.ts";
import { type Redis, startRedis } from "../support/redis.ts";
import { type SmtpSink, startSmtpSink } from "../support/smtp-sink.ts";

// The dashboard and the alert rules against a real Prometheus scraping Herald in Dapr mode
// (web, notifier and both daprd sidecars, components/local on a real Redis). After a small load
// (plain uploads, a redelivery, a permanent refusal, a dead letter), every expr of
// dashboards/herald.json must return data, and every alert expr must parse, with each metric it
// reads present. A typo'd metric name, a label that does not exist, or a Dapr metric that daprd
// does not expose fails here.

const rateInterval = "1m"; // what Grafana's $__rate_interval is with the default 15 s scrape setting
const range = "5m";

let redis: Redis;
let sink: SmtpSink;
let herald: DaprTopology;
let prometheus: RunningProcess & { url: string };
/** The time (Unix seconds) every query is evaluated at: just after the load, scraped. */
let evalTime: number;

function requirePrometheus() {
  for (const tool of ["prometheus", "promtool"]) {
    const run = spawnSync(tool, ["--version"], { encoding: "utf8" });
    if (run.error) {
      assert.fail(
        `${tool} is required for this test and could not be run (${run.error.message}). ` +
          "Install it: apt-get install prometheus (Debian/Ubuntu), or put the binaries of a Prometheus release on PATH.",
      );
    }
  }
}

async function startPrometheus(jobs: Record<string, string[]>) {
  const dir = tempDir("prometheus");
  const port = await freePort();
  const config = {
    global: { scrape_interval: "1s", scrape_timeout: "1s", evaluation_interval: "1s" },
    rule_files: [join(repoRoot, "alerts/herald.rules.yml")],
    scrape_configs: Object.entries(jobs).map(([job, targets]) => ({
      job_name: job,
      static_configs: [{ targets }],
    })),
  };
  writeFileSync(join(dir, "prometheus.yml"), JSON.stringify(config, null, 2)); // JSON is YAML
  const url = `http://127.0.0.1:${port}`;
  const running = await startProcess(
    "prometheus",
    "prometheus",
    [
      `--config.file=${join(dir, "prometheus.yml")}`,
      `--storage.tsdb.path=${join(dir, "data")}`,
      `--web.listen-address=127.0.0.1:${port}`,
      "--web.enable-lifecycle",
      "--log.level=warn",
    ],
    {},
    answers(`${url}/-/ready`),
    30_000,
  );
  return { ...running, url };
}

type QueryAnswer = {
  httpStatus: number;
  status: string;
  error?: string;
  result: Array<{ metric: Record<string, string>; value: [number, string] }>;
};

async function query(expr: string, time = evalTime): Promise<QueryAnswer> {
  const params = new URLSearchParams({ query: expr });
  if (time !== undefined) params.set("time", String(time));
  const res = await fetch(`${prometheus.url}/api/v1/query?${params}`);
  const body = (await res.json()) as { status: string; error?: string; data?: { result: QueryAnswer["result"] } };
  return { httpStatus: res.status, status: body.status, error: body.error, result: body.data?.result ?? [] };
}

before(async () => {
  requirePrometheus();
  redis = await startRedis();
  sink = await startSmtpSink();
  herald = await startDaprTopology({
    set: "local",
    componentEnv: { REDIS_HOST: redis.host },
    appEnv: { SMTP_URL: sink.url, HERALD_QUEUE_REDIS_HOST: redis.host },
  });
  prometheus = await startPrometheus({
    "herald-web": [`127.0.0.1:${herald.web.port}`],
    "herald-notifier": [`127.0.0.1:${herald.notifier.port}`],
    dapr: [`127.0.0.1:${herald.webSidecar.metricsPort}`, `127.0.0.1:${herald.notifierSidecar.metricsPort}`],
  });
  await eventually(
    async () => ((await query("up == 1", Date.now() / 1000)).result.length === 4 ? true : undefined),
    15_000,
    "Prometheus to scrape the 4 targets",
  );

  // ---- the load: 10 uploads, 20 notifications --------------------------------------------
  const api = client(herald.web.url);
  const upload = async (name: string) => {
    const res = await api.upload("design", tokens.carol, { name, content: `content of ${name}` });
    assert.equal(res.status, 202, JSON.stringify(res.body));
    return res.body.notifications.map((n: { notificationId: string }) => n.notificationId) as string[];
  };
  const statusIs = (ids: string[], status: string, timeoutMs: number) =>
    eventually(
      async () => {
        for (const id of ids) {
          const r = await api.get(`/api/notifications/${id}`, tokens.alice);
          if (r.body.status !== status) return undefined;
        }
        return true;
      },
      timeoutMs,
      `notifications ${ids.join(", ")} to be ${status}`,
    );
  // 7 plain uploads: 14 emails sent.
  const plain = (await Promise.all([1, 2, 3, 4, 5, 6, 7].map((i) => upload(`plain-${i}.txt`)))).flat();
  await statusIs(plain, "sent", 30_000);
  // A "try later" for each of the next 2 emails: retried, then sent.
  sink.refuseNext(2, 451, "4.3.0 Try again later");
  await statusIs(await upload("retried.txt"), "sent", 30_000);
  // A permanent refusal for the next 2: failed.
  sink.refuseNext(2, 554, "5.7.1 Refused for good");
  await statusIs(await upload("refused.txt"), "failed", 30_000);
  // "Try later" until the retries run out: dead-lettered.
  sink.refuseNext(1000, 451, "4.3.0 Try again later");
  try {
    await statusIs(await upload("dead.txt"), "dead-lettered", 45_000);
  } finally {
    sink.refuseNext(0, 451, "");
  }

  // Scraped after the load: the last counters have reached Prometheus, and a few scrapes more.
  await eventually(
    async () => {
      const now = Date.now() / 1000;
      const dead = await query('sum(herald_notifications_total{outcome="dead_lettered"})', now);
      const ingress = await query('dapr_component_pubsub_ingress_count{topic="notifications-dead"}', now);
      return Number(dead.result[0]?.value[1]) >= 2 && ingress.result.length > 0 ? true : undefined;
    },
    15_000,
    "Prometheus to scrape the dead letters",
  );
  await new Promise((r) => setTimeout(r, 3000));
  evalTime = Date.now() / 1000;
});

after(async () => {
  await prometheus?.stop();
  await herald?.stop();
  await redis?.stop();
  await sink?.close();
});

// ---- reading the dashboard and the rules ----------------------------------------------------

type Variable = {
  name: string;
  type: string;
  query?: string | { query: string };
  allValue?: string;
  current?: { value?: string | string[] };
};
type Dashboard = { templating: { list: Variable[] }; panels: unknown[] };

const dashboard = () => JSON.parse(readFileSync(join(repoRoot, "dashboards/herald.json"), "utf8")) as Dashboard;

/** Every expr in the panels, rows and their nested panels included, with where it is. */
function dashboardExprs(): Array<{ where: string; expr: string }> {
  const found: Array<{ where: string; expr: string }> = [];
  const walk = (node: unknown, where: string) => {
    if (Array.isArray(node)) return node.forEach((n) => walk(n, where));
    if (!node || typeof node !== "object") return;
    const obj = node as Record<string, unknown>;
    const here = typeof obj.title === "string" ? obj.title : where;
    if (typeof obj.expr === "string") found.push({ where: `${here} [${obj.refId ?? "?"}]`, expr: obj.expr });
    for (const value of Object.values(obj)) walk(value, here);
  };
  walk(dashboard().panels, "dashboard");
  return found;
}

/** Grafana's variables, as Grafana would interpolate them (multi values as a regex group). */
function substitute(expr: string): string {
  const values: Record<string, string> = {
    __rate_interval: rateInterval,
    __interval: "15s",
    __range: range,
  };
  for (const v of dashboard().templating.list) {
    if (v.type === "datasource") continue;
    const current = [v.current?.value ?? []].flat();
    values[v.name] =
      current.length === 0 || current.includes("$__all")
        ? (v.allValue ?? ".*")
        : current.length === 1
          ? current[0]!
          : `(${current.join("|")})`;
  }
  return expr.replace(/\$\{(\w+)(?::\w+)?\}|\$(\w+)|\[\[(\w+)\]\]/g, (whole, a, b, c) => {
    const name = (a ?? b ?? c) as string;
    const value = values[name];
    if (value === undefined) throw new Error(`unknown Grafana variable ${whole} in ${expr}`);
    return value;
  });
}

const keywords = new Set(["and", "or", "unless", "bool", "offset", "by", "without", "on", "ignoring", "inf", "nan"]);

/** The metric selectors an expression reads (name plus its {matchers}), ranges stripped. */
function selectors(expr: string): string[] {
  const braces: string[] = [];
  let s = expr.replace(/\{[^}]*\}/g, (m) => `@${braces.push(m) - 1}@`);
  s = s.replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, " ");
  s = s.replace(/\[[^\]]*\]/g, " ").replace(/"[^"]*"/g, " ");
  const out = new Set<string>();
  for (const m of s.matchAll(/(?<![\w:@])([a-zA-Z_:][\w:]*)\s*(?:@(\d+)@)?(\s*\()?/g)) {
    const name = m[1]!;
    const brace = m[2];
    if (m[3] || keywords.has(name.toLowerCase())) continue;
    out.add(name + (brace !== undefined ? braces[Number(brace)]! : ""));
  }
  return [...out];
}

type Rule = { alert: string; expr: string };
const alertRules = () =>
  (
    parse(readFileSync(join(repoRoot, "alerts/herald.rules.yml"), "utf8")) as { groups: Array<{ rules: Rule[] }> }
  ).groups
    .flatMap((g) => g.rules)
    .filter((r) => r.alert);

/** Label values this load cannot produce without breaking Herald: a 5xx answer. */
const mayBeEmpty = [/status=~"5\.\."/];

/**
 * A selector must have data. Only one that filters on a value in mayBeEmpty may be empty, and
 * then its metric must have data with every label it filters on: a typo still fails.
 */
async function selectorProblem(selector: string): Promise<string | undefined> {
  if ((await query(selector)).result.length > 0) return undefined;
  if (!mayBeEmpty.some((re) => re.test(selector))) return `selector ${selector} has no data`;
  const name = selector.replace(/\{.*$/s, "");
  const labels = [...selector.matchAll(/(\w+)\s*(?:=~|!~|!=|=)/g)].map((m) => m[1]!);
  const bare = await query(name);
  const missing = labels.filter((l) => !bare.result.some((r) => l in r.metric));
  if (bare.result.length === 0) return `selector ${selector}: metric ${name} has no data`;
  if (missing.length > 0) return `selector ${selector}: ${name} has no label ${missing.join(", ")}`;
  return undefined;
}

const show = (a: QueryAnswer) =>
  a.error ? `${a.httpStatus} ${a.status}: ${a.error}` : `${a.httpStatus} ${a.status}, ${a.result.length} series`;

// ---- the tests ------------------------------------------------------------------------------

describe("Prometheus scraping Herald in Dapr mode", () => {
  it("the dashboard names its data source only through ${datasource} and hard-codes no target", () => {
    const text = readFileSync(join(repoRoot, "dashboards/herald.json"), "utf8");
    const uids = [...text.matchAll(/"uid":\s*"([^"]*)"/g)].map((m) => m[1]);
    assert.deepEqual([...new Set(uids)].sort(), ["${datasource}", "-- Grafana --", "herald"].sort());
    const dash = dashboard();
    assert.ok(dash.templating.list.some((v) => v.name === "datasource" && v.type === "datasource"));
    for (const { where, expr } of dashboardExprs()) {
      assert.doesNotMatch(expr, /instance\s*=\s*"|127\.0\.0\.1|localhost/, `${where}: hard-coded target in ${expr}`);
    }
  });

  it("every dashboard expr returns data (and not only NaN) after a little traffic", async () => {
    const exprs = dashboardExprs();
    assert.ok(exprs.length >= 25, `only ${exprs.length} exprs found`);
    const problems: string[] = [];
    for (const { where, expr } of exprs) {
      const promql = substitute(expr);
      const answer = await query(promql);
      if (answer.httpStatus !== 200 || answer.status !== "success") {
        problems.push(`${where}: ${show(answer)}\n    ${promql}`);
        continue;
      }
      if (answer.result.length === 0) problems.push(`${where}: no data\n    ${promql}`);
      else if (!answer.result.some((r) => Number.isFinite(Number(r.value[1]))))
        problems.push(`${where}: only NaN/Inf\n    ${promql}`);
      for (const selector of selectors(promql)) {
        const problem = await selectorProblem(selector);
        if (problem) problems.push(`${where}: ${problem}`);
      }
    }
    assert.deepEqual(problems, [], `\n${problems.join("\n")}`);
  });

  it("every dashboard variable's query reads a metric and label that exist", async () => {
    const problems: string[] = [];
    for (const v of dashboard().templating.list.filter((v) => v.type === "query")) {
      const text = typeof v.query === "string" ? v.query : (v.query?.query ?? "");
      const m = /^label_values\((.+),\s*(\w+)\)$/.exec(text);
      if (!m) {
        problems.push(`${v.name}: not a label_values() query: ${text}`);
        continue;
      }
      const answer = await query(substitute(m[1]!));
      if (!answer.result.some((r) => r.metric[m[2]!])) problems.push(`${v.name}: ${text} gives no values`);
    }
    assert.deepEqual(problems, [], problems.join("\n"));
  });

  it("every alert expr parses, and every metric it reads has data", async () => {
    const rules = alertRules();
    assert.equal(rules.length, 9);
    const problems: string[] = [];
    for (const rule of rules) {
      const answer = await query(rule.expr);
      if (answer.httpStatus !== 200 || answer.status !== "success") problems.push(`${rule.alert}: ${show(answer)}`);
      const found = selectors(rule.expr);
      if (found.length === 0) problems.push(`${rule.alert}: no metric found in ${rule.expr}`);
      for (const selector of found) {
        const problem = await selectorProblem(selector);
        if (problem) problems.push(`${rule.alert}: ${problem}`);
      }
    }
    assert.deepEqual(problems, [], `\n${problems.join("\n")}`);
  });

  it("on this healthy system the service-down, relay-stalled, mail-unreachable, digests-late and requeued-after-stall conditions are false", async () => {
    for (const name of [
      "HeraldServiceDown",
      "HeraldRelayStalled",
      "HeraldMailServerUnreachable",
      "HeraldDigestsLate",
      "HeraldNotificationsRequeuedAfterStall",
    ]) {
      const rule = alertRules().find((r) => r.alert === name)!;
      const answer = await query(rule.expr);
      assert.equal(answer.status, "success");
      assert.deepEqual(answer.result, [], `${name} would fire: ${JSON.stringify(answer.result)}`);
    }
  });

  it("Prometheus loaded the rule file and evaluates every alert without error", async () => {
    const rules = await eventually(
      async () => {
        const body = (await (await fetch(`${prometheus.url}/api/v1/rules?type=alert`)).json()) as {
          data: { groups: Array<{ name: string; rules: Array<{ name: string; health: string; lastError?: string }> }> };
        };
        const all = body.data.groups.flatMap((g) => g.rules);
        return all.length === alertRules().length && all.every((r) => r.health !== "unknown") ? all : undefined;
      },
      10_000,
      "the alert rules to be evaluated",
    );
    for (const r of rules) assert.equal(r.health, "ok", `${r.name}: ${r.lastError}`);
  });
});
