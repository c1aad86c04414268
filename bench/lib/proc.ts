import { execFileSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";

// Per-process figures from /proc (Linux): peak RSS (VmHWM, the kernel's high-water mark, so no
// sample can miss the peak) and CPU time over a window, as % of one core. The high-water mark
// is reset when the window opens (clear_refs 5), so that it is the peak of the window, not of
// the start-up before it nor, for the benchmark's own process, of earlier benchmarks.

const ticksPerSecond = (() => {
  try {
    return Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim()) || 100;
  } catch {
    return 100;
  }
})();

/** utime + stime of the whole process (all its threads), in seconds; undefined once it is gone. */
function cpuSeconds(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // The command name may hold spaces and parentheses: the fields start after the last ")".
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(fields[11]) + Number(fields[12])) / ticksPerSecond; // utime, stime (fields 14, 15)
  } catch {
    return undefined;
  }
}

function peakRssMiB(pid: number): number | undefined {
  try {
    const match = /^VmHWM:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return match ? Number(match[1]) / 1024 : undefined;
  } catch {
    return undefined;
  }
}

export type ProcessFigures = { name: string; peakRssMiB?: number; cpuPercent?: number };

function resetPeakRss(pid: number) {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, "5");
  } catch {
    // not allowed or gone: the peak then counts from the process's start
  }
}

/** Opens a window over these processes now; end() closes it: peak RSS and CPU within it. */
export function probeProcesses(pids: Record<string, number | undefined>, { resetPeak = true } = {}) {
  if (resetPeak) for (const pid of Object.values(pids)) if (pid) resetPeakRss(pid);
  const started = performance.now();
  const before = Object.entries(pids).map(([name, pid]) => ({ name, pid, cpu: pid ? cpuSeconds(pid) : undefined }));
  return {
    end(): ProcessFigures[] {
      const seconds = (performance.now() - started) / 1000;
      return before.map(({ name, pid, cpu }) => {
        const after = pid ? cpuSeconds(pid) : undefined;
        return {
          name,
          peakRssMiB: pid ? peakRssMiB(pid) : undefined,
          cpuPercent:
            cpu !== undefined && after !== undefined && seconds > 0 ? ((after - cpu) / seconds) * 100 : undefined,
        };
      });
    },
  };
}

export const formatProcesses = (figures: ProcessFigures[]) =>
  figures
    .map(
      (f) =>
        `${f.name} ${f.peakRssMiB === undefined ? "?" : Math.round(f.peakRssMiB)} MiB` +
        (f.cpuPercent === undefined ? "" : ` ${Math.round(f.cpuPercent)}%`),
    )
    .join(", ");
