// CPU use read from /proc: of a process tree (a relay and everything it started), of each CPU,
// and of everything else on the machine (to notice runs disturbed by other load).
//
// A process's utime+stime in /proc/PID/stat covers all of its threads. A tree is found from the
// ppid links at each sample; a process that appears between samples counts from 0, one that left
// keeps its last value (the tree is remembered), so workers restarted mid-run are not lost.
import { readFileSync, readdirSync } from "node:fs";

export const CLK_TCK = 100; // USER_HZ on every Linux architecture that matters here

export interface ProcStat {
  pid: number;
  ppid: number;
  comm: string;
  ticks: number; // utime + stime
  processor: number; // CPU it last ran on
  startTime: number;
}

function readStat(pid: number): ProcStat | undefined {
  let s: string;
  try {
    s = readFileSync(`/proc/${pid}/stat`, "utf8");
  } catch {
    return undefined;
  }
  const close = s.lastIndexOf(")");
  const comm = s.slice(s.indexOf("(") + 1, close);
  const f = s.slice(close + 2).split(" "); // f[0] is field 3 (state)
  return {
    pid,
    ppid: Number(f[1]),
    comm,
    ticks: Number(f[11]) + Number(f[12]),
    processor: Number(f[36]),
    startTime: Number(f[19]),
  };
}

function allPids(): number[] {
  return readdirSync("/proc")
    .filter((d) => /^\d+$/.test(d))
    .map(Number);
}

export function allStats(): Map<number, ProcStat> {
  const m = new Map<number, ProcStat>();
  for (const pid of allPids()) {
    const s = readStat(pid);
    if (s) m.set(pid, s);
  }
  return m;
}

/** Every pid under (and including) the roots. */
export function treeOf(roots: number[], stats = allStats()): number[] {
  const children = new Map<number, number[]>();
  for (const s of stats.values()) {
    const l = children.get(s.ppid) ?? [];
    l.push(s.pid);
    children.set(s.ppid, l);
  }
  const out: number[] = [];
  const todo = roots.filter((r) => stats.has(r));
  while (todo.length) {
    const p = todo.pop()!;
    out.push(p);
    todo.push(...(children.get(p) ?? []));
  }
  return out;
}

function childrenOf(pid: number): number[] {
  try {
    return readdirSync(`/proc/${pid}/task`).flatMap((tid) =>
      readFileSync(`/proc/${pid}/task/${tid}/children`, "utf8").split(" ").filter(Boolean).map(Number),
    );
  } catch {
    return [];
  }
}

/** Ticks (utime+stime) of each pid in a set, read without scanning all of /proc. */
function ticksOf(pids: number[]): Map<number, number> {
  const m = new Map<number, number>();
  for (const pid of pids) {
    const s = readStat(pid);
    if (s) m.set(pid, s.ticks);
  }
  return m;
}

interface Sample {
  at: number; // Date.now()
  ticks: Map<number, number>;
  cpus: Map<number, CpuTimes>;
}

/**
 * Samples the CPU of a process tree (and of each CPU) every `everyMs` while traffic runs, so that
 * the share over an exact window (the generator's first to last send, known only afterwards) can
 * be interpolated. The tree is found once at start() (the relay is up by then); reading a few
 * /proc/PID/stat files every 100 ms costs the machine next to nothing.
 */
export class TreeSampler {
  private samples: Sample[] = [];
  private timer?: ReturnType<typeof setInterval>;
  private pids: number[] = [];
  private group = new Map<number, string>();
  private names = new Map<number, string>();
  readonly before = new Map<number, ProcStat>();
  after = new Map<number, ProcStat>();

  /** Starts sampling: `relay` is the root of the measured tree; more processes join with add(). */
  start(roots: number[], everyMs = 100): void {
    const all = allStats();
    for (const [k, v] of all) this.before.set(k, v);
    for (const pid of roots.length ? treeOf(roots, all) : []) this.track(pid, "relay", all.get(pid)?.comm);
    // Kernel threads that do the traffic's own work, and this benchmark: CPU that is explained.
    for (const st of all.values()) if (/^ksoftirqd\//.test(st.comm)) this.track(st.pid, "ksoftirqd", st.comm);
    this.track(process.pid, "bench", "bench");
    this.take();
    this.timer = setInterval(() => this.take(), everyMs);
  }

  /** Adds a process (the generator, the sink) under a group name; counted from its first sample. */
  add(group: string, pid: number): void {
    this.track(pid, group, readStat(pid)?.comm);
    this.take();
  }

  private track(pid: number, group: string, comm?: string): void {
    if (this.group.has(pid)) return;
    this.pids.push(pid);
    this.group.set(pid, group);
    this.names.set(pid, comm ?? "?");
  }

  private take(): void {
    // Children of the generator and the sink (trafgen forks its sending process) join their group.
    for (const pid of [...this.pids]) {
      const g = this.group.get(pid)!;
      if (g !== "gen" && g !== "sink") continue;
      for (const child of childrenOf(pid)) this.track(child, g, readStat(child)?.comm);
    }
    this.samples.push({ at: Date.now(), ticks: ticksOf(this.pids), cpus: readCpuTimes() });
  }

  stop(): void {
    clearInterval(this.timer);
    this.take();
    this.after = allStats();
  }

  treePids(): number[] {
    return this.pids.filter((p) => this.group.get(p) === "relay");
  }

  private interp(at: number, f: (s: Sample) => number): number {
    const ss = this.samples;
    if (at <= ss[0]!.at) return f(ss[0]!);
    for (let i = 1; i < ss.length; i++) {
      const b = ss[i]!;
      if (at <= b.at) {
        const a = ss[i - 1]!;
        const w = b.at === a.at ? 1 : (at - a.at) / (b.at - a.at);
        return f(a) + (f(b) - f(a)) * w;
      }
    }
    return f(ss[ss.length - 1]!);
  }

  /** A group's CPU between two wall-clock times, as % of one core, total and per process. */
  tree(
    fromMs: number,
    toMs: number,
    group = "relay",
  ): { percent: number; processes: { pid: number; comm: string; percent: number }[] } {
    const secs = Math.max((toMs - fromMs) / 1000, 1e-3);
    const processes = this.pids
      .filter((p) => this.group.get(p) === group)
      .map((pid) => {
        const f = (s: Sample) => s.ticks.get(pid) ?? this.lastKnown(pid, s.at);
        const d = this.interp(toMs, f) - this.interp(fromMs, f);
        return { pid, comm: this.names.get(pid) ?? "?", percent: round((d / CLK_TCK / secs) * 100, 1) };
      });
    return {
      percent: round(
        processes.reduce((a, p) => a + p.percent, 0),
        1,
      ),
      processes,
    };
  }

  /** Before a process was first seen: its first value (it had not started); after it left: its last. */
  private lastKnown(pid: number, at: number): number {
    let v: number | undefined;
    for (const s of this.samples) {
      const t = s.ticks.get(pid);
      if (t === undefined) continue;
      if (s.at > at) return v ?? t;
      v = t;
    }
    return v ?? 0;
  }

  /** Busy and softirq % of each CPU between two wall-clock times. */
  cpus(fromMs: number, toMs: number): Record<string, { busy: number; softirq: number }> {
    const out: Record<string, { busy: number; softirq: number }> = {};
    for (const cpu of this.samples[0]!.cpus.keys()) {
      const g = (k: keyof CpuTimes) => (s: Sample) => s.cpus.get(cpu)?.[k] ?? 0;
      const busy = this.interp(toMs, g("busy")) - this.interp(fromMs, g("busy"));
      const idle = this.interp(toMs, g("idle")) - this.interp(fromMs, g("idle"));
      const soft = this.interp(toMs, g("softirq")) - this.interp(fromMs, g("softirq"));
      const total = busy + idle;
      out[`cpu${cpu}`] = {
        busy: total > 0 ? round((busy / total) * 100, 1) : 0,
        softirq: total > 0 ? round((soft / total) * 100, 1) : 0,
      };
    }
    return out;
  }

  /**
   * CPU time on all CPUs that none of the tracked processes explains, as % of one core: the work
   * of processes that came and went during the run (which otherLoad cannot see), interrupts, and
   * noise. Computed as busy(all CPUs) - (relay + generator + sink + ksoftirqd + this benchmark).
   */
  unexplained(fromMs: number, toMs: number): number {
    const busy = Object.values(this.cpus(fromMs, toMs)).reduce((a, c) => a + c.busy, 0);
    const ours = ["relay", "gen", "sink", "ksoftirqd", "bench"].reduce(
      (a, g) => a + this.tree(fromMs, toMs, g).percent,
      0,
    );
    return round(busy - ours, 1);
  }

  /** Seconds between the first and the last sample. */
  span(): number {
    return (this.samples[this.samples.length - 1]!.at - this.samples[0]!.at) / 1000;
  }
}

/** Per-CPU jiffies from /proc/stat. */
export interface CpuTimes {
  busy: number;
  idle: number;
  softirq: number;
}

export function readCpuTimes(): Map<number, CpuTimes> {
  const out = new Map<number, CpuTimes>();
  for (const line of readFileSync("/proc/stat", "utf8").split("\n")) {
    const m = /^cpu(\d+)\s+(.*)$/.exec(line);
    if (!m) continue;
    const [user, nice, system, idle, iowait, irq, softirq, steal] = m[2]!.split(/\s+/).map(Number) as number[];
    out.set(Number(m[1]), {
      busy: user! + nice! + system! + irq! + softirq! + steal!,
      idle: idle! + iowait!,
      softirq: softirq!,
    });
  }
  return out;
}

/**
 * CPU used by user-space processes outside the given trees (and outside this benchmark) between
 * two full samples: the load that disturbs a measurement. Kernel threads (children of kthreadd,
 * pid 2) are left out: ksoftirqd and kworkers do the measured traffic's own work.
 */
export function otherLoad(
  a: Map<number, ProcStat>,
  b: Map<number, ProcStat>,
  ours: Set<number>,
  seconds: number,
): { percent: number; top: { pid: number; comm: string; percent: number }[] } {
  const rows: { pid: number; comm: string; percent: number }[] = [];
  for (const [pid, s] of b) {
    if (ours.has(pid) || pid === 2 || s.ppid === 2 || pid === process.pid) continue;
    const before = a.get(pid);
    const d = before && before.startTime === s.startTime ? s.ticks - before.ticks : s.ticks;
    if (d > 0) rows.push({ pid, comm: s.comm, percent: round((d / CLK_TCK / seconds) * 100, 1) });
  }
  rows.sort((x, y) => y.percent - x.percent);
  return {
    percent: round(
      rows.reduce((t, r) => t + r.percent, 0),
      1,
    ),
    top: rows.slice(0, 5),
  };
}

/**
 * Waits until the machine is quiet before a run: over a 300 ms window, the CPUs together are busy
 * less than `maxPct` of one core beyond this benchmark's own processes (nothing of a run is up
 * between runs). Busy time from /proc/stat catches the short-lived processes of other people's
 * tests, which a scan of /proc/PID misses. Waits at most `maxWaitMs`; returns the last reading.
 */
export async function waitQuiet(
  maxPct: number,
  maxWaitMs: number,
): Promise<{ waitedMs: number; percent: number; top: string }> {
  const t0 = performance.now();
  for (;;) {
    const a = allStats();
    const ca = readCpuTimes();
    const w0 = performance.now();
    await Bun.sleep(300);
    const b = allStats();
    const cb = readCpuTimes();
    const secs = (performance.now() - w0) / 1000;
    const ours = new Set(treeOf([process.pid], b));
    let busy = 0;
    let total = 0;
    for (const [cpu, y] of cb) {
      const x = ca.get(cpu);
      if (!x) continue;
      busy += y.busy - x.busy;
      total += y.busy - x.busy + (y.idle - x.idle);
    }
    let own = 0;
    for (const pid of ours) {
      const x = a.get(pid);
      const y = b.get(pid);
      if (x && y && x.startTime === y.startTime) own += y.ticks - x.ticks;
    }
    const ncpu = cb.size || 1;
    const percent = round(total > 0 ? ((busy - own) / total) * 100 * ncpu : 0, 1);
    const waited = performance.now() - t0;
    if (percent < maxPct || waited >= maxWaitMs) {
      const o = otherLoad(a, b, ours, secs);
      return {
        waitedMs: Math.round(waited),
        percent,
        top: o.top.map((p) => `${p.comm}(${p.pid}) ${p.percent}%`).join(", "),
      };
    }
    await Bun.sleep(700);
  }
}

/** Processes created since `base` (/proc/stat "processes" counts every fork since boot). */
export function forksSince(base: number): number {
  const m = /^processes (\d+)$/m.exec(readFileSync("/proc/stat", "utf8"));
  return m ? Number(m[1]) - base : 0;
}

/** Packets dropped because a CPU's backlog queue was full (netdev_max_backlog), per CPU: /proc/net/softnet_stat column 2. */
export function softnetDrops(): number[] {
  return readFileSync("/proc/net/softnet_stat", "utf8")
    .trim()
    .split("\n")
    .map((l) => parseInt(l.trim().split(/\s+/)[1]!, 16));
}

/** Lists the CPUs each thread of a process may run on (Cpus_allowed_list of every task). */
export function affinityOf(pid: number): string[] {
  try {
    return readdirSync(`/proc/${pid}/task`).map((tid) => {
      const st = readFileSync(`/proc/${pid}/task/${tid}/status`, "utf8");
      return /Cpus_allowed_list:\s*(\S+)/.exec(st)?.[1] ?? "?";
    });
  } catch {
    return [];
  }
}

export function commOf(pid: number): string {
  return readStat(pid)?.comm ?? "?";
}

export function cmdlineOf(pid: number): string[] {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").filter(Boolean);
  } catch {
    return [];
  }
}

function round(x: number, d: number): number {
  const f = 10 ** d;
  return Math.round(x * f) / f;
}
