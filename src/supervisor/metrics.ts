// `mcr supervisor --metrics-listen ADDR`: an HTTP endpoint for Prometheus. GET /metrics answers
// in the text exposition format; anything else is 404 (405 for another method on /metrics).
// Off unless asked for; an address without a host listens on loopback only.
import { EX, McrError } from "../errors.ts";
import { CONTENT_TYPE } from "../stats/prometheus.ts";

export const DEFAULT_METRICS_PORT = 9464;

export interface ListenAddress {
  hostname: string;
  port: number;
}

/**
 * "127.0.0.1:9464", "[::1]:9464", "0.0.0.0:9464", ":9464" or "9464" (loopback), "localhost"
 * (port 9464). Throws an Error saying what is wrong.
 */
export function parseListen(text: string): ListenAddress {
  const s = text.trim();
  let host: string;
  let port: string | undefined;
  let m: RegExpExecArray | null;
  if ((m = /^\[([0-9A-Fa-f:.]+)\](?::(\d+))?$/.exec(s))) [host, port] = [m[1]!, m[2]];
  else if ((m = /^(\d+)$/.exec(s))) [host, port] = ["", m[1]];
  else if ((m = /^([^:\s]*):(\d+)$/.exec(s))) [host, port] = [m[1]!, m[2]];
  else if (/^[A-Za-z0-9.-]+$/.test(s)) [host, port] = [s, undefined];
  else
    throw new Error(
      `"${text}" is not HOST:PORT (e.g. 127.0.0.1:${DEFAULT_METRICS_PORT}, :${DEFAULT_METRICS_PORT} for loopback)`,
    );
  const p = port === undefined ? DEFAULT_METRICS_PORT : Number(port);
  if (!Number.isInteger(p) || p < 1 || p > 65535) throw new Error(`"${text}": the port must be 1 to 65535`);
  return { hostname: host === "" ? "127.0.0.1" : host, port: p };
}

export interface MetricsServer {
  url: string;
  stop(): void;
}

/** Listens on addr; `render` makes the body of each scrape. Throws McrError (69) if it cannot listen. */
export function startMetricsServer(
  addr: ListenAddress,
  render: () => Promise<string>,
  onError: (e: Error) => void,
): MetricsServer {
  let server: ReturnType<typeof Bun.serve>;
  try {
    server = Bun.serve({
      hostname: addr.hostname,
      port: addr.port,
      reusePort: false,
      async fetch(req) {
        const path = new URL(req.url).pathname;
        if (path !== "/metrics") return new Response("mcr: metrics are at /metrics\n", { status: 404 });
        if (req.method !== "GET" && req.method !== "HEAD")
          return new Response("GET only\n", { status: 405, headers: { Allow: "GET, HEAD" } });
        try {
          return new Response(await render(), { headers: { "Content-Type": CONTENT_TYPE } });
        } catch (e) {
          onError(e as Error);
          return new Response(`mcr: ${(e as Error).message}\n`, { status: 500 });
        }
      },
    });
  } catch (e) {
    const where = addr.hostname.includes(":") ? `[${addr.hostname}]:${addr.port}` : `${addr.hostname}:${addr.port}`;
    throw new McrError(
      `--metrics-listen ${where}: cannot listen: ${(e as Error).message}`,
      EX.UNAVAILABLE,
      "metrics-listen",
    );
  }
  const host = addr.hostname.includes(":") ? `[${addr.hostname}]` : addr.hostname;
  return { url: `http://${host}:${server.port}/metrics`, stop: () => void server.stop(true) };
}
