// Interfaces that come and go under a running worker: it reopens what it needs by itself.
import { expect, test } from "bun:test";
import { describeNetns } from "../helpers/suite.ts";
import { must, type Lab } from "../helpers/lab.ts";
import { WorkerDriver } from "../helpers/worker.ts";
import { expectPayloads, receiveInSink, sendFromGen } from "../helpers/traffic.ts";

const RULE = {
  id: 7,
  inputInterface: "veth1",
  inputGroup: "239.1.1.1",
  inputPort: 5001,
  outputs: [{ group: "239.8.8.8", port: 6003, interface: "veth5", ttl: 1 }],
};

function addSink2(lab: Lab) {
  lab.veth("relay", "veth5", "sink2", "veth4");
  lab.addr("relay", "veth5", "10.0.2.1/24");
  lab.addr("sink2", "veth4", "10.0.2.2/24");
}

/** Sends bursts until one arrives whole at sink2, or the deadline passes; returns the ms it took. */
async function untilRelayed(lab: Lab, seed: number, deadlineMs = 5000): Promise<number> {
  const t0 = Date.now();
  while (Date.now() - t0 < deadlineMs) {
    const rx = receiveInSink(lab, {
      role: "sink2",
      group: "239.8.8.8",
      port: 6003,
      ifaddr: "10.0.2.2",
      count: 20,
      idleMs: 400,
    });
    await rx.listening;
    sendFromGen(lab, { dest: "239.1.1.1", port: 5001, count: 20, size: 64, seed });
    const got = await rx.result;
    if (got.count === 20) {
      expectPayloads(got.payloads, seed, 20, 64);
      return Date.now() - t0;
    }
  }
  throw new Error("traffic did not resume");
}

describeNetns("interfaces that come and go", (labs) => {
  test("an output interface that appears later, then is deleted and re-created, carries traffic", async () => {
    const lab = labs.chain();
    lab.addNs("sink2");
    const w = new WorkerDriver(lab, "relay", ["veth1"]);
    await w.ready();
    const applied = await w.setRules([RULE]);
    expect(applied.errors.map((e) => e.message)).toEqual(["output 0 (veth5): no such interface"]);
    // While nothing changes, the worker's checks (one a second) say it once: exactly one line.
    await Bun.sleep(2500);
    expect(w.stderr.split("\n").filter((l) => l.includes("veth5"))).toEqual([
      expect.stringContaining("rule 7: output 0 (veth5): no such interface"),
    ]);

    addSink2(lab);
    const appeared = await untilRelayed(lab, 1);
    console.log(`output interface appeared: relaying after ${appeared} ms`);

    must(["ip", "-n", lab.ns("relay"), "link", "del", "veth5"]);
    addSink2(lab);
    const recreated = await untilRelayed(lab, 2);
    console.log(`output interface re-created: relaying after ${recreated} ms`);
    expect(w.proc.exitCode).toBeNull();
    // The worker said what was wrong once, not at every check.
    expect(w.stderr.split("veth5").length - 1).toBeLessThanOrEqual(2);
  }, 30000);
});
