// The brief's two benchmark topologies, built in network namespaces that this process owns.
//
// Names are `mcrb-<pid>-<n>-<role>`, so two benchmarks (or a benchmark and the tests, which use
// `mcrt-`) never collide; namespaces left by a killed run are swept by the next one (their pid is
// gone). Every namespace and every process started through a Lab is removed by `destroy()`, which
// run.ts calls from `finally` and from its SIGINT/SIGTERM handlers (synchronously, so Ctrl-C
// cleans up too).
//
// Scenario A (chain):
//   gen veth0 10.0.0.1  <->  veth1 10.0.0.2 [relay] veth3 10.0.1.1  <->  veth2 10.0.1.2 sink
// Scenario B (dual bridge), the bridges in a fourth namespace "sw" with snooping off (they flood):
//   gen veth-gen 10.0.0.10 - br0 - veth-mcr0 10.0.0.20 [relay] veth-mcr1 10.0.1.20 - br1 - veth-sink 10.0.1.30 sink
// Both also have a bare path for latency: gen vethd0 10.0.9.1 <-> vethd1 10.0.9.2 sink, one wire
// with no relay, so "added latency" is measured in the same lab, by the same tools.
import { spawn, spawnSync, type Subprocess } from "bun";

export type ScenarioName = "A" | "B";

/** Where each piece of a scenario lives and which addresses it uses. */
export interface Topology {
  scenario: ScenarioName;
  description: string;
  gen: { ns: string; iface: string; addr: string };
  relay: { ns: string; inIface: string; inAddr: string; outIface: string; outAddr: string };
  sink: { ns: string; iface: string; addr: string };
  bare: { genIface: string; genAddr: string; sinkIface: string; sinkAddr: string };
  /** Interfaces whose counters a run reads, in path order: [namespace, interface, label]. */
  counters: [string, string, string][];
}

export interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

export function sh(argv: string[], opts: { timeoutMs?: number } = {}): Run {
  const r = spawnSync(argv, { stdin: "ignore", stdout: "pipe", stderr: "pipe", timeout: opts.timeoutMs ?? 20000 });
  return { code: r.exitCode ?? -1, stdout: r.stdout.toString(), stderr: r.stderr.toString() };
}

export function must(argv: string[]): string {
  const r = sh(argv);
  if (r.code !== 0) throw new Error(`${argv.join(" ")} failed (${r.code}): ${r.stderr.trim()}`);
  return r.stdout;
}

const PREFIX = "mcrb-";
let labCounter = 0;
const liveLabs = new Set<Lab>();

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Deletes bench namespaces whose creating process is gone. */
export function sweepStale(): string[] {
  const gone: string[] = [];
  for (const name of sh(["ip", "netns", "list"])
    .stdout.split("\n")
    .map((l) => l.split(" ")[0]!)) {
    const m = /^mcrb-(\d+)-/.exec(name);
    if (m && !alive(Number(m[1]))) {
      sh(["ip", "netns", "del", name]);
      gone.push(name);
    }
  }
  return gone;
}

/** Synchronous teardown of every live lab: for signal handlers and process exit. */
export function destroyAllSync(): void {
  for (const lab of [...liveLabs]) lab.destroySync();
}

export interface SpawnOpts {
  cpu?: number | string; // taskset -c
  nice?: number; // nice -n
  env?: Record<string, string>;
  stdin?: "pipe" | "ignore";
}

export class Lab {
  readonly id = `${PREFIX}${process.pid}-${++labCounter}`;
  private namespaces: string[] = [];
  private procs = new Set<Subprocess>();

  constructor() {
    liveLabs.add(this);
  }

  ns(role: string): string {
    return `${this.id}-${role}`;
  }

  addNs(role: string): string {
    const name = this.ns(role);
    must(["ip", "netns", "add", name]);
    this.namespaces.push(name);
    must(["ip", "-n", name, "link", "set", "lo", "up"]);
    // No IPv6: router solicitations and MLD reports would add frames to the counted wires.
    must([
      "ip",
      "netns",
      "exec",
      name,
      "sysctl",
      "-qw",
      "net.ipv6.conf.all.disable_ipv6=1",
      "net.ipv6.conf.default.disable_ipv6=1",
    ]);
    return name;
  }

  veth(nsA: string, ifA: string, nsB: string, ifB: string): void {
    must(["ip", "-n", nsA, "link", "add", ifA, "type", "veth", "peer", "name", ifB, "netns", nsB]);
    must(["ip", "-n", nsA, "link", "set", ifA, "up"]);
    must(["ip", "-n", nsB, "link", "set", ifB, "up"]);
  }

  addr(ns: string, iface: string, cidr: string): void {
    must(["ip", "-n", ns, "addr", "add", cidr, "dev", iface]);
  }

  /** A process in a namespace (optionally pinned with taskset), killed by destroy(). */
  spawn(ns: string, argv: string[], opts: SpawnOpts = {}): Subprocess<"pipe" | "ignore", "pipe", "pipe"> {
    const pin = opts.cpu !== undefined ? ["taskset", "-c", String(opts.cpu)] : [];
    const nice = opts.nice !== undefined ? ["nice", "-n", String(opts.nice)] : [];
    const p = spawn(["ip", "netns", "exec", ns, ...nice, ...pin, ...argv], {
      stdin: opts.stdin ?? "ignore",
      stdout: "pipe",
      stderr: "pipe",
      env: { ...process.env, ...(opts.env ?? {}) },
    });
    this.procs.add(p);
    void p.exited.then(() => this.procs.delete(p));
    return p;
  }

  exec(ns: string, argv: string[], timeoutMs = 20000): Run {
    return sh(["ip", "netns", "exec", ns, ...argv], { timeoutMs });
  }

  /** Kills a process this lab started (SIGTERM, then SIGKILL after graceMs) and waits for it. */
  async stop(p: Subprocess, graceMs = 2000): Promise<void> {
    if (p.exitCode !== null || p.signalCode !== null) return;
    p.kill("SIGTERM");
    const done = await Promise.race([p.exited.then(() => true), Bun.sleep(graceMs).then(() => false)]);
    if (!done) {
      p.kill("SIGKILL");
      await Promise.race([p.exited, Bun.sleep(2000)]);
    }
  }

  async destroy(): Promise<void> {
    const procs = [...this.procs];
    for (const p of procs) if (p.exitCode === null) p.kill("SIGKILL");
    await Promise.all(procs.map((p) => Promise.race([p.exited, Bun.sleep(2000)])));
    this.destroySync();
  }

  destroySync(): void {
    for (const p of this.procs) if (p.exitCode === null) p.kill("SIGKILL");
    this.procs.clear();
    // Deleting a namespace kills nothing by itself, but the processes are gone by now; any
    // leftover in a namespace (a grandchild) dies with SIGKILL through `ip netns pids`.
    for (const n of this.namespaces) {
      for (const pid of sh(["ip", "netns", "pids", n]).stdout.split(/\s+/).filter(Boolean)) {
        try {
          process.kill(Number(pid), "SIGKILL");
        } catch {
          /* already gone */
        }
      }
      sh(["ip", "netns", "del", n]);
    }
    this.namespaces = [];
    liveLabs.delete(this);
  }
}

function bareWire(lab: Lab, gen: string, sink: string): Topology["bare"] {
  lab.veth(gen, "vethd0", sink, "vethd1");
  lab.addr(gen, "vethd0", "10.0.9.1/24");
  lab.addr(sink, "vethd1", "10.0.9.2/24");
  return { genIface: "vethd0", genAddr: "10.0.9.1", sinkIface: "vethd1", sinkAddr: "10.0.9.2" };
}

/** Scenario A, the chain. */
export function buildChain(lab: Lab): Topology {
  const gen = lab.addNs("gen");
  const relay = lab.addNs("relay");
  const sink = lab.addNs("sink");
  lab.veth(gen, "veth0", relay, "veth1");
  lab.veth(relay, "veth3", sink, "veth2");
  lab.addr(gen, "veth0", "10.0.0.1/24");
  lab.addr(relay, "veth1", "10.0.0.2/24");
  lab.addr(relay, "veth3", "10.0.1.1/24");
  lab.addr(sink, "veth2", "10.0.1.2/24");
  must(["ip", "-n", gen, "route", "add", "224.0.0.0/4", "dev", "veth0"]);
  must(["ip", "-n", sink, "route", "add", "224.0.0.0/4", "dev", "veth2"]);
  const bare = bareWire(lab, gen, sink);
  return {
    scenario: "A",
    description: "chain: gen veth0 -> veth1 relay veth3 -> veth2 sink",
    gen: { ns: gen, iface: "veth0", addr: "10.0.0.1" },
    relay: { ns: relay, inIface: "veth1", inAddr: "10.0.0.2", outIface: "veth3", outAddr: "10.0.1.1" },
    sink: { ns: sink, iface: "veth2", addr: "10.0.1.2" },
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
  const gen = lab.addNs("gen");
  const relay = lab.addNs("relay");
  const sink = lab.addNs("sink");
  const sw = lab.addNs("sw");
  // A switch does not run iptables on the frames it bridges. Where br_netfilter is in the kernel
  // (it is here, on by default in every namespace), bridged IPv4 would go through the netfilter
  // hooks: measured, that was a third of the relay's CPU in B (charged to it, since on veth the
  // receiving side runs in the sender's context). Off, in this namespace only.
  for (const k of ["iptables", "ip6tables", "arptables"])
    lab.exec(sw, ["sysctl", "-qw", `net.bridge.bridge-nf-call-${k}=0`]); // absent without br_netfilter: fine
  for (const br of ["br0", "br1"]) {
    // A switch that floods: no IGMP snooping, so what reaches the relay does not depend on who joined.
    must(["ip", "-n", sw, "link", "add", br, "type", "bridge", "mcast_snooping", "0", "stp_state", "0"]);
    must(["ip", "-n", sw, "link", "set", br, "up"]);
  }
  const attach = (ns: string, iface: string, br: string) => {
    lab.veth(ns, iface, sw, `${iface}-p`);
    must(["ip", "-n", sw, "link", "set", `${iface}-p`, "master", br]);
  };
  attach(gen, "veth-gen", "br0");
  attach(relay, "veth-mcr0", "br0");
  attach(relay, "veth-mcr1", "br1");
  attach(sink, "veth-sink", "br1");
  lab.addr(gen, "veth-gen", "10.0.0.10/24");
  lab.addr(relay, "veth-mcr0", "10.0.0.20/24");
  lab.addr(relay, "veth-mcr1", "10.0.1.20/24");
  lab.addr(sink, "veth-sink", "10.0.1.30/24");
  must(["ip", "-n", gen, "route", "add", "224.0.0.0/4", "dev", "veth-gen"]);
  must(["ip", "-n", sink, "route", "add", "224.0.0.0/4", "dev", "veth-sink"]);
  const bare = bareWire(lab, gen, sink);
  return {
    scenario: "B",
    description:
      "dual bridge: gen veth-gen - br0 - veth-mcr0 relay veth-mcr1 - br1 - veth-sink sink (bridge netfilter off)",
    gen: { ns: gen, iface: "veth-gen", addr: "10.0.0.10" },
    relay: { ns: relay, inIface: "veth-mcr0", inAddr: "10.0.0.20", outIface: "veth-mcr1", outAddr: "10.0.1.20" },
    sink: { ns: sink, iface: "veth-sink", addr: "10.0.1.30" },
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

export function build(lab: Lab, s: ScenarioName): Topology {
  return s === "A" ? buildChain(lab) : buildDualBridge(lab);
}

export interface IfCounters {
  rxPackets: number;
  rxDropped: number;
  txPackets: number;
  txDropped: number;
}

/** `ip -s -j link` for one interface. */
export function readIfCounters(ns: string, iface: string): IfCounters {
  const r = sh(["ip", "-n", ns, "-s", "-j", "link", "show", "dev", iface]);
  if (r.code !== 0) return { rxPackets: NaN, rxDropped: NaN, txPackets: NaN, txDropped: NaN };
  const j = (JSON.parse(r.stdout) as { stats64: { rx: Record<string, number>; tx: Record<string, number> } }[])[0]!;
  return {
    rxPackets: j.stats64.rx.packets!,
    rxDropped: j.stats64.rx.dropped!,
    txPackets: j.stats64.tx.packets!,
    txDropped: j.stats64.tx.dropped!,
  };
}

export function snapshotCounters(t: Topology): Record<string, IfCounters> {
  return Object.fromEntries(t.counters.map(([ns, iface, label]) => [label, readIfCounters(ns, iface)]));
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

export function readUdpCounters(ns: string): UdpCounters {
  const r = sh(["ip", "netns", "exec", ns, "cat", "/proc/net/snmp"]);
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
