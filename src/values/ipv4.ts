// IPv4 addresses: strict dotted-quad parsing and the ranges that matter for a relay (multicast,
// link-local control groups, addresses no interface can send to).
import { show, ValueError } from "./error.ts";

/** The address as an unsigned 32-bit number, or undefined unless it is a plain dotted quad. */
export function parseIPv4(text: string): number | undefined {
  // Strict on purpose: inet_aton would take "239.1" or "0x7f.1", which an operator never means.
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(text);
  if (!m) return undefined;
  let n = 0;
  for (let i = 1; i <= 4; i++) {
    const part = m[i] ?? "";
    if (part.length > 1 && part.startsWith("0")) return undefined; // "010" is octal to some tools
    const b = Number(part);
    if (b > 255) return undefined;
    n = n * 256 + b;
  }
  return n;
}

/** parseIPv4 for input: the address, or a ValueError naming the field. */
export function ipv4(text: string, field: string): number {
  const n = parseIPv4(text);
  if (n === undefined)
    throw new ValueError(field, `${show(text)} is not an IPv4 address (four numbers, e.g. 239.1.1.1)`);
  return n;
}

export const isIPv4 = (text: string) => parseIPv4(text) !== undefined;

export function formatIPv4(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join(".");
}

/** 224.0.0.0/4 */
export const isMulticast = (ip: number) => ip >>> 28 === 0xe;
/** 224.0.0.0/24: routing protocols and IGMP itself; relaying into or out of it breaks the LAN. */
export const isLinkLocalMulticast = (ip: number) => ip >>> 8 === 0xe00000;

/** Why a unicast destination cannot be sent to out of an interface, or undefined if it can. */
export function unicastProblem(ip: number): string | undefined {
  if (ip >>> 24 === 0) return "is in 0.0.0.0/8 (this host on this network), not a destination";
  if (ip >>> 24 === 127) return "is a loopback address, which no interface can send to";
  if (ip === 0xffffffff) return "is the limited broadcast address, which mcr does not relay to";
  if (ip >>> 28 === 0xf) return "is in 240.0.0.0/4, reserved";
  return undefined;
}

/**
 * The address as the u32 whose bytes in memory are the address in network order (what the shim
 * reads as a little-endian u32 from a DataView). Throws on anything but a strict dotted quad.
 */
export function ipv4NetworkU32(text: string): number {
  const n = ipv4(text, "address");
  return (((n & 255) << 24) | (((n >>> 8) & 255) << 16) | (((n >>> 16) & 255) << 8) | (n >>> 24)) >>> 0;
}
