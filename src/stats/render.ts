// Plain-text tables for `mcr rule list` and `mcr stats` (the --json forms print the data as is).
import type { RuleList, WorkerView } from "../control/protocol.ts";
import type { Output } from "../rules/types.ts";
import { DROP_REASONS } from "./reasons.ts";
import type { StatsReport } from "./aggregate.ts";

type Cell = string | number;

/** Columns padded to their widest cell; numbers right-aligned. */
export function table(headers: string[], rows: Cell[][], indent = ""): string {
  const numeric = headers.map((_, c) => rows.length > 0 && rows.every((r) => typeof r[c] === "number" || r[c] === ""));
  const text = rows.map((r) => r.map((v) => (typeof v === "number" ? count(v) : v)));
  const widths = headers.map((h, c) => Math.max(h.length, ...text.map((r) => (r[c] ?? "").length)));
  const line = (cells: string[]) =>
    indent +
    cells
      .map((v, c) => (numeric[c] ? v.padStart(widths[c]!) : c === cells.length - 1 ? v : v.padEnd(widths[c]!)))
      .join("  ")
      .trimEnd();
  return [line(headers), ...text.map(line)].join("\n");
}

/** 1234567 -> "1,234,567": counters are read by eye. */
export const count = (n: number) => n.toLocaleString("en-US");

export function bytes(n: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  let v = n;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return i === 0 ? `${n} B` : `${v.toFixed(1)} ${units[i]}`;
}

const out = (o: Output) => `${o.group}:${o.port}:${o.interface}`;

export function renderRuleList(list: RuleList): string {
  if (list.rules.length === 0) return ["no rules (add one with: mcr rule add --input-group G --input-port P --outputs G:P:IF)", ...workerNotes(list.workers)].join("\n");
  const rows: Cell[][] = [];
  for (const r of list.rules)
    r.outputs.forEach((o, i) => rows.push(i === 0 ? [String(r.id), r.inputInterface, `${r.inputGroup}:${r.inputPort}`, out(o), String(o.ttl)] : ["", "", "", out(o), String(o.ttl)]));
  return [table(["ID", "INTERFACE", "INPUT", "OUTPUT", "TTL"], rows), ...workerNotes(list.workers)].join("\n");
}

/** One line per worker that is not forwarding normally: what an operator must notice. */
export function workerNotes(workers: readonly WorkerView[]): string[] {
  const notes: string[] = [];
  for (const w of workers) {
    const last = w.lastExit ? `, last exit: ${w.lastExit.signal ? `killed by ${w.lastExit.signal}` : `code ${w.lastExit.code}`} after ${(w.lastExit.ranMs / 1000).toFixed(1)} s` : "";
    if (w.state !== "ready") notes.push(`worker ${w.index} (cpu ${w.cpu}): ${w.state}, ${w.restarts} restart(s)${last}`);
    for (const i of w.inputs) if (i.state !== "up") notes.push(`worker ${w.index} (cpu ${w.cpu}): input ${i.interface} is ${i.state}${i.error ? ` (${i.error})` : ""}`);
  }
  return notes.length > 0 ? ["", ...notes] : [];
}

export function renderStats(r: StatsReport): string {
  const parts: string[] = [];
  parts.push("rules");
  parts.push(
    r.rules.length === 0
      ? "  (none)"
      : table(
          ["ID", "INPUT", "PACKETS", "BYTES"],
          r.rules.map((x) => [String(x.id), `${x.inputInterface} ${x.inputGroup}:${x.inputPort}`, x.packets, bytes(x.bytes)]),
          "  ",
        ),
  );
  const outputs = r.rules.flatMap((x) => x.outputs.map((o) => [String(x.id), out(o), String(o.ttl), o.packets, bytes(o.bytes), o.errors] as Cell[]));
  if (outputs.length > 0) parts.push("", "outputs", table(["RULE", "OUTPUT", "TTL", "PACKETS", "BYTES", "ERRORS"], outputs, "  "));
  const drops = DROP_REASONS.filter((d) => r.drops[d] > 0).map((d) => [d, r.drops[d]] as Cell[]);
  parts.push("", "drops", drops.length === 0 ? "  (none)" : table(["REASON", "PACKETS"], drops, "  "));
  parts.push(
    "",
    "workers",
    table(
      ["#", "CPU", "PID", "STATE", "RESTARTS", "RX FRAMES", "RING DROPS", "TX PACKETS", "TX ERRORS", "DROPS", "BATCHES"],
      r.workers.map((w) => [String(w.index), String(w.cpu), w.pid === null ? "-" : String(w.pid), w.state, w.restarts, w.rxFrames, w.ringDrops, w.txPackets, w.txErrors, w.drops, w.batches]),
      "  ",
    ),
  );
  const t = r.totals;
  parts.push(
    "",
    `total: ${count(t.rxFrames)} frames in (${bytes(t.rxBytes)}), ${count(t.txPackets)} packets out (${bytes(t.txBytes)}), ` +
      `${count(t.drops)} dropped, ${count(t.ringDrops)} lost on the ring, ${count(t.txErrors)} send errors; up ${r.uptimeSeconds} s`,
  );
  if (r.stale.length > 0) parts.push(`note: worker(s) ${r.stale.join(", ")} did not answer in time; their numbers are from the previous second`);
  return parts.join("\n");
}
