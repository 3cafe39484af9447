// When the relay may tell systemd READY=1, and when it never can. Judged from what the workers
// last said about their inputs: the worker is the one that opened (or failed to open) each ring.
import type { WorkerView } from "../types/control.ts";

/** errno of a packet socket refused for want of CAP_NET_RAW. */
const EPERM = 1;

export type Readiness =
  | { state: "ready" }
  | { state: "waiting"; why: string }
  /** No ring can ever open: every input that exists was refused with EPERM in every worker. */
  | { state: "noperm"; message: string };

/**
 * Ready: every worker runs, holds the table `version`, and has a ring on every input that exists
 * (an input the worker found missing does not hold READY back: its ring opens when it appears).
 * A permission refusal is permanent for this process: it is told apart so the daemon can leave.
 * ("noperm": every worker has its table, no ring is open, and every input that exists was refused.)
 */
export function judgeReadiness(workers: readonly WorkerView[], version: number): Readiness {
  const running = workers.filter((w) => w.state === "ready" && w.appliedVersion >= 1);
  const inputs = running.flatMap((w) => w.inputs);
  // The workers share one set of credentials: an input refused to one is refused to all (those
  // waiting to join the refused worker's fanout group never get to try).
  const refused = new Set(inputs.filter((i) => i.state === "down" && i.errno === EPERM).map((i) => i.interface));
  const names = new Set(inputs.map((i) => i.interface));
  const absent = (name: string) => inputs.every((i) => i.interface !== name || i.state === "missing");
  if (
    running.length === workers.length &&
    refused.size > 0 &&
    !inputs.some((i) => i.state === "up") &&
    [...names].every((n) => refused.has(n) || absent(n))
  ) {
    return {
      state: "noperm",
      message: `cannot receive on ${[...refused].join(", ")}: the packet socket was refused (EPERM). mcr needs CAP_NET_RAW: run it as root, or give it the capability (AmbientCapabilities=CAP_NET_RAW in its unit, or setcap cap_net_raw+ep)`,
    };
  }
  const holding: string[] = [];
  for (const w of workers) {
    if (w.state !== "ready") holding.push(`worker ${w.index} ${w.state}`);
    else if (w.appliedVersion < version) holding.push(`worker ${w.index} has no table yet`);
    else
      for (const i of w.inputs)
        if (i.state === "down") holding.push(`worker ${w.index} ${i.interface} down${i.error ? ` (${i.error})` : ""}`);
  }
  return holding.length === 0 ? { state: "ready" } : { state: "waiting", why: holding.join(", ") };
}
