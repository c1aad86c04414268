import os from "node:os";

// The one table the run prints: every figure on a row, Herald's beside the baselines measured
// in the same run, with the machine it ran on above it.

export type Cell = number | string | undefined;

export type Row = {
  bench: string;
  pipeline: string;
  figure: string;
  herald?: Cell;
  bullmq?: Cell;
  streams?: Cell;
  /** Herald / BullMQ, for the figure of this row. */
  ratio?: Cell;
  lost?: Cell;
  duplicates?: Cell;
  /** Peak RSS and CPU of each process during the measurement. */
  processes?: string;
  notes?: string;
};

const columns: Array<[keyof Row, string]> = [
  ["bench", "bench"],
  ["pipeline", "pipeline"],
  ["figure", "figure"],
  ["herald", "Herald"],
  ["bullmq", "BullMQ"],
  ["streams", "Redis Streams"],
  ["ratio", "Herald / BullMQ"],
  ["lost", "lost"],
  ["duplicates", "duplicates"],
  ["processes", "peak RSS, CPU (% of a core)"],
  ["notes", "notes"],
];

export function fmt(value: Cell, digits = 0): string {
  if (value === undefined) return "–";
  if (typeof value === "string") return value;
  if (!Number.isFinite(value)) return "–";
  return value.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

/** A ratio with enough digits to read a small one (0.012) and a large one (12.3) alike. */
export function ratio(herald: number | undefined, bullmq: number | undefined): string | undefined {
  if (herald === undefined || bullmq === undefined || !Number.isFinite(herald) || !bullmq) return undefined;
  const r = herald / bullmq;
  return r.toPrecision(r >= 100 ? 4 : 2);
}

export function machineLine(settings: string): string {
  const gib = (os.totalmem() / 2 ** 30).toFixed(1);
  const load = os
    .loadavg()
    .map((l) => l.toFixed(1))
    .join(" ");
  return (
    `Machine: ${os.cpus().length} cores (${os.cpus()[0]?.model.trim() ?? "?"}), ${gib} GiB memory, ` +
    `Node ${process.version}, ${os.platform()} ${os.release()}; load average at start ${load}. ` +
    `Run ${new Date().toISOString()}; ${settings}`
  );
}

export function renderTable(machine: string, rows: Row[]): string {
  const escape = (s: string) => s.replaceAll("|", "\\|").replaceAll("\n", " ");
  const line = (cells: string[]) => `| ${cells.map(escape).join(" | ")} |`;
  return [
    machine,
    "",
    line(columns.map(([, title]) => title)),
    line(columns.map(() => "---")),
    ...rows.map((row) =>
      line(columns.map(([key]) => (typeof row[key] === "string" ? (row[key] as string) : fmt(row[key])))),
    ),
  ].join("\n");
}
