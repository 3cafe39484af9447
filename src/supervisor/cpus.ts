// Which CPUs the workers may be pinned to: the ones this process is allowed to run on (a
// container's cpuset or a taskset narrows them), not simply 0..n-1.
import { readFileSync } from "node:fs";
import { availableParallelism } from "node:os";

/** "0-3,8,10-11" -> [0,1,2,3,8,10,11] */
export function parseCpuList(text: string): number[] {
  const out: number[] = [];
  for (const part of text.trim().split(",")) {
    if (part === "") continue;
    const m = /^(\d+)(?:-(\d+))?$/.exec(part);
    if (!m) throw new Error(`bad CPU list "${text}"`);
    const lo = Number(m[1]);
    const hi = m[2] === undefined ? lo : Number(m[2]);
    for (let c = lo; c <= hi; c++) out.push(c);
  }
  return out;
}

export function allowedCpus(): number[] {
  try {
    const m = /^Cpus_allowed_list:\s*(.+)$/m.exec(readFileSync("/proc/self/status", "utf8"));
    if (m) {
      const cpus = parseCpuList(m[1]!);
      if (cpus.length > 0) return cpus;
    }
  } catch {
    /* not Linux /proc: fall back */
  }
  return Array.from({ length: availableParallelism() }, (_, i) => i);
}

/** Worker i runs on the i-th allowed CPU, wrapping around when there are more workers than CPUs. */
export const cpuFor = (i: number, cpus: readonly number[]) => cpus[i % cpus.length]!;
