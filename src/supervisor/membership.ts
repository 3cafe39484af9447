// Group membership on the ingress. mcr reads frames at layer 2, so it needs no socket to receive;
// but an IGMP-snooping switch upstream, and the NIC's multicast filter, deliver a group only to a
// port that has joined it. One helper UDP socket per (interface, group) joins it, by interface
// index (so an interface without an IPv4 address is joined too). The socket is bound to
// 127.0.0.1, so the kernel never delivers the stream itself to it (multicast goes only to sockets
// bound to the wildcard or to the group), and it is never read. Closing it leaves the group.
// A rule whose sources are all hosts joins source-specifically (IGMPv3 (S,G), one socket per
// source); one without sources, or with a prefix among them (no join can name a prefix), joins
// any-source.
import { closeSync } from "node:fs";
import type { ConsolaInstance } from "consola";
import type { Rule } from "../types/rules.ts";
import { inputsOf, isUnicastInput, type LookupInterface } from "../rules/validate.ts";
import { address16 } from "../values/ipv6.ts";

interface Joined {
  fd: number;
  ifindex: number; // the interface the membership was made on: re-created, it has another
}

/**
 * Opens a socket joined to group (16 bytes, IPv4 as ::ffff:a.b.c.d: IGMPv3 or MLDv2) on ifindex,
 * from source only if given (throws with the reason, `what` naming the join); closing its fd leaves.
 */
export type JoinGroup = (ifindex: number, group: Uint8Array, source: Uint8Array | undefined, what: string) => number;

export class Memberships {
  private readonly joined = new Map<string, Joined>();
  private wanted = new Set<string>();
  private readonly problems = new Map<string, string>(); // logged once per key and cause
  private busy: Promise<void> = Promise.resolve();

  constructor(
    private readonly lookup: LookupInterface,
    private readonly log: ConsolaInstance,
    private readonly joinGroup: JoinGroup,
  ) {}

  /** Joins the groups the rules need and leaves those no rule needs any more. */
  sync(rules: readonly Rule[]): Promise<void> {
    this.wanted = new Set(rules.flatMap((r) => joinsOf(r)));
    this.busy = this.busy
      .then(() => this.reconcile())
      .catch((e) => this.log.warn(`group membership: ${(e as Error).message}`));
    return this.busy;
  }

  /** Re-checks interfaces (an address changed, an interface came back) without a rule change. */
  refresh(): Promise<void> {
    this.busy = this.busy
      .then(() => this.reconcile())
      .catch((e) => this.log.warn(`group membership: ${(e as Error).message}`));
    return this.busy;
  }

  /** The (interface, group[, source]) joined now, for status and tests. */
  list(): { interface: string; group: string; source?: string }[] {
    return [...this.joined.keys()].map((k) => {
      const [iface, group, source] = k.split("|") as [string, string, string];
      return { interface: iface, group, ...(source ? { source } : {}) };
    });
  }

  async close(): Promise<void> {
    this.wanted = new Set();
    await this.refresh();
  }

  private async reconcile(): Promise<void> {
    // One lookup per interface and pass (each is a netlink dump), not one per group.
    const seen = new Map<string, ReturnType<LookupInterface>>();
    const lookup = (iface: string) => {
      if (!seen.has(iface)) seen.set(iface, this.lookup(iface));
      return seen.get(iface);
    };
    for (const [k, j] of this.joined) {
      const [iface] = k.split("|") as [string];
      const info = lookup(iface);
      const stale = !info || info.ifindex !== j.ifindex;
      if (!this.wanted.has(k) || stale) this.leave(k, j, stale);
    }
    for (const k of this.wanted) if (!this.joined.has(k)) await this.join(k);
  }

  private async join(k: string): Promise<void> {
    const [iface, group, source] = k.split("|") as [string, string, string];
    const what = source ? `(${source}, ${group})` : group;
    const info = this.lookup(iface);
    if (!info) return this.problem(k, `cannot join ${what} on ${iface}: no such interface (will retry)`);
    let fd: number;
    try {
      fd = this.joinGroup(info.ifindex, address16(group), source ? address16(source) : undefined, what);
    } catch (e) {
      return this.problem(k, `cannot join ${what} on ${iface}: ${(e as Error).message}`);
    }
    this.problems.delete(k);
    this.joined.set(k, { fd, ifindex: info.ifindex });
    this.log.info(`joined ${what} on ${iface}`);
  }

  private leave(k: string, j: Joined, stale: boolean): void {
    const [iface, group0, source] = k.split("|") as [string, string, string];
    const group = source ? `(${source}, ${group0})` : group0;
    closeSync(j.fd); // leaves the group (of an interface that went away, there is nothing to leave)
    this.joined.delete(k);
    this.log.info(stale && this.wanted.has(k) ? `${iface} changed: rejoining ${group}` : `left ${group} on ${iface}`);
  }

  private problem(k: string, message: string): void {
    if (this.problems.get(k) === message) return; // said once is enough
    this.problems.set(k, message);
    this.log.warn(message);
  }
}

const key = (iface: string, group: string, source = "") => `${iface}|${group}|${source}`;

/**
 * The joins a rule needs, for each of its inputs (a merge rule's every leg, each on its own
 * interface): one per source when every source is a host, else one any-source join.
 */
export function joinsOf(r: Rule): string[] {
  return inputsOf(r).flatMap((leg) => {
    const iface = leg.inputInterface ?? r.inputInterface;
    if (isUnicastInput(leg.inputGroup)) return []; // no group to join: the port is held (ports.ts)
    const sources = leg.inputSources;
    if (!sources || sources.some((s) => s.includes("/"))) return [key(iface, leg.inputGroup)];
    return sources.map((s) => key(iface, leg.inputGroup, s));
  });
}
