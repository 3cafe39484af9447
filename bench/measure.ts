// One measured run: a relay (or the bare wire), a sink, a generator, and everything counted
// around them. Every run starts its relay fresh and stops it afterwards, so runs are independent.
//
// What a run records, beyond the sink's loss and latency:
//   - the generator's achieved rate: short of the offered rate, the point is "generator-limited";
//   - interface counters along the path (`ip -s -j link`) and the UDP counters of the sink's and
//     the relay's namespaces (/proc/net/snmp: what reached sockets, what overflowed them);
//   - the relay's CPU (every process of its tree) over the generator's send window, each CPU's
//     busy share, and the CPU of every other user-space process on the machine: a run where that
//     exceeds DISTURBED_PCT, or where the generator fell short, is repeated (up to `attempts`),
//     and flagged if it stays so;
//   - the sink's own socket drops: a sink that could not keep up makes the point "sink-limited".
import { forksSince, otherLoad, softnetDrops, treeOf, TreeSampler, waitQuiet } from "./cpu.ts";
import {
  bareGroup,
  INPUT_PORT,
  inputGroup,
  OUTPUT_PORT,
  deliveredTo,
  inputDest,
  relayLabel,
  startRelay,
  type Placement,
  type Relay,
  type RelaySpec,
} from "./relays.ts";
import {
  diffCounters,
  diffUdp,
  readUdpCounters,
  snapshotCounters,
  type IfCounters,
  type Topology,
  type UdpCounters,
} from "./topology.ts";
import { macOf, runMcrGen, runTrafgen, startSink, type GenSummary } from "./traffic.ts";
import type { SinkResult } from "../src/tools/sink.ts";
import type { Lab } from "../test/helpers/lab.ts";
import { addressPort } from "../src/values/ipv6.ts";

export const GEN_CPU = 0;
export const SINK_CPU = 0;
export const RELAY_CPUS = "1";
export const DISTURBED_PCT = 10; // % of a core used by other processes during a run
export const UNEXPLAINED_PCT = Number(process.env.BENCH_UNEXPLAINED_PCT ?? 20); // see TreeSampler.unexplained
export const QUIET_WAIT_MS = Number(process.env.BENCH_QUIET_WAIT_MS ?? 60000);

export interface RunSpec {
  /**
   * relay: through the relay; bare: gen -> sink over the bare wire (the latency baseline); wire: a
   * plain socket in the relay's namespace, on its input, receives the stream (no relay at all: the
   * reference for a relay's delivered rate).
   */
  path: "relay" | "bare" | "wire";
  relay?: RelaySpec; // for path "relay"
  generator: "mcr" | "trafgen";
  /**
   * stream (the default): the rule's stream. unrelated: unicast UDP to the relay's own address and
   * datagrams to groups and ports no rule wants, at `rate`; idle: the same stream sent over the bare
   * wire instead, so the relay sees nothing (the control for unrelated). mcr gen only.
   */
  traffic?: "stream" | "unrelated" | "idle";
  ttl?: number; // the generator's IP TTL (kernel forwarding needs 2 or more)
  genMode?: "socket" | "packet"; // mcr gen --mode (default auto: packet frames, complete checksums)
  rate: number;
  count: number;
  size: number;
  outputs: number; // fan-out (streams the sink listens to)
  /** 6: IPv6 in and out, over scenario A's IPv6 lab (mcr gen and mcr only); absent: IPv4. */
  family?: 6;
  /**
   * A merge relay's stream (issue 14): one RTP stream on the rule's two legs (mcr gen --legs 2),
   * each dropping lossPct at random on its own, from `seed`; rate and count are each leg's.
   */
  legs?: { lossPct: number; seed: number };
}

export interface RunResult {
  scenario: string;
  label: string; // "mcr 1w", "socat", "bare"
  spec: RunSpec;
  attempt: number;
  at: string;
  gen: GenSummary;
  sink: SinkResult;
  delivered: number; // unique packets at the sink (datagrams for trafgen)
  expected: number; // packets sent x outputs
  lossRatio: number; // end to end: 1 - delivered / expected
  sinkDrops: number; // dropped at the sink's socket (full receive buffer)
  /**
   * Loss less what the sink's own socket dropped (SO_RXQ_OVFL, an exact kernel count): what the
   * relay and the wires lost. Equal to lossRatio unless the sink fell behind (flags.sinkLimited).
   */
  relayLossRatio: number;
  relayCpu?: { percent: number; processes: { pid: number; comm: string; percent: number }[] };
  /** mcr's workers only (/proc/<worker pid>/stat, over the send window), % of one core. */
  workerCpu?: number;
  genCpu: { percent: number };
  sinkCpu: { percent: number };
  softnetDrops: number[]; // per CPU: backlog queue full (netdev_max_backlog)
  waitedForQuietMs: number;
  wallS: number; // the whole run: relay start to relay stop
  cpus: Record<string, { busy: number; softirq: number }>;
  otherLoad: { percent: number; top: { pid: number; comm: string; percent: number }[] };
  unexplainedCpu: number; // % of a core busy on the CPUs but not in any process we know (see TreeSampler.unexplained)
  forks: number; // processes created on the machine during the run (/proc/stat "processes")
  interfaces: Record<string, IfCounters>;
  udpSink: UdpCounters;
  udpRelay: UdpCounters;
  mcr?: {
    ringDrops?: number;
    ringPackets?: number;
    rxFrames?: number;
    txPackets?: number;
    txErrors?: number;
    rxForeign?: number;
    wakeups?: number;
    spins?: number;
    spinHits?: number;
    drops?: number; // all reasons together
    dropReasons?: Record<string, number>;
    workers?: { cpu?: number; pid?: number; rxFrames?: number; ringDrops?: number; restarts?: number }[];
  };
  placement?: Placement[];
  /**
   * Runs with legs: what no leg carried (gen's count, from the seed) against what the sink lost,
   * the sink's RTP report, and the merge's own counters over the run.
   */
  merge?: {
    lostOnAllLegs: number;
    sinkLost: number; // gen's sequence numbers the sink never got (head and tail included)
    rtp?: { packets: number; duplicates: number; outOfOrder: number; lost: number };
    out?: number;
    lost?: number;
    duplicates?: number; // over the legs
    late?: number;
    // Each rule's packets and each leg's counts over the run: where the frames went when the
    // merge is not exact.
    rules?: { id: number; packets: number; legs?: { packets: number; unique: number; duplicates: number }[] }[];
    // sinkLost less the sink's own socket drops (the kernel's exact count) === lostOnAllLegs, no
    // duplicate, nothing out of order
    exact: boolean;
  };
  flags: { generatorLimited: boolean; sinkLimited: boolean; disturbed: boolean };
  notes: string[];
}

const PREFLIGHT = { rate: 20000, count: 200 };

/** Checks the relay forwards at all before a long run is spent on it. */
async function preflight(lab: Lab, t: Topology, relay: RelaySpec, ttl?: number, legs?: RunSpec["legs"]): Promise<void> {
  const { groups, port } = deliveredTo(relay, t.family);
  const sink = await startSink(lab, {
    role: t.sink.role,
    iface: t.sink.iface,
    groups,
    port,
    countTotal: 1,
    cpu: SINK_CPU,
    idleS: 3,
    maxS: 5,
  });
  for (let i = 0; i < 3; i++) {
    await runMcrGen(lab, {
      role: t.gen.role,
      iface: t.gen.iface,
      source: t.gen.addr,
      dest: inputDest(t, relay),
      rate: PREFLIGHT.rate,
      count: PREFLIGHT.count,
      size: 256,
      cpu: GEN_CPU,
      ttl,
      ...(legs ? { legs: { ...legs, lossPct: 0 } } : {}),
    });
    const got = await Promise.race([sink.done.then((s) => s.datagrams), Bun.sleep(700).then(() => -1)]);
    if (got > 0) {
      // Let the last preflight packets drain: a straggler reaching the measured sink would be a
      // second stream there.
      await Bun.sleep(200);
      return;
    }
  }
  await sink.stop();
  const s = await sink.done.catch(() => undefined);
  throw new Error(
    `preflight: nothing arrived at the sink through the relay (${JSON.stringify(s ?? {}).slice(0, 300)})`,
  );
}

function mcrCounters(stats: unknown): RunResult["mcr"] {
  // `mcr stats --json`: totals over workers; read defensively, the report may grow.
  const s = stats as Record<string, unknown> | undefined;
  if (!s || typeof s !== "object") return undefined;
  const tot = (s.totals ?? s.total ?? s) as Record<string, unknown>;
  const reasons = s.drops && typeof s.drops === "object" ? (s.drops as Record<string, number>) : undefined;
  const num = (k: string) => (typeof tot[k] === "number" ? (tot[k] as number) : undefined);
  const workers = Array.isArray(s.workers)
    ? (s.workers as Record<string, unknown>[]).map((w) => ({
        cpu: w.cpu as number,
        pid: w.pid as number,
        rxFrames: w.rxFrames as number,
        ringDrops: w.ringDrops as number,
        restarts: w.restarts as number,
      }))
    : undefined;
  return {
    ringDrops: num("ringDrops"),
    ringPackets: num("ringPackets"),
    rxFrames: num("rxFrames"),
    txPackets: num("txPackets"),
    txErrors: num("txErrors"),
    rxForeign: num("rxForeign"),
    wakeups: num("wakeups"),
    spins: num("spins"),
    spinHits: num("spinHits"),
    drops: num("drops"),
    dropReasons: reasons,
    workers,
  };
}

async function once(lab: Lab, t: Topology, spec: RunSpec, workDir: string, attempt: number): Promise<RunResult> {
  const notes: string[] = [];
  const began = performance.now();
  // Other engineers' builds and tests share this machine: wait (a while) for them to calm down.
  const quiet = await waitQuiet(DISTURBED_PCT, QUIET_WAIT_MS);
  if (quiet.waitedMs > 1000)
    notes.push(
      `waited ${(quiet.waitedMs / 1000).toFixed(1)} s for other load to settle (last: ${quiet.percent}%: ${quiet.top})`,
    );
  let relay: Relay | undefined;
  const traffic = spec.traffic ?? "stream";
  // Where the stream is received: the bare wire's far end, the relay's input (wire), or the sink.
  if ((spec.family ?? 4) !== t.family)
    throw new Error(`a run of family ${spec.family ?? 4} on a lab of family ${t.family}`);
  if (t.family === 6 && (spec.generator !== "mcr" || traffic !== "stream"))
    throw new Error("IPv6 runs: mcr gen and the rule's stream only");
  const { groups, port } =
    spec.path === "bare"
      ? { groups: [bareGroup(t.family)], port: OUTPUT_PORT }
      : spec.path === "wire"
        ? { groups: [inputGroup(t.family)], port: INPUT_PORT }
        : deliveredTo(spec.relay!, t.family);
  try {
    if (spec.path === "relay") {
      relay = await startRelay(lab, t, spec.relay!, t.gen.addr);
      // A short run would cost less than its preflight: a broken relay shows as 100% loss anyway.
      if (spec.rate <= 0 || spec.count / spec.rate >= 1.5) await preflight(lab, t, spec.relay!, spec.ttl, spec.legs);
    }
    const sinkRole = spec.path === "wire" ? t.relay.role : t.sink.role;
    const sinkIface = spec.path === "bare" ? t.bare.sinkIface : spec.path === "wire" ? t.relay.inIface : t.sink.iface;
    // The wire's socket sits where the relay would: on the relay's CPU.
    const sinkCpu = spec.path === "wire" ? Number(RELAY_CPUS.split(",")[0]) : SINK_CPU;
    const sendS = spec.count / (spec.rate > 0 ? spec.rate : 100_000);
    // Unrelated traffic must not arrive at all: the sink expects nothing and waits out its idle time.
    const expectPer = spec.generator === "mcr" && traffic === "stream" ? spec.count : undefined;
    const sink = await startSink(lab, {
      role: sinkRole,
      iface: sinkIface,
      groups,
      port,
      expectPerStream: expectPer,
      countTotal: expectPer ? spec.count * groups.length : undefined,
      cpu: sinkCpu,
      idleS: 1.0,
      maxS: sendS * 3 + 20,
    });
    const relayBefore = relay?.stats();
    const mcrBefore = relay ? mcrCounters(relayBefore) : undefined;
    const if0 = snapshotCounters(lab, t);
    const udpSink0 = readUdpCounters(lab, sinkRole, t.family);
    const udpRelay0 = readUdpCounters(lab, t.relay.role, t.family);
    const softnet0 = softnetDrops();
    const forks0 = forksSince(0);
    const sampler = new TreeSampler();
    sampler.start(relay ? relay.rootPids() : []);
    sampler.add("sink", sink.pid);
    const onSpawn = (pid: number) => sampler.add("gen", pid);
    let gen: GenSummary;
    try {
      if (spec.generator === "mcr") {
        const overBare = spec.path === "bare" || traffic === "idle";
        gen = await runMcrGen(lab, {
          role: t.gen.role,
          iface: overBare ? t.bare.genIface : t.gen.iface,
          source: overBare ? t.bare.genAddr : t.gen.addr,
          dest: genDest(t, spec, traffic),
          rate: spec.rate,
          count: spec.count,
          size: spec.size,
          cpu: GEN_CPU,
          ttl: spec.ttl,
          mode: spec.genMode,
          ...(spec.legs ? { legs: spec.legs } : {}),
          onSpawn,
        });
      } else {
        const iface = spec.path === "bare" ? t.bare.genIface : t.gen.iface;
        gen = await runTrafgen(lab, {
          role: t.gen.role,
          iface,
          source: spec.path === "bare" ? t.bare.genAddr : t.gen.addr,
          srcMac: macOf(lab, t.gen.role, iface),
          group: spec.path === "bare" ? bareGroup() : inputGroup(),
          port: spec.path === "bare" ? OUTPUT_PORT : INPUT_PORT,
          rate: spec.rate,
          count: spec.count,
          size: spec.size,
          cpu: GEN_CPU,
          workDir,
          onSpawn,
        });
      }
    } finally {
      // A little past the last send: what the relay does with its backlog belongs to the run.
      await Bun.sleep(100);
      sampler.stop();
    }
    const sinkSummary = await sink.done;
    const softnet1 = softnetDrops();
    const if1 = snapshotCounters(lab, t);
    const udpSink = diffUdp(udpSink0, readUdpCounters(lab, sinkRole, t.family));
    const udpRelay = diffUdp(udpRelay0, readUdpCounters(lab, t.relay.role, t.family));
    const relayAfter = relay?.stats();
    const mcrAfter = relay ? mcrCounters(relayAfter) : undefined;

    const from = gen.startedAtMs;
    const to = gen.endedAtMs;
    const ours = new Set(treeOf([process.pid], sampler.after));
    for (const p of sampler.treePids()) ours.add(p);
    const other = otherLoad(sampler.before, sampler.after, ours, Math.max(sampler.span(), 1e-3));
    const unexplained = sampler.unexplained(from, to);
    const forks = forksSince(forks0);

    // With legs the stream is count packets, whatever each leg dropped.
    const streamPackets = gen.legs ? spec.count : gen.packets;
    const expected = traffic === "stream" ? streamPackets * groups.length : 0;
    const delivered = spec.generator === "mcr" ? sinkSummary.unique : sinkSummary.datagrams;
    const lossRatio =
      traffic !== "stream"
        ? 0
        : spec.generator === "mcr"
          ? sinkSummary.lossRatio
          : expected > 0
            ? Math.max(0, 1 - delivered / expected)
            : 1;
    const lost =
      traffic !== "stream" ? 0 : spec.generator === "mcr" ? sinkSummary.lost : Math.max(0, expected - delivered);
    const denominator = spec.generator === "mcr" ? sinkSummary.unique + sinkSummary.lost : expected;
    // The sink's own count (SO_RXQ_OVFL) arrives with the next datagram, so drops after the last
    // one delivered are missing from it; the sink namespace's UDP RcvbufErrors has them all (only
    // the sink receives UDP there).
    const sinkDrops = Math.max(
      sinkSummary.socketDrops,
      Number.isFinite(udpSink.rcvbufErrors) ? udpSink.rcvbufErrors : 0,
    );
    const relayLossRatio = denominator > 0 ? Math.max(0, lost - sinkDrops) / denominator : 0;

    let mcr: RunResult["mcr"];
    if (mcrBefore && mcrAfter) {
      const d = (k: keyof NonNullable<RunResult["mcr"]>) =>
        typeof mcrAfter[k] === "number" && typeof mcrBefore[k] === "number"
          ? (mcrAfter[k] as number) - (mcrBefore[k] as number)
          : undefined;
      mcr = {
        ringDrops: d("ringDrops"),
        ringPackets: d("ringPackets"),
        rxFrames: d("rxFrames"),
        txPackets: d("txPackets"),
        txErrors: d("txErrors"),
        rxForeign: d("rxForeign"),
        wakeups: d("wakeups"),
        spins: d("spins"),
        spinHits: d("spinHits"),
        drops: d("drops"),
        dropReasons: diffReasons(mcrBefore.dropReasons, mcrAfter.dropReasons),
        workers: mcrAfter.workers?.map((w, i) => ({
          ...w,
          rxFrames: (w.rxFrames ?? 0) - (mcrBefore.workers?.[i]?.rxFrames ?? 0),
        })),
      };
    }

    const merge = gen.legs
      ? mergeOf(gen.legs.lostOnAllLegs, sinkSummary, sinkDrops, relayBefore, relayAfter)
      : undefined;
    if (merge && !merge.exact)
      notes.push(
        `merge: the sink lost ${merge.sinkLost} where no leg carried ${merge.lostOnAllLegs}; RTP duplicates ${merge.rtp?.duplicates ?? "?"}, out of order ${merge.rtp?.outOfOrder ?? "?"}`,
      );
    const flags = {
      generatorLimited: !gen.reachedRate,
      sinkLimited: sinkDrops > 0,
      disturbed: other.percent > DISTURBED_PCT || unexplained > UNEXPLAINED_PCT,
    };
    if (flags.generatorLimited)
      notes.push(
        `generator offered ${gen.achievedPps} pps for ${spec.rate} asked (${gen.legs ? `${gen.packets} frames on ${gen.legs.perLeg.length} legs for a stream` : gen.packets} of ${spec.count} packets)`,
      );
    if (flags.sinkLimited)
      notes.push(`the sink's socket dropped ${sinkDrops} (its own count: ${sinkSummary.socketDrops})`);
    if (flags.disturbed)
      notes.push(
        `other processes used ${other.percent}% of a core (${other.top.map((p) => `${p.comm}(${p.pid}) ${p.percent}%`).join(", ")}); ${unexplained}% of a core unexplained; ${forks} processes started during the run`,
      );
    if (sinkSummary.integrityFailures > 0)
      notes.push(`${sinkSummary.integrityFailures} datagrams failed the payload check`);

    const relayCpu = relay ? sampler.tree(from, to) : undefined;
    const workerPids = new Set((mcrAfter?.workers ?? []).map((w) => w.pid));
    const workerCpu =
      relayCpu && workerPids.size
        ? Math.round(relayCpu.processes.filter((p) => workerPids.has(p.pid)).reduce((x, p) => x + p.percent, 0) * 10) /
          10
        : undefined;

    return {
      scenario: t.scenario,
      label: spec.path === "bare" ? "bare" : spec.path === "wire" ? "wire" : relayLabel(spec.relay!),
      spec,
      attempt,
      at: new Date(from).toISOString(),
      gen,
      sink: sinkSummary,
      delivered,
      expected,
      lossRatio,
      sinkDrops,
      relayLossRatio,
      relayCpu,
      workerCpu,
      genCpu: { percent: sampler.tree(from, to, "gen").percent },
      sinkCpu: { percent: sampler.tree(from, to, "sink").percent },
      softnetDrops: softnet1.map((v, i) => v - (softnet0[i] ?? 0)),
      waitedForQuietMs: quiet.waitedMs,
      wallS: Math.round(performance.now() - began) / 1000,
      cpus: sampler.cpus(from, to),
      otherLoad: other,
      unexplainedCpu: unexplained,
      forks,
      interfaces: diffCounters(if0, if1),
      udpSink,
      udpRelay,
      mcr,
      placement: relay?.placement(),
      ...(merge ? { merge } : {}),
      flags,
      notes,
    };
  } finally {
    if (relay) await relay.stop();
  }
}

/** Where the generator sends: the rule's stream, or traffic that no rule wants (see RunSpec.traffic). */
function genDest(t: Topology, spec: RunSpec, traffic: NonNullable<RunSpec["traffic"]>): string {
  if (traffic === "idle") return `${t.bare.sinkAddr}:${UNRELATED_PORT}`;
  if (traffic === "unrelated")
    // the relay's own address (no listener there), another group, the rule's group on another port
    return [`${t.relay.inAddr}:${UNRELATED_PORT}`, `239.5.5.5:${INPUT_PORT}`, `${inputGroup()}:${INPUT_PORT + 1}`].join(
      ",",
    );
  return spec.path === "bare" ? addressPort(bareGroup(t.family), OUTPUT_PORT) : inputDest(t, spec.relay);
}

export const UNRELATED_PORT = 7000;

/** A merge run's figures: the sink's against what no leg carried, the merge rule's counters over the run. */
function mergeOf(
  lostOnAllLegs: number,
  sink: SinkResult,
  sinkDrops: number,
  before: unknown,
  after: unknown,
): RunResult["merge"] {
  type L = { packets: number; unique: number; duplicates: number; late: number };
  type M = { out: number; lost: number; inputs: L[] };
  type R = { id: number; packets: number; merge?: M };
  const rulesOf = (s: unknown) => (s as { rules?: R[] } | undefined)?.rules ?? [];
  const of = (s: unknown) => rulesOf(s).find((r) => r.merge)?.merge;
  const [a, b] = [of(before), of(after)];
  const sum = (m: M | undefined, k: "duplicates" | "late") => m?.inputs.reduce((x, i) => x + i[k], 0) ?? 0;
  const rtp = sink.rtp.length === 1 ? sink.rtp[0]! : undefined;
  const d = (f: (m: M | undefined) => number) => (b ? f(b) - f(a) : undefined);
  return {
    lostOnAllLegs,
    sinkLost: sink.lost,
    ...(rtp
      ? { rtp: { packets: rtp.packets, duplicates: rtp.duplicates, outOfOrder: rtp.outOfOrder, lost: rtp.lost } }
      : {}),
    out: d((m) => m?.out ?? 0),
    lost: d((m) => m?.lost ?? 0),
    duplicates: d((m) => sum(m, "duplicates")),
    late: d((m) => sum(m, "late")),
    rules: rulesOf(after).map((r) => {
      const was = rulesOf(before).find((x) => x.id === r.id);
      const legs = r.merge?.inputs.map((l, i) => {
        const w = was?.merge?.inputs[i];
        return {
          packets: l.packets - (w?.packets ?? 0),
          unique: l.unique - (w?.unique ?? 0),
          duplicates: l.duplicates - (w?.duplicates ?? 0),
        };
      });
      return { id: r.id, packets: r.packets - (was?.packets ?? 0), ...(legs ? { legs } : {}) };
    }),
    exact:
      rtp !== undefined &&
      sink.lost - sinkDrops === lostOnAllLegs &&
      sink.duplicates === 0 &&
      rtp.duplicates === 0 &&
      rtp.outOfOrder === 0,
  };
}

function diffReasons(a?: Record<string, number>, b?: Record<string, number>): Record<string, number> | undefined {
  if (!b) return undefined;
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(b))
    if (typeof v === "number" && v - (a?.[k] ?? 0) !== 0) out[k] = v - (a?.[k] ?? 0);
  return out;
}

/**
 * A run, repeated when it was disturbed by other load or the generator fell short (the latter only
 * while the generator should manage the rate: `genMaxPps`). The last attempt is returned.
 */
export async function measure(
  lab: Lab,
  t: Topology,
  spec: RunSpec,
  o: { workDir: string; attempts?: number; genMaxPps?: number; log?: (s: string) => void },
): Promise<RunResult> {
  const attempts = o.attempts ?? 3;
  let r: RunResult | undefined;
  for (let a = 1; a <= attempts; a++) {
    r = await once(lab, t, spec, o.workDir, a);
    const genShouldCope = o.genMaxPps === undefined || spec.rate <= 0.95 * o.genMaxPps;
    const retry = r.flags.disturbed || (r.flags.generatorLimited && genShouldCope);
    o.log?.(line(r) + (retry && a < attempts ? "  -> repeating" : ""));
    if (!retry) break;
    await Bun.sleep(500);
  }
  return r!;
}

export function line(r: RunResult): string {
  const pct = (r.lossRatio * 100).toFixed(r.lossRatio > 0 && r.lossRatio < 0.001 ? 4 : 3);
  const cpu = r.relayCpu
    ? ` cpu ${r.relayCpu.percent}% (gen ${r.genCpu.percent}%, sink ${r.sinkCpu.percent}%)`
    : ` (gen ${r.genCpu.percent}%, sink ${r.sinkCpu.percent}%)`;
  const relayDrops =
    r.mcr?.ringDrops !== undefined
      ? ` ring drops ${r.mcr.ringDrops}`
      : r.label.startsWith("socat")
        ? ` socat rcvbuf drops ${r.udpRelay.rcvbufErrors}`
        : "";
  const sinkDrops = r.sinkDrops
    ? ` sink socket drops ${r.sinkDrops} (loss less those: ${(r.relayLossRatio * 100).toFixed(3)}%)`
    : "";
  const softnet = r.softnetDrops.some((x) => x > 0) ? ` backlog drops ${r.softnetDrops.join("/")}` : "";
  const lat = r.sink.latency.samples ? ` lat p50 ${r.sink.latency.p50Us}us p99 ${r.sink.latency.p99Us}us` : "";
  const f = Object.entries(r.flags)
    .filter(([, v]) => v)
    .map(([k]) => k);
  return `  ${r.scenario} ${r.label.padEnd(9)} ${r.spec.generator === "trafgen" ? "[trafgen] " : ""}${r.spec.size}B x${r.spec.outputs} ${Math.round(r.spec.rate)}pps (got ${r.gen.achievedPps}) loss ${pct}% (${r.expected - r.delivered} of ${r.expected})${relayDrops}${sinkDrops}${softnet}${cpu}${lat}${f.length ? " [" + f.join(",") + "]" : ""}${r.attempt > 1 ? ` (attempt ${r.attempt})` : ""} ${r.wallS.toFixed(1)}s`;
}
