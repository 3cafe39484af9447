// The network-namespace lab shared by the tests, bench/ and scripts/: namespaces, veth pairs,
// bridges, addresses, routes and sysctls, processes started inside them, and teardown.
//
// Names are `<prefix>-<pid>-<n>-<role>`. Tests use the prefix "mcrt" (scripts/test.sh finds
// leftovers by that pattern), the benchmark "mcrb", so neither ever deletes the other's. A lab
// left behind by a killed run is removed by the next sweepStale() with the same prefix (its pid is
// gone). Every namespace and every process started through a Lab is removed by destroy(), or
// synchronously by destroyAllSync(), which also runs when this process exits.
//
// Methods name a namespace by its role ("gen", "relay"); lab.ns(role) is its full name.
import { readdirSync, readFileSync, rmSync } from "node:fs";
import { spawn, spawnSync, type Subprocess } from "bun";

export const TEST_PREFIX = "mcrt";
export const BENCH_PREFIX = "mcrb";

export interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

export function sh(argv: string[], opts: { input?: string; timeoutMs?: number } = {}): Run {
  const r = spawnSync(argv, {
    stdin: opts.input !== undefined ? Buffer.from(opts.input) : "ignore",
    stdout: "pipe",
    stderr: "pipe",
    timeout: opts.timeoutMs ?? 20000,
  });
  return { code: r.exitCode ?? -1, stdout: r.stdout.toString(), stderr: r.stderr.toString() };
}

export function must(argv: string[], input?: string): string {
  const r = sh(argv, { input });
  if (r.code !== 0) throw new Error(`${argv.join(" ")} failed (${r.code}): ${r.stderr.trim()}`);
  return r.stdout;
}

/** Whether the process still runs: a zombie (dead, not yet reaped by whoever adopted it) does not. */
export function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
  } catch {
    return false;
  }
}

/** Polls until cond holds; throws naming `what` after timeoutMs. Resolves with the ms it took. */
export async function until(
  cond: () => boolean | Promise<boolean>,
  timeoutMs: number,
  what: string,
  stepMs = 10,
): Promise<number> {
  const t0 = performance.now();
  while (!(await cond())) {
    if (performance.now() - t0 > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms: ${what}`);
    await Bun.sleep(stepMs);
  }
  return performance.now() - t0;
}

/**
 * Reads a value until cond holds or timeoutMs passes, and returns the last reading either way:
 * the test's own assertion on it then shows what the value was.
 */
export async function poll<T>(get: () => T, cond: (x: T) => boolean, timeoutMs = 5000, stepMs = 100): Promise<T> {
  const deadline = performance.now() + timeoutMs;
  let x = get();
  while (!cond(x) && performance.now() < deadline) {
    await Bun.sleep(stepMs);
    x = get();
  }
  return x;
}

/** Deletes the namespaces with this prefix whose creating process is gone; returns their names. */
export function sweepStale(prefix = TEST_PREFIX): string[] {
  const pattern = new RegExp(`^${prefix}-(\\d+)-`);
  const gone: string[] = [];
  for (const line of sh(["ip", "netns", "list"]).stdout.split("\n")) {
    const name = line.split(" ")[0] ?? "";
    const m = pattern.exec(name);
    if (m && !alive(Number(m[1]))) {
      sh(["ip", "netns", "del", name]);
      gone.push(name);
    }
  }
  return gone;
}

const liveLabs = new Set<Lab>();
let labCounter = 0;

/** Synchronous teardown of every live lab: for signal handlers and process exit. */
export function destroyAllSync(): void {
  for (const lab of [...liveLabs]) lab.destroySync();
}
process.on("exit", destroyAllSync);

export interface LabOptions {
  prefix?: string; // default TEST_PREFIX
}

export interface NsOptions {
  /**
   * Off by default: router solicitations, neighbour discovery and MLD reports would put frames on
   * the wires that tests and the benchmark count exactly.
   */
  ipv6?: boolean;
}

export interface SpawnOpts<S extends "pipe" | "ignore" = "pipe" | "ignore"> {
  env?: Record<string, string>;
  cpu?: number | string; // taskset -c
  nice?: number; // nice -n
  stdin?: S; // default "pipe"
}

export interface LinkCounters {
  rxPackets: number;
  rxDropped: number;
  txPackets: number;
  txDropped: number;
}

export class Lab {
  readonly id: string;
  private namespaces: string[] = [];
  private procs = new Set<Subprocess>();

  constructor(o: LabOptions = {}) {
    this.id = `${o.prefix ?? TEST_PREFIX}-${process.pid}-${++labCounter}`;
    liveLabs.add(this);
  }

  ns(role: string): string {
    return `${this.id}-${role}`;
  }

  /** A namespace with lo up; IPv6 off unless asked for. */
  addNs(role: string, o: NsOptions = {}): string {
    const name = this.ns(role);
    must(["ip", "netns", "add", name]);
    this.namespaces.push(name);
    must(["ip", "-n", name, "link", "set", "lo", "up"]);
    const v6 = o.ipv6 ? "0" : "1";
    this.sysctl(role, {
      "net.ipv6.conf.all.disable_ipv6": v6,
      "net.ipv6.conf.default.disable_ipv6": v6,
    });
    return name;
  }

  /** Sets kernel parameters in a namespace; throws if one cannot be set. */
  sysctl(role: string, settings: Record<string, string | number>): void {
    must([
      "ip",
      "netns",
      "exec",
      this.ns(role),
      "sysctl",
      "-qw",
      ...Object.entries(settings).map(([k, v]) => `${k}=${v}`),
    ]);
  }

  /** A veth pair between two namespaces of this lab, both ends up. */
  veth(roleA: string, ifA: string, roleB: string, ifB: string): void {
    const a = this.ns(roleA);
    const b = this.ns(roleB);
    must(["ip", "-n", a, "link", "add", ifA, "type", "veth", "peer", "name", ifB, "netns", b]);
    must(["ip", "-n", a, "link", "set", ifA, "up"]);
    must(["ip", "-n", b, "link", "set", ifB, "up"]);
  }

  /** A bridge, up, with STP off; IGMP snooping off unless asked for (a switch that floods). */
  bridge(role: string, name: string, o: { snooping?: boolean } = {}): void {
    const ns = this.ns(role);
    const snooping = o.snooping ? "1" : "0";
    must(["ip", "-n", ns, "link", "add", name, "type", "bridge", "mcast_snooping", snooping, "stp_state", "0"]);
    must(["ip", "-n", ns, "link", "set", name, "up"]);
  }

  /** Makes an interface a port of a bridge in the same namespace. */
  attach(role: string, iface: string, bridge: string): void {
    must(["ip", "-n", this.ns(role), "link", "set", iface, "master", bridge]);
  }

  /** An address; an IPv6 one skips duplicate address detection, so that it is usable at once. */
  addr(role: string, iface: string, cidr: string): void {
    must(["ip", "-n", this.ns(role), "addr", "add", cidr, "dev", iface, ...(cidr.includes(":") ? ["nodad"] : [])]);
  }

  route(role: string, prefix: string, iface: string): void {
    must(["ip", "-n", this.ns(role), "route", "add", prefix, "dev", iface]);
  }

  /** `ip -s -j link` for one interface; NaN when it cannot be read (the interface is gone). */
  linkCounters(role: string, iface: string): LinkCounters {
    const r = sh(["ip", "-n", this.ns(role), "-s", "-j", "link", "show", "dev", iface]);
    if (r.code !== 0) return { rxPackets: NaN, rxDropped: NaN, txPackets: NaN, txDropped: NaN };
    const j = (JSON.parse(r.stdout) as { stats64: { rx: Record<string, number>; tx: Record<string, number> } }[])[0]!;
    return {
      rxPackets: j.stats64.rx.packets!,
      rxDropped: j.stats64.rx.dropped!,
      txPackets: j.stats64.tx.packets!,
      txDropped: j.stats64.tx.dropped!,
    };
  }

  exec(role: string, argv: string[], opts: { input?: string; timeoutMs?: number } = {}): Run {
    return sh(["ip", "netns", "exec", this.ns(role), ...argv], opts);
  }

  /** A process in a namespace (optionally pinned with taskset, reniced), killed by destroy(). */
  spawn<S extends "pipe" | "ignore" = "pipe">(
    role: string,
    argv: string[],
    o: SpawnOpts<S> = {},
  ): Subprocess<S, "pipe", "pipe"> {
    const pin = o.cpu !== undefined ? ["taskset", "-c", String(o.cpu)] : [];
    const nice = o.nice !== undefined ? ["nice", "-n", String(o.nice)] : [];
    const p = spawn(["ip", "netns", "exec", this.ns(role), ...nice, ...pin, ...argv], {
      stdin: o.stdin ?? "pipe",
      stdout: "pipe",
      stderr: "pipe",
      env: { ...process.env, ...(o.env ?? {}) },
    });
    this.procs.add(p);
    void p.exited.then(() => this.procs.delete(p));
    return p as Subprocess<S, "pipe", "pipe">;
  }

  /** Stops a process (SIGTERM, then SIGKILL after graceMs) and waits for it. */
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
    // Deleting a namespace kills nothing in it: whatever is left there (a grandchild, a process
    // that escaped its parent) is killed first, found through `ip netns pids`.
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
    // The lab's files in /tmp (control sockets, state files and their previous tables) go too.
    for (const f of readdirSync("/tmp"))
      if (f.startsWith(`${this.id}-`)) rmSync(`/tmp/${f}`, { force: true, recursive: true });
    liveLabs.delete(this);
  }
}

/** The chain's IPv6 addresses (with `ipv6: true`), /64 each: gen and relay's veth1 share one link, relay's veth3 and sink the other. */
export const CHAIN6 = {
  gen: "2001:db8::1",
  relayIn: "2001:db8::2",
  relayOut: "2001:db8:1::1",
  sink: "2001:db8:1::2",
} as const;

/**
 * The brief's chain: gen (veth0 10.0.0.1) -> relay (veth1 10.0.0.2 | veth3 10.0.1.1) -> sink (veth2 10.0.1.2).
 * Multicast from gen leaves by veth0; the sink's multicast arrives on veth2. With `ipv6: true`
 * each interface has its CHAIN6 address too. A lab whose build fails is destroyed before the
 * error is thrown.
 */
export function chainLab(o: LabOptions & NsOptions = {}): Lab {
  const lab = new Lab(o);
  try {
    buildChain(lab, o);
  } catch (e) {
    lab.destroySync();
    throw e;
  }
  return lab;
}

/** Builds the chain (see chainLab) into an existing lab. */
export function buildChain(lab: Lab, o: NsOptions = {}): void {
  for (const r of ["gen", "relay", "sink"]) lab.addNs(r, o);
  lab.veth("gen", "veth0", "relay", "veth1");
  lab.veth("relay", "veth3", "sink", "veth2");
  lab.addr("gen", "veth0", "10.0.0.1/24");
  lab.addr("relay", "veth1", "10.0.0.2/24");
  lab.addr("relay", "veth3", "10.0.1.1/24");
  lab.addr("sink", "veth2", "10.0.1.2/24");
  lab.route("gen", "224.0.0.0/4", "veth0");
  lab.route("sink", "224.0.0.0/4", "veth2");
  if (o.ipv6) {
    lab.addr("gen", "veth0", `${CHAIN6.gen}/64`);
    lab.addr("relay", "veth1", `${CHAIN6.relayIn}/64`);
    lab.addr("relay", "veth3", `${CHAIN6.relayOut}/64`);
    lab.addr("sink", "veth2", `${CHAIN6.sink}/64`);
  }
}
