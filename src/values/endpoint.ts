// UDP endpoints for the traffic tools: "239.1.1.1:5001" (an IPv4 address and a port) or
// "[ff3e::1:1]:5001" (an IPv6 one, in brackets because a port follows, as in RFC 3986 and the
// rules' outputs). An IPv6 address without a port (where the port is optional) needs none.
import { show, ValueError } from "./error.ts";
import { PORT } from "./integer.ts";
import { isMulticast, parseIPv4 } from "./ipv4.ts";
import { addressPort, formatIPv6, isMulticastIPv6, parseIPv6 } from "./ipv6.ts";

export interface Endpoint {
  addr: string; // dotted IPv4, or IPv6 in RFC 5952 text (no brackets)
  port: number;
}

export interface EndpointRule {
  /** "multicast": a group only; "unicast": no group; "any" (default). */
  want?: "multicast" | "unicast" | "any";
  /** The address when the text gives only a port ("5001"); without it the address is required. */
  defaultAddr?: string;
  /** A port is optional ("10.0.0.1" alone); 0 stands for none. */
  portOptional?: boolean;
}

/** The address and port texts: "[v6]:port", "[v6]", "v6" (no port), "v4:port", "v4", "port". */
function split(text: string, field: string, r: EndpointRule): [string, string | undefined] {
  if (text.startsWith("[")) {
    const close = text.indexOf("]");
    const rest = close < 0 ? "" : text.slice(close + 1);
    if (close < 0 || (rest !== "" && !rest.startsWith(":")))
      throw new ValueError(
        field,
        `${show(text)}: an IPv6 address in brackets is followed by :PORT, e.g. [ff3e::1:1]:5001`,
      );
    if (rest === "" && !r.portOptional)
      throw new ValueError(field, `${show(text)} has no port (use [ADDRESS]:PORT, e.g. [ff3e::1:1]:5001)`);
    return [text.slice(1, close), rest === "" ? undefined : rest.slice(1)];
  }
  const colons = text.split(":").length - 1;
  if (colons > 1) {
    // An IPv6 address alone: its last group could not be told from a port.
    if (r.portOptional) return [text, undefined];
    throw new ValueError(
      field,
      `${show(text)}: write an IPv6 address in brackets when a port follows, e.g. [ff3e::1:1]:5001`,
    );
  }
  const i = text.lastIndexOf(":");
  if (i < 0 && r.defaultAddr === undefined && !r.portOptional)
    throw new ValueError(field, `${show(text)} has no port (use ADDRESS:PORT, e.g. 239.1.1.1:5001)`);
  if (i >= 0) return [text.slice(0, i), text.slice(i + 1)];
  return r.portOptional ? [text, undefined] : [r.defaultAddr ?? "", text];
}

export function parseEndpoint(text: string, field: string, r: EndpointRule = {}): Endpoint {
  const [addrText, portText] = split(text, field, r);
  let addr: string;
  let multicast: boolean;
  if (addrText.includes(":")) {
    const g = parseIPv6(addrText);
    if (!g) throw new ValueError(field, `${show(text)}: ${show(addrText)} is not an IPv6 address`);
    addr = formatIPv6(g);
    multicast = isMulticastIPv6(g);
  } else {
    const ip = parseIPv4(addrText);
    if (ip === undefined) throw new ValueError(field, `${show(text)}: ${show(addrText)} is not an IPv4 address`);
    addr = addrText;
    multicast = isMulticast(ip);
  }
  if (r.want === "multicast" && !multicast)
    throw new ValueError(
      field,
      `${show(text)}: ${addr} is not a multicast group (${addr.includes(":") ? "ff00::/8" : "224.0.0.0/4"})`,
    );
  if (r.want === "unicast" && multicast) throw new ValueError(field, `${show(text)}: ${addr} is a multicast group`);
  let port = 0;
  if (portText !== undefined) {
    port = /^\d{1,5}$/.test(portText) ? Number(portText) : 0;
    if (port < (PORT.min ?? 1) || port > (PORT.max ?? 65535))
      throw new ValueError(field, `${show(text)}: the port must be 1..65535`);
  }
  return { addr, port };
}

export const isMulticastAddr = (addr: string) => {
  if (addr.includes(":")) {
    const g = parseIPv6(addr);
    return g !== undefined && isMulticastIPv6(g);
  }
  const ip = parseIPv4(addr);
  return ip !== undefined && isMulticast(ip);
};

export const formatEndpoint = (e: Endpoint) => addressPort(e.addr, e.port);
