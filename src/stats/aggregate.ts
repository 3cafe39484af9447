// Sums worker counters into what `mcr stats` shows. A worker's counters start from zero each
// time it starts; the supervisor keeps, per worker slot, the total of its finished runs plus the
// latest snapshot of the running one, so a restart never makes a total go down.
import type { Rule } from "../rules/types.ts";
import type { WorkerView } from "../control/protocol.ts";
import { DROP_REASONS, type DropReason } from "./reasons.ts";
import type { OutputCount, PacketCount, WorkerCounters } from "./types.ts";

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
    drops: Object.fromEntries(DROP_REASONS.map((r) => [r, 0])) as Record<DropReason, number>,
    rules: {},
    outputs: {},
  };
}

const SCALARS = ["rxFrames", "rxBytes", "batches", "ringPackets", "ringDrops", "txPackets", "txBytes", "txErrors"] as const;

/** a + b, as a new object. Tolerates a worker that omits a reason or sends a non-number. */
export function addCounters(a: WorkerCounters, b: WorkerCounters): WorkerCounters {
  const out = emptyCounters();
  for (const k of SCALARS) out[k] = num(a[k]) + num(b[k]);
  for (const r of DROP_REASONS) out.drops[r] = num(a.drops?.[r]) + num(b.drops?.[r]);
  out.rules = mergeRecords(a.rules, b.rules, (x, y) => ({ packets: num(x?.packets) + num(y?.packets), bytes: num(x?.bytes) + num(y?.bytes) }));
  out.outputs = mergeRecords(a.outputs, b.outputs, (x, y) => ({
    packets: num(x?.packets) + num(y?.packets),
    bytes: num(x?.bytes) + num(y?.bytes),
    errors: num(x?.errors) + num(y?.errors),
  }));
  return out;
}

function mergeRecords<T>(a: Record<string, T> | undefined, b: Record<string, T> | undefined, add: (x: T | undefined, y: T | undefined) => T): Record<string, T> {
  const out: Record<string, T> = {};
  for (const k of new Set([...Object.keys(a ?? {}), ...Object.keys(b ?? {})])) out[k] = add(a?.[k], b?.[k]);
  return out;
}

const num = (x: unknown) => (typeof x === "number" && Number.isFinite(x) ? x : 0);

/** Per worker slot: finished runs plus the running one. */
export class StatsBook {
  private readonly retired = new Map<number, WorkerCounters>();
  private readonly current = new Map<number, WorkerCounters>();

  /** The running worker's latest snapshot (counters since it started). */
  update(slot: number, c: WorkerCounters): void {
    this.current.set(slot, c);
  }

  /** The worker exited: its last snapshot becomes part of the slot's history. */
  retire(slot: number): void {
    const c = this.current.get(slot);
    if (!c) return;
    this.retired.set(slot, addCounters(this.retired.get(slot) ?? emptyCounters(), c));
    this.current.delete(slot);
  }

  slot(slot: number): WorkerCounters {
    return addCounters(this.retired.get(slot) ?? emptyCounters(), this.current.get(slot) ?? emptyCounters());
  }

  total(slots: Iterable<number>): WorkerCounters {
    let t = emptyCounters();
    for (const s of slots) t = addCounters(t, this.slot(s));
    return t;
  }
}

// ---- the report: `mcr stats --json` prints exactly this (schema 1, docs/control-protocol.md) ----

export interface OutputStats extends OutputCount {
  group: string;
  port: number;
  interface: string;
  ttl: number;
}

export interface RuleStats extends PacketCount {
  id: number;
  inputInterface: string;
  inputGroup: string;
  inputPort: number;
  outputs: OutputStats[];
}

export interface Totals {
  rxFrames: number;
  rxBytes: number;
  batches: number;
  ringPackets: number;
  ringDrops: number;
  txPackets: number;
  txBytes: number;
  txErrors: number;
  drops: number; // all reasons together (ring drops are counted apart: the kernel dropped them)
}

export interface WorkerStats extends Totals {
  index: number;
  cpu: number;
  pid: number | null;
  state: WorkerView["state"];
  restarts: number;
}

export interface StatsReport {
  schema: 1;
  at: string; // when the snapshot was taken, ISO 8601
  uptimeSeconds: number;
  totals: Totals;
  drops: Record<DropReason, number>;
  rules: RuleStats[];
  workers: WorkerStats[];
  /** Workers that did not answer in time: their numbers are from their previous snapshot. */
  stale: number[];
}

export function buildReport(book: StatsBook, rules: readonly Rule[], workers: readonly WorkerView[], meta: { startedAt: number; stale: number[] }): StatsReport {
  const total = book.total(workers.map((w) => w.index));
  return {
    schema: 1,
    at: new Date().toISOString(),
    uptimeSeconds: Math.round((Date.now() - meta.startedAt) / 1000),
    totals: totals(total),
    drops: total.drops,
    rules: rules.map((r) => ({
      id: r.id,
      inputInterface: r.inputInterface,
      inputGroup: r.inputGroup,
      inputPort: r.inputPort,
      packets: total.rules[r.id]?.packets ?? 0,
      bytes: total.rules[r.id]?.bytes ?? 0,
      outputs: r.outputs.map((o, i) => {
        const c = total.outputs[`${r.id}:${i}`];
        return { group: o.group, port: o.port, interface: o.interface, ttl: o.ttl, packets: c?.packets ?? 0, bytes: c?.bytes ?? 0, errors: c?.errors ?? 0 };
      }),
    })),
    workers: workers.map((w) => ({ index: w.index, cpu: w.cpu, pid: w.pid, state: w.state, restarts: w.restarts, ...totals(book.slot(w.index)) })),
    stale: meta.stale,
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
    drops,
  };
}
