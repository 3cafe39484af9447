// `mcr supervisor --metrics-listen ADDR`: an HTTP endpoint for Prometheus. GET /metrics answers
// in the text exposition format; anything else is 404 (405 for another method on /metrics).
// Off unless asked for; an address without a host listens on loopback only.
import { EX, McrError } from "../errors.ts";
import { CONTENT_TYPE } from "../stats/prometheus.ts";
import { formatListen, type ListenAddress } from "../values/listen.ts";

// Parsing the address is the values layer's (src/values/listen.ts): the config loader reads it too.
export type { ListenAddress } from "../values/listen.ts";

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
    const where = formatListen(addr);
    throw new McrError(
      `--metrics-listen ${where}: cannot listen: ${(e as Error).message}`,
      EX.UNAVAILABLE,
      "metrics-listen",
    );
  }
  const host = addr.hostname.includes(":") ? `[${addr.hostname}]` : addr.hostname;
  return { url: `http://${host}:${server.port}/metrics`, stop: () => void server.stop(true) };
}
