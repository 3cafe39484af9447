// The ports of unicast inputs. A datagram to the relay's own address and a port no socket has is
// answered by the kernel with ICMP port unreachable (and one to a port another socket has goes to
// that socket as well): so the supervisor holds each unicast input's address and port with a
// socket of its own while a rule takes it, never read (the shim's drop-all filter), and releases
// it with the rule. Held without SO_REUSEADDR, a port another process has is found, and the rule
// refused naming that process where /proc tells. Ports below 1024 need CAP_NET_BIND_SERVICE in the
// supervisor: without it the rule is refused (noperm), saying so.
import { closeSync, readdirSync, readFileSync, readlinkSync } from "node:fs";
import type { ConsolaInstance } from "consola";
import { isUnicastInput, RuleError } from "../rules/validate.ts";
import type { RuleInput } from "../types/rules.ts";
import { parseIPv4 } from "../values/ipv4.ts";

/** Opens the holding socket (throws an Error with `errno`, a number, when it cannot). */
export type HoldPort = (addr: string, port: number) => number;

const EADDRINUSE = 98;
const EACCES = 13;
const EADDRNOTAVAIL = 99;

export class PortHolds {
  private readonly held = new Map<string, number>(); // "addr:port" -> fd

  constructor(
    private readonly hold: HoldPort,
    private readonly log: ConsolaInstance,
  ) {}

  /** Holds the port a new rule takes, or throws a RuleError saying why it cannot be had. */
  claim(spec: Pick<RuleInput, "inputGroup" | "inputPort">): void {
    if (!isUnicastInput(spec.inputGroup)) return;
    const k = key(spec.inputGroup, spec.inputPort);
    if (this.held.has(k)) return;
    this.held.set(k, this.open(spec.inputGroup, spec.inputPort));
    this.log.info(`holding ${k} for a unicast input`);
  }

  /** Holds what the rules take and releases the rest (a rule that could not be had is logged). */
  sync(rules: readonly Pick<RuleInput, "inputGroup" | "inputPort">[]): void {
    const wanted = new Set(
      rules.filter((r) => isUnicastInput(r.inputGroup)).map((r) => key(r.inputGroup, r.inputPort)),
    );
    for (const [k, fd] of this.held)
      if (!wanted.has(k)) {
        closeSync(fd);
        this.held.delete(k);
        this.log.info(`released ${k}`);
      }
    for (const r of rules)
      try {
        this.claim(r);
      } catch (e) {
        this.log.warn(`unicast input ${key(r.inputGroup, r.inputPort)}: ${(e as Error).message}`);
      }
  }

  /** The address:port held now, for tests and status. */
  list(): string[] {
    return [...this.held.keys()];
  }

  close(): void {
    this.sync([]);
  }

  private open(addr: string, port: number): number {
    try {
      return this.hold(addr, port);
    } catch (e) {
      const errno = (e as { errno?: number }).errno;
      const at = `${addr}:${port}`;
      if (errno === EADDRINUSE) {
        const who = portHolder(addr, port);
        throw new RuleError(
          "inputPort",
          `${at} is in use${who ? ` by ${who}` : ""}: a unicast input needs the port to itself (stop that process, or pick another port)`,
        );
      }
      if (errno === EACCES)
        throw new RuleError(
          "inputPort",
          `${at}: a port below 1024 needs CAP_NET_BIND_SERVICE in the supervisor (grant it, or pick a port from 1024 up)`,
        );
      if (errno === EADDRNOTAVAIL)
        throw new RuleError("inputGroup", `${addr} is no address of this host (any more): cannot hold ${at}`);
      throw new RuleError("inputPort", `cannot hold ${at}: ${(e as Error).message}`);
    }
  }
}

const key = (addr: string, port: number) => `${addr}:${port}`;

/**
 * Who has a UDP socket on addr:port (or on the wildcard address and port), as "pid N (comm)",
 * found through /proc/net/udp's inode and the /proc/<pid>/fd links; undefined when /proc does not
 * tell (another user's process, without the rights to read its fds).
 */
export function portHolder(addr: string, port: number, proc = "/proc"): string | undefined {
  const ip = parseIPv4(addr);
  if (ip === undefined) return undefined;
  const inodes = new Set<string>();
  let table = "";
  try {
    table = readFileSync(`${proc}/net/udp`, "utf8");
  } catch {
    return undefined;
  }
  for (const line of table.split("\n").slice(1)) {
    const f = line.trim().split(/\s+/);
    const [a, p] = (f[1] ?? "").split(":");
    if (!a || !p || Number.parseInt(p, 16) !== port) continue;
    // The kernel prints the address as the host's u32 of the network-order bytes.
    const raw = Number.parseInt(a, 16) >>> 0;
    const local = [raw & 255, (raw >>> 8) & 255, (raw >>> 16) & 255, raw >>> 24].reduce((n, b) => n * 256 + b, 0);
    if ((local === ip || local === 0) && f[9] && f[9] !== "0") inodes.add(f[9]);
  }
  if (inodes.size === 0) return undefined;
  let pids: string[] = [];
  try {
    pids = readdirSync(proc).filter((d) => /^\d+$/.test(d));
  } catch {
    return undefined;
  }
  for (const pid of pids) {
    let fds: string[] = [];
    try {
      fds = readdirSync(`${proc}/${pid}/fd`);
    } catch {
      continue; // gone, or not ours to read
    }
    for (const fd of fds) {
      let link = "";
      try {
        link = readlinkSync(`${proc}/${pid}/fd/${fd}`);
      } catch {
        continue;
      }
      const m = /^socket:\[(\d+)\]$/.exec(link);
      if (m && inodes.has(m[1]!)) {
        let comm = "";
        try {
          comm = readFileSync(`${proc}/${pid}/comm`, "utf8").trim();
        } catch {
          /* gone meanwhile: the pid still says who */
        }
        return comm ? `pid ${pid} (${comm})` : `pid ${pid}`;
      }
    }
  }
  return undefined;
}
