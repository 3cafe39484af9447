// The brief's two benchmark topologies, built with the lab the tests use (test/helpers/lab.ts).
//
// Namespaces are `mcrb-<pid>-<n>-<role>` (newBenchLab), so two benchmarks (or a benchmark and the
// tests, which use `mcrt-`) never collide; namespaces left by a killed run are swept by the next
// one (their pid is gone). Every namespace and every process started through a Lab is removed by
// `destroy()`, which run.ts calls from `finally` and, synchronously, from its SIGINT/SIGTERM
// handlers (destroyAllSync), so Ctrl-C cleans up too.
//
// Scenario A (chain, the tests' chainLab):
//   gen veth0 10.0.0.1  <->  veth1 10.0.0.2 [relay] veth3 10.0.1.1  <->  veth2 10.0.1.2 sink
// and, for its IPv6 row, the same chain in a lab of its own with IPv6 on (the tests' CHAIN6
// addresses; the bare wire fd00:9::1 <-> fd00:9::2): the IPv4 runs keep lab without it, whose
// wires carry no neighbour discovery or MLD.
// Scenario B (dual bridge), the bridges in a fourth namespace "sw" with snooping off (they flood):
//   gen veth-gen 10.0.0.10 - br0 - veth-mcr0 10.0.0.20 [relay] veth-mcr1 10.0.1.20 - br1 - veth-sink 10.0.1.30 sink
// Both also have a bare path for latency: gen vethd0 10.0.9.1 <-> vethd1 10.0.9.2 sink, one wire
// with no relay, so "added latency" is measured in the same lab, by the same tools.
import { BENCH_PREFIX, buildChain as buildChainLab, CHAIN6, Lab, type LinkCounters } from "../test/helpers/lab.ts";
import type { Family } from "./relays.ts";

export type ScenarioName = "A" | "B";

/** Where each piece of a scenario lives (the lab's role of its namespace) and which addresses it uses. */
export interface Topology {
  scenario: ScenarioName;
  family: Family; // the addresses below, and the groups the runs use
  description: string;
  gen: { role: string; iface: string; addr: string };
  relay: { role: string; inIface: string; inAddr: string; outIface: string; outAddr: string };
  sink: { role: string; iface: string; addr: string };
  bare: { genIface: string; genAddr: string; sinkIface: string; sinkAddr: string };
  /** Interfaces whose counters a run reads, in path order: [role, interface, label]. */
  counters: [string, string, string][];
}

/** A lab for the benchmark: its own prefix, so that tests and benchmark never sweep each other's. */
export function newBenchLab(): Lab {
  return new Lab({ prefix: BENCH_PREFIX });
}

function bareWire(lab: Lab, gen: string, sink: string, family: Family = 4): Topology["bare"] {
  lab.veth(gen, "vethd0", sink, "vethd1");
  lab.addr(gen, "vethd0", "10.0.9.1/24");
  lab.addr(sink, "vethd1", "10.0.9.2/24");
  if (family === 6) {
    lab.addr(gen, "vethd0", "fd00:9::1/64");
    lab.addr(sink, "vethd1", "fd00:9::2/64");
    return { genIface: "vethd0", genAddr: "fd00:9::1", sinkIface: "vethd1", sinkAddr: "fd00:9::2" };
  }
  return { genIface: "vethd0", genAddr: "10.0.9.1", sinkIface: "vethd1", sinkAddr: "10.0.9.2" };
}

/** Scenario A, the chain: the tests' chain plus the bare wire; family 6: with IPv6 on, its addresses. */
export function buildChain(lab: Lab, family: Family = 4): Topology {
  const [gen, relay, sink] = ["gen", "relay", "sink"];
  const v6 = family === 6;
  buildChainLab(lab, { ipv6: v6 });
  const bare = bareWire(lab, gen, sink, family);
  return {
    scenario: "A",
    family,
    description: `chain: gen veth0 -> veth1 relay veth3 -> veth2 sink${v6 ? ", IPv6" : ""}`,
    gen: { role: gen, iface: "veth0", addr: v6 ? CHAIN6.gen : "10.0.0.1" },
    relay: v6
      ? { role: relay, inIface: "veth1", inAddr: CHAIN6.relayIn, outIface: "veth3", outAddr: CHAIN6.relayOut }
      : { role: relay, inIface: "veth1", inAddr: "10.0.0.2", outIface: "veth3", outAddr: "10.0.1.1" },
    sink: { role: sink, iface: "veth2", addr: v6 ? CHAIN6.sink : "10.0.1.2" },
    bare,
    counters: [
      [gen, "veth0", "gen.veth0"],
      [relay, "veth1", "relay.veth1"],
      [relay, "veth3", "relay.veth3"],
      [sink, "veth2", "sink.veth2"],
    ],
  };
}

/** Scenario B, two bridges: br0 joins gen and the relay's ingress, br1 the relay's egress and the sink. */
export function buildDualBridge(lab: Lab): Topology {
  const [gen, relay, sink, sw] = ["gen", "relay", "sink", "sw"];
  for (const r of [gen, relay, sink, sw]) lab.addNs(r);
  // A switch does not run iptables on the frames it bridges. Where br_netfilter is in the kernel
  // (it is here, on by default in every namespace), bridged IPv4 would go through the netfilter
  // hooks: measured, that was a third of the relay's CPU in B (charged to it, since on veth the
  // receiving side runs in the sender's context). Off, in this namespace only.
  for (const k of ["iptables", "ip6tables", "arptables"])
    lab.exec(sw, ["sysctl", "-qw", `net.bridge.bridge-nf-call-${k}=0`]); // absent without br_netfilter: fine
  // A switch that floods: no IGMP snooping, so what reaches the relay does not depend on who joined.
  for (const br of ["br0", "br1"]) lab.bridge(sw, br);
  const attach = (role: string, iface: string, br: string) => {
    lab.veth(role, iface, sw, `${iface}-p`);
    lab.attach(sw, `${iface}-p`, br);
  };
  attach(gen, "veth-gen", "br0");
  attach(relay, "veth-mcr0", "br0");
  attach(relay, "veth-mcr1", "br1");
  attach(sink, "veth-sink", "br1");
  lab.addr(gen, "veth-gen", "10.0.0.10/24");
  lab.addr(relay, "veth-mcr0", "10.0.0.20/24");
  lab.addr(relay, "veth-mcr1", "10.0.1.20/24");
  lab.addr(sink, "veth-sink", "10.0.1.30/24");
  lab.route(gen, "224.0.0.0/4", "veth-gen");
  lab.route(sink, "224.0.0.0/4", "veth-sink");
  const bare = bareWire(lab, gen, sink);
  return {
    scenario: "B",
    family: 4,
    description:
      "dual bridge: gen veth-gen - br0 - veth-mcr0 relay veth-mcr1 - br1 - veth-sink sink (bridge netfilter off)",
    gen: { role: gen, iface: "veth-gen", addr: "10.0.0.10" },
    relay: { role: relay, inIface: "veth-mcr0", inAddr: "10.0.0.20", outIface: "veth-mcr1", outAddr: "10.0.1.20" },
    sink: { role: sink, iface: "veth-sink", addr: "10.0.1.30" },
    bare,
    counters: [
      [gen, "veth-gen", "gen.veth-gen"],
      [sw, "br0", "sw.br0"],
      [relay, "veth-mcr0", "relay.veth-mcr0"],
      [relay, "veth-mcr1", "relay.veth-mcr1"],
      [sw, "br1", "sw.br1"],
      [sink, "veth-sink", "sink.veth-sink"],
    ],
  };
}

export function build(lab: Lab, s: ScenarioName, family: Family = 4): Topology {
  if (s === "B" && family === 6) throw new Error("scenario B has no IPv6 row");
  return s === "A" ? buildChain(lab, family) : buildDualBridge(lab);
}

export type IfCounters = LinkCounters;

export function snapshotCounters(lab: Lab, t: Topology): Record<string, IfCounters> {
  return Object.fromEntries(t.counters.map(([role, iface, label]) => [label, lab.linkCounters(role, iface)]));
}

export function diffCounters(a: Record<string, IfCounters>, b: Record<string, IfCounters>): Record<string, IfCounters> {
  const out: Record<string, IfCounters> = {};
  for (const k of Object.keys(b)) {
    const x = a[k]!;
    const y = b[k]!;
    out[k] = {
      rxPackets: y.rxPackets - x.rxPackets,
      rxDropped: y.rxDropped - x.rxDropped,
      txPackets: y.txPackets - x.txPackets,
      txDropped: y.txDropped - x.txDropped,
    };
  }
  return out;
}

/** The UDP counters of a namespace's stack (/proc/net/snmp): what reached sockets, what overflowed them. */
export interface UdpCounters {
  inDatagrams: number;
  rcvbufErrors: number;
  inErrors: number;
  noPorts: number;
}

export function readUdpCounters(lab: Lab, role: string, family: Family = 4): UdpCounters {
  if (family === 6) {
    // /proc/net/snmp6: one "Udp6InDatagrams N" per line
    const v: Record<string, number> = {};
    for (const l of lab.exec(role, ["cat", "/proc/net/snmp6"]).stdout.split("\n")) {
      const [k, n] = l.trim().split(/\s+/);
      if (k?.startsWith("Udp6") && n !== undefined) v[k] = Number(n);
    }
    const get6 = (k: string) => v[`Udp6${k}`] ?? NaN;
    return {
      inDatagrams: get6("InDatagrams"),
      rcvbufErrors: get6("RcvbufErrors"),
      inErrors: get6("InErrors"),
      noPorts: get6("NoPorts"),
    };
  }
  const r = lab.exec(role, ["cat", "/proc/net/snmp"]);
  const lines = r.stdout.split("\n").filter((l) => l.startsWith("Udp:"));
  if (lines.length < 2) return { inDatagrams: NaN, rcvbufErrors: NaN, inErrors: NaN, noPorts: NaN };
  const keys = lines[0]!.split(/\s+/).slice(1);
  const vals = lines[1]!.split(/\s+/).slice(1).map(Number);
  const get = (k: string) => vals[keys.indexOf(k)] ?? NaN;
  return {
    inDatagrams: get("InDatagrams"),
    rcvbufErrors: get("RcvbufErrors"),
    inErrors: get("InErrors"),
    noPorts: get("NoPorts"),
  };
}

export function diffUdp(a: UdpCounters, b: UdpCounters): UdpCounters {
  return {
    inDatagrams: b.inDatagrams - a.inDatagrams,
    rcvbufErrors: b.rcvbufErrors - a.rcvbufErrors,
    inErrors: b.inErrors - a.inErrors,
    noPorts: b.noPorts - a.noPorts,
  };
}
