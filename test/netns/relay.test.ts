// The brief's scenario end to end, against the compiled dist/mcr: supervisor, rules added and
// removed at runtime through the CLI, real packets through veth pairs, checked byte for byte.
import { expect, test } from "bun:test";
import { describeNetns } from "../helpers/suite.ts";
import { must } from "../helpers/lab.ts";
import { startSupervisor } from "../helpers/supervisor.ts";
import { expectPayloads, receiveInSink, sendFromGen, sendInBackground } from "../helpers/traffic.ts";
import { payloadFor } from "../helpers/payloads.ts";

describeNetns("relay end to end", (labs) => {
  test("chain: group and port rewritten, every payload arrives byte for byte and in order", async () => {
    const lab = labs.chain();
    const sup = await startSupervisor(lab);
    const id = sup.addRule("239.1.1.1", 5001, "239.10.10.10:6001:veth3");
    expect(id).toBe(1); // the first rule of a supervisor with an empty state file
    const rx = receiveInSink(lab, { group: "239.10.10.10", port: 6001, count: 2000 });
    const stale = receiveInSink(lab, { group: "239.1.1.1", port: 5001, count: 1, idleMs: 2500 });
    await Promise.all([rx.listening, stale.listening]);
    sendFromGen(lab, { dest: "239.1.1.1", port: 5001, count: 2000, size: 1024, seed: 11 });
    const got = await rx.result;
    expectPayloads(got.payloads, 11, 2000, 1024);
    // Sent from the egress interface's own address, on the new group and port.
    expect(new Set(got.sources.map((s) => s.split(":")[0]))).toEqual(new Set(["10.0.1.1"]));
    expect((await stale.result).count).toBe(0);
  }, 30000);

  test("RPF: unroutable source with rp_filter=1; the kernel drops it, mcr relays all of it", async () => {
    const lab = labs.chain();
    // The generator sends from 192.0.2.10, to which the relay has no route.
    lab.addr("gen", "veth0", "192.0.2.10/24");
    must([
      "ip",
      "netns",
      "exec",
      lab.ns("relay"),
      "sysctl",
      "-qw",
      "net.ipv4.conf.all.rp_filter=1",
      "net.ipv4.conf.veth1.rp_filter=1",
    ]);
    expect(lab.exec("relay", ["ip", "route", "get", "192.0.2.10"]).code).not.toBe(0);

    const sup = await startSupervisor(lab);
    sup.addRule("239.1.1.1", 5001, "239.10.10.10:6001:veth3");
    // A plain socket in the relay joined to the input group: what the kernel path would deliver.
    const kernelPath = receiveInSink(lab, {
      role: "relay",
      group: "239.1.1.1",
      port: 5001,
      ifaddr: "10.0.0.2",
      count: 1,
      idleMs: 3000,
    });
    const rx = receiveInSink(lab, { group: "239.10.10.10", port: 6001, count: 500 });
    await Promise.all([rx.listening, kernelPath.listening]);
    sendFromGen(lab, { dest: "239.1.1.1", port: 5001, count: 500, size: 400, seed: 5, source: "192.0.2.10" });
    expectPayloads((await rx.result).payloads, 5, 500, 400);
    expect((await kernelPath.result).count).toBe(0);
  }, 30000);

  test("fan-out to 3 outputs on 2 interfaces, and a unicast output", async () => {
    const lab = labs.chain();
    lab.addNs("sink2");
    lab.veth("relay", "veth5", "sink2", "veth4");
    lab.addr("relay", "veth5", "10.0.2.1/24");
    lab.addr("sink2", "veth4", "10.0.2.2/24");
    const sup = await startSupervisor(lab);
    sup.addRule("239.1.1.1", 5001, "239.9.9.1:6001:veth3,239.9.9.2:6002:veth3,239.8.8.8:6003:veth5");
    sup.addRule("239.1.1.2", 5002, "10.0.1.2:7000:veth3");
    const a = receiveInSink(lab, { group: "239.9.9.1", port: 6001, count: 300 });
    const b = receiveInSink(lab, { group: "239.9.9.2", port: 6002, count: 300 });
    const c = receiveInSink(lab, { role: "sink2", group: "239.8.8.8", port: 6003, ifaddr: "10.0.2.2", count: 300 });
    const u = receiveInSink(lab, { port: 7000, count: 300 });
    await Promise.all([a.listening, b.listening, c.listening, u.listening]);
    sendFromGen(lab, { dest: "239.1.1.1", port: 5001, count: 300, size: 512, seed: 21 });
    sendFromGen(lab, { dest: "239.1.1.2", port: 5002, count: 300, size: 256, seed: 22 });
    for (const r of [a, b, c]) expectPayloads((await r.result).payloads, 21, 300, 512);
    expectPayloads((await u.result).payloads, 22, 300, 256);
  }, 30000);

  test("removing a rule stops its traffic; other rules keep forwarding", async () => {
    const lab = labs.chain();
    const sup = await startSupervisor(lab);
    const gone = sup.addRule("239.1.1.1", 5001, "239.9.9.1:6001:veth3");
    sup.addRule("239.1.1.2", 5002, "239.9.9.2:6002:veth3");
    const r = sup.mcr(["rule", "remove", String(gone)]);
    expect(r.code).toBe(0);
    const list = JSON.parse(sup.mcr(["rule", "list", "--json"]).stdout);
    expect(JSON.stringify(list)).not.toContain("239.9.9.1");
    const removed = receiveInSink(lab, { group: "239.9.9.1", port: 6001, count: 1, idleMs: 2000 });
    const kept = receiveInSink(lab, { group: "239.9.9.2", port: 6002, count: 100 });
    await Promise.all([removed.listening, kept.listening]);
    sendFromGen(lab, { dest: "239.1.1.1", port: 5001, count: 100, size: 100, seed: 1 });
    sendFromGen(lab, { dest: "239.1.1.2", port: 5002, count: 100, size: 100, seed: 2 });
    expect((await removed.result).count).toBe(0);
    expectPayloads((await kept.result).payloads, 2, 100, 100);
  }, 30000);

  test("a rule added while traffic flows starts it: from then on nothing is missing", async () => {
    const lab = labs.chain();
    const sup = await startSupervisor(lab);
    const COUNT = 3000;
    const rx = receiveInSink(lab, { group: "239.9.9.9", port: 6009, count: COUNT, idleMs: 2000 });
    await rx.listening;
    const sending = sendInBackground(lab, {
      dest: "239.1.1.1",
      port: 5001,
      count: COUNT,
      size: 300,
      seed: 9,
      gapUs: 1000,
    });
    await Bun.sleep(700);
    sup.addRule("239.1.1.1", 5001, "239.9.9.9:6009:veth3");
    await sending;
    const got = (await rx.result).payloads;
    expect(got.length).toBeGreaterThan(COUNT / 4);
    expect(got.length).toBeLessThan(COUNT);
    // The first relayed datagram fixes where we start; every later one must follow in order.
    const first = Buffer.from(got[0]!, "hex").readUInt32BE(4);
    expect(first + got.length).toBe(COUNT);
    for (let i = 0; i < got.length; i++) {
      const want = Buffer.from(payloadFor(9, first + i, 300)).toString("hex");
      if (got[i] !== want) expect({ i, got: got[i] }).toEqual({ i, got: want });
    }
  }, 30000);
});
