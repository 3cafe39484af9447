// Several workers on one interface (PACKET_FANOUT, hash mode) and workers that die under load.
import { expect, test } from "bun:test";
import { describeNetns } from "../helpers/suite.ts";
import { startSupervisor } from "../helpers/supervisor.ts";
import { receiveInSink, sendFromGen } from "../helpers/traffic.ts";
import { payloadFor } from "../helpers/payloads.ts";
import { mcrArgv } from "../helpers/mcr.ts";

describeNetns("workers", (labs) => {
  test("2 workers, 24 flows: every datagram arrives exactly once, in order within its flow", async () => {
    const lab = labs.chain();
    const sup = await startSupervisor(lab, ["--workers", "2"]);
    sup.addRule("239.1.1.1", 5001, "239.9.9.9:5099:veth3");
    const FLOWS = 24;
    const PER_FLOW = 250;
    const rx = receiveInSink(lab, { group: "239.9.9.9", port: 5099, count: FLOWS * PER_FLOW });
    await rx.listening;
    sendFromGen(lab, { dest: "239.1.1.1", port: 5001, count: FLOWS * PER_FLOW, size: 200, seed: 1000, flows: FLOWS });
    const got = await rx.result;
    expect(got.count).toBe(FLOWS * PER_FLOW);

    const byFlow = new Map<number, string[]>();
    for (const p of got.payloads) {
      const seed = Buffer.from(p, "hex").readUInt32BE(0);
      byFlow.set(seed, [...(byFlow.get(seed) ?? []), p]);
    }
    expect(byFlow.size).toBe(FLOWS);
    for (const [seed, payloads] of byFlow) {
      const want = Array.from({ length: PER_FLOW }, (_, i) => Buffer.from(payloadFor(seed, i, 200)).toString("hex"));
      expect(payloads).toEqual(want);
    }
    // Both workers carried traffic: the flows were spread, not all hashed to one.
    const stats = sup.stats();
    const perWorker: number[] = stats.workers.map((w: any) => w.rxFrames ?? w.counters?.rxFrames ?? 0);
    expect(perWorker.length).toBe(2);
    for (const n of perWorker) expect(n).toBeGreaterThan(0);
  }, 60000);

  test("SIGKILL the worker while 150,000 pps flow: restarted with its rules, loss bounded by the restart", async () => {
    const lab = labs.chain();
    const sup = await startSupervisor(lab, ["--workers", "1"]);
    sup.addRule("239.1.1.1", 5001, "239.9.9.9:5099:veth3");
    const RATE = 150000;
    const COUNT = 450000; // 3 s
    const sink = lab.spawn("sink", [
      ...mcrArgv(),
      "sink",
      "--group",
      "239.9.9.9:5099",
      "--interface",
      "veth2",
      "--expect",
      String(COUNT),
      "--timeout",
      "3",
      "--json",
    ]);
    await Bun.sleep(500);
    const gen = lab.spawn("gen", [
      ...mcrArgv(),
      "gen",
      "--dest",
      "239.1.1.1:5001",
      "--interface",
      "veth0",
      "--rate",
      String(RATE),
      "--count",
      String(COUNT),
      "--size",
      "1024",
      "--json",
    ]);

    await Bun.sleep(1000);
    const before = sup.stats();
    const pid: number = before.workers[0].pid;
    expect(pid).toBeGreaterThan(0);
    process.kill(pid, "SIGKILL");

    const genOut = JSON.parse(await new Response(gen.stdout).text());
    await gen.exited;
    await sink.exited;
    const s = JSON.parse(await new Response(sink.stdout).text());
    const after = sup.stats();
    expect(after.workers[0].pid).not.toBe(pid);
    expect(after.workers[0].restarts).toBeGreaterThanOrEqual(1);

    const sent: number = genOut.sent ?? genOut.packets;
    expect(sent).toBe(COUNT);
    const lost: number = s.lost ?? s.totals?.lost;
    const received: number = s.unique ?? s.totals?.unique;
    // Forwarding resumed: the last second of the stream arrived.
    expect(received).toBeGreaterThan(COUNT - RATE);
    // The outage is what was lost, at the offered rate: under one second.
    expect(lost).toBeLessThan(RATE);
    console.log(`worker SIGKILL at ${RATE} pps: lost ${lost} (${((lost / RATE) * 1000).toFixed(0)} ms of traffic)`);
  }, 60000);

  test("two input interfaces, 2 workers: the same group:port on each is its own rule", async () => {
    const lab = labs.chain();
    lab.addNs("gen2");
    lab.veth("gen2", "veth6", "relay", "veth7");
    lab.addr("gen2", "veth6", "10.0.3.1/24");
    lab.addr("relay", "veth7", "10.0.3.2/24");
    lab.exec("gen2", ["ip", "route", "add", "224.0.0.0/4", "dev", "veth6"]);
    const sup = await startSupervisor(lab, ["--workers", "2"], { interfaces: ["veth1", "veth7"] });
    sup.addRule("239.1.1.1", 5001, "239.9.9.1:6001:veth3", ["--input-interface", "veth1"]);
    sup.addRule("239.1.1.1", 5001, "239.9.9.2:6002:veth3", ["--input-interface", "veth7"]);
    const a = receiveInSink(lab, { group: "239.9.9.1", port: 6001, count: 600 });
    const b = receiveInSink(lab, { group: "239.9.9.2", port: 6002, count: 600 });
    await Promise.all([a.listening, b.listening]);
    sendFromGen(lab, { dest: "239.1.1.1", port: 5001, count: 600, size: 300, seed: 70, flows: 6 });
    sendFromGen(lab, {
      role: "gen2",
      source: "10.0.3.1",
      dest: "239.1.1.1",
      port: 5001,
      count: 600,
      size: 300,
      seed: 80,
      flows: 6,
    });
    const seeds = (r: { payloads: string[] }) => new Set(r.payloads.map((p) => Buffer.from(p, "hex").readUInt32BE(0)));
    const ra = await a.result;
    const rb = await b.result;
    expect(ra.count).toBe(600);
    expect(rb.count).toBe(600);
    expect(seeds(ra)).toEqual(new Set([70, 71, 72, 73, 74, 75]));
    expect(seeds(rb)).toEqual(new Set([80, 81, 82, 83, 84, 85]));
    expect(sup.stderr).not.toContain("EINVAL");
  }, 60000);
});
