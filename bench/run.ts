#!/usr/bin/env bun
// `bun run bench [-- --quick]`: mcr against socat on the brief's Scenario A (chain) and Scenario B
// (dual bridge), on the same traffic in the same run. Needs root (it builds network namespaces),
// socat, iproute2, and trafgen (netsniff-ng) for the run with a generator that is not mcr's.
//
// Generator and sink are pinned to CPU 0, the relay to CPU 1. Every run starts its relay fresh.
// Results: bench/results/<timestamp>.json (full runs; --quick goes to bench/results/tmp/), the
// chart bench/loss-vs-rate.svg and the tables in bench/README.md (full runs, or --readme).
//
// Options:
//   --quick            fewer and shorter runs (about five minutes)
//   --only a,b         run only these experiments (names below)
//   --runs N           runs per point (default 5; quick 1)
//   --relay mcr,socat,kernel  only these relays; --scenario A|B: only this scenario (to redo a part)
//   --from-source      run mcr from src/ instead of dist/mcr
//   --mcr PATH         run this mcr binary instead of dist/mcr (e.g. one built from a clean
//                      `git archive HEAD`, while others edit the tree)
//   --readme / --no-readme   write (or not) the tables and the chart into bench/README.md
//   --report FILE[,FILE...]  only re-render README and chart from results files (merged)
//   --max-minutes N    stop starting new experiments after N minutes (default 60; quick 5)
//   --poll MODE        mcr's worker poll mode (adaptive|busy|sleep), passed to its supervisor;
//                      the ingress experiment compares all three whatever this says
//   --egress MODE      mcr's egress mode (ring|sendmsg|socket|zc|gso), passed to its supervisor
//   experiments: ceiling flatout loss150 trafgen sweep maxrate small fanout workers unrelated
//                ingress rules unicast ipv6 merge
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { renderChart, type ChartSeries } from "./chart.ts";
import { measure, RELAY_CPUS, type RunResult, type RunSpec } from "./measure.ts";
import { kernelUnavailable, mcrArgv, pinBinary, ROOT, staleSources, useSources, type RelaySpec } from "./relays.ts";
import { renderReadme, type Results, type SearchRecord } from "./report.ts";
import { searchMaxRate, type SearchOptions } from "./search.ts";
import { agg } from "./stats.ts";
import { BENCH_PREFIX, destroyAllSync, type Lab, sh, sweepStale } from "../test/helpers/lab.ts";
import { build, newBenchLab, type ScenarioName, type Topology } from "./topology.ts";
import { haveTrafgen } from "./traffic.ts";

export const EXPERIMENTS = [
  "ceiling",
  "flatout",
  "loss150",
  "trafgen",
  "sweep",
  "maxrate",
  "small",
  "fanout",
  "workers",
  "unrelated",
  "ingress",
  "rules",
  "unicast",
  "ipv6",
  "merge",
] as const;
const POLL_MODES = ["adaptive", "busy", "sleep"] as const;
type PollMode = (typeof POLL_MODES)[number];
const EGRESS_MODES = ["ring", "sendmsg", "socket", "zc", "gso"] as const;
type EgressMode = (typeof EGRESS_MODES)[number];
type Experiment = (typeof EXPERIMENTS)[number];

interface Args {
  quick: boolean;
  only: Set<Experiment>;
  runs: number;
  readme: boolean;
  report?: string;
  maxMinutes: number;
  mcr?: string;
  relays: Set<string>; // --relay: mcr, socat
  scenarios: Set<ScenarioName>; // --scenario: A, B
  poll?: PollMode;
  egress?: EgressMode;
}

function parseArgs(argv: string[]): Args {
  const has = (f: string) => argv.includes(f);
  const val = (f: string) => {
    const i = argv.findIndex((a) => a === f || a.startsWith(f + "="));
    if (i < 0) return undefined;
    return argv[i]!.includes("=") ? argv[i]!.split("=").slice(1).join("=") : argv[i + 1];
  };
  const known = [
    "--quick",
    "--only",
    "--relay",
    "--scenario",
    "--runs",
    "--from-source",
    "--mcr",
    "--readme",
    "--no-readme",
    "--report",
    "--max-minutes",
    "--poll",
    "--egress",
    "--help",
    "-h",
  ];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (!a.startsWith("-")) continue;
    if (!known.includes(a.split("=")[0]!)) {
      console.error(`bench: unknown option ${a}`);
      process.exit(64);
    }
  }
  if (has("--help") || has("-h")) {
    console.log(
      readFileSync(import.meta.path, "utf8")
        .split("\n")
        .slice(1, 23)
        .map((l) => l.replace(/^\/\/ ?/, ""))
        .join("\n"),
    );
    process.exit(0);
  }
  const quick = has("--quick");
  const onlyText = val("--only");
  const only = new Set<Experiment>((onlyText ? onlyText.split(",") : EXPERIMENTS) as Experiment[]);
  for (const e of only)
    if (!EXPERIMENTS.includes(e)) {
      console.error(`bench: --only: unknown experiment "${e}" (known: ${EXPERIMENTS.join(", ")})`);
      process.exit(64);
    }
  if (has("--from-source")) useSources(true);
  const poll = val("--poll");
  if (poll !== undefined && !POLL_MODES.includes(poll as PollMode)) {
    console.error(`bench: --poll: "${poll}" is not a poll mode (${POLL_MODES.join(", ")})`);
    process.exit(64);
  }
  const egress = val("--egress");
  if (egress !== undefined && !EGRESS_MODES.includes(egress as EgressMode)) {
    console.error(`bench: --egress: "${egress}" is not an egress mode (${EGRESS_MODES.join(", ")})`);
    process.exit(64);
  }
  return {
    quick,
    only,
    runs: Number(val("--runs") ?? (quick ? 1 : 5)),
    readme: has("--readme") || (!quick && !has("--no-readme") && !onlyText),
    report: val("--report"),
    maxMinutes: Number(val("--max-minutes") ?? (quick ? 5 : 60)),
    mcr: val("--mcr"),
    relays: new Set((val("--relay") ?? "mcr,socat,kernel").split(",")),
    scenarios: new Set((val("--scenario") ?? "A,B").split(",") as ScenarioName[]),
    poll: poll as PollMode | undefined,
    egress: egress as EgressMode | undefined,
  };
}

const first = (cmd: string) => sh(["sh", "-c", cmd]).stdout.trim().split("\n")[0] ?? "";

function meta(a: Args, stale: string[]) {
  const cpuModel = /model name\s*:\s*(.*)/.exec(readFileSync("/proc/cpuinfo", "utf8"))?.[1] ?? "?";
  return {
    startedAt: new Date().toISOString(),
    quick: a.quick,
    host: first("hostname"),
    kernel: first("uname -r"),
    cpus: Number(first("nproc --all")),
    cpuModel,
    bun: Bun.version,
    mcr: a.mcr ?? mcrArgv().join(" "),
    mcrVersion: sh([...mcrArgv(), "--version"]).stdout.trim(),
    mcrSha256: a.mcr || !mcrArgv()[0]!.endsWith(".ts") ? first(`sha256sum ${mcrArgv()[0]} | cut -c1-16`) : "",
    git: a.mcr
      ? `${first(`cat ${dirname(dirname(a.mcr))}/.commit 2>/dev/null`) || "a binary given with --mcr"}`
      : first(`git -C ${ROOT} rev-parse --short HEAD`) +
        (first(`git -C ${ROOT} status --porcelain -- src shim | head -1`) ? " (+ uncommitted src/shim changes)" : ""),
    staleSources: stale.slice(0, 20),
    socat: first("socat -V 2>/dev/null | grep 'socat version'"),
    trafgen: first("trafgen -v 2>&1 | head -1"),
    placement: { generator: 0, sink: 0, relay: RELAY_CPUS },
    genNice: Number(process.env.GEN_NICE ?? -10),
    poll: a.poll ?? "mcr's default",
    egress: a.egress ?? "mcr's default",
    smcroute: first("smcrouted -v 2>&1 | head -1"),
  };
}

function pinSelf(cpu: number): void {
  // All of this process's threads: the orchestrator mostly sleeps, but it must not land on the relay's CPU.
  sh(["taskset", "-a", "-p", "-c", String(cpu), String(process.pid)]);
}

async function main(): Promise<number> {
  const a = parseArgs(process.argv.slice(2));
  const resultsDir = join(ROOT, "bench", "results");
  if (a.report) {
    // Several files (comma-separated) merge: e.g. a full run and an --only run that finished
    // what the full run had no time for. The first file's meta describes the whole.
    const files = a.report.split(",");
    const all = files.map((f) => JSON.parse(readFileSync(f, "utf8")) as Results);
    const res: Results = {
      meta: { ...all[0]!.meta, mergedFrom: files.map((f) => relative(join(ROOT, "bench"), f)) },
      runs: mergeRuns(all.map((r) => r.runs)),
      searches: mergeSearches(all.map((r) => r.searches)),
      skipped: all.length > 1 ? [] : all[0]!.skipped,
      errors: all.flatMap((r) => r.errors ?? []),
    };
    writeOutputs(res, files[0]!);
    return 0;
  }
  if (process.getuid?.() !== 0) {
    console.error("bench: needs root (network namespaces, taskset, AF_PACKET)");
    return 77;
  }
  const missing = ["socat", "ip", "taskset"].filter((c) => sh(["sh", "-c", `command -v ${c}`]).code !== 0);
  if (missing.length) {
    console.error(`bench: missing ${missing.join(", ")} (make deps)`);
    return 69;
  }
  const stale = a.mcr ? [] : staleSources();
  if (stale.length)
    console.warn(
      `bench: WARNING: dist/mcr is older than ${stale.length} source file(s) (${stale.slice(0, 3).join(", ")}...): run make build`,
    );
  const trafgen = haveTrafgen();
  if (!trafgen)
    console.warn("bench: trafgen not found (apt-get install netsniff-ng): the run with a foreign generator is skipped");
  pinSelf(0);
  const gone = sweepStale(BENCH_PREFIX);
  if (gone.length) console.log(`bench: removed ${gone.length} namespace(s) left by an earlier run`);

  const q = a.quick;
  const deadline = Date.now() + a.maxMinutes * 60000;
  const workDir = join(resultsDir, "tmp");
  mkdirSync(workDir, { recursive: true });
  if (a.mcr && !existsSync(a.mcr)) {
    console.error(`bench: --mcr ${a.mcr}: no such file`);
    return 66;
  }
  const binary = pinBinary(workDir, a.mcr);
  if (binary)
    console.log(
      `bench: running a private copy of dist/mcr (${binary}) so that a rebuild during the run changes nothing`,
    );
  const res: Results = { meta: meta(a, stale), runs: [], searches: [], skipped: [], errors: [] };
  const log = (s: string) => console.log(s);
  const mcr1: RelaySpec = { kind: "mcr", workers: 1, cpus: RELAY_CPUS, outputs: 1, poll: a.poll, egress: a.egress };
  const socat1: RelaySpec = { kind: "socat", cpus: RELAY_CPUS, outputs: 1 };
  const size = 1024;
  const count150 = q ? 100_000 : 1_000_000;

  // One lab per scenario and family: IPv6 runs have a lab of their own (IPv6 on), so that the
  // IPv4 runs' wires carry no neighbour discovery or MLD.
  const labs = new Map<string, { lab: Lab; t: Topology }>();
  const topo = (s: ScenarioName, family: 4 | 6 = 4) => {
    let l = labs.get(`${s}${family}`);
    if (!l) {
      const lab = newBenchLab();
      l = { lab, t: build(lab, s, family) };
      labs.set(`${s}${family}`, l);
      log(`scenario ${s}: ${l.t.description} (namespaces ${lab.id}-*)`);
    }
    return l;
  };
  // Saved after every run, so that a benchmark killed half way leaves what it measured.
  const stamp = res.meta.startedAt.replace(/[:.]/g, "-");
  const file = join(q ? workDir : resultsDir, `${q ? "quick-" : ""}${stamp}.json`);
  const save = () => writeFileSync(file, JSON.stringify(res, null, 1) + "\n");
  onSignal = (sig) => {
    res.meta.interrupted = sig;
    save();
    console.error(`bench: partial results in ${file}`);
  };
  const record = (experiment: string, r: RunResult) => {
    res.runs.push({ experiment, ...r });
    save();
  };
  const timeLeft = (what: string) => {
    if (Date.now() < deadline) return true;
    res.skipped.push(what);
    log(`bench: out of time (--max-minutes ${a.maxMinutes}): skipping ${what}`);
    return false;
  };
  const wanted = (s: ScenarioName, relay?: RelaySpec) => a.scenarios.has(s) && (!relay || a.relays.has(relay.kind));
  const run = async (experiment: string, s: ScenarioName, spec: RunSpec, genMaxPps?: number, attempts = 3) => {
    if (!wanted(s, spec.relay)) return undefined;
    const { lab, t } = topo(s, spec.family ?? 4);
    try {
      const r = await measure(lab, t, spec, { workDir, attempts, genMaxPps, log });
      record(experiment, r);
      return r;
    } catch (e) {
      // One broken run (a relay that did not start) must not cost the rest of the benchmark.
      const message = e instanceof Error ? e.message : String(e);
      res.errors.push({ experiment, scenario: s, spec, message: message.slice(0, 2000) });
      log(`  ${s} ${experiment}: FAILED: ${message.slice(0, 400)}`);
      return undefined;
    }
  };
  let genMax: number | undefined;
  const search = async (experiment: string, s: ScenarioName, base: Omit<RunSpec, "rate" | "count">, start: number) => {
    if (!wanted(s, base.relay)) return;
    if (!timeLeft(`${experiment} ${s} ${base.relay ? base.relay.kind : "bare"}`)) return;
    const { lab, t } = topo(s, base.family ?? 4);
    const opts: SearchOptions = {
      start,
      step: 2,
      max: Math.max(genMax ?? 2_000_000, 100_000) * 1.02,
      resolution: q ? 0.15 : 0.05,
      maxProbes: q ? 4 : 12,
      probeSeconds: q ? 0.3 : 2,
      probeMinCount: q ? 30_000 : 200_000,
      confirmRuns: q ? 1 : 3,
      confirmSeconds: q ? 0.5 : 5,
      confirmMinCount: q ? 50_000 : 300_000,
      maxBackoff: q ? 1 : 6,
      genMaxPps: genMax,
    };
    log(
      `${experiment} ${s}: highest rate with < 0.1% loss, ${base.relay ? `${base.relay.kind}${base.relay.workers ? ` ${base.relay.workers}w` : ""}` : "bare"}, ${base.size} B, ${base.outputs} output(s)`,
    );
    let sr;
    try {
      sr = await searchMaxRate(lab, t, base, { ...opts, workDir, log, deadline });
    } catch (e) {
      const message = e instanceof Error ? e.message : String(e);
      res.errors.push({ experiment, scenario: s, spec: base, message: message.slice(0, 2000) });
      log(`  ${s} ${experiment}: search FAILED: ${message.slice(0, 400)}`);
      return;
    }
    for (const p of sr.probes) record(`${experiment}:probe`, p);
    for (const c of sr.confirmations) record(`${experiment}:confirm`, c);
    const rec: SearchRecord = {
      experiment,
      scenario: s,
      label: sr.probes[0]?.label ?? "?",
      size: base.size,
      outputs: base.outputs,
      generator: base.generator,
      relayCpus: base.relay?.cpus,
      workers: base.relay?.workers,
      ratePps: sr.ratePps,
      limitedBy: sr.limitedBy,
      note: sr.note,
      probes: sr.probes.map((p) => ({
        rate: p.spec.rate,
        achieved: p.gen.achievedPps,
        lossRatio: p.lossRatio,
        relayLossRatio: p.relayLossRatio,
        flags: p.flags,
      })),
    };
    res.searches.push(rec);
    save();
    log(`  => ${rec.label}: ${rec.ratePps ?? "none"} pps (${rec.limitedBy}; ${rec.note})`);
  };

  try {
    // What the generator can offer at all, pinned as in every run (the sink beside it on CPU 0).
    if (a.only.has("ceiling")) {
      log("ceiling: mcr gen as fast as it can, bare wire");
      for (const sz of q ? [1024] : [1024, 64]) {
        const r = await run(
          "ceiling",
          "A",
          { path: "bare", generator: "mcr", rate: 5_000_000, count: q ? 300_000 : 2_000_000, size: sz, outputs: 1 },
          undefined,
          1,
        );
        if (sz === 1024 && r) genMax = r.gen.achievedPps;
      }
    }

    // The bare wire flat out is the reference row: a plain socket in the relay's namespace, on its
    // input and its CPU, receives the stream; each relay's delivered rate is read against it.
    // Kernel forwarding cannot rewrite and forwards only a TTL above 1: every run here sends TTL 8.
    if (a.only.has("flatout") && a.scenarios.has("A") && timeLeft("flatout")) {
      const kernelWhy = kernelUnavailable();
      if (kernelWhy) {
        res.skipped.push(`kernel forwarding: ${kernelWhy}`);
        log(`flatout: kernel forwarding skipped: ${kernelWhy}`);
      }
      const peers: RelaySpec[] = [
        mcr1,
        { ...mcr1, ingress: "blocks" },
        { kind: "mcr", workers: 2, cpus: "0,1", outputs: 1, poll: a.poll, egress: a.egress },
        socat1,
        ...(kernelWhy ? [] : [{ kind: "kernel", cpus: RELAY_CPUS, outputs: 1 } satisfies RelaySpec]),
      ];
      const n = q ? 100_000 : 2_000_000;
      for (const sz of [64, 1024]) {
        if (!timeLeft(`flatout ${sz}`)) break;
        log(`flatout A: generator flat out, ${sz} B, ${n} packets: the bare wire, then each relay`);
        for (let i = 0; i < (q ? 1 : Math.min(a.runs, 3)); i++) {
          const base = { generator: "mcr", rate: 0, count: n, size: sz, outputs: 1, ttl: 8 } as const;
          // --quick proves the experiment runs: one attempt each, disturbed or not
          await run("flatout", "A", { ...base, path: "wire" }, undefined, q ? 1 : 3);
          for (const relay of peers) await run("flatout", "A", { ...base, path: "relay", relay }, undefined, q ? 1 : 3);
        }
      }
    }

    if (a.only.has("loss150")) {
      for (const s of (["A", "B"] as ScenarioName[]).filter((x) => a.scenarios.has(x))) {
        if (!timeLeft(`loss150 ${s}`)) break;
        log(`loss150 ${s}: ${count150} packets of ${size} B at 150,000 pps, ${a.runs} run(s) each, relays interleaved`);
        for (let i = 0; i < a.runs; i++) {
          for (const relay of [mcr1, socat1])
            await run(
              "loss150",
              s,
              { path: "relay", relay, generator: "mcr", rate: 150_000, count: count150, size, outputs: 1 },
              genMax,
            );
          await run(
            "loss150",
            s,
            { path: "bare", generator: "mcr", rate: 150_000, count: count150, size, outputs: 1 },
            genMax,
          );
        }
      }
    }

    if (a.only.has("trafgen") && trafgen) {
      // trafgen's --rate is a one-second token bucket (see traffic.ts): at least a second's worth.
      const tgCount = Math.max(count150, 300_000);
      for (const s of ((q ? ["A"] : ["A", "B"]) as ScenarioName[]).filter((x) => a.scenarios.has(x))) {
        if (!timeLeft(`trafgen ${s}`)) break;
        log(
          `trafgen ${s}: ${tgCount} frames, trafgen (netsniff-ng) as the generator, --rate 150000pps (one burst a second)`,
        );
        for (let i = 0; i < Math.min(a.runs, 3); i++)
          for (const relay of [mcr1, socat1])
            await run("trafgen", s, {
              path: "relay",
              relay,
              generator: "trafgen",
              rate: 150_000,
              count: tgCount,
              size,
              outputs: 1,
            });
      }
      if (a.scenarios.has("A") && timeLeft("trafgen full speed")) {
        log(`trafgen A: as fast as trafgen can (no --rate)`);
        for (let i = 0; i < Math.min(a.runs, 3); i++)
          for (const relay of [mcr1, socat1])
            await run("trafgen-full", "A", {
              path: "relay",
              relay,
              generator: "trafgen",
              rate: 0,
              count: q ? 300_000 : 2_000_000,
              size,
              outputs: 1,
            });
      }
    }

    if (a.only.has("sweep")) {
      // 150k is the loss150 point (the chart takes those runs too).
      const rates = q
        ? [50_000, 300_000, 500_000]
        : [25_000, 50_000, 75_000, 100_000, 200_000, 250_000, 300_000, 400_000, 500_000];
      for (const s of ((q ? ["A"] : ["A", "B"]) as ScenarioName[]).filter((x) => a.scenarios.has(x))) {
        if (!timeLeft(`sweep ${s}`)) break;
        log(`sweep ${s}: loss against offered rate (the chart)`);
        for (const rate of rates) {
          if (!timeLeft(`sweep ${s} ${rate}`)) break;
          for (const relay of [mcr1, socat1])
            await run(
              "sweep",
              s,
              {
                path: "relay",
                relay,
                generator: "mcr",
                rate,
                count: Math.max(q ? 30_000 : 200_000, Math.round(rate * (q ? 0.3 : 2))),
                size,
                outputs: 1,
              },
              genMax,
            );
        }
      }
    }

    if (a.only.has("maxrate")) {
      for (const s of ((q ? ["A"] : ["A", "B"]) as ScenarioName[]).filter((x) => a.scenarios.has(x))) {
        await search("maxrate", s, { path: "relay", relay: mcr1, generator: "mcr", size, outputs: 1 }, 150_000);
        await search("maxrate", s, { path: "relay", relay: socat1, generator: "mcr", size, outputs: 1 }, 25_000);
      }
    }

    if (a.only.has("small")) {
      await search("small", "A", { path: "relay", relay: mcr1, generator: "mcr", size: 64, outputs: 1 }, 150_000);
      await search(
        "small",
        "A",
        { path: "relay", relay: socat1, generator: "mcr", size: 64, outputs: 1 },
        q ? 50_000 : 25_000,
      );
    }

    if (a.only.has("fanout"))
      for (const n of [4, 16]) {
        if (q) {
          if (!timeLeft(`fanout ${n}`)) break;
          log(`fanout ${n}: 20,000 pps in, ${n} outputs`);
          for (const relay of [mcr1, socat1])
            await run(
              `fanout`,
              "A",
              {
                path: "relay",
                relay: { ...relay, outputs: n },
                generator: "mcr",
                rate: 20_000,
                count: 10_000,
                size,
                outputs: n,
              },
              genMax,
            );
        } else {
          await search(
            "fanout",
            "A",
            { path: "relay", relay: { ...mcr1, outputs: n }, generator: "mcr", size, outputs: n },
            n === 4 ? 50_000 : 20_000,
          );
          await search(
            "fanout",
            "A",
            { path: "relay", relay: { ...socat1, outputs: n }, generator: "mcr", size, outputs: n },
            5_000,
          );
        }
      }

    if (a.only.has("workers")) {
      // Two workers: the supervisor's own placement (worker 0 on CPU 0, worker 1 on CPU 1) and
      // both confined to the relay's CPU. One flow goes to one worker (PACKET_FANOUT by flow hash).
      const two: RelaySpec[] = [
        { kind: "mcr", workers: 2, cpus: "0,1", outputs: 1, poll: a.poll, egress: a.egress },
        { kind: "mcr", workers: 2, cpus: RELAY_CPUS, outputs: 1, poll: a.poll, egress: a.egress },
      ];
      if (timeLeft("workers")) {
        log(`workers: 1 worker against 2 at 150,000 pps`);
        for (let i = 0; i < Math.min(a.runs, 3); i++)
          for (const relay of q ? two : [mcr1, ...two])
            await run(
              "workers",
              "A",
              { path: "relay", relay, generator: "mcr", rate: 150_000, count: count150, size, outputs: 1 },
              genMax,
            );
      }
      if (!q)
        for (const relay of two)
          await search("workers", "A", { path: "relay", relay, generator: "mcr", size, outputs: 1 }, 150_000);
    }
    // Traffic no rule wants (issue 10): 100k pps of unicast to the relay's own address and of
    // datagrams to groups and ports without a rule, against the same send over the bare wire (the
    // relay idle): the worker's CPU from /proc/<worker pid>/stat, and its drop counters.
    if (a.only.has("unrelated") && wanted("A", mcr1) && timeLeft("unrelated")) {
      const n = q ? 100_000 : 300_000;
      log(`unrelated A: ${n} datagrams at 100,000 pps that no rule wants, against the relay idle`);
      for (let i = 0; i < Math.min(a.runs, 3); i++)
        for (const traffic of ["idle", "unrelated"] as const)
          await run(
            "unrelated",
            "A",
            {
              path: "relay",
              relay: mcr1,
              generator: "mcr",
              rate: 100_000,
              count: n,
              size: 1024,
              outputs: 1,
              traffic,
            },
            undefined,
            q ? 1 : 3,
          );
    }

    // mcr's worker poll modes (issue 10 item 2) at 150k pps and flat out, 1024 B.
    if (a.only.has("ingress") && wanted("A", mcr1) && timeLeft("ingress")) {
      const n = q ? 100_000 : 1_000_000;
      // Receive rings of frames (V2) in each poll mode, and of blocks (V3, sleeping): at 10k pps
      // (latency where a block waits for its timer), 150k and flat out.
      const variants: RelaySpec[] = [
        ...POLL_MODES.map((poll) => ({ ...mcr1, poll })),
        { ...mcr1, poll: "sleep", ingress: "blocks" },
      ];
      log(`ingress A: poll modes ${POLL_MODES.join(", ")} and blocks, at 10,000 pps, 150,000 pps and flat out`);
      for (let i = 0; i < Math.min(a.runs, 3); i++)
        for (const rate of [10_000, 150_000, 0])
          for (const relay of variants)
            await run(
              "ingress",
              "A",
              {
                path: "relay",
                relay,
                generator: "mcr",
                rate,
                count: rate === 10_000 ? Math.min(n, 100_000) : n,
                size,
                outputs: 1,
              },
              genMax,
              q ? 1 : 3,
            );
    }

    // The rule lookup's cost (issue 12): the same stream, 150k pps of 1024 B, through a table of
    // 1 (S,G) rule and through one of 1,000, the stream's rule among them; CPU per packet compared.
    if (a.only.has("rules") && wanted("A", mcr1) && timeLeft("rules")) {
      log(`rules A: 1 (S,G) rule against 1,000 at 150,000 pps, ${count150} packets`);
      for (let i = 0; i < Math.min(a.runs, 3); i++)
        for (const sgRules of [1, 1000])
          await run(
            "rules",
            "A",
            {
              path: "relay",
              relay: { ...mcr1, sgRules },
              generator: "mcr",
              rate: 150_000,
              count: count150,
              size,
              outputs: 1,
            },
            genMax,
            q ? 1 : 3,
          );
    }

    // Unicast in (issue 16): the rule takes the datagrams sent to the relay's own input address, as
    // from the far end of a tunnel, against the multicast input, interleaved in the same run: at
    // 150,000 pps (the aim: no loss) and flat out (the aim: within 10% of the multicast input).
    if (a.only.has("unicast") && wanted("A", mcr1) && timeLeft("unicast")) {
      const n = q ? 100_000 : 1_000_000;
      const unicast: RelaySpec = { ...mcr1, unicastIn: true };
      log(`unicast A: unicast in against multicast in, at 150,000 pps and flat out, ${n} packets of ${size} B`);
      for (let i = 0; i < Math.min(a.runs, 3); i++)
        for (const rate of [150_000, 0])
          for (const relay of [mcr1, unicast])
            await run(
              "unicast",
              "A",
              { path: "relay", relay, generator: "mcr", rate, count: n, size, outputs: 1 },
              genMax,
              q ? 1 : 3,
            );
    }

    // IPv6 in and out (issue 13): scenario A at 150,000 pps (0 loss is the aim), and flat out
    // against IPv4 in the same run (within 10% is the aim), each beside its own family's bare wire.
    if (a.only.has("ipv6") && wanted("A", mcr1) && timeLeft("ipv6")) {
      const n = q ? 100_000 : 1_000_000;
      log(`ipv6 A: IPv6 in and out, ${n} packets of ${size} B at 150,000 pps and flat out, IPv4 beside it`);
      for (let i = 0; i < Math.min(a.runs, 3); i++) {
        for (const family of [6, 4] as const) {
          const f = family === 6 ? { family } : {};
          const base = { generator: "mcr", count: n, size, outputs: 1, ...f } as const;
          await run("ipv6-loss150", "A", { ...base, path: "relay", relay: mcr1, rate: 150_000 }, genMax, q ? 1 : 3);
          await run("ipv6-flatout", "A", { ...base, path: "wire", rate: 0 }, undefined, q ? 1 : 3);
          await run("ipv6-flatout", "A", { ...base, path: "relay", relay: mcr1, rate: 0 }, undefined, q ? 1 : 3);
        }
      }
    }

    // Merging two legs (issue 14, SMPTE ST 2022-7): one RTP stream at 150,000 pps on each of the
    // rule's two legs (two groups on the input interface), 1% independent random loss on each,
    // against a plain rule carrying the same stream once (the same output rate), interleaved: the
    // output must lose exactly what both legs lost, with no duplicate; the CPU per packet compared.
    if (a.only.has("merge") && wanted("A", mcr1) && timeLeft("merge")) {
      const n = q ? 100_000 : 1_000_000;
      const merge: RelaySpec = { ...mcr1, merge: true };
      // 150k pps a leg is the issue's row; 70k and 50k the generator reaches for both legs (on
      // these machines), where the CPU per packet out compares at the same output rate.
      log(
        `merge A: an RTP merge of 2 legs at 150,000, 70,000 and 50,000 pps each (70k and 50k also with --ingress blocks), 1% loss on each, against a plain rule, ${n} packets`,
      );
      // Both ingress modes at 70k and 50k: with rings of blocks an rtp merge's legs are read from
      // rings of blocks too (docs/merge.md), and each mode's merge compares with its plain rule.
      // results/2026-12-01T16-11-54-626Z.json has blocks rows from when they were not.
      const modes = [{}, { ingress: "blocks" as const }];
      for (let i = 0; i < Math.min(a.runs, 3); i++)
        for (const rate of [150_000, 70_000, 50_000])
          for (const mode of rate === 150_000 ? modes.slice(0, 1) : modes)
            for (const relay of [
              { ...mcr1, ...mode },
              { ...merge, ...mode },
            ])
              await run(
                "merge",
                "A",
                {
                  path: "relay",
                  relay,
                  generator: "mcr",
                  rate,
                  count: n,
                  size,
                  outputs: 1,
                  ...(relay.merge ? { legs: { lossPct: 1, seed: 2022 + i } } : {}),
                },
                genMax,
                q ? 1 : 3,
              );
    }
  } finally {
    for (const { lab } of labs.values()) await lab.destroy();
  }

  res.meta.finishedAt = new Date().toISOString();
  onSignal = undefined;
  save();
  log(`results: ${file}`);
  if (a.readme) writeOutputs(res, file);
  else {
    const md = renderReadme(res, file, "");
    console.log("\n" + md.tables);
  }
  return 0;
}

/** An experiment redone for a scenario in a later file replaces the earlier files' runs of it. */
function mergeRuns(files: Results["runs"][]): Results["runs"] {
  const key = (r: Results["runs"][number]) => `${r.experiment.split(":")[0]}|${r.scenario}|${r.spec.generator}`;
  let out: Results["runs"] = [];
  for (const runs of files) {
    const redone = new Set(runs.map(key));
    out = [...out.filter((r) => !redone.has(key(r))), ...runs];
  }
  return out;
}

/**
 * A search redone in a later file replaces the earlier file's. Within one file every search stays:
 * two searches with the same key there (records from before relayCpus was kept) are told apart
 * by their order.
 */
function mergeSearches(files: SearchRecord[][]): SearchRecord[] {
  const merged = new Map<string, SearchRecord>();
  for (const searches of files) {
    const seen = new Map<string, number>();
    const mine = new Map<string, SearchRecord>();
    for (const x of searches) {
      // placement tells searches apart only where it varies (workers); older records lack it
      const base = `${x.experiment}|${x.scenario}|${x.label}|${x.size}|${x.outputs}|${x.generator}|${x.experiment === "workers" ? (x.relayCpus ?? "") : ""}`;
      const n = seen.get(base) ?? 0;
      seen.set(base, n + 1);
      mine.set(`${base}#${n}`, x);
    }
    for (const [k, v] of mine) merged.set(k, v);
  }
  return [...merged.values()];
}

function chartSeries(res: Results): ChartSeries[] {
  const colors: Record<string, string> = { "mcr 1w": "#1f6feb", socat: "#d1242f" };
  const out: ChartSeries[] = [];
  for (const s of ["A", "B"]) {
    for (const label of ["mcr 1w", "socat"]) {
      const runs = res.runs.filter(
        (r) =>
          (r.experiment === "sweep" || r.experiment === "loss150") &&
          r.spec.generator === "mcr" &&
          r.scenario === s &&
          r.label === label,
      );
      if (!runs.length) continue;
      out.push({
        name: `${label === "mcr 1w" ? "mcr" : "socat"}, scenario ${s}`,
        color: colors[label]!,
        dashed: s === "B",
        // one point per offered rate: the median over its runs
        points: [...new Set(runs.map((r) => r.spec.rate))].map((rate) => {
          const at = runs.filter((r) => r.spec.rate === rate);
          // The relay's loss: end to end less what the sink's own socket dropped (the sink shares
          // CPU 0 with the generator); points where that mattered, or the generator fell short,
          // are hollow, and their tooltip gives the end-to-end loss.
          return {
            offeredPps: agg(at.map((r) => r.gen.achievedPps))!.median,
            lossPct: agg(at.map((r) => r.relayLossRatio ?? r.lossRatio))!.median * 100,
            endToEndPct: agg(at.map((r) => r.lossRatio))!.median * 100,
            hollow: at.some((r) => r.flags.generatorLimited || r.flags.sinkLimited),
          };
        }),
      });
    }
  }
  return out;
}

function writeOutputs(res: Results, file: string): void {
  const svgPath = join(ROOT, "bench", "loss-vs-rate.svg");
  const series = chartSeries(res);
  if (series.length) {
    writeFileSync(
      svgPath,
      renderChart(
        "Relay loss against offered rate: mcr and socat (1024-byte payloads)",
        series,
        `${res.meta.kernel}, ${res.meta.cpus} CPUs; generator and sink on CPU 0, relay on CPU 1; ${res.meta.startedAt.slice(0, 10)}`,
      ),
    );
    console.log(`chart: ${svgPath}`);
  }
  const readmePath = join(ROOT, "bench", "README.md");
  let readme = "";
  try {
    readme = readFileSync(readmePath, "utf8");
  } catch {
    /* first run */
  }
  const md = renderReadme(res, file, readme);
  writeFileSync(readmePath, md.readme);
  // The tables come out unaligned; `make lint` checks the project's format, so format them here.
  const fmt = Bun.spawnSync([process.execPath, "x", "biome", "format", "--write", readmePath], { cwd: ROOT });
  if (fmt.exitCode !== 0) console.log(`bench: could not format ${readmePath}: run make fmt before committing it`);
  console.log(`tables: ${readmePath}`);
}

// Ctrl-C and kill: tear the namespaces down synchronously, then leave.
let onSignal: ((sig: string) => void) | undefined;
for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"] as const)
  process.on(sig, () => {
    console.error(`bench: ${sig}: removing namespaces and processes`);
    onSignal?.(sig);
    destroyAllSync();
    process.exit(130);
  });

try {
  process.exitCode = await main();
} catch (e) {
  console.error("bench: failed:", e instanceof Error ? (e.stack ?? e.message) : e);
  destroyAllSync();
  process.exitCode = 1;
}
