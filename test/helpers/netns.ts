// Network namespaces for tests: unique names, tracked processes, always deleted.
// Names are `mcrt-<pid>-<n>-<role>`; a lab left behind by a killed run is removed by the next one
// (its pid is gone).
import { spawn, spawnSync, type Subprocess } from "bun";

let counter = 0;
const PREFIX = "mcrt-";

export interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

export function sh(argv: string[], opts: { input?: string; timeoutMs?: number } = {}): Run {
  const r = spawnSync(argv, {
    stdin: opts.input !== undefined ? Buffer.from(opts.input) : "ignore",
    timeout: opts.timeoutMs ?? 20000,
  });
  return { code: r.exitCode ?? -1, stdout: r.stdout.toString(), stderr: r.stderr.toString() };
}

export function must(argv: string[], input?: string): string {
  const r = sh(argv, { input });
  if (r.code !== 0) throw new Error(`${argv.join(" ")} failed (${r.code}): ${r.stderr.trim()}`);
  return r.stdout;
}

/** Deletes namespaces of earlier runs whose process is gone. */
export function sweepStale(): void {
  for (const name of sh(["ip", "netns", "list"])
    .stdout.split("\n")
    .map((l) => l.split(" ")[0]!)) {
    const m = /^mcrt-(\d+)-/.exec(name);
    if (m && !processAlive(Number(m[1]))) sh(["ip", "netns", "del", name]);
  }
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

export class Lab {
  readonly id = `${PREFIX}${process.pid}-${++counter}`;
  private namespaces: string[] = [];
  private procs: Subprocess[] = [];

  ns(role: string): string {
    return `${this.id}-${role}`;
  }

  addNs(role: string): string {
    const name = this.ns(role);
    must(["ip", "netns", "add", name]);
    this.namespaces.push(name);
    must(["ip", "-n", name, "link", "set", "lo", "up"]);
    // No IPv6: neighbour discovery and MLD would put frames on the wires that tests count exactly.
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

  /** A veth pair between two namespaces of this lab, both ends up. */
  veth(roleA: string, ifA: string, roleB: string, ifB: string): void {
    must([
      "ip",
      "-n",
      this.ns(roleA),
      "link",
      "add",
      ifA,
      "type",
      "veth",
      "peer",
      "name",
      ifB,
      "netns",
      this.ns(roleB),
    ]);
    must(["ip", "-n", this.ns(roleA), "link", "set", ifA, "up"]);
    must(["ip", "-n", this.ns(roleB), "link", "set", ifB, "up"]);
  }

  addr(role: string, ifname: string, cidr: string): void {
    must(["ip", "-n", this.ns(role), "addr", "add", cidr, "dev", ifname]);
  }

  exec(role: string, argv: string[], opts: { input?: string; timeoutMs?: number } = {}): Run {
    return sh(["ip", "netns", "exec", this.ns(role), ...argv], opts);
  }

  /** A process in a namespace, killed when the lab is destroyed. */
  spawn(role: string, argv: string[], env: Record<string, string> = {}): Subprocess<"pipe", "pipe", "pipe"> {
    const p = spawn(["ip", "netns", "exec", this.ns(role), ...argv], {
      stdin: "pipe",
      stdout: "pipe",
      stderr: "pipe",
      env: { ...process.env, ...env },
    });
    this.procs.push(p);
    return p;
  }

  async destroy(): Promise<void> {
    for (const p of this.procs) if (p.exitCode === null) p.kill("SIGKILL");
    await Promise.all(this.procs.map((p) => Promise.race([p.exited, Bun.sleep(2000)])));
    for (const n of this.namespaces) sh(["ip", "netns", "del", n]);
    this.namespaces = [];
  }
}

/**
 * The brief's chain: gen (veth0 10.0.0.1) -> relay (veth1 10.0.0.2 | veth3 10.0.1.1) -> sink (veth2 10.0.1.2).
 * Multicast from gen leaves by veth0; the sink's multicast arrives on veth2.
 */
export function chainLab(): Lab {
  const lab = new Lab();
  try {
    for (const r of ["gen", "relay", "sink"]) lab.addNs(r);
    lab.veth("gen", "veth0", "relay", "veth1");
    lab.veth("relay", "veth3", "sink", "veth2");
    lab.addr("gen", "veth0", "10.0.0.1/24");
    lab.addr("relay", "veth1", "10.0.0.2/24");
    lab.addr("relay", "veth3", "10.0.1.1/24");
    lab.addr("sink", "veth2", "10.0.1.2/24");
    must(["ip", "-n", lab.ns("gen"), "route", "add", "224.0.0.0/4", "dev", "veth0"]);
    must(["ip", "-n", lab.ns("sink"), "route", "add", "224.0.0.0/4", "dev", "veth2"]);
  } catch (e) {
    void lab.destroy();
    throw e;
  }
  return lab;
}
