// Sums worker counters into what `mcr stats` and /metrics show. A worker counts into a shared
// region (src/stats/shared.ts) that starts from zero each time the worker starts; the supervisor
// keeps, per worker slot, the total of its finished runs (each run's region read once more after
// the process is gone, so to the last packet) and reads the running one's region in place.
import type { WorkerView } from "../types/control.ts";
import type { MergeCount, WorkerCounters } from "../types/counters.ts";
import type { Rule } from "../types/rules.ts";
import { type MergeStats, STATS_SCHEMA, type StatsReport, type Totals } from "../types/stats.ts";
import { DROP_REASONS, type DropReason } from "./reasons.ts";
import { monotonicNs } from "../native/shim.ts";

export function emptyCounters(): WorkerCounters {
  return {
    rxFrames: 0,
    rxBytes: 0,
    batches: 0,
    ringPackets: 0,
    ringDrops: 0,
    txPackets: 0,
    txBytes: 0,
    txErrors: 0,
    rxForeign: 0,
    wakeups: 0,
    spins: 0,
    spinHits: 0,
    drops: Object.fromEntries(DROP_REASONS.map((r) => [r, 0])) as Record<DropReason, number>,
    rules: {},
    outputs: {},
  };
}

const SCALARS = [
  "rxFrames",
  "rxBytes",
  "batches",
  "ringPackets",
  "ringDrops",
  "txPackets",
  "txBytes",
  "txErrors",
  "rxForeign",
  "wakeups",
  "spins",
  "spinHits",
] as const;

/** a + b, as a new object. Tolerates a worker that omits a reason or sends a non-number. */
export function addCounters(a: WorkerCounters, b: WorkerCounters): WorkerCounters {
  const out = emptyCounters();
  for (const k of SCALARS) out[k] = num(a[k]) + num(b[k]);
  for (const r of DROP_REASONS) out.drops[r] = num(a.drops?.[r]) + num(b.drops?.[r]);
  out.rules = mergeRecords(a.rules, b.rules, (x, y) => ({
    packets: num(x?.packets) + num(y?.packets),
    bytes: num(x?.bytes) + num(y?.bytes),
  }));
  out.outputs = mergeRecords(a.outputs, b.outputs, (x, y) => ({
    packets: num(x?.packets) + num(y?.packets),
    bytes: num(x?.bytes) + num(y?.bytes),
    errors: num(x?.errors) + num(y?.errors),
  }));
  if (a.merges || b.merges) out.merges = mergeRecords(a.merges, b.merges, addMerge);
  return out;
}

/** Counts add up; the gauges (active, held) are the later one's (b: the running worker), and
 * each input's last packet the latest. */
function addMerge(x: MergeCount | undefined, y: MergeCount | undefined): MergeCount {
  const legs = Math.max(x?.legs?.length ?? 0, y?.legs?.length ?? 0);
  const now = y ?? x;
  return {
    out: num(x?.out) + num(y?.out),
    lost: num(x?.lost) + num(y?.lost),
    switches: num(x?.switches) + num(y?.switches),
    active: num(now?.active),
    held: num(now?.held),
    tooLarge: num(x?.tooLarge) + num(y?.tooLarge),
    restarts: num(x?.restarts) + num(y?.restarts),
    legs: Array.from({ length: legs }, (_, i) => {
      const p = x?.legs?.[i];
      const q = y?.legs?.[i];
      return {
        packets: num(p?.packets) + num(q?.packets),
        unique: num(p?.unique) + num(q?.unique),
        duplicates: num(p?.duplicates) + num(q?.duplicates),
        late: num(p?.late) + num(q?.late),
        gaps: num(p?.gaps) + num(q?.gaps),
        notRtp: num(p?.notRtp) + num(q?.notRtp),
        lastSeenNs: Math.max(num(p?.lastSeenNs), num(q?.lastSeenNs)),
      };
    }),
  };
}

/** A merge rule's part of the report; nowNs: CLOCK_MONOTONIC now (the workers' clock). */
function mergeStats(r: Rule, c: MergeCount | undefined, nowNs: number): MergeStats | undefined {
  if (!r.merge) return undefined;
  const inputs = [{ interface: r.inputInterface, group: r.inputGroup, port: r.inputPort }, ...r.merge.legs];
  return {
    mode: r.merge.mode,
    out: c?.out ?? 0,
    lost: c?.lost ?? 0,
    switches: c?.switches ?? 0,
    active: c?.active ?? 0,
    held: c?.held ?? 0,
    tooLarge: c?.tooLarge ?? 0,
    restarts: c?.restarts ?? 0,
    inputs: inputs.map((l, i) => {
      const k = c?.legs[i];
      const seen = k?.lastSeenNs ?? 0;
      return {
        interface: l.interface,
        group: l.group,
        port: l.port,
        packets: k?.packets ?? 0,
        unique: k?.unique ?? 0,
        duplicates: k?.duplicates ?? 0,
        late: k?.late ?? 0,
        gaps: k?.gaps ?? 0,
        notRtp: k?.notRtp ?? 0,
        lastSeenSecondsAgo: seen > 0 ? Math.max(0, Math.round((nowNs - seen) / 1e6) / 1000) : null,
      };
    }),
  };
}

function mergeRecords<T>(
  a: Record<string, T> | undefined,
  b: Record<string, T> | undefined,
  add: (x: T | undefined, y: T | undefined) => T,
): Record<string, T> {
  const out: Record<string, T> = {};
  for (const k of new Set([...Object.keys(a ?? {}), ...Object.keys(b ?? {})])) out[k] = add(a?.[k], b?.[k]);
  return out;
}

const num = (x: unknown) => (typeof x === "number" && Number.isFinite(x) ? x : 0);

/** Per worker slot: the sum of its finished runs. The running one is read in place by the caller. */
export class StatsBook {
  private readonly retired = new Map<number, WorkerCounters>();

  /** A run ended: its final counts join the slot's history. */
  retire(slot: number, final: WorkerCounters): void {
    this.retired.set(slot, addCounters(this.retired.get(slot) ?? emptyCounters(), final));
  }

  /** The slot's finished runs plus, when one is running, its counts so far. */
  slot(slot: number, live?: WorkerCounters): WorkerCounters {
    const done = this.retired.get(slot) ?? emptyCounters();
    return live ? addCounters(done, live) : done;
  }
}

// ---- the report (its shape: src/types/stats.ts) ----

export interface ReportInput {
  rules: readonly Rule[];
  /** Each worker as the supervisor sees it, with its slot's counters (finished runs + running). */
  workers: readonly (WorkerView & { counters: WorkerCounters })[];
  interfaces: readonly string[];
  startedAt: number;
  stale: number[];
  version: string;
  /** CLOCK_MONOTONIC now, ns (the clock the workers' last-seen times are in); default: read now. */
  monotonicNs?: number;
  config?: StatsReport["config"];
  now?: number;
}

export function buildReport(x: ReportInput): StatsReport {
  let total = emptyCounters();
  for (const w of x.workers) total = addCounters(total, w.counters);
  const now = x.now ?? Date.now();
  const nowNs = x.monotonicNs ?? (x.rules.some((r) => r.merge) ? monotonicNs() : 0);
  const running = x.workers.filter((w) => w.state === "ready");
  return {
    schema: STATS_SCHEMA,
    version: x.version,
    at: new Date(now).toISOString(),
    uptimeSeconds: Math.round((now - x.startedAt) / 1000),
    totals: totals(total),
    drops: total.drops,
    rules: x.rules.map((r) => ({
      id: r.id,
      ...(r.name !== undefined ? { name: r.name } : {}),
      inputInterface: r.inputInterface,
      inputGroup: r.inputGroup,
      inputPort: r.inputPort,
      packets: total.rules[r.id]?.packets ?? 0,
      bytes: total.rules[r.id]?.bytes ?? 0,
      outputs: r.outputs.map((o, i) => {
        const c = total.outputs[`${r.id}:${i}`];
        return {
          group: o.group,
          port: o.port,
          interface: o.interface,
          ttl: o.ttl,
          packets: c?.packets ?? 0,
          bytes: c?.bytes ?? 0,
          errors: c?.errors ?? 0,
        };
      }),
      ...(r.merge ? { merge: mergeStats(r, total.merges?.[r.id], nowNs) } : {}),
    })),
    workers: x.workers.map((w) => {
      const t = totals(w.counters);
      return {
        index: w.index,
        cpu: w.cpu,
        pid: w.pid,
        state: w.state,
        restarts: w.restarts,
        ...t,
        averageBatch: t.batches > 0 ? round2(t.rxFrames / t.batches) : 0,
        inputs: w.inputs,
        ...(w.failedOutputs ? { failedOutputs: w.failedOutputs } : {}),
      };
    }),
    interfaces: x.interfaces.map((name) => {
      const workersUp = running.filter((w) => w.inputs.some((i) => i.interface === name && i.state === "up")).length;
      return { name, up: running.length > 0 && workersUp === running.length, workersUp, workers: running.length };
    }),
    stale: x.stale,
    ...(x.config ? { config: x.config } : {}),
  };
}

function totals(c: WorkerCounters): Totals {
  let drops = 0;
  for (const r of DROP_REASONS) drops += c.drops[r];
  return {
    rxFrames: c.rxFrames,
    rxBytes: c.rxBytes,
    batches: c.batches,
    ringPackets: c.ringPackets,
    ringDrops: c.ringDrops,
    txPackets: c.txPackets,
    txBytes: c.txBytes,
    txErrors: c.txErrors,
    rxForeign: c.rxForeign,
    wakeups: c.wakeups,
    spins: c.spins,
    spinHits: c.spinHits,
    drops,
  };
}

const round2 = (x: number) => Math.round(x * 100) / 100;
