// The workers' poll modes (--poll adaptive|busy|sleep) with real packets through namespaces: each
// mode relays byte for byte, a datagram at idle still arrives at once, the flag reaches the
// workers, and the counters say how the worker waited. Nothing here times performance: the
// latency bound only catches a datagram left waiting for the next batch or budget.
import { expect, test } from "bun:test";
import { describeNetns } from "../helpers/suite.ts";
import { readdirSync, readFileSync } from "node:fs";
import { mcrArgv } from "../helpers/mcr.ts";
import { SupervisorDriver } from "../helpers/supervisor.ts";
import { expectPayloads, receiveInSink, sendFromGen } from "../helpers/traffic.ts";
import { WorkerDriver } from "../helpers/worker.ts";
import type { WorkerCounters } from "../../src/types/counters.ts";

const MODES = ["adaptive", "busy", "sleep"] as const;

/** The command lines of pid's children. */
function childArgv(pid: number): string[][] {
  const out: string[][] = [];
  for (const d of readdirSync("/proc")) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const ppid = /^PPid:\s+(\d+)/m.exec(readFileSync(`/proc/${d}/status`, "utf8"))?.[1];
      if (Number(ppid) === pid) out.push(readFileSync(`/proc/${d}/cmdline`, "utf8").split("\0"));
    } catch {} // gone meanwhile
  }
  return out;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

describeNetns("poll", (labs) => {
  test("--poll with an unknown mode is refused with exit 64, naming the flag", () => {
    for (const cmd of [
      ["supervisor", "--interface", "lo"],
      ["worker", "--interface", "lo"],
    ]) {
      const r = Bun.spawnSync([...mcrArgv(), ...cmd, "--poll", "bogus"], { stderr: "pipe", stdout: "pipe" });
      expect({ cmd: cmd[0], code: r.exitCode, err: r.stderr.toString().trim() }).toEqual({
        cmd: cmd[0],
        code: 64,
        err: 'mcr: --poll: unknown poll mode "bogus" (use adaptive, busy or sleep)',
      });
    }
  });

  for (const mode of MODES)
    test(`--poll ${mode}: the workers get it; single datagrams at idle arrive at once, a burst arrives whole`, async () => {
      const lab = labs.chain();
      const sup = new SupervisorDriver(lab, "relay", ["veth1"], ["--poll", mode, "--workers", "1"]);
      await sup.ready();
      const workers = childArgv(sup.proc.pid).filter((a) => a.includes("worker"));
      expect(workers.length).toBe(1);
      expect(workers[0]!.slice(workers[0]!.indexOf("--poll"), workers[0]!.indexOf("--poll") + 2)).toEqual([
        "--poll",
        mode,
      ]);
      sup.addRule("239.1.1.1", 5001, "239.10.10.10:6001:veth3");

      // Idle: one datagram every 100 ms, each one alone in the rings.
      const single = receiveInSink(lab, { group: "239.10.10.10", port: 6001, count: 5 });
      await single.listening;
      const sent = sendFromGen(lab, { dest: "239.1.1.1", port: 5001, count: 5, size: 200, seed: 3, gapUs: 100_000 });
      const got = await single.result;
      expectPayloads(got.payloads, 3, 5, 200);
      const latencies = got.at.map((t, i) => t - sent.sentAt[i]!);
      console.log(`${mode}: single datagram latencies ${latencies.map((l) => l.toFixed(2)).join(", ")} ms`);
      expect(median(latencies)).toBeLessThan(5);

      // A burst, as fast as the sender goes.
      const burst = receiveInSink(lab, { group: "239.10.10.10", port: 6001, count: 3000 });
      await burst.listening;
      sendFromGen(lab, { dest: "239.1.1.1", port: 5001, count: 3000, size: 1024, seed: 4 });
      expectPayloads((await burst.result).payloads, 4, 3000, 1024);
    }, 30000);

  const RULE = {
    id: 1,
    inputInterface: "veth1",
    inputGroup: "239.1.1.1",
    inputPort: 5001,
    outputs: [{ group: "239.10.10.10", port: 6001, interface: "veth3", ttl: 1 }],
  };

  const delta = (a: WorkerCounters, b: WorkerCounters) => ({
    rxFrames: b.rxFrames - a.rxFrames,
    wakeups: b.wakeups - a.wakeups,
    spins: b.spins - a.spins,
    spinHits: b.spinHits - a.spinHits,
  });

  for (const mode of MODES)
    test(`--poll ${mode}: the counters say how the worker waited through a burst`, async () => {
      const lab = labs.chain();
      const w = new WorkerDriver(lab, "relay", ["veth1"], ["--poll", mode]);
      await w.ready();
      expect((await w.setRules([RULE])).errors).toEqual([]);
      const rx = receiveInSink(lab, { group: "239.10.10.10", port: 6001, count: 5000 });
      await rx.listening;
      const before = await w.stats();
      sendFromGen(lab, { dest: "239.1.1.1", port: 5001, count: 5000, size: 512, seed: 6 });
      expectPayloads((await rx.result).payloads, 6, 5000, 512);
      const d = delta(before, await w.stats());
      console.log(`${mode}: ${JSON.stringify(d)}`);
      expect(d.rxFrames).toBeGreaterThanOrEqual(5000);
      if (mode === "busy") {
        // It never sleeps while it has a ring, and spins are adaptive mode's.
        expect({ wakeups: d.wakeups, spins: d.spins, spinHits: d.spinHits }).toEqual({
          wakeups: 0,
          spins: 0,
          spinHits: 0,
        });
      } else if (mode === "sleep") {
        expect({ spins: d.spins, spinHits: d.spinHits }).toEqual({ spins: 0, spinHits: 0 });
        expect(d.wakeups).toBeGreaterThan(0);
      } else {
        // It spun after batches (whether a spin found frames depends on the sender's timing and on
        // who shares the worker's CPU: printed, not asserted), and took the burst with fewer
        // wakeups than frames.
        expect(d.spins).toBeGreaterThan(0);
        expect(d.spinHits).toBeLessThanOrEqual(d.spins);
        expect(d.wakeups).toBeLessThan(d.rxFrames);
      }
    }, 30000);
});
