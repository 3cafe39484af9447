// bench/search.ts: the rising search, the bisection and the confirmation, against fake relays
// whose answer at each rate is known.
import { expect, test } from "bun:test";
import { type Probe, type SearchOptions, searchRate } from "../../bench/search.ts";

const OPTS: SearchOptions & { deadline: number } = {
  start: 10_000,
  step: 2,
  max: 1_000_000,
  resolution: 0.05,
  maxProbes: 30,
  probeSeconds: 1,
  probeMinCount: 1000,
  confirmRuns: 2,
  confirmSeconds: 5,
  confirmMinCount: 1000,
  maxBackoff: 3,
  deadline: Number.POSITIVE_INFINITY,
};

interface Call {
  rate: number;
  seconds: number;
}

/** A relay that loses 1% above `capacity` pps (or `longCapacity` in runs longer than a probe); the rates arrive unrounded, as the search computes them. */
function fakeRelay(o: { capacity: number; longCapacity?: number; genMax?: number }) {
  const calls: Call[] = [];
  const run = async (rate: number, seconds: number): Promise<Probe & Call> => {
    calls.push({ rate, seconds });
    const achieved = Math.min(rate, o.genMax ?? Infinity);
    const cap = seconds > OPTS.probeSeconds ? (o.longCapacity ?? o.capacity) : o.capacity;
    const loss = achieved <= cap ? 0 : 0.01;
    return {
      rate,
      seconds,
      relayLossRatio: loss,
      lossRatio: loss,
      sinkDrops: 0,
      gen: { achievedPps: achieved },
      flags: { generatorLimited: achieved < rate, sinkLimited: false },
    };
  };
  return { run, calls };
}

test("rises by the step until a failure, bisects to the resolution, confirms the highest pass", async () => {
  const relay = fakeRelay({ capacity: 100_000 });
  const r = await searchRate(relay.run, OPTS);
  expect(r.probes.slice(0, 5).map((p) => p.rate)).toEqual([10_000, 20_000, 40_000, 80_000, 160_000]);
  const passed = r.probes.filter((p) => p.relayLossRatio === 0).map((p) => p.rate);
  const failed = r.probes.filter((p) => p.relayLossRatio > 0).map((p) => p.rate);
  const lo = Math.max(...passed);
  const hi = Math.min(...failed);
  expect(lo).toBeLessThanOrEqual(100_000);
  expect(hi).toBeGreaterThan(100_000);
  expect(hi / lo).toBeLessThanOrEqual(1 + OPTS.resolution); // bisected down to the resolution
  expect(r.ratePps).toBe(Math.round(lo));
  expect(r.limitedBy).toBe("relay");
  expect(r.confirmations.map((c) => [c.rate, c.seconds])).toEqual([
    [lo, 5],
    [lo, 5],
  ]);
  expect(r.note).toBe(`2 confirmation run(s) passed at ${Math.round(lo)} pps`);
});

test("a relay that passes short probes but fails longer runs: the confirmed rate steps down 10% at a time", async () => {
  const relay = fakeRelay({ capacity: 100_000, longCapacity: 80_000 });
  const r = await searchRate(relay.run, OPTS);
  const lo = Math.max(...r.probes.filter((p) => p.relayLossRatio === 0).map((p) => p.rate));
  // lo (over 95k), lo * 0.9 (over 85k) and lo * 0.81 (over 80k) fail; lo * 0.729 (under 80k) passes.
  const steps = [lo, lo * 0.9, lo * 0.9 * 0.9, lo * 0.9 * 0.9 * 0.9];
  expect(r.confirmations.map((c) => c.rate)).toEqual(steps.flatMap((x) => [x, x]));
  expect(r.ratePps).toBe(Math.round(steps[3]!));
  expect(r.limitedBy).toBe("relay");
  expect(r.note).toBe(`2 confirmation run(s) passed at ${Math.round(steps[3]!)} pps after 3 step(s) down`);
});

test("a generator that cannot offer the rate: the answer is what it achieved, marked generator-limited", async () => {
  const relay = fakeRelay({ capacity: 1_000_000, genMax: 50_000 });
  const r = await searchRate(relay.run, OPTS);
  // 80k is asked for, 50k offered and passed: the search stops rising there and confirms 50k.
  expect(r.probes.map((p) => p.rate)).toEqual([10_000, 20_000, 40_000, 80_000]);
  expect(r.confirmations.map((c) => c.rate)).toEqual([50_000, 50_000]);
  expect(r.ratePps).toBe(50_000);
  expect(r.limitedBy).toBe("generator");
});

test("the first probe fails: the search comes down by the step until one passes", async () => {
  const relay = fakeRelay({ capacity: 1000 });
  const r = await searchRate(relay.run, OPTS);
  expect(r.probes.map((p) => p.rate)).toEqual([10_000, 5000, 2500, 1250, 625]);
  expect(r.ratePps).toBe(625);
  expect(r.limitedBy).toBe("relay");
});

test("nothing passes: no rate, after exactly maxProbes probes", async () => {
  const relay = fakeRelay({ capacity: 0 });
  const r = await searchRate(relay.run, { ...OPTS, maxProbes: 6 });
  expect(r.probes.length).toBe(6);
  expect(r.confirmations).toEqual([]);
  expect(r.ratePps).toBeNull();
  expect(r.limitedBy).toBe("none-passed");
  expect(r.note).toBe("no probed rate passed");
});

test("a passed deadline starts no run", async () => {
  const relay = fakeRelay({ capacity: 100_000 });
  const r = await searchRate(relay.run, { ...OPTS, deadline: Date.now() - 1 });
  expect(relay.calls).toEqual([]);
  expect(r.ratePps).toBeNull();
  expect(r.limitedBy).toBe("none-passed");
});
