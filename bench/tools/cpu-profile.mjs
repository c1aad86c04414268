// Preload for profiling a Herald process the benchmark starts (--cpu-prof is refused in
// NODE_OPTIONS, --import is not):
//   npm run bench -- --only embedded --herald-env "NODE_OPTIONS=--import ./bench/tools/cpu-profile.mjs" \
//     --herald-env PROFILE_SECONDS=15 --herald-env PROFILE_DIR=/tmp/prof
// Profiles the first PROFILE_SECONDS after start (the load), then writes
// PROFILE_DIR/<pid>.cpuprofile for bench/tools/profile-summary.ts.
import { writeFileSync } from "node:fs";
import { Session } from "node:inspector";

const seconds = Number(process.env.PROFILE_SECONDS ?? 15);
const dir = process.env.PROFILE_DIR ?? ".";
const session = new Session();
session.connect();
session.post("Profiler.enable", () =>
  session.post("Profiler.start", () => {
    setTimeout(() => {
      session.post("Profiler.stop", (error, result) => {
        if (!error) writeFileSync(`${dir}/${process.pid}.cpuprofile`, JSON.stringify(result.profile));
      });
    }, seconds * 1000).unref();
  }),
);
