// `mcr gen` and `mcr sink` in a lab's namespaces, each resolving with its JSON summary.
import type { GenResult } from "../../src/tools/gen.ts";
import type { SinkResult } from "../../src/tools/sink.ts";
import type { Lab } from "./lab.ts";
import { mcrArgv } from "./mcr.ts";

async function summary<T>(
  what: string,
  p: { stdout: ReadableStream; stderr: ReadableStream; exited: Promise<number>; exitCode: number | null },
) {
  const [out, err] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  if (!out.trim()) throw new Error(`${what} printed nothing (exit ${p.exitCode}): ${err}`);
  return JSON.parse(out) as T;
}

/** `mcr sink` in the sink namespace; resolves with its JSON summary. */
export function sink(
  lab: Lab,
  o: { group: string; expect?: number; timeoutS?: number; durationS?: number; ifname?: string },
) {
  const p = lab.spawn("sink", [
    ...mcrArgv(),
    "sink",
    "--group",
    o.group,
    "--interface",
    o.ifname ?? "veth2",
    ...(o.expect !== undefined ? ["--expect", String(o.expect)] : []),
    ...(o.timeoutS !== undefined ? ["--timeout", String(o.timeoutS)] : []),
    ...(o.durationS !== undefined ? ["--duration", String(o.durationS)] : []),
    "--json",
  ]);
  const result = summary<SinkResult>("sink", p);
  result.catch(() => {}); // a test that fails first kills it: not an unhandled rejection as well
  return { proc: p, result };
}

/** `mcr gen` in the gen namespace (packet mode on veth0); resolves with its JSON summary. */
export function gen(
  lab: Lab,
  o: { dest: string; rate: number; count?: number; durationS?: number; size?: number; role?: string; ifname?: string },
) {
  const p = lab.spawn(o.role ?? "gen", [
    ...mcrArgv(),
    "gen",
    "--dest",
    o.dest,
    "--interface",
    o.ifname ?? "veth0",
    "--rate",
    String(o.rate),
    ...(o.count !== undefined ? ["--count", String(o.count)] : []),
    ...(o.durationS !== undefined ? ["--duration", String(o.durationS)] : []),
    "--size",
    String(o.size ?? 512),
    "--json",
  ]);
  const result = summary<GenResult>("gen", p);
  result.catch(() => {});
  return { proc: p, result };
}
