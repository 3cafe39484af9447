import { readdirSync, readFileSync } from "node:fs";
import { BlockList } from "node:net";
import { networkInterfaces } from "node:os";
import { ifIndex } from "../native/shim.ts";

export interface InterfaceInfo {
  name: string;
  ifindex: number;
  ipv4?: string; // the first IPv4 address: what mcr sends from
  ipv4Prefix?: number; // its prefix length
  ipv4Addresses?: string[]; // every IPv4 address: what a unicast input may take datagrams to
  ipv6?: string; // the first usable global (or ULA) IPv6 address: what mcr sends IPv6 from
  ipv6LinkLocal?: string; // the first usable fe80::/10 address: what link-local (ff02::) outputs send from
  ipv6Addresses?: string[]; // every usable IPv6 address, link-local ones too: what a unicast input may take datagrams to
  mac?: string;
}

/** The interface as this network namespace sees it now, or undefined if it does not exist. */
export function lookupInterface(name: string): InterfaceInfo | undefined {
  if (name.length === 0 || name.length > 15 || /[\s/:]/.test(name)) return undefined;
  const ifindex = ifIndex(name);
  if (ifindex === 0) return undefined;
  const addrs = networkInterfaces()[name] ?? [];
  const v4 = addrs.find((a) => a.family === "IPv4");
  const unusable = unusableIPv6(name);
  const v6 = addrs.filter((a) => a.family === "IPv6" && !unusable.check(a.address, "ipv6"));
  const linkLocal = (a: string) => /^fe[89ab]/i.test(a);
  const global6 = v6.find((a) => !linkLocal(a.address) && a.address !== "::1")?.address;
  // networkInterfaces writes a link-local address without its zone ("fe80::1", scopeid apart).
  const local6 = v6.find((a) => linkLocal(a.address))?.address;
  const prefix = v4?.cidr ? Number(v4.cidr.split("/")[1]) : undefined;
  return {
    name,
    ifindex,
    ipv4: v4?.address,
    ...(prefix !== undefined ? { ipv4Prefix: prefix } : {}),
    ipv4Addresses: addrs.filter((a) => a.family === "IPv4").map((a) => a.address),
    ...(global6 !== undefined ? { ipv6: global6 } : {}),
    ...(local6 !== undefined ? { ipv6LinkLocal: local6 } : {}),
    ipv6Addresses: v6.map((a) => a.address),
    mac: addrs[0]?.mac,
  };
}

/**
 * The interface's IPv6 addresses that nothing can be sent from yet or any more, from
 * /proc/net/if_inet6 (getifaddrs lists them all alike): tentative ones (duplicate address
 * detection still runs: a bind to one fails) and those whose detection failed; a deprecated one
 * (its preferred lifetime over) still sends, but only when the interface has no other. A
 * BlockList compares them with the other list's text by value, whatever its spelling.
 */
function unusableIPv6(name: string): BlockList {
  const out = new BlockList();
  let text = "";
  try {
    text = readFileSync("/proc/net/if_inet6", "utf8");
  } catch {
    return out; /* no IPv6 in this kernel or namespace */
  }
  const TENTATIVE = 0x40;
  const DADFAILED = 0x08;
  const DEPRECATED = 0x20;
  const rows = text
    .split("\n")
    .map((l) => l.trim().split(/\s+/))
    .filter((f) => f.length === 6 && f[5] === name && /^[0-9a-f]{32}$/.test(f[0]!))
    .map((f) => ({ hex: f[0]!, flags: Number.parseInt(f[4]!, 16) }));
  const text6 = (hex: string) => hex.match(/.{4}/g)!.join(":");
  const bad = (flags: number) => (flags & (TENTATIVE | DADFAILED)) !== 0;
  const linkLocal = (hex: string) => /^fe[89ab]/.test(hex);
  for (const r of rows) {
    const others = rows.filter((o) => o !== r && linkLocal(o.hex) === linkLocal(r.hex) && !bad(o.flags));
    const deprecatedWithAlternative = (r.flags & DEPRECATED) !== 0 && others.some((o) => !(o.flags & DEPRECATED));
    if (bad(r.flags) || deprecatedWithAlternative) out.addAddress(text6(r.hex), "ipv6");
  }
  return out;
}

/**
 * Every MAC, IPv4 and IPv6 address of this network namespace's interfaces: where the relay's own
 * frames come from (the loop guard; a link-local group's frames come from the link-local IPv6
 * addresses, written without their zone). MACs are read from sysfs, which lists interfaces
 * without an address too; all-zero ones (lo, tunnels) are left out.
 */
export function ownAddresses(): { macs: string[]; ipv4: string[]; ipv6: string[] } {
  const macs = new Set<string>();
  const ipv4 = new Set<string>();
  const ipv6 = new Set<string>();
  let names: string[] = [];
  try {
    names = readdirSync("/sys/class/net");
  } catch {
    /* no sysfs: the addresses' interfaces below still give their MACs */
  }
  for (const n of names) {
    try {
      macs.add(readFileSync(`/sys/class/net/${n}/address`, "utf8").trim().toLowerCase());
    } catch {
      /* gone meanwhile */
    }
  }
  for (const addrs of Object.values(networkInterfaces()))
    for (const a of addrs ?? []) {
      macs.add(a.mac.toLowerCase());
      if (a.family === "IPv4") ipv4.add(a.address);
      else if (a.family === "IPv6") ipv6.add(a.address.split("%")[0]!);
    }
  return {
    macs: [...macs].filter((m) => /^([0-9a-f]{2}:){5}[0-9a-f]{2}$/.test(m) && m !== "00:00:00:00:00:00"),
    ipv4: [...ipv4],
    ipv6: [...ipv6],
  };
}
