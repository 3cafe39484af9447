// Shared by the fault, hostile-control and privilege tests: a direct control-socket client,
// gen/sink runs with their JSON summaries, /proc readings, and waiting for a condition.
import { readFileSync } from "node:fs";
import { call } from "../../src/control/client.ts";
import type { Command, Commands } from "../../src/types/control.ts";
import type { Lab } from "../helpers/netns.ts";
import { mcrArgv } from "../helpers/mcr.ts";

/** One request on the supervisor's socket, from the test process (no `mcr` process per call). */
export function ctl<C extends Command>(
  socket: string,
  cmd: C,
  args: Commands[C]["args"] = {} as Commands[C]["args"],
  timeoutMs = 5000,
) {
  return call(socket, cmd, args, { timeoutMs });
}

export async function until(
  cond: () => boolean | Promise<boolean>,
  timeoutMs: number,
  what: string,
  stepMs = 10,
): Promise<number> {
  const t0 = performance.now();
  while (!(await cond())) {
    if (performance.now() - t0 > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms: ${what}`);
    await Bun.sleep(stepMs);
  }
  return performance.now() - t0;
}

/** Whether the process still runs: a zombie (dead, not yet reaped by whoever adopted it) does not. */
export function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
  } catch {
    return false;
  }
}

/** Resident set size of a process in KiB (VmRSS), from /proc. */
export function rssKb(pid: number): number {
  const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  if (!m) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(m[1]);
}

/** A field of /proc/PID/status, e.g. CapEff. */
export function procStatus(pid: number, field: string): string {
  const m = new RegExp(`^${field}:[ \\t]*(.*)$`, "m").exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  if (!m) throw new Error(`no ${field} for pid ${pid}`);
  return m[1]!.trim();
}

export interface SinkSummary {
  unique: number;
  lost: number;
  duplicates: number;
  socketDrops: number;
  integrityFailures: number;
  [k: string]: unknown;
}
export interface GenSummary {
  packets: number;
  sendErrors: number;
  achievedPps: number;
  [k: string]: unknown;
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
  const result = (async () => {
    const [out, err] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
    if (!out.trim()) throw new Error(`sink printed nothing (exit ${p.exitCode}): ${err}`);
    return JSON.parse(out) as SinkSummary;
  })();
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
  const result = (async () => {
    const [out, err] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
    if (!out.trim()) throw new Error(`gen printed nothing (exit ${p.exitCode}): ${err}`);
    return JSON.parse(out) as GenSummary;
  })();
  result.catch(() => {});
  return { proc: p, result };
}
