// READY=1, exit 77 and the watchdog's judgement, from what the workers said (no processes here).
import { expect, test } from "bun:test";
import { judgeReadiness } from "../../src/supervisor/readiness.ts";
import { Progress, statusText, watchdogPeriodMs } from "../../src/supervisor/systemd.ts";
import type { WorkerView } from "../../src/types/control.ts";
import type { InputState } from "../../src/types/worker.ts";

const worker = (index: number, inputs: InputState[], state: WorkerView["state"] = "ready"): WorkerView => ({
  index,
  cpu: index,
  pid: 100 + index,
  state,
  restarts: 0,
  appliedVersion: state === "ready" ? 1 : 0,
  inputs,
});
const up = (i: string): InputState => ({ interface: i, state: "up", fanoutId: 7 });
const eperm = (i: string): InputState => ({ interface: i, state: "down", error: "EPERM (...)", errno: 1 });
const missing = (i: string): InputState => ({ interface: i, state: "missing" });

test("ready only when every worker has a ring on every input that exists; a missing one does not hold it back", () => {
  expect(judgeReadiness([worker(0, [up("a"), missing("b")]), worker(1, [up("a"), missing("b")])], 1)).toEqual({
    state: "ready",
  });
  expect(judgeReadiness([worker(0, [up("a")]), worker(1, [], "starting")], 1)).toEqual({
    state: "waiting",
    why: "worker 1 starting",
  });
  const waitingGroup: InputState = { interface: "a", state: "down", error: "waiting for its fanout group" };
  expect(judgeReadiness([worker(0, [up("a")]), worker(1, [waitingGroup])], 1)).toEqual({
    state: "waiting",
    why: "worker 1 a down (waiting for its fanout group)",
  });
  expect(judgeReadiness([worker(0, [up("a")])], 2)).toEqual({ state: "waiting", why: "worker 0 has no table yet" });
});

test("noperm only when every ring of every worker was refused with EPERM", () => {
  const r = judgeReadiness([worker(0, [eperm("a"), missing("b")]), worker(1, [eperm("a"), missing("b")])], 1);
  expect(r.state).toBe("noperm");
  expect(r.state === "noperm" && r.message).toContain("CAP_NET_RAW");
  // A worker waiting to join the refused worker's fanout group never tries: the same credentials.
  const waitingGroup: InputState = { interface: "a", state: "down", error: "waiting for the rule table" };
  expect(judgeReadiness([worker(0, [waitingGroup]), worker(1, [eperm("a")])], 1).state).toBe("noperm");
  // One worker not yet tried, one input up, another errno: not (yet) a permanent failure.
  expect(judgeReadiness([worker(0, [eperm("a")]), worker(1, [], "starting")], 1).state).toBe("waiting");
  expect(judgeReadiness([worker(0, [eperm("a"), up("b")])], 1).state).toBe("waiting");
  const enodev: InputState = { interface: "a", state: "down", error: "ENODEV", errno: 19 };
  expect(judgeReadiness([worker(0, [enodev])], 1).state).toBe("waiting");
  // Every interface missing: nothing was refused, nothing to judge yet, and nothing holds READY back.
  expect(judgeReadiness([worker(0, [missing("a")])], 1).state).toBe("ready");
});

test("WATCHDOG_USEC: half of it, for this pid only; malformed is off", () => {
  expect(watchdogPeriodMs({ WATCHDOG_USEC: "2000000" }, 5)).toBe(1000);
  expect(watchdogPeriodMs({ WATCHDOG_USEC: "2000000", WATCHDOG_PID: "5" }, 5)).toBe(1000);
  expect(watchdogPeriodMs({ WATCHDOG_USEC: "2000000", WATCHDOG_PID: "6" }, 5)).toBeUndefined();
  for (const bad of ["", "0", "-1", "1e6", "abc"]) expect(watchdogPeriodMs({ WATCHDOG_USEC: bad }, 5)).toBeUndefined();
  expect(watchdogPeriodMs({}, 5)).toBeUndefined();
});

test("progress: every running worker's heartbeat moved; a new process gets one period; one not running is not counted", () => {
  const p = new Progress();
  expect(p.moved([{ index: 0, pid: 10, beat: 5n }])).toBe(true); // first sight
  expect(p.moved([{ index: 0, pid: 10, beat: 9n }])).toBe(true);
  expect(p.moved([{ index: 0, pid: 10, beat: 9n }])).toBe(false); // stood still
  expect(
    p.moved([
      { index: 0, pid: 10, beat: 9n },
      { index: 1, pid: 11, beat: 1n },
    ]),
  ).toBe(false);
  expect(p.moved([{ index: 0, pid: null, beat: undefined }])).toBe(true); // restarting
  expect(p.moved([{ index: 0, pid: 12, beat: 0n }])).toBe(true); // its successor
  expect(p.moved([{ index: 0, pid: 12, beat: 0n }])).toBe(false);
});

test("STATUS= text", () => {
  const ws = [worker(0, [up("a")]), worker(1, [], "restarting")];
  expect(statusText({ rules: 3, workers: ws })).toBe("3 rule(s), 1/2 workers up");
  expect(statusText({ rules: 3, workers: ws, pps: 123456 })).toBe("3 rule(s), 1/2 workers up, 123.5k pkt/s in");
  expect(statusText({ rules: 0, workers: ws, pps: 0, waiting: "worker 1 restarting" })).toBe(
    "0 rule(s), 1/2 workers up, 0 pkt/s in; starting: worker 1 restarting",
  );
});
