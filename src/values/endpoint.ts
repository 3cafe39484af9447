// UDP endpoints: "239.1.1.1:5001" (an IPv4 address and a port) for the traffic tools.
import { show, ValueError } from "./error.ts";
import { PORT } from "./integer.ts";
import { isMulticast, parseIPv4 } from "./ipv4.ts";

export interface Endpoint {
  addr: string; // dotted IPv4
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

export function parseEndpoint(text: string, field: string, r: EndpointRule = {}): Endpoint {
  const i = text.lastIndexOf(":");
  if (i < 0 && r.defaultAddr === undefined && !r.portOptional)
    throw new ValueError(field, `${show(text)} has no port (use ADDRESS:PORT, e.g. 239.1.1.1:5001)`);
  const addrText = i < 0 ? (r.portOptional ? text : (r.defaultAddr ?? "")) : text.slice(0, i);
  const portText = i < 0 ? (r.portOptional ? undefined : text) : text.slice(i + 1);
  const ip = parseIPv4(addrText);
  if (ip === undefined) throw new ValueError(field, `${show(text)}: ${show(addrText)} is not an IPv4 address`);
  if (r.want === "multicast" && !isMulticast(ip))
    throw new ValueError(field, `${show(text)}: ${addrText} is not a multicast group (224.0.0.0/4)`);
  if (r.want === "unicast" && isMulticast(ip))
    throw new ValueError(field, `${show(text)}: ${addrText} is a multicast group`);
  let port = 0;
  if (portText !== undefined) {
    port = /^\d{1,5}$/.test(portText) ? Number(portText) : 0;
    if (port < (PORT.min ?? 1) || port > (PORT.max ?? 65535))
      throw new ValueError(field, `${show(text)}: the port must be 1..65535`);
  }
  return { addr: addrText, port };
}

export const isMulticastAddr = (addr: string) => {
  const ip = parseIPv4(addr);
  return ip !== undefined && isMulticast(ip);
};

export const formatEndpoint = (e: Endpoint) => `${e.addr}:${e.port}`;
