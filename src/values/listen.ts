// Listen addresses for a server mcr runs (--metrics-listen): "127.0.0.1:9464", "[::1]:9464",
// "0.0.0.0:9464", ":9464" or "9464" (loopback), "localhost" (port 9464). A host that looks like
// an address must be one (strictly: "010.0.0.1" is refused); anything else must be a host name.
import { ValueError } from "./error.ts";
import { parseIPv4 } from "./ipv4.ts";
import { canonicalIPv6 } from "./ipv6.ts";

export const DEFAULT_METRICS_PORT = 9464;

export interface ListenAddress {
  hostname: string;
  port: number;
}

const HOSTNAME =
  /^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;

export function parseListen(text: string, field = "listen"): ListenAddress {
  const s = text.trim();
  const wrong = (): never => {
    throw new ValueError(
      field,
      `"${text}" is not HOST:PORT (e.g. 127.0.0.1:${DEFAULT_METRICS_PORT}, :${DEFAULT_METRICS_PORT} for loopback)`,
    );
  };
  let host: string;
  let port: string | undefined;
  let m: RegExpExecArray | null;
  if ((m = /^\[([^\]]*)\](?::(\d+))?$/.exec(s))) {
    const v6 = canonicalIPv6(m[1] ?? "");
    if (v6 === undefined) throw new ValueError(field, `"${text}": "${m[1]}" is not an IPv6 address`);
    [host, port] = [v6, m[2]];
  } else if ((m = /^(\d+)$/.exec(s))) [host, port] = ["", m[1]];
  else if ((m = /^([^:\s]*):(\d+)$/.exec(s))) [host, port] = [m[1] ?? "", m[2]];
  else if (/^[^:\s]+$/.test(s)) [host, port] = [s, undefined];
  else return wrong();
  if (host !== "" && !host.includes(":")) {
    if (/^[\d.]+$/.test(host)) {
      if (parseIPv4(host) === undefined) throw new ValueError(field, `"${text}": "${host}" is not an IPv4 address`);
    } else if (!HOSTNAME.test(host)) wrong();
  }
  const p = port === undefined ? DEFAULT_METRICS_PORT : /^\d{1,5}$/.test(port) ? Number(port) : 0;
  if (p < 1 || p > 65535) throw new ValueError(field, `"${text}": the port must be 1 to 65535`);
  return { hostname: host === "" ? "127.0.0.1" : host, port: p };
}

/** The address as a URL's authority shows it: "[::1]:9464", "127.0.0.1:9464". */
export function formatListen(a: ListenAddress): string {
  return a.hostname.includes(":") ? `[${a.hostname}]:${a.port}` : `${a.hostname}:${a.port}`;
}
