#!/usr/bin/env bun
// mcr's egress modes (--egress, issue 10 item 3) against each other and against the bare wire, in
// scenario A, on the same lab in the same sitting: per round, flat out at 1024 B and 64 B (the
// bare wire first, then each mode: "delivered" is read as a ratio to that round's bare wire), then
// 150k pps at 1024 B (relay CPU, latency). Rounds repeat, so each figure comes with its spread.
// Not part of `bun run bench`; run it by hand (root; a few minutes):
//
//   bun bench/egress.ts [--runs 3] [--modes ring,sendmsg,socket,zc] [--flat-count 1000000] [--count150 600000] [--mcr PATH]
//
// Raw results: bench/results/egress-<time>.json.
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { GEN_CPU, measure, RELAY_CPUS, type RunResult, type RunSpec } from "./measure.ts";
import { pinBinary, ROOT, type RelaySpec } from "./relays.ts";
import { build, newBenchLab } from "./topology.ts";
import { BENCH_PREFIX, destroyAllSync, sweepStale } from "../test/helpers/lab.ts";
import { EGRESS_MODES, type EgressMode } from "../src/native/abi.ts";
import { ratio } from "./ratios.ts";

const argv = process.argv.slice(2);
const opt = (name: string, def: string) => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? argv[i + 1]! : def;
};
const runs = Number(opt("runs", "3"));
const modes = opt("modes", EGRESS_MODES.join(",")).split(",") as EgressMode[];
for (const m of modes)
  if (!(EGRESS_MODES as readonly string[]).includes(m)) {
    console.error(`bench/egress: --modes: "${m}" is not one of ${EGRESS_MODES.join(", ")}`);
    process.exit(64);
  }
const flatCount = Number(opt("flat-count", "1000000"));
const count150 = Number(opt("count150", "600000"));

for (const sig of ["SIGINT", "SIGTERM"] as const)
  process.on(sig, () => {
    destroyAllSync();
    process.exit(130);
  });

const resultsDir = join(ROOT, "bench", "results");
const workDir = join(resultsDir, "tmp");
mkdirSync(workDir, { recursive: true });
const binary = pinBinary(workDir, argv.includes("--mcr") ? opt("mcr", "") : undefined);
const startedAt = new Date().toISOString();
const commit = Bun.spawnSync(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"]).stdout.toString().trim();
const dirty =
  Bun.spawnSync(["git", "-C", ROOT, "status", "--porcelain", "--untracked-files=no"]).stdout.toString() !== "";
const file = join(resultsDir, `egress-${startedAt.replace(/[:.]/g, "-")}.json`);
const out: { meta: Record<string, unknown>; runs: (RunResult & { round: number; point: string })[] } = {
  meta: { startedAt, commit, dirty, binary, runs, modes, flatCount, count150, cpus: navigator.hardwareConcurrency },
  runs: [],
};
const save = () => writeFileSync(file, JSON.stringify(out, null, 1) + "\n");

sweepStale(BENCH_PREFIX);
const lab = newBenchLab();
try {
  const t = build(lab, "A");
  const mcr = (egress: EgressMode): RelaySpec => ({ kind: "mcr", workers: 1, cpus: RELAY_CPUS, outputs: 1, egress });
  const one = async (round: number, point: string, spec: RunSpec) => {
    const r = await measure(lab, t, spec, { workDir, attempts: 2, log: (s) => console.log(`[${round}] ${point}${s}`) });
    out.runs.push({ ...r, round, point });
    save();
    return r;
  };
  for (let round = 1; round <= runs; round++) {
    for (const size of [1024, 64]) {
      const base = { generator: "mcr", rate: 0, count: flatCount, size, outputs: 1 } as const;
      await one(round, `flat${size} wire`, { ...base, path: "wire" });
      for (const m of modes) await one(round, `flat${size} ${m}`, { ...base, path: "relay", relay: mcr(m) });
    }
    for (const m of modes)
      await one(round, `150k ${m}`, {
        generator: "mcr",
        rate: 150_000,
        count: count150,
        size: 1024,
        outputs: 1,
        path: "relay",
        relay: mcr(m),
      });
  }
} finally {
  await lab.destroy();
}

// The summary: each figure per round, as ratios to the same round's bare wire where it has one.
const pps = (r: RunResult) => r.delivered / Math.max(1e-9, r.gen.durationS ?? 0);
const at = (round: number, point: string) => out.runs.find((r) => r.round === round && r.point === point);
const rounds = [...new Set(out.runs.map((r) => r.round))];
const fmt = (xs: (number | undefined)[], d = 2) => xs.map((x) => (x === undefined ? "–" : x.toFixed(d))).join(" / ");
console.log(
  `\ncommit ${commit}${dirty ? " (dirty)" : ""}; rounds ${rounds.length}; GEN_CPU ${GEN_CPU}, relay CPU ${RELAY_CPUS}`,
);
for (const size of [1024, 64])
  console.log(
    `flat out ${size} B, bare wire pps: ${fmt(
      rounds.map((n) => {
        const w = at(n, `flat${size} wire`);
        return w && pps(w) / 1000;
      }),
      0,
    )}k`,
  );
console.log(
  "| mode | flat out 1024 B, × bare wire | flat out 64 B, × bare wire | relay CPU at 150k pps, 1024 B | loss at 150k | latency p50 at 150k, µs |",
);
console.log("|---|---|---|---|---|---|");
for (const m of modes) {
  const flat = (size: number) =>
    fmt(
      rounds.map((n) => {
        const w = at(n, `flat${size} wire`);
        const r = at(n, `flat${size} ${m}`);
        return w && r ? ratio(pps(r), pps(w)) : undefined;
      }),
    );
  const r150 = rounds.map((n) => at(n, `150k ${m}`));
  console.log(
    `| ${m} | ${flat(1024)} | ${flat(64)} | ${fmt(
      r150.map((r) => r?.relayCpu?.percent),
      1,
    )}% | ${fmt(
      r150.map((r) => r && r.lossRatio * 100),
      3,
    )}% | ${fmt(
      r150.map((r) => r?.sink.latency.p50Us),
      0,
    )} |`,
  );
}
console.log(`raw results: ${file}`);
