import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { it } from "node:test";
import { repoRoot, tempDir } from "../support/herald-process.ts";
import { parseObjects } from "../support/helm.ts";

// k8s/ holds the chart rendered as plain manifests (scripts/render-k8s.sh, `npm run
// k8s:render`). It must equal a fresh render, or someone changed the chart and forgot it.

const files = (dir: string): string[] =>
  readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? files(path) : [path];
  });

const snapshot = (dir: string) =>
  Object.fromEntries(files(dir).map((f) => [relative(dir, f), readFileSync(f, "utf8")]));

function differences(expected: Record<string, string>, actual: Record<string, string>): string[] {
  const names = new Set([...Object.keys(expected), ...Object.keys(actual)]);
  return [...names].sort().flatMap((name) => {
    if (!(name in actual)) return [`k8s/${name} is missing`];
    if (!(name in expected)) return [`k8s/${name} is not rendered from the chart`];
    return expected[name] === actual[name] ? [] : [`k8s/${name} differs from a fresh render`];
  });
}

it("the checked-in k8s/ equals a fresh render of the chart (npm run k8s:render)", () => {
  const fresh = tempDir("k8s");
  execFileSync(join(repoRoot, "scripts/render-k8s.sh"), [fresh], { stdio: ["ignore", "ignore", "pipe"] });
  const problems = differences(snapshot(fresh), snapshot(join(repoRoot, "k8s")));
  assert.deepEqual(problems, [], "run `npm run k8s:render` and commit k8s/");
  assert.ok(
    Object.keys(snapshot(fresh)).some((f) => f.startsWith("local/")),
    "local set rendered",
  );
  assert.ok(
    Object.keys(snapshot(fresh)).some((f) => f.startsWith("azure/")),
    "azure set rendered",
  );
});

it("the comparison fails on a stale or extra file", () => {
  const fresh = snapshot(join(repoRoot, "k8s"));
  const stale = {
    ...fresh,
    "local/web/deployment.yaml": fresh["local/web/deployment.yaml"]!.replace("replicas: 1", "replicas: 2"),
  };
  delete (stale as Record<string, string>)["azure/networkpolicy.yaml"];
  (stale as Record<string, string>)["local/old.yaml"] = "kind: ConfigMap\n";
  assert.deepEqual(differences(fresh, stale), [
    "k8s/azure/networkpolicy.yaml is missing",
    "k8s/local/old.yaml is not rendered from the chart",
    "k8s/local/web/deployment.yaml differs from a fresh render",
  ]);
});

it("every file in k8s/ is Kubernetes YAML with apiVersion, kind and name", () => {
  for (const file of files(join(repoRoot, "k8s")).filter((f) => f.endsWith(".yaml"))) {
    const objects = parseObjects(readFileSync(file, "utf8"));
    assert.ok(objects.length > 0, file);
    for (const o of objects)
      assert.ok(o.apiVersion && o.kind && o.metadata?.name, `${file}: ${JSON.stringify(o).slice(0, 80)}`);
  }
});
