// `mcr sink`: the receive loop and the report. recvmmsg and the payload checks are in
// shim/tools/udp_rx.c; the counting is accounting.ts; this file moves records from one to the other.
import { EX, McrError } from "../errors.ts";
import { UDP_RECORD as R, UDP_RECORD_FLAG } from "../native/abi.ts";
import { errnoName, ifIndex, openUdpReceiver, ShimError } from "../native/shim.ts";
import { SinkAccounting, type LatencySummary, type StreamSummary, type Totals } from "./accounting.ts";
import { RtpAccounting, type RtpStreamSummary } from "./rtp.ts";
import { type Endpoint, formatEndpoint as formatAddr } from "../values/endpoint.ts";
import { address16 } from "../values/ipv6.ts";

export interface SinkOptions {
  entries: Endpoint[]; // groups to join and unicast addresses to listen on, IPv4 or IPv6
  interface?: string;
  rcvbuf: number;
  count?: number; // stop after this many unique packets
  timeoutS?: number; // stop after this long without a packet (counted from the start until one arrives)
  durationS?: number; // stop after this long in all
  expect?: number; // packets each stream was sent (from seq 0): counts a lost head and tail
}

export interface SinkResult extends Totals {
  entries: string[];
  interface: string | null;
  integrityFailures: number; // corrupt + truncated
  bytes: number;
  latency: LatencySummary;
  firstPacketAt: string | null;
  durationS: number; // first packet to last packet
  ratePps: number; // datagrams over that time
  socketDrops: number; // datagrams the kernel dropped at these sockets (full receive buffer)
  cpuPct: number; // this process's CPU time from the first packet to the last, % of one core
  rcvbuf: number;
  stoppedBy: "count" | "timeout" | "duration" | "signal";
  streams: (Omit<StreamSummary, "entry" | "runId"> & { entry: string; runId: string })[];
  /** RTP streams (any datagram with an RTP version 2 header), by listen entry and SSRC. */
  rtp: (Omit<RtpStreamSummary, "entry" | "ssrc"> & { entry: string; ssrc: string })[];
}

const tick = () => new Promise<void>((r) => setImmediate(r));
const sleep1ms = () => new Promise<void>((r) => setTimeout(r, 1));
const LINGER_BELOW = 256;
// Record fields as indices into the views of their element size (byte offset / element bytes).
const REC = { f64: R.BYTES / 8, u32: R.BYTES / 4, u16: R.BYTES / 2, u8: R.BYTES };
const SEQ = R.SEQ / 8;
const LATENCY = R.LATENCY_NS / 8;
const RUN_ID = R.RUN_ID / 4;
const STREAM = R.STREAM / 2;
const ENTRY = R.ENTRY / 2;
const RTP_SEQ = R.RTP_SEQ / 2;

export async function runSink(o: SinkOptions, onReady?: () => void): Promise<SinkResult> {
  let ifindex = 0;
  if (o.interface !== undefined) {
    ifindex = ifIndex(o.interface);
    if (ifindex === 0)
      throw new McrError(`--interface: no interface "${o.interface}" in this network namespace`, EX.USAGE, "interface");
  }
  let rx;
  try {
    const entries = o.entries.map((e) => ({ addr16: address16(e.addr), port: e.port, text: formatAddr(e) }));
    rx = openUdpReceiver({ entries, ifindex, rcvbuf: o.rcvbuf });
  } catch (e) {
    if (!(e instanceof ShimError)) throw e;
    const hint: Record<number, string> = {
      98: "the port is taken by a socket without SO_REUSEADDR",
      99: "not an address of this host",
      19: o.interface === undefined ? "no route to choose an interface by: give --interface" : "no such interface",
      105: "too many groups on one port for net.ipv4.igmp_max_memberships (default 20) or net.ipv6.mld_max_memberships (64)",
      7: "too many different ports",
    };
    throw new McrError(
      `${e.what}: ${errnoName(e.errno)}${hint[e.errno] ? `: ${hint[e.errno]}` : ""}`,
      e.errno === 1 ? EX.NOPERM : EX.OSERR,
    );
  }
  const lingerOk = rx.stats().rcvbuf >= 4 << 20;
  const acc = new SinkAccounting({ expect: o.expect, entries: o.entries.length });
  const rtp = new RtpAccounting();
  let stop = false;
  const onSignal = () => void (stop = true);
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  const { f64, u32, u16, u8 } = rx.records;
  const start = performance.now();
  let cpuFirst: NodeJS.CpuUsage | undefined;
  let cpuLast: NodeJS.CpuUsage | undefined;
  let first: number | undefined;
  let firstWall: Date | undefined;
  let last = start;
  let unique = 0;
  let stoppedBy: SinkResult["stoppedBy"] = "signal";
  try {
    onReady?.();
    for (;;) {
      const now = performance.now();
      if (o.durationS !== undefined && now - start >= o.durationS * 1000) {
        stoppedBy = "duration";
        break;
      }
      if (o.timeoutS !== undefined && now - last >= o.timeoutS * 1000) {
        stoppedBy = "timeout";
        break;
      }
      let wait = 100;
      if (o.durationS !== undefined) wait = Math.min(wait, o.durationS * 1000 - (now - start));
      if (o.timeoutS !== undefined) wait = Math.min(wait, o.timeoutS * 1000 - (now - last));
      const n = rx.recv(Math.max(1, Math.ceil(wait)));
      if (n > 0) {
        last = performance.now();
        if (first === undefined) {
          first = last;
          firstWall = new Date();
          cpuFirst = process.cpuUsage();
        }
        for (let k = 0; k < n; k++) {
          const b8 = k * REC.u8;
          const b16 = k * REC.u16;
          const b32 = k * REC.u32;
          const b64 = k * REC.f64;
          const ok = acc.add(
            u16[b16 + ENTRY]!,
            u32[b32 + RUN_ID]!,
            u16[b16 + STREAM]!,
            f64[b64 + SEQ]!,
            f64[b64 + LATENCY]!,
            u8[b8 + R.STATUS]!,
            (u8[b8 + R.FLAGS]! & UDP_RECORD_FLAG.KERNEL_TS) !== 0,
          );
          if (ok) unique++;
          if (u8[b8 + R.FLAGS]! & UDP_RECORD_FLAG.RTP)
            rtp.add(u16[b16 + ENTRY]!, u32[b32 + RUN_ID]!, u16[b16 + RTP_SEQ]!);
        }
        cpuLast = process.cpuUsage();
        if (o.count !== undefined && unique >= o.count) {
          stoppedBy = "count";
          break;
        }
      }
      // A short batch means the sink is ahead of the stream: rather than wake for every few packets
      // (CPU that a generator on the same core could use), let a millisecond's worth queue up. The
      // kernel timestamps the packets on arrival, so latency figures do not change; a receive
      // buffer under 4 MiB could overflow meanwhile, so then the loop goes straight on.
      if (n > 0 && n < LINGER_BELOW && lingerOk) await sleep1ms();
      else await tick();
      if (stop) break;
    }
    const cpuUs = cpuFirst && cpuLast ? cpuLast.user + cpuLast.system - cpuFirst.user - cpuFirst.system : 0;
    const st = rx.stats();
    const t = acc.totals();
    const durationS = first === undefined ? 0 : (last - first) / 1000;
    return {
      entries: o.entries.map(formatAddr),
      interface: o.interface ?? null,
      ...t,
      integrityFailures: t.corrupt + t.truncated,
      bytes: st.bytes,
      latency: acc.latencySummary(),
      firstPacketAt: firstWall?.toISOString() ?? null,
      durationS: Math.round(durationS * 1e6) / 1e6,
      ratePps: durationS > 0 ? Math.round(t.datagrams / durationS) : 0,
      socketDrops: st.socketDrops,
      cpuPct: first !== undefined && last > first ? Math.round((cpuUs / 1000 / (last - first)) * 1000) / 10 : 0,
      rcvbuf: st.rcvbuf,
      stoppedBy,
      streams: acc.streams().map((s) => ({
        ...s,
        entry: s.entry < o.entries.length ? formatAddr(o.entries[s.entry]!) : "?",
        runId: s.runId.toString(16).padStart(8, "0"),
      })),
      rtp: rtp.summaries().map((s) => ({
        ...s,
        entry: s.entry < o.entries.length ? formatAddr(o.entries[s.entry]!) : "?",
        ssrc: s.ssrc.toString(16).padStart(8, "0"),
      })),
    };
  } finally {
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
    rx.close();
  }
}

export function formatSink(r: SinkResult): string {
  const l = r.latency;
  const pct = (r.lossRatio * 100).toFixed(r.lossRatio > 0 && r.lossRatio < 0.001 ? 4 : 2);
  const lines = [
    `received ${r.datagrams} datagrams on ${r.entries.join(", ")}${r.interface ? ` via ${r.interface}` : ""} in ${r.durationS.toFixed(3)} s (${r.ratePps} pps)`,
    `unique ${r.unique}, lost ${r.lost} (${pct}%), duplicates ${r.duplicates}, reordered ${r.reordered}`,
    `integrity failures ${r.integrityFailures} (corrupt ${r.corrupt}, truncated ${r.truncated}), foreign ${r.foreign}${r.unmatched ? `, unmatched ${r.unmatched}` : ""}`,
    l.samples > 0
      ? `latency (us): p50 ${l.p50Us}, p99 ${l.p99Us}, p99.9 ${l.p999Us}, max ${l.maxUs}, min ${l.minUs}, mean ${l.meanUs} (${l.kernelTimestamps === l.samples ? "kernel receive timestamps" : `${l.kernelTimestamps} of ${l.samples} by kernel timestamp`})`
      : "latency: no samples",
    `socket drops ${r.socketDrops} (receive buffer ${r.rcvbuf} bytes); CPU ${r.cpuPct}% of a core; stopped by ${r.stoppedBy}`,
  ];
  for (const s of r.rtp)
    lines.push(
      `RTP ssrc ${s.ssrc} on ${s.entry}: packets ${s.packets}, unique ${s.unique}, lost ${s.lost}, duplicates ${s.duplicates}, out of order ${s.outOfOrder}, seq ${s.firstSeq}..${s.lastSeq}${s.wraps ? ` (${s.wraps} wrap${s.wraps > 1 ? "s" : ""})` : ""}`,
    );
  if (r.streams.length > 1)
    for (const s of r.streams)
      lines.push(
        `  ${s.entry} run ${s.runId} stream ${s.stream}: seq ${s.first}..${s.last}, unique ${s.unique}, lost ${s.lost}, dup ${s.duplicates}, reordered ${s.reordered}`,
      );
  return lines.join("\n");
}
