#!/usr/bin/env bun
// The worker's own CPU time per relayed packet, by egress mode, in full batches: a figure that
// holds up on a machine others are loading, where CPU percentages and delivered rates do not.
// Scenario A, one worker per mode; for each burst the worker is stopped (SIGSTOP), the generator
// fills its receive ring, and the worker is let go: the time it runs (its threads' schedstat, in
// ns: only time on a CPU, whoever else wanted it) over the frames it relayed is the cost of one
// packet, the sink namespace's receive run in its sends included (veth). A wait as long without a
// burst is measured and taken off. Modes are interleaved burst by burst.
//
//   bun bench/egress-drain.ts [--modes ring,sendmsg,gso,socket,zc] [--bursts 5] [--burst 20000] [--size 1024]
//                             [--gen packet|socket]
//
// Raw results: bench/results/egress-drain-<time>.json.
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { GEN_CPU, RELAY_CPUS, SINK_CPU } from "./measure.ts";
import { INPUT_GROUP, INPUT_PORT, OUTPUT_PORT, pinBinary, ROOT, type Relay, startRelay } from "./relays.ts";
import { build, newBenchLab } from "./topology.ts";
import { runMcrGen, startSink } from "./traffic.ts";
import { BENCH_PREFIX, destroyAllSync, sweepStale } from "../test/helpers/lab.ts";
import { EGRESS_MODES, type EgressMode } from "../src/native/abi.ts";

const argv = process.argv.slice(2);
const opt = (name: string, def: string) => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? argv[i + 1]! : def;
};
const modes = opt("modes", "ring,sendmsg,gso,socket,zc").split(",") as EgressMode[];
for (const m of modes)
  if (!(EGRESS_MODES as readonly string[]).includes(m)) {
    console.error(`bench/egress-drain: --modes: "${m}" is not one of ${EGRESS_MODES.join(", ")}`);
    process.exit(64);
  }
const bursts = Number(opt("bursts", "5"));
const burst = Number(opt("burst", "20000"));
const size = Number(opt("size", "1024"));
// packet (mcr gen's default here): frames with complete checksums the receiver did not verify, so
// every mode carries them over (RFC 1624). socket: a UDP socket's, unfinished on veth
// (CHECKSUM_PARTIAL), as a NIC's verified ones (TP_STATUS_CSUM_VALID) let them be: then sendmsg
// and gso leave the sums to the device, and gso makes runs.
const genMode = opt("gen", "packet") as "socket" | "packet";
const SETTLE_MS = 600; // after the let-go: the ring drained and every send completed

for (const sig of ["SIGINT", "SIGTERM"] as const)
  process.on(sig, () => {
    destroyAllSync();
    process.exit(130);
  });

/** ns on a CPU of every thread of pid (schedstat's first field). */
function runNs(pid: number): number {
  let ns = 0;
  for (const t of readdirSync(`/proc/${pid}/task`))
    ns += Number(readFileSync(`/proc/${pid}/task/${t}/schedstat`, "utf8").split(" ")[0]);
  return ns;
}

interface Totals {
  txPackets: number;
  rxFrames: number;
  ringDrops: number;
}
const totals = (r: Relay) => (r.stats() as { totals: Totals }).totals;
const workerPid = (r: Relay) => (r.stats() as { workers: { pid: number }[] }).workers[0]!.pid;

sweepStale(BENCH_PREFIX);
pinBinary(join(ROOT, "bench", "results", "tmp"));
const startedAt = new Date().toISOString();
const commit = Bun.spawnSync(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"]).stdout.toString().trim();
const file = join(ROOT, "bench", "results", `egress-drain-${startedAt.replace(/[:.]/g, "-")}.json`);
const rows: {
  mode: EgressMode;
  burst: number;
  relayed: number;
  sends: number;
  ns: number;
  idleNs: number;
  nsPerPacket: number;
}[] = [];
const lab = newBenchLab();
try {
  const t = build(lab, "A");
  const sink = await startSink(lab, {
    role: t.sink.role,
    iface: t.sink.iface,
    groups: ["239.9.9.9"],
    port: OUTPUT_PORT,
    cpu: SINK_CPU,
    idleS: 600,
    maxS: 600,
  });
  for (let b = 0; b < bursts; b++)
    for (const mode of modes) {
      // A fresh relay each time, as the benchmark's runs are.
      const relay = await startRelay(
        lab,
        t,
        { kind: "mcr", workers: 1, cpus: RELAY_CPUS, outputs: 1, egress: mode },
        t.gen.addr,
      );
      try {
        const pid = workerPid(relay);
        await Bun.sleep(200);
        // The idle cost of a wait as long as the drain's.
        const i0 = runNs(pid);
        await Bun.sleep(SETTLE_MS);
        const idleNs = runNs(pid) - i0;
        process.kill(pid, "SIGSTOP");
        try {
          await runMcrGen(lab, {
            role: t.gen.role,
            iface: t.gen.iface,
            source: t.gen.addr,
            dest: `${INPUT_GROUP}:${INPUT_PORT}`,
            rate: 0,
            count: burst,
            size,
            cpu: GEN_CPU,
            mode: genMode,
          });
        } catch (e) {
          process.kill(pid, "SIGCONT");
          throw e;
        }
        // Read while it is stopped: nothing moves until it runs.
        const before = totals(relay);
        const link0 = lab.linkCounters(t.relay.role, t.relay.outIface).txPackets;
        const n0 = runNs(pid);
        process.kill(pid, "SIGCONT");
        await Bun.sleep(SETTLE_MS);
        const ns = runNs(pid) - n0;
        const relayed = totals(relay).txPackets - before.txPackets;
        // veth counts each skb it sends once: a GSO run is one.
        const sends = lab.linkCounters(t.relay.role, t.relay.outIface).txPackets - link0;
        const row = {
          mode,
          burst: b,
          relayed,
          sends,
          ns,
          idleNs,
          nsPerPacket: relayed ? (ns - idleNs) / relayed : NaN,
        };
        rows.push(row);
        writeFileSync(
          file,
          JSON.stringify({ meta: { startedAt, commit, modes, bursts, burst, size, genMode }, rows }, null, 1),
        );
        console.log(
          `${mode.padEnd(8)} burst ${b}: ${relayed} relayed in ${sends} sends, ${(ns / 1e6).toFixed(1)} ms on CPU (idle ${(idleNs / 1e6).toFixed(1)}): ${row.nsPerPacket.toFixed(0)} ns/packet`,
        );
      } finally {
        await relay.stop();
      }
    }
  await sink.stop();
} finally {
  await lab.destroy();
}
const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const ref = med(rows.filter((r) => r.mode === modes[0]).map((r) => r.nsPerPacket));
console.log(
  `\ncommit ${commit}; ${size} B, bursts of ${burst} into a stopped worker's ring; mcr gen --mode ${genMode}`,
);
console.log(`| mode | ns per packet, each burst | median | × ${modes[0]} | datagrams per send |`);
console.log("|---|---|---|---|---|");
for (const m of modes) {
  const xs = rows.filter((r) => r.mode === m).map((r) => r.nsPerPacket);
  const rs = rows.filter((r) => r.mode === m);
  const perSend =
    rs.reduce((a, r) => a + r.relayed, 0) /
    Math.max(
      1,
      rs.reduce((a, r) => a + r.sends, 0),
    );
  console.log(
    `| ${m} | ${xs.map((x) => x.toFixed(0)).join(" / ")} | ${med(xs).toFixed(0)} | ${(med(xs) / ref).toFixed(2)} | ${perSend.toFixed(1)} |`,
  );
}
console.log(`raw results: ${file}`);
