#!/usr/bin/env bun
// Where a relay's CPU goes: scenario A, one relay (mcr by default), a steady stream, and
// `perf record` on the relay's processes while it flows; prints the top symbols and the relay's
// own counters. Needs perf (linux-perf). Not part of `bun run bench`; run it by hand:
//
//   bun bench/profile.ts [--relay mcr|socat] [--rate 150000] [--seconds 5] [--size 1024] [--scenario A|B] [--mcr PATH]
//                        [--egress ring|sendmsg|socket|zc] [--limit 1 (percent: the report's cut)] [--keep (the perf data)]
//                        [--cpu N (all of CPU N instead of the relay's processes: 0 is the generator's, where the
//                        relay's ingress is paid on veth)] [--merge (the bench's merge row: 2 legs, 1% loss each)]
//                        [--ingress frames|blocks]
import { mkdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { allStats, treeOf } from "./cpu.ts";
import { GEN_CPU, RELAY_CPUS, SINK_CPU } from "./measure.ts";
import { inputDest, OUTPUT_PORT, pinBinary, type RelaySpec, ROOT, startRelay } from "./relays.ts";
import { destroyAllSync, sh } from "../test/helpers/lab.ts";
import { build, newBenchLab, type ScenarioName } from "./topology.ts";
import { runMcrGen, startSink } from "./traffic.ts";

const argv = process.argv.slice(2);
const opt = (name: string, def: string) => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? argv[i + 1]! : def;
};
const kind = opt("relay", "mcr") as "mcr" | "socat";
const rate = Number(opt("rate", "150000"));
const seconds = Number(opt("seconds", "5"));
const size = Number(opt("size", "1024"));
const scenario = opt("scenario", "A") as ScenarioName;
const egress = argv.includes("--egress") ? (opt("egress", "ring") as RelaySpec["egress"]) : undefined;
const ingress = argv.includes("--ingress") ? (opt("ingress", "frames") as RelaySpec["ingress"]) : undefined;
const limit = opt("limit", "1");
const cpu = argv.includes("--cpu") ? opt("cpu", "0") : undefined;
// An RTP merge of two legs (1% loss each), the bench's merge row, instead of a plain rule.
const merge = argv.includes("--merge");

for (const sig of ["SIGINT", "SIGTERM"] as const)
  process.on(sig, () => {
    destroyAllSync();
    process.exit(130);
  });

const out = join(ROOT, "bench", "results", "tmp");
mkdirSync(out, { recursive: true });
if (argv.includes("--mcr")) pinBinary(out, opt("mcr", ""));
const lab = newBenchLab();
try {
  const t = build(lab, scenario);
  const spec: RelaySpec = {
    kind,
    workers: 1,
    cpus: RELAY_CPUS,
    outputs: 1,
    egress,
    ingress,
    ...(merge ? { merge } : {}),
  };
  const relay = await startRelay(lab, t, spec, t.gen.addr);
  const count = Math.round(rate * (seconds + 2));
  const sink = await startSink(lab, {
    role: t.sink.role,
    iface: t.sink.iface,
    groups: ["239.9.9.9"],
    port: OUTPUT_PORT,
    expectPerStream: count,
    countTotal: count,
    cpu: SINK_CPU,
    idleS: 2,
    maxS: seconds + 20,
  });
  const gen = runMcrGen(lab, {
    role: t.gen.role,
    iface: t.gen.iface,
    source: t.gen.addr,
    dest: inputDest(t, spec),
    ...(merge ? { legs: { lossPct: 1, seed: 2022 } } : {}),
    rate,
    count,
    size,
    cpu: GEN_CPU,
  });
  await Bun.sleep(1000);
  const pids = treeOf(relay.rootPids(), allStats());
  const data = join(out, `perf-${kind}-${process.pid}.data`);
  const what = cpu !== undefined ? ["-C", cpu] : ["-p", pids.join(",")];
  console.log(
    `perf record -g on ${cpu !== undefined ? `CPU ${cpu}` : `${kind} pids ${pids.join(",")}`} for ${seconds} s at ${rate} pps`,
  );
  const rec = sh(["perf", "record", "-q", "-g", "-o", data, ...what, "--", "sleep", String(seconds)], {
    timeoutMs: (seconds + 30) * 1000,
  });
  if (rec.code !== 0) console.error(rec.stderr.trim());
  const g = await gen;
  const s = await sink.done;
  console.log(`generator: ${g.achievedPps} pps; sink: ${s.unique} unique, loss ${(s.lossRatio * 100).toFixed(3)}%`);
  if (kind === "mcr") console.log(JSON.stringify(relay.stats()).slice(0, 1500));
  const rep = sh(
    [
      "perf",
      "report",
      "-i",
      data,
      "--no-children",
      "--sort",
      "dso,sym",
      "--stdio",
      "-g",
      "none",
      "--percent-limit",
      limit,
    ],
    { timeoutMs: 120000 },
  );
  console.log(
    rep.stdout
      .split("\n")
      .filter((l) => l && !l.startsWith("#"))
      .slice(0, 60)
      .join("\n"),
  );
  // Inclusive shares of the paths that matter: sending, the receiver's softirq run in our context, waiting.
  const inc = sh(["perf", "report", "-i", data, "--children", "--sort", "sym", "--stdio", "-g", "none"], {
    timeoutMs: 120000,
  });
  const keys =
    /\] (do_syscall_64|__do_sys_io_uring_enter|io_submit_sqes|packet_sendmsg|udp_sendmsg|net_rx_action|br_handle_frame|br_forward|udp_queue_rcv_one_skb|__x64_sys_poll|skb_copy_ubufs|tpacket_rcv|packet_rcv_fanout|ip_rcv|ip_list_rcv|udp_sendmsg|__netif_receive_skb_core\\S*|sock_def_readable|try_to_wake_up|skb_copy_bits|__udp4_lib_rcv|ip_mc_input|ip_rcv_finish|udp_recvmsg|__sys_recvmmsg|__sys_sendmmsg)\s*$/;
  console.log("inclusive:");
  console.log(
    inc.stdout
      .split("\n")
      .filter((l) => keys.test(l))
      .join("\n"),
  );
  if (argv.includes("--keep")) console.log(`perf data kept: ${data}`);
  else rmSync(data, { force: true });
  await relay.stop();
} finally {
  await lab.destroy();
}
