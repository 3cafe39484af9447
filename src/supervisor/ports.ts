// The ports of unicast inputs. A datagram to the relay's own address and a port no socket has is
// answered by the kernel with ICMP port unreachable (and one to a port another socket has goes to
// that socket as well): so the supervisor holds each unicast input's address and port with a
// socket of its own while a rule takes it, never read (the shim's drop-all filter), and releases
// it with the rule. Held without SO_REUSEADDR, a port another process has is found, and the rule
// refused naming that process where /proc tells. Ports below 1024 need CAP_NET_BIND_SERVICE in the
// supervisor: without it the rule is refused (noperm), saying so. An IPv6 address is held by an
// IPv6 socket (a link-local one on its interface, as the kernel scopes it).
import { closeSync, readdirSync, readFileSync, readlinkSync } from "node:fs";
import type { ConsolaInstance } from "consola";
import { isUnicastInput, type LookupInterface, RuleError } from "../rules/validate.ts";
import type { RuleSpec } from "../types/rules.ts";
import { address16, addressPort, isLinkLocalUnicastIPv6, parseIPv6 } from "../values/ipv6.ts";

/**
 * Opens the holding socket on addr16 (16 bytes, IPv4 as ::ffff:a.b.c.d), scope the interface
 * index of a link-local IPv6 address, else 0 (throws an Error with `errno`, a number, when it cannot).
 */
export type HoldPort = (addr16: Uint8Array, scope: number, port: number, text: string) => number;
type Held = Pick<RuleSpec, "inputGroup" | "inputPort" | "inputInterface">;

const EADDRINUSE = 98;
const EACCES = 13;
const EADDRNOTAVAIL = 99;

export class PortHolds {
  private readonly held = new Map<string, number>(); // "addr:port", "[addr%if]:port" -> fd

  constructor(
    private readonly hold: HoldPort,
    private readonly lookup: LookupInterface,
    private readonly log: ConsolaInstance,
  ) {}

  /** Holds the port a new rule takes, or throws a RuleError saying why it cannot be had. */
  claim(spec: Held): void {
    if (!isUnicastInput(spec.inputGroup)) return;
    const k = key(spec);
    if (this.held.has(k)) return;
    this.held.set(k, this.open(spec));
    this.log.info(`holding ${k} for a unicast input`);
  }

  /** Holds what the rules take and releases the rest (a rule that could not be had is logged). */
  sync(rules: readonly Held[]): void {
    const wanted = new Set(rules.filter((r) => isUnicastInput(r.inputGroup)).map(key));
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
        this.log.warn(`unicast input ${key(r)}: ${(e as Error).message}`);
      }
  }

  /** The address:port held now, for tests and status. */
  list(): string[] {
    return [...this.held.keys()];
  }

  close(): void {
    this.sync([]);
  }

  private open(spec: Held): number {
    const { inputGroup: addr, inputPort: port } = spec;
    const at = key(spec);
    try {
      const scope = linkLocal(addr) ? (this.lookup(spec.inputInterface)?.ifindex ?? 0) : 0;
      return this.hold(address16(addr), scope, port, at);
    } catch (e) {
      const errno = (e as { errno?: number }).errno;
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

const linkLocal = (addr: string) => {
  const g = parseIPv6(addr);
  return g !== undefined && isLinkLocalUnicastIPv6(g);
};

/** How a held port is named: a link-local address with its interface, as the kernel scopes it. */
const key = (s: Held) =>
  addressPort(linkLocal(s.inputGroup) ? `${s.inputGroup}%${s.inputInterface}` : s.inputGroup, s.inputPort);

/**
 * Who has a UDP socket on addr:port (or on the wildcard address and port), as "pid N (comm)",
 * found through /proc/net/udp's and udp6's inodes (IPv6: udp6's alone) and the /proc/<pid>/fd
 * links; undefined when /proc does not tell (another user's process, without the rights to read
 * its fds).
 */
export function portHolder(addr: string, port: number, proc = "/proc"): string | undefined {
  let want: Uint8Array;
  try {
    want = address16(addr);
  } catch {
    return undefined;
  }
  const inodes = new Set<string>();
  // An IPv4 port may be had by an IPv6 socket too: one on [::] that takes both families, or on
  // the IPv4-mapped address.
  const tables: [string, Uint8Array][] = addr.includes(":")
    ? [["udp6", want]]
    : [
        ["udp", want.subarray(12)],
        ["udp6", want],
      ];
  for (const [name, bytes] of tables) {
    let table = "";
    try {
      table = readFileSync(`${proc}/net/${name}`, "utf8");
    } catch {
      continue; /* no such family here */
    }
    for (const line of table.split("\n").slice(1)) {
      const f = line.trim().split(/\s+/);
      const [a, p] = (f[1] ?? "").split(":");
      if (!a || !p || a.length !== bytes.length * 2 || Number.parseInt(p, 16) !== port) continue;
      // The kernel prints the address as the host's u32s of the network-order bytes, 4 at a time.
      const local = (a.match(/.{8}/g) ?? [])
        .flatMap((w) => (w.match(/../g) ?? []).reverse())
        .map((h) => Number.parseInt(h, 16));
      const wildcard = local.every((b) => b === 0);
      if ((wildcard || local.every((b, i) => b === bytes[i])) && f[9] && f[9] !== "0") inodes.add(f[9]);
    }
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
