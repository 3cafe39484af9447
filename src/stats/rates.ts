// Rates between two stats reports of one supervisor: what `mcr stats --interval` and the live
// view show. Counters never go down (a worker's counts outlive it), so a difference over the
// interval is a rate; something that appeared in between (a new rule) counts from zero.
import { DROP_REASONS, type DropReason } from "./reasons.ts";
import type { StatsReport, Totals, TrafficRate } from "../types/stats.ts";

/**
 * `next` with rate fields filled in from `prev` (taken earlier). A report of another supervisor
 * (the one before was restarted in between) counts from zero: against it, `next` has no rates.
 */
export function withRates(prev: StatsReport, next: StatsReport): StatsReport {
  const seconds = (Date.parse(next.at) - Date.parse(prev.at)) / 1000;
  if (!(seconds > 0) || !sameSupervisor(prev, next)) return next;
  const per = (a: number, b: number | undefined) => Math.max(0, a - (b ?? 0)) / seconds;
  const bits = (a: number, b: number | undefined) => per(a, b) * 8;
  const traffic = (n: Totals, p: Totals | undefined): TrafficRate => ({
    rxFramesPerSecond: per(n.rxFrames, p?.rxFrames),
    rxBitsPerSecond: bits(n.rxBytes, p?.rxBytes),
    txPacketsPerSecond: per(n.txPackets, p?.txPackets),
    txBitsPerSecond: bits(n.txBytes, p?.txBytes),
    txErrorsPerSecond: per(n.txErrors, p?.txErrors),
    dropsPerSecond: per(n.drops, p?.drops),
    ringDropsPerSecond: per(n.ringDrops, p?.ringDrops),
  });
  const prevRules = new Map(prev.rules.map((r) => [r.id, r]));
  const prevWorkers = new Map(prev.workers.map((w) => [w.index, w]));
  return {
    ...next,
    intervalSeconds: Math.round(seconds * 1000) / 1000,
    totals: { ...next.totals, rate: traffic(next.totals, prev.totals) },
    dropRates: Object.fromEntries(DROP_REASONS.map((d) => [d, per(next.drops[d], prev.drops[d])])) as Record<
      DropReason,
      number
    >,
    rules: next.rules.map((r) => {
      const p = prevRules.get(r.id);
      return {
        ...r,
        rate: { packetsPerSecond: per(r.packets, p?.packets), bitsPerSecond: bits(r.bytes, p?.bytes) },
        outputs: r.outputs.map((o, i) => {
          const q = p?.outputs[i];
          return {
            ...o,
            rate: {
              packetsPerSecond: per(o.packets, q?.packets),
              bitsPerSecond: bits(o.bytes, q?.bytes),
              errorsPerSecond: per(o.errors, q?.errors),
            },
          };
        }),
      };
    }),
    workers: next.workers.map((w) => ({ ...w, rate: traffic(w, prevWorkers.get(w.index)) })),
  };
}

/**
 * Whether two reports can come from one supervisor's run: its uptime and its counters never go
 * back; a successor's start from nothing.
 */
export function sameSupervisor(prev: StatsReport, next: StatsReport): boolean {
  const a = prev.totals;
  const b = next.totals;
  return (
    next.uptimeSeconds >= prev.uptimeSeconds &&
    b.rxFrames >= a.rxFrames &&
    b.txPackets >= a.txPackets &&
    b.drops >= a.drops &&
    b.ringDrops >= a.ringDrops
  );
}
