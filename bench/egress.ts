#!/usr/bin/env bun
// mcr's egress modes (--egress, issue 10 item 3) against each other and against the bare wire, in
// scenario A, on the same lab in the same sitting: per round, flat out at 1024 B and 64 B (the
// bare wire first, then each mode: "delivered" is read as a ratio to that round's bare wire), then
// 150k pps at 1024 B (relay CPU, latency). Rounds repeat, so each figure comes with its spread.
// Not part of `bun run bench`; run it by hand (root; a few minutes):
//
//   bun bench/egress.ts [--runs 3] [--modes ring,sendmsg,socket,zc,gso] [--flat-count 1000000] [--count150 600000]
//                       [--attempts 2] [--gen socket|packet] [--mcr PATH] [--ring-mb N (mcr's input rings)]
//                       [--fanout N --fanout-rate PPS (a point with N outputs per mode: CPU per packet sent)]
//                       [--ingress frames|blocks (mcr's input rings)] [--no-flat (only the 150k and fan-out points)]
//
// On a machine others share, BENCH_QUIET_WAIT_MS=3000 keeps it from waiting a minute before each
// run for quiet; runs still carry their "disturbed" flag. The relay's own figures that hold up
// under such load are its CPU per relayed packet and its loss less the sink's drops; the
// delivered ratio depends on the sink's share of CPU 0 (see bench/README.md, egress paths).
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
const attempts = Number(opt("attempts", "2"));
const ringMb = argv.includes("--ring-mb") ? Number(opt("ring-mb", "64")) : undefined;
const ingress = argv.includes("--ingress") ? (opt("ingress", "frames") as "frames" | "blocks") : undefined;
if (ingress !== undefined && ingress !== "frames" && ingress !== "blocks") {
  console.error(`bench/egress: --ingress: "${ingress}" is not frames or blocks`);
  process.exit(64);
}
const flatPoints = !argv.includes("--no-flat");
// Fan-out: N outputs from one input at a rate the sink takes whole (0: no fan-out point).
const fanout = Number(opt("fanout", "0"));
const fanoutRate = Number(opt("fanout-rate", "30000"));
// socket: the generator's datagrams come with unfinished checksums (as a NIC's verified ones let
// sendmsg and gso make them anew); packet (mcr gen's default): complete, unverified ones.
const genMode = argv.includes("--gen") ? (opt("gen", "packet") as "socket" | "packet") : undefined;

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
  meta: {
    startedAt,
    commit,
    dirty,
    binary,
    runs,
    modes,
    flatCount,
    count150,
    attempts,
    genMode: genMode ?? "mcr gen's default",
    ingress: ingress ?? "mcr's default",
    flat: flatPoints,
    quietWaitMs: Number(process.env.BENCH_QUIET_WAIT_MS ?? 60000),
    cpus: navigator.hardwareConcurrency,
  },
  runs: [],
};
const save = () => writeFileSync(file, JSON.stringify(out, null, 1) + "\n");

sweepStale(BENCH_PREFIX);
const lab = newBenchLab();
try {
  const t = build(lab, "A");
  const mcr = (egress: EgressMode, outputs = 1): RelaySpec => ({
    kind: "mcr",
    workers: 1,
    cpus: RELAY_CPUS,
    outputs,
    egress,
    ...(ringMb !== undefined ? { ringMb } : {}),
    ...(ingress !== undefined ? { ingress } : {}),
  });
  const one = async (round: number, point: string, spec: RunSpec) => {
    const r = await measure(lab, t, spec, { workDir, attempts, log: (s) => console.log(`[${round}] ${point}${s}`) });
    out.runs.push({ ...r, round, point });
    save();
    return r;
  };
  for (let round = 1; round <= runs; round++) {
    for (const size of flatPoints ? [1024, 64] : []) {
      const base = { generator: "mcr", rate: 0, count: flatCount, size, outputs: 1, genMode } as const;
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
        genMode,
        path: "relay",
        relay: mcr(m),
      });
    if (fanout > 0)
      for (const m of modes)
        await one(round, `fan${fanout} ${m}`, {
          generator: "mcr",
          rate: fanoutRate,
          count: Math.min(count150, fanoutRate * 10),
          size: 1024,
          outputs: fanout,
          genMode,
          path: "relay",
          relay: mcr(m, fanout),
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
// CPU-seconds per million packets the relay sent: holds up when others take some of its CPU.
const cpuPerM = (r: RunResult | undefined) =>
  r?.relayCpu && r.mcr?.txPackets ? ((r.relayCpu.percent / 100) * r.gen.durationS * 1e6) / r.mcr.txPackets : undefined;
console.log(
  "| mode | flat out 1024 B: × bare wire; relay loss less sink drops, % | flat out 64 B: the same | 150k pps 1024 B: relay CPU, %; CPU-s per M sent | loss at 150k, %; less sink drops | p50 at 150k, µs | disturbed |",
);
console.log("|---|---|---|---|---|---|---|");
for (const m of modes) {
  const flat = (size: number) => {
    const rs = rounds.map((n) => [at(n, `flat${size} wire`), at(n, `flat${size} ${m}`)] as const);
    return `${fmt(rs.map(([w, r]) => (w && r ? ratio(pps(r), pps(w)) : undefined)))}; ${fmt(
      rs.map(([, r]) => r && r.relayLossRatio * 100),
      1,
    )}`;
  };
  const r150 = rounds.map((n) => at(n, `150k ${m}`));
  const all = rounds.flatMap((n) => [at(n, `flat1024 ${m}`), at(n, `flat64 ${m}`), at(n, `150k ${m}`)]);
  const cpu = `${fmt(
    r150.map((r) => r?.relayCpu?.percent),
    1,
  )}; ${fmt(r150.map(cpuPerM))}`;
  const loss = `${fmt(
    r150.map((r) => r && r.lossRatio * 100),
    2,
  )}; ${fmt(
    r150.map((r) => r && r.relayLossRatio * 100),
    2,
  )}`;
  const p50 = fmt(
    r150.map((r) => r?.sink.latency.p50Us),
    0,
  );
  const dist = `${all.filter((r) => r?.flags.disturbed).length} of ${all.filter(Boolean).length}`;
  console.log(`| ${m} | ${flat(1024)} | ${flat(64)} | ${cpu} | ${loss} | ${p50} | ${dist} |`);
}
if (fanout > 0)
  for (const m of modes) {
    const rs = rounds.map((n) => at(n, `fan${fanout} ${m}`));
    console.log(
      `fan-out to ${fanout} at ${fanoutRate} pps in, ${m}: relay CPU % ${fmt(
        rs.map((r) => r?.relayCpu?.percent),
        1,
      )}; CPU-s per M sent ${fmt(rs.map(cpuPerM))}; loss less sink drops % ${fmt(
        rs.map((r) => r && r.relayLossRatio * 100),
        2,
      )}`,
    );
  }
console.log(`raw results: ${file}`);
