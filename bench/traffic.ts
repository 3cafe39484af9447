// The traffic ends of a run: `mcr gen` or trafgen at the generator, `mcr sink` at the sink.
// Each is a process in its namespace, pinned with taskset, bounded in time, its JSON summary parsed.
import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { GenResult } from "../src/tools/gen.ts";
import type { SinkResult } from "../src/tools/sink.ts";
import { type Lab, sh } from "../test/helpers/lab.ts";
import { addressPort, ipv6Bytes, parseIPv6 } from "../src/values/ipv6.ts";
import { mcrArgv } from "./relays.ts";

/**
 * The generator shares CPU 0 with the sink. At the same priority the scheduler lets the sink run
 * for milliseconds while packets fall due, and the generator then catches up in a burst of
 * thousands (its schedule is absolute): a burst no relay meets in a steady stream. At nice -10 the
 * generator preempts the sink whenever a packet is due; the sink, with a 32 MiB socket buffer,
 * absorbs the wait. GEN_NICE=0 in the environment restores equal priority.
 */
export const GEN_NICE = Number(process.env.GEN_NICE ?? -10);
/**
 * trafgen's --rate paces one frame at a time with a sleep between frames: at nice -10 it would
 * preempt the sink ~150,000 times a second, and the sink falls behind (measured: 28% of the
 * datagrams dropped in the sink's socket at 150k pps with CPU 0 only 65% busy). It runs at nice 0.
 */
/** The sink's priority: see the README ("Traffic"). SINK_NICE in the environment overrides it. */
export const SINK_NICE = Number(process.env.SINK_NICE ?? 0);
export const TRAFGEN_NICE = Number(process.env.TRAFGEN_NICE ?? 0);

/** What a run records of its generator, whichever it was (mcr gen reports a GenResult; trafgen prints a count). */
export interface GenSummary {
  tool: "mcr gen" | "trafgen";
  packets: number; // handed to the kernel
  sendErrors: number;
  offeredPps: number;
  achievedPps: number;
  reachedRate: boolean; // every packet sent, at 98%..105% of the offered rate (unpaced: always true)
  durationS: number;
  maxLagUs?: number;
  startedAtMs: number; // wall clock, for the CPU window
  endedAtMs: number;
  /** --legs: the stream on each leg, what each dropped, and what no leg carried (mcr gen's own report). */
  legs?: GenResult["legs"];
}

async function collect(p: {
  stdout: ReadableStream<Uint8Array>;
  stderr: ReadableStream<Uint8Array>;
  exited: Promise<number>;
}) {
  const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  return { out, err, code };
}

function lastJson<T>(text: string): T | undefined {
  const line = text
    .trim()
    .split("\n")
    .reverse()
    .find((l) => l.startsWith("{"));
  return line ? (JSON.parse(line) as T) : undefined;
}

/** Port and group as /proc/net/udp{,6} and /proc/net/igmp (igmp6: 32 hex digits, lower case) print them. */
const hexPort = (p: number) => p.toString(16).toUpperCase().padStart(4, "0");
const hexGroup = (g: string) =>
  g.includes(":")
    ? Buffer.from(ipv6Bytes(parseIPv6(g)!)).toString("hex")
    : g
        .split(".")
        .map((o) => Number(o).toString(16).toUpperCase().padStart(2, "0"))
        .reverse()
        .join("");

/** Waits until a socket in `ns` is bound to `port` and every group is joined: the sink is listening. */
export async function waitListening(
  lab: Lab,
  role: string,
  port: number,
  groups: string[],
  timeoutMs = 5000,
): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (performance.now() < deadline) {
    const v6 = groups.some((g) => g.includes(":"));
    const udp = lab.exec(role, ["cat", v6 ? "/proc/net/udp6" : "/proc/net/udp"]).stdout;
    const igmp = lab.exec(role, ["cat", v6 ? "/proc/net/igmp6" : "/proc/net/igmp"]).stdout;
    if (udp.includes(`:${hexPort(port)} `) && groups.every((g) => igmp.includes(hexGroup(g)))) return;
    await Bun.sleep(20);
  }
  throw new Error(`sink in ${lab.ns(role)}: not listening on ${port} for ${groups.join(",")} after ${timeoutMs} ms`);
}

export interface SinkHandle {
  pid: number;
  done: Promise<SinkResult>;
  stop(): Promise<void>;
}

/**
 * `mcr sink` on `iface` for the groups, pinned to `cpu`. It stops when every expected packet has
 * arrived, after idleS without a packet, or after maxS in all.
 */
export async function startSink(
  lab: Lab,
  o: {
    role: string;
    iface: string;
    groups: string[];
    port: number;
    expectPerStream?: number;
    countTotal?: number;
    cpu: number;
    idleS: number;
    maxS: number;
  },
): Promise<SinkHandle> {
  const argv = [
    ...mcrArgv(),
    "sink",
    "--interface",
    o.iface,
    ...o.groups.flatMap((g) => ["--group", addressPort(g, o.port)]),
    "--timeout",
    String(o.idleS),
    "--duration",
    String(o.maxS),
    "--json",
  ];
  if (o.expectPerStream) argv.push("--expect", String(o.expectPerStream));
  if (o.countTotal) argv.push("--count", String(o.countTotal));
  const p = lab.spawn(o.role, argv, { cpu: o.cpu, nice: SINK_NICE, stdin: "ignore" });
  const killer = setTimeout(() => p.kill("SIGKILL"), (o.maxS + 10) * 1000);
  const done = collect(p).then(({ out, err, code }) => {
    clearTimeout(killer);
    const j = lastJson<SinkResult>(out);
    if (!j) throw new Error(`mcr sink exited ${code} without a summary: ${err.trim().slice(-500)}`);
    return j;
  });
  done.catch(() => {});
  await waitListening(lab, o.role, o.port, o.groups).catch(async (e) => {
    p.kill("SIGKILL");
    const { err } = await collect(p).catch(() => ({ err: "" }));
    throw new Error(`${(e as Error).message}; sink stderr: ${err.trim().slice(-500)}`);
  });
  return { pid: p.pid, done, stop: async () => void p.kill("SIGINT") };
}

/** `mcr gen`, pinned to `cpu`, to one destination group:port out of `iface`. */
export async function runMcrGen(
  lab: Lab,
  o: {
    role: string;
    iface: string;
    source: string;
    dest: string;
    rate: number;
    count: number;
    size: number;
    cpu: number;
    ttl?: number; // kernel forwarding drops a multicast datagram whose TTL would reach 0
    /** mcr gen --mode: socket sends through the kernel's UDP (checksums left unfinished on veth). */
    mode?: "socket" | "packet";
    /**
     * One RTP stream on every destination of `dest` (a leg each, `--legs N`), each leg dropping
     * lossPct at random on its own; rate and count are then the stream's, which every leg carries.
     */
    legs?: { lossPct: number; seed: number };
    onSpawn?: (pid: number) => void;
  },
): Promise<GenSummary> {
  const nLegs = o.dest.split(",").length;
  const argv = [
    ...mcrArgv(),
    "gen",
    "--dest",
    o.dest,
    "--interface",
    o.iface,
    "--source",
    o.source,
    "--rate",
    String(Math.round(o.rate)),
    "--count",
    String(o.count),
    "--size",
    String(o.size),
    ...(o.ttl ? ["--ttl", String(o.ttl)] : []),
    ...(o.mode && !o.legs ? ["--mode", o.mode] : []),
    ...(o.legs
      ? ["--legs", String(nLegs), "--loss", `${o.legs.lossPct}%`, "--seed", String(o.legs.seed), "--mode", "packet"]
      : []),
    "--json",
  ];
  const t0 = Date.now();
  const p = lab.spawn(o.role, argv, { cpu: o.cpu, nice: GEN_NICE, stdin: "ignore" });
  o.onSpawn?.(p.pid);
  const limitMs = (o.count / Math.max(o.rate, 1000)) * 1000 * 3 + 15000;
  const killer = setTimeout(() => p.kill("SIGINT"), limitMs);
  const { out, err, code } = await collect(p);
  clearTimeout(killer);
  const t1 = Date.now();
  const j = lastJson<GenResult>(out);
  if (!j) throw new Error(`mcr gen exited ${code} without a summary: ${err.trim().slice(-500)}`);
  const started = Date.parse(j.startedAt);
  // With legs gen's figures are the frames of every leg: the stream's rate is its own packets'.
  const achievedPps = j.legs && j.durationS > 0 ? Math.round((o.count - 1) / j.durationS) : j.achievedPps;
  const complete = j.legs ? j.legs.perLeg.every((l) => l.packets + l.dropped >= o.count) : j.packets >= o.count;
  return {
    tool: "mcr gen",
    packets: j.packets,
    sendErrors: j.sendErrors,
    offeredPps: o.rate,
    achievedPps,
    // rate 0 is flat out: whatever it reached is the rate
    reachedRate: complete && (o.rate <= 0 || (achievedPps >= 0.98 * o.rate && achievedPps <= 1.05 * o.rate)),
    durationS: j.durationS,
    maxLagUs: j.maxLagUs,
    // startedAt is taken just before the first send; fall back on the process window.
    startedAtMs: Number.isFinite(started) ? started : t0,
    endedAtMs: Number.isFinite(started) ? started + j.durationS * 1000 : t1,
    ...(j.legs ? { legs: j.legs } : {}),
  };
}

/**
 * trafgen (netsniff-ng), a generator that is not mcr's: crafted Ethernet/IPv4/UDP frames with a
 * fixed payload, pinned to one CPU. The sink counts these as foreign datagrams (no mcr header), so
 * loss is 1 - received/sent.
 *
 * trafgen 0.6.8's --rate is a one-second token bucket: it sends a second's worth of frames back to
 * back at full speed, then sleeps out the second (measured: 149,999 frames at "150000pps" leave in
 * 0.26 s; 160,000 take 1.04 s). So a paced trafgen run is a burst test at the average rate asked,
 * and a run shorter than a second is not paced at all. --gap paces frame by frame but tops out near
 * 40,000 pps here (a nanosleep per frame). rate <= 0: no --rate, as fast as trafgen can.
 */
export async function runTrafgen(
  lab: Lab,
  o: {
    role: string;
    iface: string;
    source: string;
    srcMac: string;
    group: string;
    port: number;
    rate: number;
    count: number;
    size: number;
    cpu: number;
    workDir: string;
    onSpawn?: (pid: number) => void;
  },
): Promise<GenSummary> {
  const g = o.group.split(".").map(Number);
  const mac = `01:00:5e:${(g[1]! & 0x7f).toString(16).padStart(2, "0")}:${g[2]!.toString(16).padStart(2, "0")}:${g[3]!.toString(16).padStart(2, "0")}`;
  const cfg = join(o.workDir, `trafgen-${process.pid}-${o.size}.cfg`);
  // The UDP checksum is computed by trafgen (csum is automatic for the ipv4()/udp() helpers);
  // the payload is a fixed pattern of `size` bytes.
  writeFileSync(
    cfg,
    `{ eth(da=${mac}, sa=${o.srcMac}), ipv4(sa=${o.source}, da=${o.group}, ttl=1, id=dinc()), udp(sp=40000, dp=${o.port}), fill(0x5a, ${o.size}) }\n`,
  );
  const argv = [
    "trafgen",
    "-o",
    o.iface,
    "-i",
    cfg,
    "-n",
    String(o.count),
    ...(o.rate > 0 ? ["-b", `${Math.round(o.rate)}pps`] : []),
    "-P",
    "1",
    "-Q",
    "-C",
  ];
  const t0 = Date.now();
  const p = lab.spawn(o.role, argv, { cpu: o.cpu, nice: TRAFGEN_NICE, stdin: "ignore" });
  o.onSpawn?.(p.pid);
  const limitMs = (o.count / (o.rate > 0 ? Math.max(o.rate, 1000) : 100_000)) * 1000 * 3 + 15000;
  const killer = setTimeout(() => p.kill("SIGINT"), limitMs);
  const { out, err, code } = await collect(p);
  clearTimeout(killer);
  const t1 = Date.now();
  const m = /(\d+)\s+packets outgoing/.exec(out + err);
  if (code !== 0 || !m) throw new Error(`trafgen exited ${code}: ${(out + err).trim().slice(-500)}`);
  const packets = Number(m[1]);
  // trafgen prints no timing: the process's lifetime less its start-up (~10 ms) bounds the send time.
  const durationS = Math.max((t1 - t0) / 1000 - 0.01, 1e-3);
  const achievedPps = Math.round(packets / durationS);
  return {
    tool: "trafgen",
    packets,
    sendErrors: 0,
    offeredPps: o.rate > 0 ? o.rate : achievedPps,
    achievedPps,
    reachedRate: packets >= o.count && (o.rate <= 0 || (achievedPps >= 0.98 * o.rate && achievedPps <= 1.05 * o.rate)),
    durationS,
    startedAtMs: t0,
    endedAtMs: t1,
  };
}

export function haveTrafgen(): boolean {
  return sh(["sh", "-c", "command -v trafgen"]).code === 0 || existsSync("/usr/sbin/trafgen");
}

export function macOf(lab: Lab, role: string, iface: string): string {
  return lab.exec(role, ["cat", `/sys/class/net/${iface}/address`]).stdout.trim();
}
