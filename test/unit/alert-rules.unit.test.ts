import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { it } from "node:test";
import { parse } from "yaml";

// The alert rules (alerts/herald.rules.yml) are checked and unit-tested with Prometheus's own
// promtool, and every alert links to a section of docs/runbook.md that exists. promtool is
// required: without it this test fails and says how to get it (it is never skipped).

const repoRoot = new URL("../../", import.meta.url).pathname;
const rulesFile = "alerts/herald.rules.yml";
const testsFile = "alerts/herald.rules.test.yml";

function promtool(...args: string[]) {
  const run = spawnSync("promtool", args, { cwd: repoRoot, encoding: "utf8", timeout: 60_000 });
  if (run.error && (run.error as NodeJS.ErrnoException).code === "ENOENT") {
    assert.fail(
      "promtool is required to test the alert rules and was not found on PATH. " +
        "Install Prometheus's tools: apt-get install prometheus (Debian/Ubuntu), " +
        "or put promtool from a Prometheus release on PATH.",
    );
  }
  if (run.error) throw run.error;
  return { code: run.status, output: `${run.stdout}${run.stderr}` };
}

type Rule = {
  alert?: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
};
type RulesFile = { groups: Array<{ name: string; rules: Rule[] }> };
type TestsFile = {
  tests: Array<{ name?: string; alert_rule_test?: Array<{ alertname: string; exp_alerts?: unknown[] | null }> }>;
};

const rules = () => parse(readFileSync(repoRoot + rulesFile, "utf8")) as RulesFile;
const alerts = () => rules().groups.flatMap((g) => g.rules.filter((r) => r.alert));

it("promtool check rules accepts alerts/herald.rules.yml", () => {
  const { code, output } = promtool("check", "rules", rulesFile);
  assert.equal(code, 0, `promtool check rules failed:\n${output}`);
  assert.match(output, new RegExp(`SUCCESS: ${alerts().length} rules found`), output);
});

it("promtool test rules passes alerts/herald.rules.test.yml", () => {
  const { code, output } = promtool("test", "rules", testsFile);
  assert.equal(code, 0, `promtool test rules failed:\n${output}`);
  assert.match(output, /SUCCESS/, output);
});

it("the group 'herald' has the nine agreed alerts, each with severity, summary, description and runbook_url", () => {
  const file = rules();
  assert.deepEqual(
    file.groups.map((g) => g.name),
    ["herald"],
  );
  assert.deepEqual(
    alerts()
      .map((a) => a.alert)
      .sort(),
    [
      "HeraldDeadLettersGrowing",
      "HeraldDigestsLate",
      "HeraldMailServerUnreachable",
      "HeraldNotificationsRequeuedAfterStall",
      "HeraldQueueLagHigh",
      "HeraldQueueStale",
      "HeraldRelayStalled",
      "HeraldSendFailureRatioHigh",
      "HeraldServiceDown",
    ],
  );
  for (const rule of alerts()) {
    assert.match(rule.labels?.severity ?? "", /^(warning|critical)$/, `${rule.alert}: severity`);
    for (const key of ["summary", "description", "runbook_url"]) {
      assert.ok(rule.annotations?.[key], `${rule.alert}: annotation ${key}`);
    }
  }
});

it("every runbook_url points at a section of docs/runbook.md that exists", () => {
  const runbook = readFileSync(repoRoot + "docs/runbook.md", "utf8");
  // GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens.
  const anchors = new Set(
    [...runbook.matchAll(/^#{1,6}\s+(.+)$/gm)].map((m) =>
      m[1]!
        .trim()
        .toLowerCase()
        .replace(/[^\p{L}\p{N}\s_-]/gu, "")
        .replace(/\s/g, "-"),
    ),
  );
  for (const rule of alerts()) {
    const url = rule.annotations!.runbook_url!;
    const [path, anchor] = url.split("#");
    assert.equal(path, "docs/runbook.md", `${rule.alert}: ${url}`);
    assert.equal(anchor, rule.alert!.toLowerCase(), `${rule.alert}: anchor is the alert's name`);
    assert.ok(anchors.has(anchor!), `${rule.alert}: docs/runbook.md has no heading for #${anchor}`);
  }
});

it("the promtool tests have, for every alert, a case where it fires and one where it does not", () => {
  const tests = parse(readFileSync(repoRoot + testsFile, "utf8")) as TestsFile;
  const cases = tests.tests.flatMap((t) => t.alert_rule_test ?? []);
  for (const rule of alerts()) {
    const mine = cases.filter((c) => c.alertname === rule.alert);
    assert.ok(
      mine.some((c) => (c.exp_alerts ?? []).length > 0),
      `${rule.alert}: no test case where it fires`,
    );
    assert.ok(
      mine.some((c) => (c.exp_alerts ?? []).length === 0),
      `${rule.alert}: no test case where it does not fire`,
    );
  }
});
