#!/usr/bin/env bun
// `bun bench/ingress.ts [--count N] [--modes adaptive,busy,sleep]`: mcr's poll modes (issue 10
// item 2) on scenario A (chain), at 150k pps and with the generator flat out, 1024 B. Prints, per
// mode and rate: relay CPU, loss, wakeups per frame, spins that found frames, latency p50/p99.
// Uses the benchmark's own pieces (bench/measure.ts, topology.ts); run it on a quiet machine:
// every figure from a shared one is noise. Needs root and a built dist/mcr.
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { measure, RELAY_CPUS } from "./measure.ts";
import { ROOT, type RelaySpec } from "./relays.ts";
import { BENCH_PREFIX, destroyAllSync, sweepStale } from "../test/helpers/lab.ts";
import { build, newBenchLab } from "./topology.ts";

const argv = process.argv.slice(2);
const val = (f: string) => (argv.includes(f) ? argv[argv.indexOf(f) + 1] : undefined);
const count = Number(val("--count") ?? 1_000_000);
const modes = (val("--modes") ?? "adaptive,busy,sleep").split(",") as NonNullable<RelaySpec["poll"]>[];
const rates = (val("--rates") ?? "150000,0").split(",").map(Number); // 0: flat out

sweepStale(BENCH_PREFIX);
const workDir = join(ROOT, "bench", "results", "tmp");
mkdirSync(workDir, { recursive: true });
const lab = newBenchLab();
try {
  const t = build(lab, "A");
  for (const rate of rates)
    for (const poll of modes) {
      const relay: RelaySpec = { kind: "mcr", workers: 1, cpus: RELAY_CPUS, outputs: 1, poll };
      const r = await measure(
        lab,
        t,
        { path: "relay", relay, generator: "mcr", rate, count, size: 1024, outputs: 1 },
        {
          workDir,
        },
      );
      const frames = r.mcr?.rxFrames ?? 0;
      const perFrame = (x: number | undefined) => (frames > 0 && x !== undefined ? (x / frames).toFixed(3) : "?");
      console.log(
        [
          `${poll.padEnd(8)} ${rate > 0 ? `${rate} pps` : "flat out"} (got ${r.gen.achievedPps} pps)`,
          `relay CPU ${r.relayCpu?.percent ?? "?"}%`,
          `loss ${(r.relayLossRatio * 100).toFixed(3)}%`,
          `wakeups/frame ${perFrame(r.mcr?.wakeups)}`,
          `spin hits/frame ${perFrame(r.mcr?.spinHits)}`,
          `latency p50 ${r.sink.latency.p50Us ?? "?"} us p99 ${r.sink.latency.p99Us ?? "?"} us`,
          ...(r.flags.disturbed ? ["[disturbed by other load]"] : []),
        ].join(", "),
      );
    }
} finally {
  await lab.destroy();
  destroyAllSync();
}
