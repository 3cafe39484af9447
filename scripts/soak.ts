#!/usr/bin/env bun
// Soak (issue 6, item 6): forwards a stream at a steady rate for a long time (300,000 pps for 10
// minutes by default) while rules are added and removed without pause, and samples loss and
// memory over time. Not run by CI. As root, after `make build`:
//
//   bun scripts/soak.ts [--minutes 10] [--rate 300000] [--size 512] [--workers 1]
//                       [--rules 100] [--churn-ms 50] [--sample 10] [--sink-cpu 0] [--out FILE]
//
// Layout as in the benchmark: gen -> relay -> sink in network namespaces (test/helpers/lab.ts),
// gen and sink pinned to CPU 0 (gen at nice -10), the supervisor and its worker(s) to CPU 1 and up
// (with 4 CPUs or more: gen on 0, the sink on 1, the relay on 2 and up).
// On 2 CPUs at 300,000 pps CPU 0 (gen, the veth's receive path, the sink) is the limit: the sink's
// socket overflows. Those drops are the kernel's exact count (sink_sock_drops), so the columns
// keep the relay's loss (relay_lost: ring drops, drops, send errors) apart from the sink's.
// The stream 239.1.1.1:5001 -> 239.9.9.9:5099 flows through rule 1 and `--rules` other rules sit
// in the table; a churn loop adds and removes one more rule every `--churn-ms`.
// Every `--sample` seconds one row: what gen put on the wire, what the relay took and forwarded,
// what reached the sink's interface, the relay's ring drops, drops and send errors, the sink's
// socket drops, the RSS of the supervisor and each worker, and the rule changes with their latency.
// The JSON (bench/results/soak-<date>.json unless --out) holds every row and the end summaries.
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { call } from "../src/control/client.ts";
import type { Command, Commands } from "../src/types/control.ts";
import { BENCH_PREFIX, chainLab, type Lab, sh, sweepStale } from "../test/helpers/lab.ts";
import { rssKb } from "../test/helpers/proc.ts";
import { DIST, ROOT } from "../test/helpers/mcr.ts";

const argv = process.argv.slice(2);
const opt = (name: string, dflt: number) => {
  const i = argv.indexOf(`--${name}`);
  if (i < 0) return dflt;
  const v = Number(argv[i + 1]);
  if (!Number.isFinite(v) || v < 0) throw new Error(`--${name}: "${argv[i + 1]}" is not a number`);
  return v;
};
if (argv.includes("--help")) {
  console.log(
    readFileSync(import.meta.path, "utf8")
      .split("\n")
      .filter((l) => l.startsWith("//"))
      .map((l) => l.slice(3))
      .join("\n"),
  );
  process.exit(0);
}
const MINUTES = opt("minutes", 10);
const RATE = opt("rate", 300_000);
const SIZE = opt("size", 512);
const WORKERS = opt("workers", 1);
const RULES = opt("rules", 100);
const CHURN_MS = opt("churn-ms", 50);
const SAMPLE_S = opt("sample", 10);
const CPUS = Number(sh(["nproc"]).stdout.trim());
// With 4 CPUs or more the sink gets one of its own (1) and the relay the rest (2..); with fewer it
// shares CPU 0 with gen, and the relay has CPU 1.
const SINK_CPU = opt("sink-cpu", CPUS >= 4 ? 1 : 0);
const outIdx = argv.indexOf("--out");
const OUT =
  outIdx >= 0
    ? argv[outIdx + 1]!
    : join(ROOT, "bench", "results", `soak-${new Date().toISOString().replace(/[:.]/g, "-")}.json`);
if (process.getuid?.() !== 0) throw new Error("run as root: the soak builds network namespaces");
const relayCpus = CPUS >= 4 ? `2-${CPUS - 1}` : CPUS > 1 ? `1-${CPUS - 1}` : "0";

const ctl = <C extends Command>(socket: string, cmd: C, args: Commands[C]["args"] = {} as Commands[C]["args"]) =>
  call(socket, cmd, args, { timeoutMs: 10_000 });
const udpRcvbufErrors = (lab: Lab, role: string) => {
  const lines = lab
    .exec(role, ["cat", "/proc/net/snmp"])
    .stdout.split("\n")
    .filter((l) => l.startsWith("Udp:"));
  const [head, vals] = [lines[0]!.split(/\s+/), lines[1]!.split(/\s+/)];
  return Number(vals[head.indexOf("RcvbufErrors")]);
};
const pct = (xs: number[], p: number) =>
  xs.length === 0 ? 0 : [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))]!;

async function main() {
  // The benchmark's prefix: a soak is no test, and scripts/test.sh must not count it as a leftover.
  sweepStale(BENCH_PREFIX);
  const lab = chainLab({ prefix: BENCH_PREFIX });
  let stopping = false;
  const cleanup = async () => {
    stopping = true;
    await lab.destroy();
  };
  process.on("SIGINT", () => void cleanup().then(() => process.exit(130)));
  try {
    const socket = `/tmp/${lab.id}-soak.sock`;
    const sup = lab.spawn("relay", [
      "taskset",
      "-c",
      relayCpus,
      DIST,
      "supervisor",
      "--interface",
      "veth1",
      "--control-socket-path",
      socket,
      "--state-file",
      `/tmp/${lab.id}-soak.state.json`,
      "--workers",
      String(WORKERS),
      "--log-level",
      "warn",
    ]);
    let supErr = "";
    void (async () => {
      for await (const c of sup.stderr) supErr += new TextDecoder().decode(c);
    })();
    const t0s = Date.now();
    while (Date.now() - t0s < 15_000) {
      if (sup.exitCode !== null) throw new Error(`supervisor exited ${sup.exitCode}: ${supErr}`);
      const ok = await ctl(socket, "status").then(
        (s) => s.workers.every((w) => w.state === "ready"),
        () => false,
      );
      if (ok) break;
      await Bun.sleep(100);
    }
    const out = { group: "239.9.9.9", port: 5099, interface: "veth3", ttl: 1 };
    await ctl(socket, "rule.add", { inputGroup: "239.1.1.1", inputPort: 5001, outputs: [out] });
    for (let i = 0; i < RULES; i++)
      await ctl(socket, "rule.add", {
        inputGroup: `239.3.${i >> 8}.${i & 0xff}`,
        inputPort: 7000,
        outputs: [{ ...out, port: 5096 }],
      });
    const status = await ctl(socket, "status");
    const pids = { supervisor: status.pid, workers: status.workers.map((w) => w.pid!) };

    const durationS = Math.round(MINUTES * 60);
    const sink = lab.spawn("sink", [
      "taskset",
      "-c",
      String(SINK_CPU),
      DIST,
      "sink",
      "--group",
      "239.9.9.9:5099",
      "--interface",
      "veth2",
      "--duration",
      String(durationS + 5),
      "--timeout",
      "5",
      "--json",
    ]);
    await Bun.sleep(500);
    const gen = lab.spawn("gen", [
      "nice",
      "-n",
      "-10",
      "taskset",
      "-c",
      "0",
      DIST,
      "gen",
      "--dest",
      "239.1.1.1:5001",
      "--interface",
      "veth0",
      "--rate",
      String(RATE),
      "--duration",
      String(durationS),
      "--size",
      String(SIZE),
      "--json",
    ]);

    // Rule churn, as fast as --churn-ms allows, each change timed.
    let cycles = 0;
    let churnErrors = 0;
    let latencies: number[] = [];
    const churn = (async () => {
      for (let i = 0; !stopping; i++) {
        try {
          const t = performance.now();
          const { rule } = await ctl(socket, "rule.add", {
            inputGroup: `239.2.${(i >> 8) & 0xff}.${i & 0xff}`,
            inputPort: 6000,
            outputs: [{ ...out, port: 5097 }],
          });
          const t1 = performance.now();
          await ctl(socket, "rule.remove", { id: rule.id });
          latencies.push(t1 - t, performance.now() - t1);
          cycles++;
        } catch (e) {
          churnErrors++;
          if (churnErrors <= 5) console.error(`churn: ${(e as Error).message}`);
        }
        if (CHURN_MS > 0) await Bun.sleep(CHURN_MS);
      }
    })();

    const rows: Record<string, number | string>[] = [];
    const header = [
      "t_s",
      "offered",
      "relay_rx",
      "forwarded",
      "at_sink",
      "relay_lost",
      "sink_sock_drops",
      "sup_rss_mb",
      "wrk_rss_mb",
      "changes",
      "chg_p50_ms",
      "chg_p99_ms",
    ];
    console.log(
      `soak: ${RATE} pps of ${SIZE}-byte payloads for ${MINUTES} min, ${WORKERS} worker(s) on CPU ${relayCpus}, ${RULES + 1} rules, churn every ${CHURN_MS} ms; rates in pps`,
    );
    console.log(header.map((h) => h.padStart(16)).join(""));
    const snap = async () => {
      const st = await ctl(socket, "stats");
      return {
        at: performance.now(),
        gen: lab.linkCounters("gen", "veth0").txPackets,
        sink: lab.linkCounters("sink", "veth2").rxPackets,
        rx: st.totals.rxFrames,
        fwd: st.rules.find((r) => r.id === 1)?.packets ?? 0,
        ringDrops: st.totals.ringDrops,
        drops: st.totals.drops,
        txErrors: st.totals.txErrors,
        sockDrops: udpRcvbufErrors(lab, "sink"),
        cycles,
        restarts: st.workers.reduce((n, w) => n + w.restarts, 0),
      };
    };
    let prev = await snap();
    const first = prev;
    const rss0 = { supervisor: rssKb(pids.supervisor), workers: pids.workers.map(rssKb) };
    const start = performance.now();
    while (performance.now() - start < durationS * 1000 && gen.exitCode === null) {
      await Bun.sleep(Math.min(SAMPLE_S * 1000, durationS * 1000 - (performance.now() - start)));
      const cur = await snap();
      const dt = (cur.at - prev.at) / 1000;
      const lat = latencies;
      latencies = [];
      const row = {
        t_s: Math.round((cur.at - start) / 1000),
        offered: Math.round((cur.gen - prev.gen) / dt),
        relay_rx: Math.round((cur.rx - prev.rx) / dt),
        forwarded: Math.round((cur.fwd - prev.fwd) / dt),
        at_sink: Math.round((cur.sink - prev.sink) / dt),
        relay_lost: cur.ringDrops - prev.ringDrops + (cur.drops - prev.drops) + (cur.txErrors - prev.txErrors),
        ring_drops: cur.ringDrops - prev.ringDrops,
        drops: cur.drops - prev.drops,
        tx_errors: cur.txErrors - prev.txErrors,
        sink_sock_drops: cur.sockDrops - prev.sockDrops,
        sup_rss_mb: +(rssKb(pids.supervisor) / 1024).toFixed(1),
        wrk_rss_mb: pids.workers.map((p) => (rssKb(p) / 1024).toFixed(1)).join("/"),
        changes: (cur.cycles - prev.cycles) * 2,
        chg_p50_ms: +pct(lat, 50).toFixed(1),
        chg_p99_ms: +pct(lat, 99).toFixed(1),
        restarts: cur.restarts,
      };
      rows.push(row);
      console.log(header.map((h) => String(row[h as keyof typeof row]).padStart(16)).join(""));
      prev = cur;
    }
    stopping = true;
    await churn;
    const genOut = JSON.parse((await new Response(gen.stdout).text()) || "null");
    await Bun.sleep(500);
    sink.kill("SIGINT");
    const sinkOut = JSON.parse((await new Response(sink.stdout).text()) || "null");
    const last = await snap();
    const rss1 = { supervisor: rssKb(pids.supervisor), workers: pids.workers.map(rssKb) };
    const after = await ctl(socket, "status");
    const summary = {
      sent: genOut?.packets,
      genAchievedPps: genOut?.achievedPps,
      relayRx: last.rx - first.rx,
      forwarded: last.fwd - first.fwd,
      ringDrops: last.ringDrops - first.ringDrops,
      relayDrops: last.drops - first.drops,
      txErrors: last.txErrors - first.txErrors,
      sinkUnique: sinkOut?.unique,
      sinkLost: sinkOut?.lost,
      sinkLossRatio: sinkOut?.lossRatio,
      sinkSocketDrops: sinkOut?.socketDrops,
      lostElsewhere: sinkOut ? sinkOut.lost - sinkOut.socketDrops : undefined,
      latencyP99Us: sinkOut?.latency?.p99Us,
      ruleCycles: cycles,
      ruleChanges: cycles * 2,
      churnErrors,
      workerRestarts: last.restarts,
      supervisorPidSame: after.pid === pids.supervisor,
      rssKb: { start: rss0, end: rss1 },
    };
    console.log(JSON.stringify(summary, null, 2));
    mkdirSync(join(OUT, ".."), { recursive: true });
    writeFileSync(
      OUT,
      JSON.stringify(
        {
          kind: "mcr-soak",
          at: new Date().toISOString(),
          host: { cpus: CPUS, kernel: sh(["uname", "-r"]).stdout.trim() },
          mcr: sh([DIST, "--version"]).stdout.trim(),
          params: {
            minutes: MINUTES,
            rate: RATE,
            size: SIZE,
            workers: WORKERS,
            rules: RULES + 1,
            churnMs: CHURN_MS,
            sampleS: SAMPLE_S,
          },
          rows,
          summary,
          gen: genOut,
          sink: sinkOut,
        },
        null,
        2,
      ) + "\n",
    );
    console.log(`written: ${OUT}`);
    if (supErr.trim()) console.log(`supervisor warnings:\n${supErr.trim().split("\n").slice(-20).join("\n")}`);
  } finally {
    await cleanup();
  }
}

await main();
