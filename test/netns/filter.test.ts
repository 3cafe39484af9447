// The input's kernel filter and the classifier's guards, with real packets: traffic no rule asks
// for never reaches the ring (no drop, not even no_rule), a rule that stays loses nothing while
// the table changes around it, other VLANs' and other hosts' frames are not input, and a UDP
// checksum that was wrong on input is still wrong on output.
import { expect, test } from "bun:test";
import { describeNetns } from "../helpers/suite.ts";
import type { Lab } from "../helpers/lab.ts";
import { WorkerDriver } from "../helpers/worker.ts";
import { buildFrame, setUdpChecksum, toHex } from "../helpers/frames.ts";
import { ROOT } from "../helpers/mcr.ts";
import { expectPayloads, receiveInSink, sendFromGen, sendInBackground } from "../helpers/traffic.ts";
import { udpCounters } from "../helpers/snmp.ts";
import { DROP_REASONS } from "../../src/stats/reasons.ts";
import type { WorkerCounters } from "../../src/types/counters.ts";

const INJECT = `${ROOT}/test/tools/build/inject`;

const rule = (id: number, group: string, port: number, out: string, outPort: number) => ({
  id,
  inputInterface: "veth1",
  inputGroup: group,
  inputPort: port,
  outputs: [{ group: out, port: outPort, interface: "veth3", ttl: 1 }],
});
const RULE = rule(1, "239.1.1.1", 5001, "239.9.9.9", 5099);

const dropsBetween = (a: WorkerCounters, b: WorkerCounters) =>
  Object.fromEntries(DROP_REASONS.map((r) => [r, b.drops[r] - a.drops[r]]));
const noDrops = Object.fromEntries(DROP_REASONS.map((r) => [r, 0]));
const inject = (l: Lab, frames: Uint8Array[]) => {
  const r = l.exec("gen", [INJECT, "veth0"], { input: frames.map(toHex).join("\n") + "\n" });
  expect(r.stderr).toBe("");
  expect(r.stdout.trim()).toBe(String(frames.length));
};
const p = (n: number, seed: number) => new Uint8Array(n).map((_, i) => (i * 17 + seed) & 0xff);

describeNetns("filter", (labs) => {
  test("unrelated traffic (unicast to the relay, other groups and ports, ARP) is no drop and never taken", async () => {
    const lab = labs.chain();
    const w = new WorkerDriver(lab, "relay", ["veth1"]);
    await w.ready();
    expect((await w.setRules([RULE])).errors).toEqual([]);
    const rx = receiveInSink(lab, { group: "239.9.9.9", port: 5099, count: 200 });
    // A socket of the relay's host takes the unicast: real traffic the relay's input also carries.
    const own = receiveInSink(lab, { role: "relay", port: 5001, count: 300 });
    await Promise.all([rx.listening, own.listening]);
    const before = await w.stats();
    sendFromGen(lab, { dest: "10.0.0.2", port: 5001, count: 300, size: 200, seed: 5 }); // the relay's own address
    sendFromGen(lab, { dest: "239.1.1.2", port: 5001, count: 300, size: 200, seed: 6 });
    sendFromGen(lab, { dest: "239.1.1.1", port: 5002, count: 300, size: 200, seed: 7 });
    const arp = buildFrame({ dst: "10.0.0.2", etherType: 0x0806 });
    arp.fill(0xff, 0, 6);
    inject(
      lab,
      Array.from({ length: 100 }, () => arp),
    );
    sendFromGen(lab, { dest: "239.1.1.1", port: 5001, count: 200, size: 700, seed: 8 });
    expectPayloads((await rx.result).payloads, 8, 200, 700);
    expectPayloads((await own.result).payloads, 5, 300, 200);
    const after = await w.stats();
    expect(dropsBetween(before, after)).toEqual(noDrops);
    expect(after.drops.no_rule).toBe(0);
    // Only the rule's 200 frames reached the ring: the kernel turned the other 1,000 away.
    expect(after.rxFrames - before.rxFrames).toBe(200);
    expect(after.ringPackets - before.ringPackets).toBe(200);
    expect(after.rxForeign).toBe(0);
    expect(after.rules["1"]).toEqual({ packets: 200, bytes: 200 * 700 });
  }, 30000);

  test("rules added and removed while a steady stream flows: the steady rule loses 0, duplicates 0", async () => {
    const lab = labs.chain();
    const w = new WorkerDriver(lab, "relay", ["veth1"]);
    await w.ready();
    expect((await w.setRules([RULE])).errors).toEqual([]);
    const COUNT = 3000;
    const rx = receiveInSink(lab, { group: "239.9.9.9", port: 5099, count: COUNT + 1, idleMs: 1500 });
    await rx.listening;
    const sending = sendInBackground(lab, {
      dest: "239.1.1.1",
      port: 5001,
      count: COUNT,
      size: 300,
      seed: 11,
      gapUs: 500,
    });
    // Tables with other rules on the same input come and go, some on the steady rule's group.
    for (let k = 0; k < 40; k++) {
      const others = Array.from({ length: 1 + (k % 5) }, (_, j) =>
        rule(2 + j, j % 2 ? `239.1.1.1` : `239.2.${k}.${j}`, j % 2 ? 6000 + j : 5001, "239.9.9.8", 5098),
      );
      expect((await w.setRules(k % 2 ? [RULE] : [RULE, ...others])).errors).toEqual([]);
      await Bun.sleep(20);
    }
    await sending;
    const got = (await rx.result).payloads;
    expectPayloads(got, 11, COUNT, 300); // every one, once, in order
    const s = await w.stats();
    expect(s.rules["1"]).toEqual({ packets: COUNT, bytes: COUNT * 300 });
    expect(s.drops.no_rule).toBe(0);
  }, 60000);

  test("a frame tagged VLAN 20 or of another host is not input of an untagged rule; an untagged one is", async () => {
    const lab = labs.chain();
    lab.exec("relay", ["ip", "link", "set", "veth1", "promisc", "on"]);
    const w = new WorkerDriver(lab, "relay", ["veth1"]);
    await w.ready();
    expect((await w.setRules([RULE])).errors).toEqual([]);
    const rx = receiveInSink(lab, { group: "239.9.9.9", port: 5099, count: 60, idleMs: 1500 });
    await rx.listening;
    const before = await w.stats();
    const frames: Uint8Array[] = [];
    const want: string[] = [];
    for (let i = 0; i < 100; i++) {
      frames.push(buildFrame({ vlans: [20], payload: p(40, i) })); // another VLAN
      const otherHost = buildFrame({ payload: p(41, i) });
      otherHost.set([0x02, 0, 0, 0, 0, 0x77], 0); // addressed to another host's MAC
      frames.push(otherHost);
      if (i % 5 < 3) {
        const good = buildFrame({ payload: p(42, i) });
        frames.push(good);
        want.push(toHex(p(42, i)));
      }
    }
    inject(lab, frames);
    expect((await rx.result).payloads).toEqual(want);
    const after = await w.stats();
    expect(after.rules["1"]!.packets - (before.rules["1"]?.packets ?? 0)).toBe(60);
    expect(dropsBetween(before, after)).toEqual(noDrops);
    expect(after.rxFrames - before.rxFrames).toBe(60);
    expect(after.rxForeign).toBe(0);
  }, 30000);

  test("a wrong input UDP checksum arrives wrong (or is dropped before a UDP socket); a right one arrives right", async () => {
    const lab = labs.chain();
    const w = new WorkerDriver(lab, "relay", ["veth1"]);
    await w.ready();
    const r = {
      ...RULE,
      outputs: [
        { group: "239.9.9.9", port: 5099, interface: "veth3", ttl: 1 }, // a transmit ring
        { group: "10.0.1.2", port: 5097, interface: "veth3", ttl: 1 }, // a UDP socket
      ],
    };
    expect((await w.setRules([r])).errors).toEqual([]);
    const ring = receiveInSink(lab, { group: "239.9.9.9", port: 5099, count: 100, idleMs: 1500 });
    const sock = receiveInSink(lab, { port: 5097, count: 100, idleMs: 1500 });
    await Promise.all([ring.listening, sock.listening]);
    const before = await w.stats();
    const csum0 = udpCounters(lab, "sink");
    const frames: Uint8Array[] = [];
    const right: string[] = [];
    for (let i = 0; i < 100; i++) {
      const bad = i % 2 === 1;
      frames.push(setUdpChecksum(buildFrame({ payload: p(64 + i, i) }), bad ? 1 + i : 0));
      if (!bad) right.push(toHex(p(64 + i, i)));
    }
    inject(lab, frames);
    expect((await ring.result).payloads).toEqual(right);
    expect((await sock.result).payloads).toEqual(right);
    const csum1 = udpCounters(lab, "sink");
    // The 50 wrong ones reached the sink by the ring and its UDP refused them.
    expect(csum1.InCsumErrors! - csum0.InCsumErrors!).toBe(50);
    expect(csum1.InDatagrams! - csum0.InDatagrams!).toBe(100);
    const after = await w.stats();
    expect(after.rules["1"]!.packets - (before.rules["1"]?.packets ?? 0)).toBe(100);
    expect(after.drops.udp_checksum - before.drops.udp_checksum).toBe(50);
    expect(after.outputs["1:0"]!.packets - (before.outputs["1:0"]?.packets ?? 0)).toBe(100);
    expect(after.outputs["1:1"]!.packets - (before.outputs["1:1"]?.packets ?? 0)).toBe(50);

    // A local sender's datagrams arrive with their checksum unfinished: summed whole, right.
    const gen = receiveInSink(lab, { group: "239.9.9.9", port: 5099, count: 100 });
    await gen.listening;
    sendFromGen(lab, { dest: "239.1.1.1", port: 5001, count: 100, size: 333, seed: 12 });
    expectPayloads((await gen.result).payloads, 12, 100, 333);
    expect(udpCounters(lab, "sink").InCsumErrors! - csum1.InCsumErrors!).toBe(0);
  }, 30000);
});
