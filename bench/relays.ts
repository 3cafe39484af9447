// Starting and stopping the relays under test, in the relay namespace, pinned with taskset:
//   mcr   `mcr supervisor --workers N` + `mcr rule add`, the way an operator runs it. The supervisor
//         pins worker i to the i-th CPU it is allowed (src/supervisor/cpus.ts), so `taskset -c 1`
//         on the supervisor puts its one worker on CPU 1; placement() reads back where every
//         thread of the tree may run, and run.ts records it.
//   socat the brief's exact command, one process per output (socat has one output; a fan-out with
//         socat is N socats that all join the input group, as an operator would do it).
//   kernel the kernel's own multicast forwarding, a static (S,G) route installed by smcrouted: it
//         cannot rewrite, so the sink listens to the input group and port; its work runs in
//         softirq on the sender's CPU (veth), so its CPU is the generator's, not the daemon's.
import { chmodSync, copyFileSync, existsSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { affinityOf, allStats, treeOf } from "./cpu.ts";
import { type Lab, sh } from "../test/helpers/lab.ts";
import type { Topology } from "./topology.ts";
import { addressPort } from "../src/values/ipv6.ts";

export const ROOT = join(import.meta.dir, "..");
export const DIST = join(ROOT, "dist", "mcr");

let fromSource = false;
let pinned: string | undefined;
export function useSources(on: boolean): void {
  fromSource = on;
}

/**
 * Copies dist/mcr aside for this run: others may rebuild dist/mcr while a benchmark runs, and every
 * run of one benchmark must use the same binary. Returns the copy's path (removed at exit).
 */
export function pinBinary(dir: string, from = DIST): string | undefined {
  if (fromSource || !existsSync(from)) return undefined;
  pinned = join(dir, `mcr-${process.pid}`);
  copyFileSync(from, pinned);
  chmodSync(pinned, 0o755);
  process.on("exit", () => rmSync(pinned!, { force: true }));
  return pinned;
}

/** How to run mcr: the compiled dist/mcr (what operators run), or the sources with --from-source. */
export function mcrArgv(): string[] {
  if (pinned) return [pinned];
  if (!fromSource && existsSync(DIST)) return [DIST];
  return [process.execPath, join(ROOT, "src", "main.ts")];
}

/** Sources newer than dist/mcr: the binary under test would not be the tree's code. */
export function staleSources(): string[] {
  if (!existsSync(DIST)) return ["dist/mcr missing"];
  const built = statSync(DIST).mtimeMs;
  const out: string[] = [];
  const walk = (dir: string) => {
    for (const e of new Bun.Glob("**/*.{ts,c,h,map}").scanSync({ cwd: join(ROOT, dir) }))
      if (statSync(join(ROOT, dir, e)).mtimeMs > built) out.push(join(dir, e));
  };
  walk("src");
  walk("shim");
  return out;
}

export const INPUT_GROUP = "239.1.1.1";
export const INPUT_PORT = 5001;
/** A merge rule's second leg (issue 14): another group on the same port and input interface. */
export const LEG2_GROUP = "239.1.2.1";
export const OUTPUT_PORT = 5099;

/** The address family a run's groups (in and out) are of: IPv6 runs go over scenario A's IPv6 lab. */
export type Family = 4 | 6;

/** The rule's input group: 239.1.1.1, or ff3e::1:1 (issue 13's example, global scope). */
export const inputGroup = (f: Family = 4) => (f === 6 ? "ff3e::1:1" : INPUT_GROUP);

/** Output groups: 239.9.9.9, then 239.9.9.10, ...; IPv6: ff3e::9:9, ff3e::9:a, ... */
export function outputGroups(n: number, f: Family = 4): string[] {
  return Array.from({ length: n }, (_, i) => (f === 6 ? `ff3e::9:${(9 + i).toString(16)}` : `239.9.9.${9 + i}`));
}

/** The group the bare wire (no relay) carries: the first output group. */
export const bareGroup = (f: Family = 4) => outputGroups(1, f)[0]!;

export interface RelaySpec {
  kind: "mcr" | "socat" | "kernel";
  workers?: number; // mcr only
  poll?: "adaptive" | "busy" | "sleep"; // mcr only: --poll
  egress?: "ring" | "sendmsg" | "socket" | "zc" | "gso"; // mcr only: --egress
  ingress?: "frames" | "blocks"; // mcr only: --ingress
  ringMb?: number; // mcr only: --ring-mb (each input ring's size)
  cpus: string; // taskset list for the relay's processes
  outputs: number; // fan-out
  /**
   * mcr only: the table is this many (S,G) rules, the stream's among them as (its source, the
   * input group); undefined: the one any-source rule. See sgRules.
   */
  sgRules?: number;
  /** mcr only: a unicast input (issue 16): the rule takes the datagrams sent to the relay's own input address. */
  unicastIn?: boolean;
  /**
   * mcr only: the rule is an RTP merge (`--merge rtp`, issue 14) of two legs on the input
   * interface: the input group and LEG2_GROUP, same port. IPv4.
   */
  merge?: boolean;
}

/** Where the stream enters the relay: the input group, or with a unicast input the relay's address. */
export function inputDest(t: Topology, s?: RelaySpec): string {
  if (s?.merge) return [INPUT_GROUP, LEG2_GROUP].map((g) => `${g}:${INPUT_PORT}`).join(",");
  return s?.unicastIn ? `${t.relay.inAddr}:${INPUT_PORT}` : addressPort(inputGroup(t.family), INPUT_PORT);
}

export function relayLabel(s: RelaySpec): string {
  if (s.kind === "socat") return s.outputs > 1 ? `socat x${s.outputs}` : "socat";
  if (s.kind === "kernel") return "kernel";
  return `mcr ${s.workers ?? 1}w${s.sgRules !== undefined ? ` ${s.sgRules} (S,G)` : ""}${s.unicastIn ? " unicast in" : ""}${s.merge ? " merge" : ""}${s.egress ? ` ${s.egress}` : ""}${s.ingress === "blocks" ? " blocks" : ""}`;
}

/**
 * The rules beside the stream's in an (S,G) table of n: half other sources on the input group and
 * port (the stream's own key but for the source), half other groups, one source each; each to an
 * output group of its own that no sink listens to. No datagram matches them: they are the table
 * the stream's datagrams are looked up in.
 */
export function otherSgRules(n: number, outIface: string): { group: string; source: string; output: string }[] {
  return Array.from({ length: Math.max(0, n - 1) }, (_, k) => {
    const hi = (k >> 8) & 255;
    const lo = k & 255;
    return {
      group: k % 2 ? INPUT_GROUP : `239.2.${hi}.${lo}`,
      source: `10.200.${hi}.${lo}`,
      output: `239.20.${hi}.${lo}:${OUTPUT_PORT}:${outIface}`,
    };
  });
}

export interface Placement {
  pid: number;
  comm: string;
  cpus: string[]; // Cpus_allowed_list of each thread
}

export interface Relay {
  spec: RelaySpec;
  label: string;
  rootPids(): number[];
  placement(): Placement[];
  /** mcr's own counters (`mcr stats --json`), undefined for socat. */
  stats(): unknown;
  stop(): Promise<void>;
}

function placementOf(roots: number[]): Placement[] {
  const stats = allStats();
  return treeOf(roots, stats).map((pid) => ({
    pid,
    comm: stats.get(pid)?.comm ?? "?",
    cpus: [...new Set(affinityOf(pid))],
  }));
}

async function drain(s: ReadableStream<Uint8Array>, sink: { text: string }) {
  const dec = new TextDecoder();
  for await (const c of s) {
    sink.text += dec.decode(c);
    if (sink.text.length > 20000) sink.text = sink.text.slice(-10000);
  }
}

export async function startMcr(lab: Lab, t: Topology, spec: RelaySpec, source: string): Promise<Relay> {
  const socket = `/tmp/${lab.id}-mcr.sock`;
  const state = `/tmp/${lab.id}-mcr-state.json`;
  // Each relay starts with no rules: the files of the lab's relay before it (the state file and
  // its previous table) go too.
  const forget = () => [state, `${state}.prev`, `${state}.prev.unused`].forEach((f) => rmSync(f, { force: true }));
  forget();
  const role = t.relay.role;
  const argv = [
    ...mcrArgv(),
    "supervisor",
    "--interface",
    t.relay.inIface,
    "--control-socket-path",
    socket,
    "--workers",
    String(spec.workers ?? 1),
    "--state-file",
    state,
    "--log-level",
    "warn",
    ...(spec.poll ? ["--poll", spec.poll] : []),
    ...(spec.egress ? ["--egress", spec.egress] : []),
    ...(spec.ingress ? ["--ingress", spec.ingress] : []),
    ...(spec.ringMb !== undefined ? ["--ring-mb", String(spec.ringMb)] : []),
  ];
  const p: Subprocess = lab.spawn(role, argv, { cpu: spec.cpus, stdin: "ignore" });
  const err = { text: "" };
  void drain(p.stderr as ReadableStream<Uint8Array>, err);
  void drain(p.stdout as ReadableStream<Uint8Array>, { text: "" });
  const client = (args: string[]) =>
    lab.exec(role, [...mcrArgv(), ...args, "--socket-path", socket], { timeoutMs: 10000 });

  const deadline = performance.now() + 15000;
  for (;;) {
    if (p.exitCode !== null) throw new Error(`mcr supervisor exited ${p.exitCode}: ${err.text.trim().slice(-800)}`);
    if (existsSync(socket) && client(["rule", "list", "--json"]).code === 0) break;
    if (performance.now() > deadline)
      throw new Error(`mcr supervisor: no control socket after 15 s: ${err.text.trim().slice(-800)}`);
    await Bun.sleep(50);
  }
  const outputs = outputGroups(spec.outputs, t.family).map((g) => `${addressPort(g, OUTPUT_PORT)}:${t.relay.outIface}`);
  if (spec.merge && t.family !== 4) throw new Error("mcr merge: the benchmark's merge row is IPv4");
  const input = spec.merge
    ? [INPUT_GROUP, LEG2_GROUP]
        .flatMap((g) => ["--input", `${t.relay.inIface}:${g}:${INPUT_PORT}`])
        .concat(["--merge", "rtp"])
    : ["--input-group", spec.unicastIn ? t.relay.inAddr : inputGroup(t.family), "--input-port", String(INPUT_PORT)];
  const r = client([
    "rule",
    "add",
    ...input,
    "--outputs",
    outputs.join(","),
    ...(spec.sgRules !== undefined ? ["--input-source", source] : []),
  ]);
  if (r.code !== 0)
    throw new Error(`mcr rule add failed (${r.code}): ${r.stderr.trim()} ${err.text.trim().slice(-500)}`);
  // The rest of an (S,G) table, in batches that keep each control message under its 64 KiB.
  const others = otherSgRules(spec.sgRules ?? 0, t.relay.outIface);
  const batchFile = `/tmp/${lab.id}-mcr-sg.toml`;
  for (let i = 0; i < others.length; i += 200) {
    const toml = others
      .slice(i, i + 200)
      .map(
        (x) =>
          `[[change]]\nop = "add"\ninput_group = "${x.group}"\ninput_port = ${INPUT_PORT}\nsources = ["${x.source}"]\noutputs = ["${x.output}"]\n`,
      )
      .join("");
    writeFileSync(batchFile, toml);
    const b = client(["rule", "apply", batchFile]);
    rmSync(batchFile, { force: true });
    if (b.code !== 0)
      throw new Error(`mcr rule apply failed (${b.code}): ${b.stderr.trim()} ${err.text.trim().slice(-500)}`);
  }

  const relay: Relay = {
    spec,
    label: relayLabel(spec),
    rootPids: () => [p.pid],
    placement: () => placementOf([p.pid]),
    stats: () => {
      const s = client(["stats", "--json"]);
      if (s.code !== 0) return { error: s.stderr.trim() };
      try {
        return JSON.parse(s.stdout);
      } catch {
        return { error: "unparsable", text: s.stdout.slice(0, 500) };
      }
    },
    stop: async () => {
      await lab.stop(p, 3000);
      forget();
      rmSync(socket, { force: true });
    },
  };
  // The workers start with the supervisor; wait until every one is up and holds the rule.
  await waitWorkers(relay, spec.workers ?? 1, () => err.text);
  return relay;
}

async function waitWorkers(relay: Relay, n: number, stderr: () => string): Promise<void> {
  const deadline = performance.now() + 10000;
  let last: unknown;
  while (performance.now() < deadline) {
    last = relay.stats();
    const workers = (last as { workers?: { state?: string; pid?: number }[] })?.workers;
    if (
      Array.isArray(workers) &&
      workers.length >= n &&
      workers.every((w) => w.state === undefined || w.state === "running" || w.state === "ready")
    ) {
      const tree = relay.placement();
      if (tree.length >= n + 1) return;
    }
    await Bun.sleep(50);
  }
  throw new Error(
    `mcr: ${n} worker(s) not up after 10 s; stats: ${JSON.stringify(last).slice(0, 500)}; stderr: ${stderr().slice(-500)}`,
  );
}

/**
 * The brief's exact socat command; in scenario B the interface and the bind address are B's:
 *   socat -u UDP4-RECV:5001,ip-add-membership=239.1.1.1:veth1,reuseaddr UDP4-SEND:239.9.9.9:5099,bind=10.0.1.1
 */
export function socatArgv(t: Topology, group: string): string[] {
  return [
    "socat",
    "-u",
    `UDP4-RECV:${INPUT_PORT},ip-add-membership=${INPUT_GROUP}:${t.relay.inIface},reuseaddr`,
    `UDP4-SEND:${group}:${OUTPUT_PORT},bind=${t.relay.outAddr}`,
  ];
}

export async function startSocat(lab: Lab, t: Topology, spec: RelaySpec): Promise<Relay> {
  if (t.family === 6) throw new Error("socat: the benchmark's socat relay is the brief's IPv4 command line");
  const procs = outputGroups(spec.outputs).map((g) =>
    lab.spawn(t.relay.role, socatArgv(t, g), { cpu: spec.cpus, stdin: "ignore" }),
  );
  const errs = procs.map(() => ({ text: "" }));
  procs.forEach((p, i) => void drain(p.stderr as ReadableStream<Uint8Array>, errs[i]!));
  // Joined once the relay namespace lists the group on the ingress, one membership per socket.
  const hex = INPUT_GROUP.split(".")
    .map((o) => Number(o).toString(16).toUpperCase().padStart(2, "0"))
    .reverse()
    .join("");
  const deadline = performance.now() + 5000;
  for (;;) {
    const dead = procs.findIndex((p) => p.exitCode !== null);
    if (dead >= 0) throw new Error(`socat exited ${procs[dead]!.exitCode}: ${errs[dead]!.text.trim()}`);
    const igmp = lab.exec(t.relay.role, ["cat", "/proc/net/igmp"]).stdout;
    const udp = lab.exec(t.relay.role, ["cat", "/proc/net/udp"]).stdout;
    const bound = udp
      .split("\n")
      .filter((l) => l.includes(`:${INPUT_PORT.toString(16).toUpperCase().padStart(4, "0")} `)).length;
    if (igmp.includes(hex) && bound >= procs.length) break;
    if (performance.now() > deadline)
      throw new Error(`socat: not joined after 5 s: ${errs.map((e) => e.text).join(" ")}`);
    await Bun.sleep(20);
  }
  return {
    spec,
    label: relayLabel(spec),
    rootPids: () => procs.map((p) => p.pid),
    placement: () => placementOf(procs.map((p) => p.pid)),
    stats: () => undefined,
    stop: async () => {
      await Promise.all(procs.map((p) => lab.stop(p, 1000)));
    },
  };
}

/** Where a relay's output arrives: kernel forwarding keeps the input's group and port. */
export function deliveredTo(spec: RelaySpec, f: Family = 4): { groups: string[]; port: number } {
  return spec.kind === "kernel"
    ? { groups: [inputGroup(f)], port: INPUT_PORT }
    : { groups: outputGroups(spec.outputs, f), port: OUTPUT_PORT };
}

/** Why kernel forwarding cannot run here, or undefined when it can. */
export function kernelUnavailable(): string | undefined {
  if (sh(["sh", "-c", "command -v smcrouted"]).code !== 0)
    return "smcrouted not installed (MCR_BENCH_DEPS=1 scripts/deps.sh, or apt-get install smcroute)";
  return undefined;
}

/**
 * Kernel forwarding, the way an operator sets it up with smcroute: one static (S,G) route from the
 * input interface to the output. Its reverse-path check passes because the source is on the input's
 * own subnet (a connected route); rp_filter is off on the input all the same, and the sink gets a
 * route back to the source (its rp_filter would otherwise drop datagrams from an unknown network).
 */
export async function startKernel(lab: Lab, t: Topology, spec: RelaySpec, source: string): Promise<Relay> {
  if (spec.outputs !== 1) throw new Error("kernel forwarding: one output only (it cannot rewrite the group)");
  if (t.family === 6) throw new Error("kernel forwarding: IPv4 only in this benchmark (smcroute's IPv6 routes differ)");
  const role = t.relay.role;
  for (const k of ["all", t.relay.inIface]) lab.exec(role, ["sysctl", "-qw", `net.ipv4.conf.${k}.rp_filter=0`]);
  const net = source.replace(/\.\d+$/, ".0/24");
  lab.exec(t.sink.role, ["ip", "route", "replace", net, "via", t.relay.outAddr, "dev", t.sink.iface]);
  for (const k of ["all", t.sink.iface]) lab.exec(t.sink.role, ["sysctl", "-qw", `net.ipv4.conf.${k}.rp_filter=0`]);
  const conf = `/tmp/${lab.id}-smcroute.conf`;
  const sock = `/tmp/${lab.id}-smcroute.sock`;
  const pid = `/tmp/${lab.id}-smcroute.pid`;
  writeFileSync(
    conf,
    `phyint ${t.relay.inIface} enable\nphyint ${t.relay.outIface} enable\nmroute from ${t.relay.inIface} source ${source} group ${INPUT_GROUP} to ${t.relay.outIface}\n`,
  );
  const p: Subprocess = lab.spawn(role, ["smcrouted", "-n", "-N", "-f", conf, "-u", sock, "-P", pid, "-l", "err"], {
    cpu: spec.cpus,
    stdin: "ignore",
  });
  const err = { text: "" };
  void drain(p.stderr as ReadableStream<Uint8Array>, err);
  void drain(p.stdout as ReadableStream<Uint8Array>, { text: "" });
  // Up once the route is in the kernel's multicast forwarding cache.
  const deadline = performance.now() + 5000;
  for (;;) {
    if (p.exitCode !== null) throw new Error(`smcrouted exited ${p.exitCode}: ${err.text.trim().slice(-500)}`);
    if (lab.exec(role, ["cat", "/proc/net/ip_mr_cache"]).stdout.trim().split("\n").length > 1) break;
    if (performance.now() > deadline)
      throw new Error(`smcrouted: no route in /proc/net/ip_mr_cache after 5 s: ${err.text.trim().slice(-500)}`);
    await Bun.sleep(20);
  }
  return {
    spec,
    label: relayLabel(spec),
    rootPids: () => [p.pid],
    placement: () => placementOf([p.pid]),
    stats: () => undefined,
    stop: async () => {
      await lab.stop(p, 2000);
      for (const f of [conf, sock, pid]) rmSync(f, { force: true });
    },
  };
}

export function startRelay(lab: Lab, t: Topology, spec: RelaySpec, source: string): Promise<Relay> {
  if (spec.kind === "kernel") return startKernel(lab, t, spec, source);
  return spec.kind === "mcr" ? startMcr(lab, t, spec, source) : startSocat(lab, t, spec);
}
