import { readFileSync } from "node:fs";

// Summarises a V8 CPU profile (`node --cpu-prof`): the functions that took the most self time,
// and the share by package (node_modules/<pkg>, node: internals, Herald's own files).
// Usage: node --import tsx bench/tools/profile-summary.ts <file.cpuprofile> [top]

type Node = { id: number; callFrame: { functionName: string; url: string; lineNumber: number }; hitCount?: number };
type Profile = { nodes: Node[]; samples: number[]; timeDeltas: number[] };

const [file, topArg] = process.argv.slice(2);
if (!file) {
  console.error("usage: profile-summary.ts <file.cpuprofile> [top]");
  process.exit(2);
}
const profile = JSON.parse(readFileSync(file, "utf8")) as Profile;
const byId = new Map(profile.nodes.map((n) => [n.id, n]));
const selfUs = new Map<number, number>();
profile.samples.forEach((id, i) => selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0)));
const total = [...selfUs.values()].reduce((a, b) => a + b, 0);

const where = (url: string) => {
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (pkg) return pkg[1]!;
  if (url.startsWith("node:")) return "node internals";
  if (url.includes("/services/")) return `herald ${url.split("/services/")[1]!.split("/")[0]}`;
  return url ? "other" : "native (syscalls such as fsync, open, rename; gc; idle)";
};
const add = (map: Map<string, number>, key: string, us: number) => map.set(key, (map.get(key) ?? 0) + us);
const functions = new Map<string, number>();
const places = new Map<string, number>();
for (const [id, us] of selfUs) {
  const { functionName, url, lineNumber } = byId.get(id)!.callFrame;
  const name = `${functionName || "(anonymous)"} ${url ? `${url.replace(/^.*\/(node_modules|services)\//, "$1/")}:${lineNumber + 1}` : ""}`;
  add(functions, name.trim(), us);
  add(places, where(url), us);
}
const pct = (us: number) => `${((100 * us) / total).toFixed(1)} %`;
const top = (map: Map<string, number>, n: number) => [...map].sort((a, b) => b[1] - a[1]).slice(0, n);
console.log(`profile ${file}: ${(total / 1e6).toFixed(1)} s sampled`);
console.log("\n| where | self time |\n|---|---|");
for (const [k, us] of top(places, 12)) console.log(`| ${k} | ${pct(us)} |`);
console.log("\n| function | self time |\n|---|---|");
for (const [k, us] of top(functions, Number(topArg ?? 15))) console.log(`| \`${k}\` | ${pct(us)} |`);
