// Readings of a process from /proc.
import { readFileSync } from "node:fs";

/** A field of /proc/PID/status, e.g. CapEff. */
export function procStatus(pid: number, field: string): string {
  const m = new RegExp(`^${field}:[ \\t]*(.*)$`, "m").exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  if (!m) throw new Error(`no ${field} for pid ${pid}`);
  return m[1]!.trim();
}

/** Resident set size of a process in KiB (VmRSS). */
export function rssKb(pid: number): number {
  return Number(procStatus(pid, "VmRSS").replace(/ kB$/, ""));
}
