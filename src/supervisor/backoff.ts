// How long a worker slot waits before starting its worker again after an exit.

export const BACKOFF_MIN_MS = 100;
export const BACKOFF_MAX_MS = 10_000;
/** A run this long counts as healthy: the next failure restarts quickly again. */
export const HEALTHY_RUN_MS = 30_000;
/**
 * So does a run that held a rule table (was forwarding) this long: a worker killed now and then
 * (by an operator, the OOM killer, a rare bad packet) comes back in 100 ms each time, while one
 * that dies as soon as it starts or gets its table still backs off to BACKOFF_MAX_MS.
 */
export const HEALTHY_FORWARDING_MS = 1000;

export interface Backoff {
  delayMs: number; // wait this long before the restart
  nextMs: number; // the backoff the exit after it starts from
  healthy: boolean; // the run that ended was a healthy one: the backoff started over
}

/**
 * After an exit: `backoffMs` is the slot's current backoff (BACKOFF_MIN_MS at first), `ranMs` how
 * long the run lasted, `forwardedMs` how long it held a rule table (0 if it never got one).
 * Doubling from 100 ms to 10 s; a healthy run starts it over.
 */
export function restartBackoff(backoffMs: number, ranMs: number, forwardedMs: number): Backoff {
  const healthy = ranMs >= HEALTHY_RUN_MS || forwardedMs >= HEALTHY_FORWARDING_MS;
  const delayMs = healthy ? BACKOFF_MIN_MS : backoffMs;
  return { delayMs, nextMs: Math.min(delayMs * 2, BACKOFF_MAX_MS), healthy };
}
