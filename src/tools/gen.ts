// `mcr gen`: the schedule and the report; the sending itself is shim/tools/udp_tx.c (sendmmsg).
import { EX, McrError } from "../errors.ts";
import { errnoName, ifIndex, openUdpSender, ShimError } from "../native/shim.ts";
import { type Endpoint, formatEndpoint as formatAddr, isMulticastAddr as isMulticast } from "../values/endpoint.ts";
import { address16 } from "../values/ipv6.ts";

export interface GenOptions {
  dests: Endpoint[]; // IPv4 and IPv6 alike, each its own socket (or frame header)
  interface?: string;
  source?: string; // of the destinations' family
  sourcePort?: number;
  ttl: number; // 0: the kernel's default (1 for multicast, 64 for unicast)
  size: number;
  rate: number; // packets/s over all destinations; 0 = as fast as possible
  count?: number; // packets over all destinations
  durationS?: number;
  batch: number;
  loop?: boolean;
  /** socket: UDP sockets; packet: frames on AF_PACKET; auto: packet where it can (see resolveMode) */
  mode: "auto" | "socket" | "packet";
  tickUs: number; // the shortest sleep between batches
  /**
   * --legs: every packet to each destination (a leg, 2..4 of them) as one RTP stream, rather than
   * to one in turn; rate and count are then the stream's, which each leg carries.
   */
  legs?: GenLegs;
}

export interface GenLegs {
  /** Each leg's multicast interface (absent: the one --interface); one per destination. */
  interfaces?: string[];
  lossPpm: number; // each leg drops a packet with this probability, on its own
  seed: number; // u32: the same seed drops the same packets
  rtpSeqStart: number; // the RTP sequence number of packet 0
}

export interface GenResult {
  mode: "socket" | "packet";
  dests: { dest: string; packets: number }[];
  runId: string;
  size: number;
  packets: number; // handed to the kernel
  sendErrors: number; // refused by sendmmsg (their sequence numbers are skipped)
  lastError?: string;
  bytes: number; // UDP payload bytes
  offeredPps: number | null; // null: as fast as possible
  achievedPps: number;
  payloadMbps: number;
  durationS: number; // first send to last send
  maxLagUs: number; // how far the sender fell behind its schedule, at worst
  reachedRate: boolean | null; // achieved >= 99% of offered (null when unpaced or under 2 packets)
  batches: number;
  syscalls: number;
  cpuPct: number; // this process's CPU time (the kernel's send path included) over the run, % of one core
  stoppedBy: "count" | "duration" | "signal";
  startedAt: string;
  /** --legs: the RTP stream and what each leg sent and dropped. */
  legs?: {
    ssrc: string; // the run id
    rtpSeqStart: number;
    lossPct: number; // per leg
    seed: number;
    lostOnAllLegs: number; // packets no leg sent: what a merge of the legs cannot recover
    perLeg: { dest: string; interface: string | null; packets: number; dropped: number }[];
  };
}

/**
 * Packet mode sends about twice the packets per CPU second, but it needs an interface to send on
 * and multicast destinations (a unicast one would need its neighbour's MAC), and it never loops
 * back to this host's own sockets.
 */
export function resolveMode(
  o: Pick<GenOptions, "mode" | "dests" | "interface" | "loop" | "legs">,
): "socket" | "packet" {
  // One AF_PACKET socket sends on one interface: legs on several need sockets.
  const ifs = new Set([...(o.interface !== undefined ? [o.interface] : []), ...(o.legs?.interfaces ?? [])]);
  const iface = ifs.size === 1 ? [...ifs][0] : undefined;
  const possible = iface !== undefined && o.dests.every((d) => isMulticast(d.addr));
  if (o.mode === "packet") {
    if (ifs.size > 1)
      throw new McrError("--mode packet: legs on several interfaces need --mode socket", EX.USAGE, "mode");
    if (iface === undefined) throw new McrError("--mode packet: needs --interface", EX.USAGE, "mode");
    const u = o.dests.find((d) => !isMulticast(d.addr));
    if (u)
      throw new McrError(
        `--mode packet: ${formatAddr(u)} is not multicast (unicast needs --mode socket)`,
        EX.USAGE,
        "mode",
      );
    if (o.loop) throw new McrError("--mode packet: --loop needs --mode socket", EX.USAGE, "mode");
    return "packet";
  }
  if (o.mode === "socket") return "socket";
  return possible && !o.loop ? "packet" : "socket";
}

const BUDGET_MS = 50; // back to the event loop (signals) at least this often

const tick = () => new Promise<void>((r) => setImmediate(r));

export async function runGen(o: GenOptions): Promise<GenResult> {
  const indexOf = (name: string) => {
    const i = ifIndex(name);
    if (i === 0)
      throw new McrError(`--interface: no interface "${name}" in this network namespace`, EX.USAGE, "interface");
    return i;
  };
  const legIfs = o.legs?.interfaces?.map(indexOf);
  // The sender opens on the first leg's interface (packet mode binds its one socket there); the
  // legs then point each socket at its own.
  const main = o.interface ?? o.legs?.interfaces?.[0];
  const ifindex = main !== undefined ? indexOf(main) : 0;
  const count = o.count ?? (o.rate > 0 && o.durationS !== undefined ? Math.round(o.durationS * o.rate) : 0);
  const timeLimited = o.durationS !== undefined && !(o.rate > 0 && o.count === undefined);
  const runId = crypto.getRandomValues(new Uint32Array(1))[0]!;
  let mode = resolveMode(o);

  const open = (packet: boolean) =>
    openUdpSender({
      dests: o.dests.map((d) => ({ addr16: address16(d.addr), port: d.port, text: formatAddr(d) })),
      source: o.source !== undefined ? address16(o.source) : undefined,
      sourcePort: o.sourcePort,
      ifindex,
      ttl: o.ttl,
      size: o.size,
      runId,
      batch: o.batch,
      loop: o.loop,
      packet,
      ...(o.legs
        ? {
            legs: {
              ifindex: legIfs ?? o.dests.map(() => 0),
              lossPpm: o.legs.lossPpm,
              seed: o.legs.seed,
              rtpSeq0: o.legs.rtpSeqStart,
            },
          }
        : {}),
    });
  let sender;
  try {
    try {
      sender = open(mode === "packet");
    } catch (e) {
      // auto: a loopback interface (EOPNOTSUPP) or no CAP_NET_RAW (EPERM) leaves socket mode
      if (o.mode !== "auto" || mode !== "packet" || !(e instanceof ShimError) || (e.errno !== 95 && e.errno !== 1))
        throw e;
      mode = "socket";
      sender = open(false);
    }
  } catch (e) {
    throw asOperatorError(e, o, mode);
  }
  let stop = false;
  const onSignal = () => void (stop = true);
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  const startedAt = new Date();
  let stoppedBy: GenResult["stoppedBy"] = "count";
  try {
    const cpu0 = process.cpuUsage();
    sender.start(o.rate, count, o.tickUs);
    const t0 = performance.now();
    let handled = 0;
    for (;;) {
      let budget = BUDGET_MS;
      if (timeLimited) {
        const left = o.durationS! * 1000 - (performance.now() - t0);
        if (left <= 0) {
          stoppedBy = "duration";
          break;
        }
        budget = Math.min(budget, Math.ceil(left));
      }
      try {
        handled += sender.run(budget);
      } catch (e) {
        throw asOperatorError(e, o, mode);
      }
      if (count > 0 && handled >= count) break;
      await tick();
      if (stop) {
        stoppedBy = "signal";
        break;
      }
    }
    const cpu = process.cpuUsage(cpu0);
    const wallMs = performance.now() - t0;
    const st = sender.stats();
    const perDest = sender.perDest();
    const legStats = sender.legStats();
    const durationS = st.packets > 0 ? Number(st.lastNs - st.firstNs) / 1e9 : 0;
    // the rate over the intervals between the first and the last packet
    const achievedPps = durationS > 0 ? (st.packets + st.errors - 1) / durationS : 0;
    return {
      mode,
      dests: o.dests.map((d, i) => ({ dest: formatAddr(d), packets: perDest[i]! })),
      runId: runId.toString(16).padStart(8, "0"),
      size: o.size,
      packets: st.packets,
      sendErrors: st.errors,
      lastError: st.errors > 0 ? errnoName(st.lastErrno) : undefined,
      bytes: st.bytes,
      offeredPps: o.rate > 0 ? o.rate : null,
      achievedPps: Math.round(achievedPps),
      payloadMbps: durationS > 0 ? Math.round((st.bytes * 8) / durationS / 1e4) / 100 : 0,
      durationS: Math.round(durationS * 1e6) / 1e6,
      maxLagUs: Math.round(st.maxLagNs / 100) / 10,
      reachedRate: o.rate > 0 && st.packets + st.errors >= 2 ? achievedPps >= 0.99 * o.rate : null,
      batches: st.batches,
      syscalls: st.syscalls,
      cpuPct: Math.round(((cpu.user + cpu.system) / 1000 / wallMs) * 1000) / 10,
      stoppedBy,
      startedAt: startedAt.toISOString(),
      ...(o.legs && legStats
        ? {
            legs: {
              ssrc: runId.toString(16).padStart(8, "0"),
              rtpSeqStart: o.legs.rtpSeqStart,
              lossPct: o.legs.lossPpm / 10_000,
              seed: o.legs.seed,
              lostOnAllLegs: legStats.lostOnAll,
              perLeg: o.dests.map((d, i) => ({
                dest: formatAddr(d),
                interface: o.legs!.interfaces?.[i] ?? o.interface ?? null,
                packets: perDest[i]!,
                dropped: legStats.dropped[i]!,
              })),
            },
          }
        : {}),
    };
  } finally {
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
    sender.close();
  }
}

function asOperatorError(e: unknown, o: GenOptions, mode: "socket" | "packet"): unknown {
  if (!(e instanceof ShimError)) return e;
  const where = o.dests.map(formatAddr).join(", ");
  const hint: Record<number, string> = {
    95: mode === "packet" ? `--mode packet does not work on a loopback interface (use --mode socket)` : "not supported",
    1: mode === "packet" ? "--mode packet needs CAP_NET_RAW" : "not permitted",
    100: `${o.interface ?? "the interface"} is down`,
    6: `${o.interface ?? "the interface"} is down (ENXIO)`,
    99: o.source
      ? `--source ${o.source} is not an address of this host`
      : o.dests.some((d) => d.addr.includes(":")) && mode === "packet"
        ? `${o.interface ?? "the interface"} has no IPv6 address to send from (a global one; link-local for ff02::)`
        : "no such local address",
    97: `--source ${o.source ?? ""} is not of the destinations' family (one --source serves IPv4 or IPv6 destinations, not both)`,
    101:
      isMulticast(o.dests[0]!.addr) && !o.interface
        ? "no route to the group: give --interface"
        : "no route to the destination",
    19: "the interface has gone",
    13: "sending to a broadcast address is not allowed",
    90: `--size ${o.size} does not fit the interface's MTU (payload + 28 bytes of IPv4 and UDP headers, 48 of IPv6 and UDP)`,
  };
  // errors an option caused are usage errors; the rest are the system's
  const usage = e.errno === 95 || e.errno === 90 || e.errno === 97 || (e.errno === 99 && o.source !== undefined);
  const code = e.errno === 1 || e.errno === 13 ? EX.NOPERM : usage ? EX.USAGE : EX.OSERR;
  const name = e.errno === 90 ? "EMSGSIZE (message too long)" : errnoName(e.errno);
  return new McrError(`${e.what} (to ${where}): ${name}${hint[e.errno] ? `: ${hint[e.errno]}` : ""}`, code);
}

export function formatGen(r: GenResult): string {
  const rate = r.offeredPps === null ? "as fast as possible" : `${r.offeredPps} pps offered`;
  const lines = [
    `sent ${r.packets} packets of ${r.size} bytes (${(r.bytes / 1e6).toFixed(1)} MB) to ${r.dests.map((d) => d.dest).join(", ")} in ${r.durationS.toFixed(3)} s (${r.mode} mode)`,
    `rate: ${rate}, ${r.achievedPps} pps achieved (${r.payloadMbps} Mbit/s payload)${r.reachedRate === false ? "  BELOW THE OFFERED RATE" : ""}`,
    `schedule: fell behind by ${r.maxLagUs} us at worst; ${r.batches} batches, ${r.syscalls} sendmmsg calls; CPU ${r.cpuPct}% of a core`,
  ];
  if (r.sendErrors > 0) lines.push(`send errors: ${r.sendErrors} (last: ${r.lastError})`);
  if (r.legs) {
    const l = r.legs;
    lines.push(
      `RTP stream ssrc ${l.ssrc} from sequence ${l.rtpSeqStart}; loss ${l.lossPct}% per leg (seed ${l.seed}); lost on every leg: ${l.lostOnAllLegs}`,
    );
    for (const x of l.perLeg)
      lines.push(`  leg ${x.dest}${x.interface ? ` via ${x.interface}` : ""}: sent ${x.packets}, dropped ${x.dropped}`);
  } else if (r.dests.length > 1)
    lines.push(`per destination: ${r.dests.map((d) => `${d.dest} ${d.packets}`).join(", ")}`);
  lines.push(`run id ${r.runId}, stopped by ${r.stoppedBy}`);
  return lines.join("\n");
}
