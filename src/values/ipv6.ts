// IPv6 addresses (RFC 4291 text forms) and their canonical text (RFC 5952: lower case, no
// leading zeros, the longest run of two or more zero groups as "::", the first if tied).
import { parseIPv4 } from "./ipv4.ts";
import { show, ValueError } from "./error.ts";

/** The address as 8 groups of 16 bits, or undefined if the text is not an IPv6 address. */
export function parseIPv6(text: string): number[] | undefined {
  if (text.length === 0 || text.length > 45) return undefined;
  let head = text;
  let tail4: number[] = [];
  // A dotted quad may stand for the last two groups: "::ffff:192.0.2.1".
  const lastColon = text.lastIndexOf(":");
  if (lastColon >= 0 && text.indexOf(".", lastColon) > lastColon) {
    const v4 = parseIPv4(text.slice(lastColon + 1));
    if (v4 === undefined) return undefined;
    tail4 = [v4 >>> 16, v4 & 0xffff];
    head = text.slice(0, lastColon + 1);
    // "::1.2.3.4" leaves "::"; "a:b::c:1.2.3.4" leaves "a:b::c:": the colon belonged to the quad.
    if (!head.endsWith("::")) head = head.slice(0, -1);
  }
  const halves = head.split("::");
  if (halves.length > 2) return undefined;
  const groups = (s: string): number[] | undefined => {
    if (s === "") return [];
    const out: number[] = [];
    for (const g of s.split(":")) {
      if (!/^[0-9A-Fa-f]{1,4}$/.test(g)) return undefined;
      out.push(Number.parseInt(g, 16));
    }
    return out;
  };
  const left = groups(halves[0] ?? "");
  const right = halves.length === 2 ? groups(halves[1] ?? "") : [];
  if (!left || !right) return undefined;
  const given = left.length + right.length + tail4.length;
  if (halves.length === 1) return given === 8 ? [...left, ...tail4] : undefined;
  if (given > 7) return undefined; // "::" stands for at least one zero group
  return [...left, ...new Array<number>(8 - given).fill(0), ...right, ...tail4];
}

/** parseIPv6 for input: the groups, or a ValueError naming the field. */
export function ipv6(text: string, field: string): number[] {
  const g = parseIPv6(text);
  if (!g) throw new ValueError(field, `${show(text)} is not an IPv6 address (e.g. ff0e::1 or 2001:db8::7)`);
  return g;
}

/** RFC 5952 text of 8 groups. */
export function formatIPv6(groups: readonly number[]): string {
  let best = -1;
  let bestLen = 1; // a single zero group is written as 0, not ::
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) [best, bestLen] = [i, j - i];
    i = j;
  }
  const hex = (a: readonly number[]) => a.map((g) => g.toString(16)).join(":");
  if (best < 0) return hex(groups);
  return `${hex(groups.slice(0, best))}::${hex(groups.slice(best + bestLen))}`;
}

/** The canonical text of an address, or undefined if it is not one. */
export function canonicalIPv6(text: string): string | undefined {
  const g = parseIPv6(text);
  return g ? formatIPv6(g) : undefined;
}

/** ff00::/8 */
export const isMulticastIPv6 = (groups: readonly number[]) => (groups[0] ?? 0) >>> 8 === 0xff;

/** The scope of a multicast address (RFC 7346): 1 interface-local, 2 link-local, 5 site, e global... */
export const multicastScopeIPv6 = (groups: readonly number[]) => (groups[0] ?? 0) & 0xf;

/** ::ffff:0:0/96, an IPv4 address written as IPv6 (RFC 4291 2.5.5.2). */
export const isV4MappedIPv6 = (groups: readonly number[]) =>
  groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff;

/** fe80::/10 */
export const isLinkLocalUnicastIPv6 = (groups: readonly number[]) => ((groups[0] ?? 0) & 0xffc0) === 0xfe80;

/** Why a unicast address cannot be a destination (or a datagram's source), or undefined. */
export function unicastProblemIPv6(groups: readonly number[]): string | undefined {
  if (groups.every((g) => g === 0)) return "is the unspecified address ::, not a destination";
  if (groups.slice(0, 7).every((g) => g === 0) && groups[7] === 1)
    return "is the loopback address ::1, which no interface can send to";
  if (isV4MappedIPv6(groups)) return "is an IPv4-mapped address: write the IPv4 address itself";
  return undefined;
}

/** The 16 bytes of an address, network order. */
export function ipv6Bytes(groups: readonly number[]): Uint8Array {
  const b = new Uint8Array(16);
  groups.forEach((g, i) => {
    b[i * 2] = g >>> 8;
    b[i * 2 + 1] = g & 0xff;
  });
  return b;
}

/** An address and port as text: "[ff3e::1]:5001" for IPv6 (RFC 3986's brackets), "239.1.1.1:5001". */
export const addressPort = (addr: string, port: number) =>
  addr.includes(":") ? `[${addr}]:${port}` : `${addr}:${port}`;

/** An IPv4 or IPv6 address as the shim's tables hold it: 16 bytes, IPv4 as ::ffff:a.b.c.d. */
export function address16(text: string): Uint8Array {
  if (!text.includes(":")) {
    const o = text.split(".").map(Number);
    if (o.length !== 4 || o.some((x) => !Number.isInteger(x) || x < 0 || x > 255))
      throw new Error(`not an IPv4 address: ${text}`);
    return new Uint8Array([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, ...o]);
  }
  const groups = parseIPv6(text);
  if (!groups) throw new Error(`not an IPv6 address: ${text}`);
  return ipv6Bytes(groups);
}
