// process_* series for the supervisor (Prometheus' standard process metrics, read from
// /proc/self) and each worker's CPU seconds (from /proc/<pid>/stat), appended to GET /metrics.
// Under the unit's ProcSubset=pid only the processes' own directories are readable: /proc/stat
// (the boot time) is not, so the start time is the runtime's time origin, not stat's starttime.
import { readdirSync, readFileSync } from "node:fs";
import { renderFamilies } from "./prometheus.ts";

/** USER_HZ: the unit of utime and stime in /proc/PID/stat; 100 on every Linux ABI mcr runs on. */
export const CLOCK_TICKS = 100;

export interface ProcStat {
  cpuSeconds: number; // utime + stime
  virtualBytes: number; // vsize
}

/** Fields of /proc/PID/stat; the command name (field 2) may hold spaces and parentheses. */
export function parseStat(text: string): ProcStat {
  const end = text.lastIndexOf(")");
  if (end < 0) throw new Error("no command name in /proc/PID/stat");
  // After ") ": field 3 (state) is index 0, so field n is index n - 3.
  const f = text
    .slice(end + 2)
    .trim()
    .split(/\s+/);
  const n = (field: number) => {
    const v = Number(f[field - 3]);
    if (!Number.isFinite(v)) throw new Error(`/proc/PID/stat field ${field} is not a number`);
    return v;
  };
  return { cpuSeconds: (n(14) + n(15)) / CLOCK_TICKS, virtualBytes: n(23) };
}

/** VmRSS of /proc/PID/status, in bytes (the kernel gives kB). */
export function parseRss(status: string): number {
  const m = /^VmRSS:\s+(\d+)\s+kB$/m.exec(status);
  if (!m) throw new Error("no VmRSS in /proc/PID/status");
  return Number(m[1]) * 1024;
}

/** The soft "Max open files" of /proc/PID/limits; Infinity when unlimited. */
export function parseMaxFds(limits: string): number {
  const m = /^Max open files\s+(\S+)/m.exec(limits);
  if (!m) throw new Error("no Max open files in /proc/PID/limits");
  return m[1] === "unlimited" ? Infinity : Number(m[1]);
}

interface WorkerRef {
  index: number;
  cpu: number;
  pid: number | null;
}

/**
 * Worker CPU seconds that never go down across restarts, like the other worker counters: the
 * last value read of a worker's earlier runs is kept and added to its current run's. What a run
 * used after the last scrape before it exited is not seen (the process is gone by then).
 */
export class WorkerCpu {
  private slots = new Map<number, { pid: number | null; base: number; last: number }>();

  seconds(w: WorkerRef, read: (pid: number) => number | undefined = readCpu): number {
    let s = this.slots.get(w.index);
    if (!s) this.slots.set(w.index, (s = { pid: w.pid, base: 0, last: 0 }));
    if (w.pid !== s.pid) {
      s.base += s.last;
      s.last = 0;
      s.pid = w.pid;
    }
    if (w.pid !== null) {
      const v = read(w.pid);
      // A value below the last one is a pid reused by another process: keep the last.
      if (v !== undefined && v >= s.last) s.last = v;
    }
    return s.base + s.last;
  }
}

function readCpu(pid: number): number | undefined {
  try {
    return parseStat(readFileSync(`/proc/${pid}/stat`, "utf8")).cpuSeconds;
  } catch {
    return undefined; // exited between the report and this read
  }
}

const workerCpu = new WorkerCpu();

/** The exposition text of the process_* families and mcr_worker_cpu_seconds_total. */
export function renderProcessMetrics(workers: readonly WorkerRef[]): string {
  const self = parseStat(readFileSync("/proc/self/stat", "utf8"));
  const one = (value: number) => [{ labels: {}, value }];
  return renderFamilies([
    {
      name: "process_cpu_seconds_total",
      type: "counter",
      help: "User and system CPU time of the supervisor, in seconds.",
      samples: one(self.cpuSeconds),
    },
    {
      name: "process_resident_memory_bytes",
      type: "gauge",
      help: "Resident memory of the supervisor, in bytes.",
      samples: one(parseRss(readFileSync("/proc/self/status", "utf8"))),
    },
    {
      name: "process_virtual_memory_bytes",
      type: "gauge",
      help: "Virtual memory of the supervisor, in bytes.",
      samples: one(self.virtualBytes),
    },
    {
      name: "process_start_time_seconds",
      type: "gauge",
      help: "When the supervisor process started, in seconds since the Unix epoch.",
      samples: one(Math.round(performance.timeOrigin) / 1000),
    },
    {
      name: "process_open_fds",
      type: "gauge",
      help: "Open file descriptors of the supervisor.",
      // readdirSync's own descriptor on /proc/self/fd is in the listing: not one of ours.
      samples: one(readdirSync("/proc/self/fd").length - 1),
    },
    {
      name: "process_max_fds",
      type: "gauge",
      help: "The supervisor's limit on open file descriptors (RLIMIT_NOFILE, soft).",
      samples: one(parseMaxFds(readFileSync("/proc/self/limits", "utf8"))),
    },
    {
      name: "mcr_worker_cpu_seconds_total",
      type: "counter",
      help: "User and system CPU time of the worker, in seconds, over its restarts (rate = busy ratio of its CPU).",
      samples: workers.map((w) => ({ labels: { worker: w.index, cpu: w.cpu }, value: workerCpu.seconds(w) })),
    },
  ]);
}
