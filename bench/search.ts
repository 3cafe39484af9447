// The highest rate a relay forwards with less than 0.1% loss: a rising search, a bisection, then
// confirmation runs.
//
//   1. rising: probe at `start`, multiply by `step` while it passes, until it fails or the
//      generator cannot offer the rate (then the answer is "at least what the generator offered");
//   2. bisect between the highest pass and the lowest failure until they are within `resolution`;
//   3. confirm: `confirmRuns` longer runs at the rate found; if any fails, step down 10% and
//      confirm again (at most `maxBackoff` times). A relay whose loss comes in bursts (socat: one
//      stall of a few ms overflows its 208 KiB socket buffer) passes a short probe at rates where
//      a longer run fails; the confirmed rate is the figure.
// Pass or fail is judged on the loss less what the sink's own socket dropped (the kernel counts
// those exactly): the sink shares CPU 0 with the generator and falls behind first at high rates,
// which says nothing about the relay. Such points are marked sink-limited, and so is an answer
// that rests on one.
import { measure, type RunResult, type RunSpec } from "./measure.ts";
import type { Lab } from "../test/helpers/lab.ts";
import type { Topology } from "./topology.ts";

export const LOSS_LIMIT = 0.001;

export interface SearchOptions {
  start: number;
  step: number; // rising factor
  max: number; // never offer more than this
  resolution: number; // stop bisecting when hi/lo <= 1 + resolution
  maxProbes: number;
  probeSeconds: number;
  probeMinCount: number;
  confirmRuns: number;
  confirmSeconds: number;
  confirmMinCount: number;
  maxBackoff: number;
  genMaxPps?: number;
}

/** What the search reads of a run (a RunResult has it all). */
export interface Probe {
  relayLossRatio: number;
  lossRatio: number;
  sinkDrops: number;
  gen: { achievedPps: number };
  flags: { generatorLimited: boolean; sinkLimited: boolean };
}

export interface SearchResult<R extends Probe = RunResult> {
  ratePps: number | null; // highest confirmed rate with loss < 0.1%; null if none
  limitedBy: "relay" | "generator" | "sink" | "none-passed" | "unconfirmed";
  probes: R[];
  confirmations: R[];
  note: string;
}

export const passes = (r: Probe) => r.relayLossRatio < LOSS_LIMIT;

/** One run at `rate` for about `seconds` (at least `minCount` packets). */
export type Runner<R extends Probe> = (rate: number, seconds: number, minCount: number) => Promise<R>;

/** The search on the benchmark's lab: each run is a measure() of the relay in `t`. */
export function searchMaxRate(
  lab: Lab,
  t: Topology,
  base: Omit<RunSpec, "rate" | "count">,
  o: SearchOptions & { workDir: string; log: (s: string) => void; deadline: number },
): Promise<SearchResult> {
  const run: Runner<RunResult> = (rate, seconds, minCount) =>
    measure(
      lab,
      t,
      { ...base, rate: Math.round(rate), count: Math.max(minCount, Math.round(rate * seconds)) },
      { workDir: o.workDir, attempts: 2, genMaxPps: o.genMaxPps, log: o.log },
    );
  return searchRate(run, o);
}

/** The search itself, over any runner: pure but for the runs it asks for and the clock. */
export async function searchRate<R extends Probe>(
  run: Runner<R>,
  o: SearchOptions & { deadline: number },
): Promise<SearchResult<R>> {
  const probes: R[] = [];
  const probe = async (rate: number) => {
    const r = await run(rate, o.probeSeconds, o.probeMinCount);
    probes.push(r);
    return r;
  };

  let lo = 0; // highest rate that passed (offered rate as achieved)
  let hi = Infinity; // lowest that failed
  let limitedBy: SearchResult<R>["limitedBy"] = "relay";
  let rate = o.start;
  // 1. rising
  while (probes.length < o.maxProbes && Date.now() < o.deadline) {
    const r = await probe(rate);
    if (r.flags.generatorLimited) {
      if (passes(r)) {
        lo = Math.max(lo, r.gen.achievedPps);
        limitedBy = "generator";
      } else hi = rate;
      break;
    }
    if (passes(r)) {
      lo = rate;
      if (rate >= o.max) {
        limitedBy = "generator";
        break;
      }
      rate = Math.min(rate * o.step, o.max);
    } else {
      hi = rate;
      break;
    }
  }
  // 2. bisection (in log space: the rates span decades)
  if (limitedBy === "relay") {
    while (
      lo > 0 &&
      Number.isFinite(hi) &&
      hi / lo > 1 + o.resolution &&
      probes.length < o.maxProbes &&
      Date.now() < o.deadline
    ) {
      const mid = Math.sqrt(lo * hi);
      const r = await probe(mid);
      if (passes(r) && !r.flags.generatorLimited) lo = mid;
      else hi = mid;
    }
    if (lo === 0 && Number.isFinite(hi) && probes.length < o.maxProbes) {
      // the first probe failed: come down until one passes
      let down = hi;
      while (probes.length < o.maxProbes && Date.now() < o.deadline) {
        down = down / o.step;
        const r = await probe(down);
        if (passes(r)) {
          lo = down;
          break;
        }
      }
    }
  }
  if (lo === 0)
    return { ratePps: null, limitedBy: "none-passed", probes, confirmations: [], note: "no probed rate passed" };

  // 3. confirmation
  const confirmations: R[] = [];
  let candidate = lo;
  for (let b = 0; b <= o.maxBackoff && Date.now() < o.deadline; b++) {
    const batch: R[] = [];
    for (let i = 0; i < o.confirmRuns; i++) batch.push(await run(candidate, o.confirmSeconds, o.confirmMinCount));
    confirmations.push(...batch);
    if (batch.every(passes)) {
      const genLimited = batch.some((r) => r.flags.generatorLimited);
      const sinkLimited = batch.filter((r) => r.flags.sinkLimited).length;
      return {
        ratePps: Math.round(genLimited ? Math.min(...batch.map((r) => r.gen.achievedPps)) : candidate),
        limitedBy: genLimited ? "generator" : limitedBy,
        probes,
        confirmations,
        note:
          `${batch.length} confirmation run(s) passed at ${Math.round(candidate)} pps${b > 0 ? ` after ${b} step(s) down` : ""}` +
          (sinkLimited
            ? `; in ${sinkLimited} of them the sink's socket dropped ${batch.map((r) => r.sinkDrops).join("/")} (end-to-end loss ${batch.map((r) => (r.lossRatio * 100).toFixed(3) + "%").join("/")})`
            : ""),
      };
    }
    candidate *= 0.9;
  }
  return {
    ratePps: null,
    limitedBy: "unconfirmed",
    probes,
    confirmations,
    note: `no confirmation passed, down to ${Math.round(candidate / 0.9)} pps${Date.now() >= o.deadline ? " (out of time)" : ""}`,
  };
}
