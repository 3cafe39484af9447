// The worker restart backoff (src/supervisor/backoff.ts) as a pure function.
import { describe, expect, test } from "bun:test";
import {
  BACKOFF_MAX_MS,
  BACKOFF_MIN_MS,
  HEALTHY_FORWARDING_MS,
  HEALTHY_RUN_MS,
  restartBackoff,
} from "../../src/supervisor/backoff.ts";

/** The delays of n exits in a row, each run lasting ranMs and forwarding forwardedMs. */
function delays(n: number, ranMs = 50, forwardedMs = 0): number[] {
  const out: number[] = [];
  let backoff = BACKOFF_MIN_MS;
  for (let i = 0; i < n; i++) {
    const b = restartBackoff(backoff, ranMs, forwardedMs);
    out.push(b.delayMs);
    backoff = b.nextMs;
  }
  return out;
}

describe("restartBackoff", () => {
  test("a crash loop doubles from 100 ms and stays at 10 s", () => {
    expect(delays(10)).toEqual([100, 200, 400, 800, 1600, 3200, 6400, 10_000, 10_000, 10_000]);
    expect(restartBackoff(6400, 50, 0)).toEqual({ delayMs: 6400, nextMs: BACKOFF_MAX_MS, healthy: false });
  });

  test("a long run starts the backoff over", () => {
    expect(restartBackoff(BACKOFF_MAX_MS, HEALTHY_RUN_MS, 0)).toEqual({ delayMs: 100, nextMs: 200, healthy: true });
    expect(restartBackoff(BACKOFF_MAX_MS, HEALTHY_RUN_MS - 1, 0)).toEqual({
      delayMs: BACKOFF_MAX_MS,
      nextMs: BACKOFF_MAX_MS,
      healthy: false,
    });
  });

  test("a run that forwarded for a second starts it over: a worker killed now and then comes back in 100 ms", () => {
    expect(delays(5, 5000, HEALTHY_FORWARDING_MS)).toEqual([100, 100, 100, 100, 100]);
    expect(restartBackoff(3200, 5000, HEALTHY_FORWARDING_MS - 1)).toEqual({
      delayMs: 3200,
      nextMs: 6400,
      healthy: false,
    });
  });
});
