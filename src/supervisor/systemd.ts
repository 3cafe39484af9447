// What the supervisor tells systemd besides READY=1: a STATUS= line for `systemctl status`, and
// WATCHDOG=1 keep-alives that come from the supervisor's own event loop and only while its
// workers make progress, so that a relay whose loop or workers are stuck is restarted.
import type { WorkerView } from "../types/control.ts";

/** How often STATUS= is sent even when nothing but the packet rate changed. */
export const STATUS_EVERY_MS = 5000;

/**
 * The keep-alive period in ms when systemd asked for one (WATCHDOG_USEC, for this process if
 * WATCHDOG_PID says which): half the timeout, as sd_watchdog_enabled(3) advises.
 */
export function watchdogPeriodMs(env: NodeJS.ProcessEnv = process.env, pid = process.pid): number | undefined {
  if (!env.WATCHDOG_USEC || !/^[0-9]{1,15}$/.test(env.WATCHDOG_USEC)) return undefined;
  const usec = Number(env.WATCHDOG_USEC);
  if (usec <= 0) return undefined;
  if (env.WATCHDOG_PID && env.WATCHDOG_PID !== String(pid)) return undefined;
  return Math.max(1, Math.floor(usec / 2000));
}

/** One worker as the watchdog sees it: its process and its data-plane heartbeat, while running. */
export interface Beat {
  index: number;
  pid: number | null;
  beat: bigint | undefined;
}

/**
 * Tells whether every running worker's heartbeat moved since the last look. A worker without a
 * running loop (starting, restarting) is not counted: its restart is the supervisor's progress.
 * A worker seen for the first time (a new process) is given the benefit of one period.
 */
export class Progress {
  private readonly seen = new Map<number, { pid: number; beat: bigint }>();

  moved(beats: readonly Beat[]): boolean {
    let all = true;
    for (const b of beats) {
      if (b.pid === null || b.beat === undefined) {
        this.seen.delete(b.index);
        continue;
      }
      const was = this.seen.get(b.index);
      if (was && was.pid === b.pid && was.beat === b.beat) all = false;
      this.seen.set(b.index, { pid: b.pid, beat: b.beat });
    }
    return all;
  }
}

/** The STATUS= text: rules, workers up, the input packet rate; what holds READY back, while something does. */
export function statusText(o: {
  rules: number;
  workers: readonly WorkerView[];
  pps?: number;
  waiting?: string;
}): string {
  const up = o.workers.filter((w) => w.state === "ready" && w.appliedVersion >= 1).length;
  const parts = [`${o.rules} rule(s)`, `${up}/${o.workers.length} workers up`];
  if (o.pps !== undefined) parts.push(`${formatRate(o.pps)} pkt/s in`);
  const line = parts.join(", ");
  return o.waiting ? `${line}; starting: ${o.waiting}`.slice(0, 400) : line;
}

const formatRate = (pps: number) =>
  pps >= 1e6 ? `${(pps / 1e6).toFixed(2)}M` : pps >= 1e4 ? `${(pps / 1e3).toFixed(1)}k` : String(Math.round(pps));
