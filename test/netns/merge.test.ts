// Merge rules (issue 14) at the worker: two legs on two interfaces (two veth pairs into the
// relay), RTP frames on each with independent loss, one stream out. Every sequence number present
// on a leg arrives exactly once, in order, byte for byte; what both legs lost is counted lost, the
// other copies duplicates; the same with two workers in one fanout group; one leg 20 ms behind
// (tc netem) within a 50 ms window; a hole that no leg fills is given up after the window with no
// more traffic to wake the worker; failover after silence and revert after steadiness.
import { beforeAll, expect, test } from "bun:test";
import { buildFrame, setUdpChecksum, toHex } from "../helpers/frames.ts";
import { type Lab, sh } from "../helpers/lab.ts";
import { delaySends, HAVE_NETEM } from "../helpers/netem.ts";
import { describeNetns, type Labs } from "../helpers/suite.ts";
import { receiveInSink } from "../helpers/traffic.ts";
import { udpCounters } from "../helpers/snmp.ts";
import { buildWireTools, INJECT } from "../helpers/wire.ts";
import { WorkerDriver } from "../helpers/worker.ts";
import type { Rule } from "../../src/types/rules.ts";
import type { MergeCount } from "../../src/types/counters.ts";
import { monotonicNs } from "../../src/native/shim.ts";

const OUT = { group: "239.9.9.9", port: 5099, interface: "veth3", ttl: 4 };
const LEG_A = { interface: "veth1", group: "239.1.1.1", port: 5001, src: "10.0.0.1" };
const LEG_B = { interface: "veth5", group: "239.2.1.1", port: 5001, src: "10.0.2.1" };

/** gen: veth0 (leg A) and veth4 (leg B) into the relay's veth1 and veth5; relay veth3 -> sink veth2. */
function mergeLab(labs: Labs): Lab {
  const lab = labs.empty();
  for (const r of ["gen", "relay", "sink"]) lab.addNs(r);
  lab.veth("gen", "veth0", "relay", "veth1");
  lab.veth("gen", "veth4", "relay", "veth5");
  lab.veth("relay", "veth3", "sink", "veth2");
  lab.addr("relay", "veth1", "10.0.0.2/24");
  lab.addr("relay", "veth5", "10.0.2.2/24");
  lab.addr("relay", "veth3", "10.0.1.1/24");
  lab.addr("sink", "veth2", "10.0.1.2/24");
  lab.route("sink", "224.0.0.0/4", "veth2");
  return lab;
}

function rule(merge: Rule["merge"]): Rule {
  return {
    id: 1,
    name: "cam",
    inputInterface: LEG_A.interface,
    inputGroup: LEG_A.group,
    inputPort: LEG_A.port,
    outputs: [OUT],
    merge,
  };
}

const RTP_MERGE: Rule["merge"] = {
  mode: "rtp",
  legs: [{ interface: LEG_B.interface, group: LEG_B.group, port: LEG_B.port }],
  windowMs: 50,
};

/** An RTP packet: version 2, payload type 96, the sequence number, an SSRC, a body made from both. */
function rtp(seq: number, ssrc = 0x5eed0001, size = 200): Uint8Array {
  const p = new Uint8Array(size);
  const v = new DataView(p.buffer);
  p[0] = 0x80;
  p[1] = 96;
  v.setUint16(2, seq & 0xffff);
  v.setUint32(4, seq * 90);
  v.setUint32(8, ssrc);
  for (let i = 12; i < size; i++) p[i] = (seq * 31 + i * 7 + (ssrc & 0xff)) & 0xff;
  return p;
}

const frameOn = (leg: typeof LEG_A, payload: Uint8Array) =>
  toHex(buildFrame({ dst: leg.group, dport: leg.port, src: leg.src, payload }));

/** Sends the lines (`K HEX`: a frame on leg K; `w MS`: a pause) from the generator. */
function send(lab: Lab, lines: string[]): void {
  const frames = lines.filter((l) => !l.startsWith("w")).length;
  const r = lab.exec("gen", [INJECT, "--legs", "veth0", "veth4"], { input: lines.join("\n") + "\n", timeoutMs: 60000 });
  expect(r.stderr).toBe("");
  expect(r.stdout.trim()).toBe(String(frames));
}

/** A reproducible stream of random numbers in [0, 1). */
function random(seed: number) {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 2 ** 32;
  };
}

async function mergeStats(workers: WorkerDriver[]): Promise<MergeCount> {
  const all = (await Promise.all(workers.map((w) => w.stats()))).map((c) => c.merges?.["1"]).filter((m) => m);
  expect(all.length).toBe(1); // one worker merges the rule
  return all[0]!;
}

interface Legs {
  first: number; // the first sequence number (the stream runs through the 16-bit wrap from near its end)
  n: number;
  loss: number; // each leg's, at random, independently
  perMs: number; // packets a millisecond on each leg
  lagMs?: number; // leg B this much behind leg A
  aDown?: [number, number]; // leg A sends none of these (from, to) sequence offsets
  // from this offset on, another SSRC and sequence numbers from 30000 (the sender restarted);
  // neither leg loses a packet within 300 of it
  restartAt?: number;
  seed: number;
}

/**
 * The lines that send a stream on both legs as o says, in time order, and what the sink must get
 * (every sequence number on some leg, in order), how many both legs lost, and each leg's count.
 */
function twoLegs(o: Legs) {
  const rnd = random(o.seed);
  const events: { at: number; line: string }[] = [];
  const want: string[] = [];
  const onA: string[] = []; // what leg A brought
  let bothLost = 0;
  let keptA = 0;
  let keptB = 0;
  for (let i = 0; i < o.n; i++) {
    const restarted = o.restartAt !== undefined && i >= o.restartAt;
    const seq = restarted ? 30000 + i - o.restartAt! : (o.first + i) & 0xffff;
    // The first and the last are on both legs: the stream starts there, and no hole is left open.
    const edge = i === 0 || i === o.n - 1 || (o.restartAt !== undefined && Math.abs(i - o.restartAt) < 300);
    const a = (edge || rnd() >= o.loss) && !(o.aDown && i >= o.aDown[0] && i < o.aDown[1]);
    const b = edge || rnd() >= o.loss;
    const p = rtp(seq, restarted ? 0xbeef0002 : undefined);
    const at = i / o.perMs;
    // Within a millisecond, leg B's copy comes first now and then.
    if (a) events.push({ at: at + (rnd() < 0.3 ? 0.001 : 0), line: `0 ${frameOn(LEG_A, p)}` });
    if (b) events.push({ at: at + (o.lagMs ?? 0), line: `1 ${frameOn(LEG_B, p)}` });
    keptA += a ? 1 : 0;
    keptB += b ? 1 : 0;
    if (a) onA.push(toHex(p));
    if (a || b) want.push(toHex(p));
    else bothLost++;
  }
  events.sort((x, y) => x.at - y.at);
  const lines: string[] = [];
  let ms = 0;
  for (const e of events) {
    for (; ms + 1 <= e.at; ms++) lines.push("w 1");
    lines.push(e.line);
  }
  return { lines, want, onA, bothLost, keptA, keptB };
}

const LOSSY: Legs = { first: 65535 - 1500, n: 4000, loss: 0.05, perMs: 8, seed: 14 };

async function lossyRun(lab: Lab, workers: WorkerDriver[], o: Legs = LOSSY, lateOk = false) {
  const s = twoLegs(o);
  const rx = receiveInSink(lab, { group: OUT.group, port: OUT.port, count: s.want.length, idleMs: 2000 });
  await rx.listening;
  send(lab, s.lines);
  const got = await rx.result;
  expect(got.count).toBe(s.want.length);
  expect(got.payloads).toEqual(s.want);
  const m = await mergeStats(workers);
  expect(m.out).toBe(s.want.length);
  expect(m.lost).toBe(s.bothLost);
  expect(m.held).toBe(0);
  const [a, b] = m.legs;
  expect([a!.packets, b!.packets]).toEqual([s.keptA, s.keptB]);
  expect(a!.unique + b!.unique).toBe(s.want.length);
  expect(a!.duplicates + b!.duplicates).toBe(s.keptA + s.keptB - s.want.length);
  expect([a!.notRtp, b!.notRtp]).toEqual([0, 0]);
  // A restart: copies of the old stream read after the new one began are late.
  if (!lateOk) expect([a!.late, b!.late]).toEqual([0, 0]);
  // The workers' clock is CLOCK_MONOTONIC, which the supervisor reads to say how long ago.
  for (const l of [a!, b!]) expect((monotonicNs() - l.lastSeenNs) / 1e9).toBeWithin(0, 30);
  return m;
}

describeNetns(
  "merge",
  (labs) => {
    beforeAll(() => buildWireTools());

    test("rtp, two legs with independent 5% loss through the wrap: each sequence present on a leg once, in order", async () => {
      const lab = mergeLab(labs);
      const w = new WorkerDriver(lab, "relay", ["veth1", "veth5"]);
      await w.ready();
      expect((await w.setRules([rule(RTP_MERGE)])).errors).toEqual([]);
      await lossyRun(lab, [w]);
      const c = await w.stats();
      expect(c.drops.no_rule).toBe(0);
      expect(c.ringDrops).toBe(0);
      expect(c.rules["1"]!.packets).toBe(c.merges!["1"]!.legs[0]!.packets + c.merges!["1"]!.legs[1]!.packets);
    }, 60000);

    test("rtp with 2 workers in one fanout group: the rule's owner merges both legs, with the same result", async () => {
      const lab = mergeLab(labs);
      const workers = [0, 1].map(
        () => new WorkerDriver(lab, "relay", ["veth1", "veth5"], ["--fanout-id", String(4200 + (process.pid % 1000))]),
      );
      await Promise.all(workers.map((w) => w.ready()));
      for (const [index, w] of workers.entries())
        expect((await w.setRules([rule(RTP_MERGE)], { index, count: 2 })).errors).toEqual([]);
      await lossyRun(lab, workers);
      // Rule 1 is worker 1's (1 % 2): worker 0 took none of its frames.
      const [c0, c1] = await Promise.all(workers.map((w) => w.stats()));
      expect(c0!.merges).toBeUndefined();
      expect(c0!.rules["1"]).toBeUndefined();
      expect(c0!.drops.no_rule).toBe(0);
      expect(c1!.merges!["1"]!.out).toBeGreaterThan(0);
    }, 60000);

    test("rtp, leg B 20 ms behind (sent so) within a 50 ms window: the same", async () => {
      const lab = mergeLab(labs);
      const w = new WorkerDriver(lab, "relay", ["veth1", "veth5"]);
      await w.ready();
      expect((await w.setRules([rule(RTP_MERGE)])).errors).toEqual([]);
      await lossyRun(lab, [w], { ...LOSSY, perMs: 4, lagMs: 20 });
    }, 60000);

    test("rtp, leg A dead for 2 s while leg B goes on: no loss", async () => {
      const lab = mergeLab(labs);
      const w = new WorkerDriver(lab, "relay", ["veth1", "veth5"]);
      await w.ready();
      expect((await w.setRules([rule(RTP_MERGE)])).errors).toEqual([]);
      const m = await lossyRun(lab, [w], { first: 100, n: 3000, loss: 0, perMs: 1, aDown: [500, 2500], seed: 3 });
      expect(m.lost).toBe(0);
      // The 2,000 that only leg B brought are its (of the others, whichever copy the worker read first).
      expect(m.legs[1]!.unique).toBeGreaterThanOrEqual(2000);
      expect(m.legs[0]!.gaps).toBe(2000);
    }, 60000);

    test.skipIf(!HAVE_NETEM)(
      "rtp, leg B 20 ms behind (tc netem) within a 50 ms window: the same",
      async () => {
        const lab = mergeLab(labs);
        expect(delaySends(lab, "gen", "veth4", 20).stderr).toBe("");
        const w = new WorkerDriver(lab, "relay", ["veth1", "veth5"]);
        await w.ready();
        expect((await w.setRules([rule(RTP_MERGE)])).errors).toEqual([]);
        await lossyRun(lab, [w], { ...LOSSY, perMs: 4 });
      },
      60000,
    );

    test("rtp, the sender restarts (a new SSRC, the sequence far away): taken up without a hole", async () => {
      const lab = mergeLab(labs);
      const w = new WorkerDriver(lab, "relay", ["veth1", "veth5"]);
      await w.ready();
      expect((await w.setRules([rule(RTP_MERGE)])).errors).toEqual([]);
      const m = await lossyRun(lab, [w], { ...LOSSY, n: 3000, perMs: 4, restartAt: 1500 }, true);
      expect(m.restarts).toBe(1);
    }, 60000);

    test("rtp, leg B 150 ms behind a 50 ms window: its copies late, counted; A's holes lost", async () => {
      const lab = mergeLab(labs);
      const w = new WorkerDriver(lab, "relay", ["veth1", "veth5"]);
      await w.ready();
      expect((await w.setRules([rule(RTP_MERGE)])).errors).toEqual([]);
      const s = twoLegs({ first: 7, n: 2000, loss: 0.05, perMs: 2, lagMs: 150, seed: 9 });
      const want = s.onA; // what A brought, alone, in order
      const rx = receiveInSink(lab, { group: OUT.group, port: OUT.port, count: want.length, idleMs: 2000 });
      await rx.listening;
      send(lab, s.lines);
      const got = await rx.result;
      expect(got.payloads).toEqual(want);
      const m = (await w.stats()).merges!["1"]!;
      expect([m.out, m.lost]).toEqual([want.length, 2000 - want.length]);
      expect([m.legs[1]!.packets, m.legs[1]!.late, m.legs[1]!.unique, m.legs[1]!.duplicates]).toEqual([
        s.keptB,
        s.keptB,
        0,
        0,
      ]);
    }, 60000);

    test("a packet lost on both legs: once both have gone past it, what waits behind it goes at once, not after the window", async () => {
      const lab = mergeLab(labs);
      const w = new WorkerDriver(lab, "relay", ["veth1", "veth5"]);
      await w.ready();
      expect((await w.setRules([rule({ ...RTP_MERGE, windowMs: 5000 } as Rule["merge"])])).errors).toEqual([]);
      const seqs = [1, 2, 3, 4, 6];
      const rx = receiveInSink(lab, { group: OUT.group, port: OUT.port, count: seqs.length, idleMs: 8000 });
      await rx.listening;
      // Both legs, interleaved, lose 5; leg B's 6, the last frame, is a copy of the held 6 and
      // takes the last leg past the hole.
      const started = Date.now();
      send(
        lab,
        seqs.flatMap((q) => [`0 ${frameOn(LEG_A, rtp(q))}`, `1 ${frameOn(LEG_B, rtp(q))}`]),
      );
      const got = await rx.result;
      expect(got.payloads).toEqual(seqs.map((q) => toHex(rtp(q))));
      expect(got.at[4]! - started).toBeLessThan(2500); // the window is 5 s
      const m = (await w.stats()).merges!["1"]!;
      expect([m.out, m.lost, m.held, m.legs[1]!.duplicates]).toEqual([5, 1, 0, 5]);
    }, 30000);

    test("a hole no leg fills: what waits behind it goes after the window, with nothing else to wake the worker", async () => {
      const lab = mergeLab(labs);
      const w = new WorkerDriver(lab, "relay", ["veth1", "veth5"]);
      await w.ready();
      expect((await w.setRules([rule(RTP_MERGE)])).errors).toEqual([]);
      const seqs = [1, 2, 3, 4, 6, 7, 8, 9, 10];
      const rx = receiveInSink(lab, { group: OUT.group, port: OUT.port, count: seqs.length, idleMs: 3000 });
      await rx.listening;
      // A frame without an RTP version 2 header on a leg: counted, nothing else disturbed.
      const notRtp = new Uint8Array(40).fill(0x11);
      send(lab, [...seqs.map((s) => `0 ${frameOn(LEG_A, rtp(s))}`), `1 ${frameOn(LEG_B, notRtp)}`]);
      const started = Date.now();
      const got = await rx.result;
      expect(got.payloads).toEqual(seqs.map((s) => toHex(rtp(s))));
      // 6..10 came out once the 50 ms window ended, not at the receiver's 3 s idle limit.
      expect(got.at[8]! - started).toBeLessThan(1000);
      const c = await w.stats();
      const m = c.merges!["1"]!;
      expect([m.out, m.lost, m.held]).toEqual([9, 1, 0]);
      expect(m.legs[1]!.notRtp).toBe(1);
      expect(c.drops.not_rtp).toBe(1);
      // 5 on leg B now: late (its hole was given up), not sent.
      send(lab, [`1 ${frameOn(LEG_B, rtp(5))}`]);
      await Bun.sleep(200);
      const after = (await w.stats()).merges!["1"]!;
      expect([after.out, after.legs[1]!.late]).toEqual([9, 1]);
    }, 30000);

    // A held copy keeps its headers' sum (its frame's headers are gone by the time it goes):
    // the packet path keeps a wrong sum wrong, a UDP socket would make it right and drops it;
    // a right one held beside it goes by either.
    for (const egress of ["ring", "socket"] as const)
      test(`--egress ${egress}: a held copy whose UDP checksum was wrong on input does not leave with a right one; a right one held beside it goes`, async () => {
        const lab = mergeLab(labs);
        const w = new WorkerDriver(lab, "relay", ["veth1", "veth5"], ["--egress", egress]);
        await w.ready();
        expect((await w.setRules([rule({ ...RTP_MERGE, windowMs: 2000 } as Rule["merge"])])).errors).toEqual([]);
        const rx = receiveInSink(lab, { group: OUT.group, port: OUT.port, count: 3, idleMs: 1500 });
        await rx.listening;
        const csumBefore = udpCounters(lab, "sink").InCsumErrors!;
        const onA = (q: number) => buildFrame({ dst: LEG_A.group, dport: LEG_A.port, src: LEG_A.src, payload: rtp(q) });
        const bad = setUdpChecksum(onA(3), 0x5a00); // a UDP checksum, wrong
        const right = setUdpChecksum(onA(4)); // a UDP checksum, right: checked, and it goes
        // 3 (wrong) and 4 (right) wait behind the hole at 2, which leg B fills.
        send(lab, [
          `0 ${frameOn(LEG_A, rtp(1))}`,
          `0 ${toHex(bad)}`,
          `0 ${toHex(right)}`,
          "w 100",
          `1 ${frameOn(LEG_B, rtp(2))}`,
        ]);
        const got = await rx.result;
        expect(got.payloads).toEqual([1, 2, 4].map((q) => toHex(rtp(q))));
        const c = await w.stats();
        const m = c.merges!["1"]!;
        expect({
          out: m.out,
          held: m.held,
          sent: c.txPackets,
          udpChecksumDrops: c.drops.udp_checksum,
          sinkCsumErrors: udpCounters(lab, "sink").InCsumErrors! - csumBefore,
        }).toEqual(
          egress === "socket"
            ? { out: 4, held: 0, sent: 3, udpChecksumDrops: 1, sinkCsumErrors: 0 }
            : { out: 4, held: 0, sent: 4, udpChecksumDrops: 0, sinkCsumErrors: 1 },
        );
      }, 30000);

    test("--ingress blocks: the rule turned from rtp to failover and back moves its legs between a ring of blocks and one of frames; every packet goes once", async () => {
      const lab = mergeLab(labs);
      const w = new WorkerDriver(lab, "relay", ["veth1", "veth5"], ["--ingress", "blocks"]);
      await w.ready();
      const failover: Rule["merge"] = {
        mode: "failover",
        legs: [{ interface: LEG_B.interface, group: LEG_B.group, port: LEG_B.port }],
        failoverAfterMs: 100,
      };
      // Each phase: sequence numbers on both legs, after the table of that phase is in.
      const phases: [Rule["merge"], string, number][] = [
        // One leg on each interface: blocks of the usual 32 KiB.
        [RTP_MERGE, "rtp): blocks of 32 KiB", 0],
        [failover, "failover): frames", 100],
        [RTP_MERGE, "rtp): blocks of 32 KiB", 200],
      ];
      const got: string[] = [];
      for (const [merge, ring, from] of phases) {
        expect((await w.setRules([rule(merge)])).errors).toEqual([]);
        const seqs = Array.from({ length: 100 }, (_, i) => from + i);
        const rx = receiveInSink(lab, { group: OUT.group, port: OUT.port, count: seqs.length, idleMs: 1500 });
        await rx.listening;
        send(
          lab,
          seqs.flatMap((q) => [`0 ${frameOn(LEG_A, rtp(q))}`, `1 ${frameOn(LEG_B, rtp(q))}`, "w 1"]),
        );
        got.push(...(await rx.result).payloads);
        for (const name of ["veth1", "veth5"]) expect(w.stderr).toContain(`${name}: merge ring open (${ring}`);
      }
      expect(got).toEqual(Array.from({ length: 300 }, (_, q) => toHex(rtp(q))));
      // Each change closed the ring the rule left and opened the one it came to.
      const opened = (what: string) => w.stderr.split(`veth1: merge ring open (${what}`).length - 1;
      expect([opened("rtp"), opened("failover")]).toEqual([2, 1]);
      const c = await w.stats();
      expect([c.rxForeign, c.drops.no_rule, c.ringDrops]).toEqual([0, 0, 0]);
    }, 60000);

    test("a merge whose settings change sends what it held first, in order", async () => {
      const lab = mergeLab(labs);
      const w = new WorkerDriver(lab, "relay", ["veth1", "veth5"]);
      await w.ready();
      const slow = rule({ ...RTP_MERGE, windowMs: 5000 } as Rule["merge"]);
      expect((await w.setRules([slow])).errors).toEqual([]);
      const seqs = [1, 2, 3, 4, 6, 7, 8, 9, 10];
      const rx = receiveInSink(lab, { group: OUT.group, port: OUT.port, count: seqs.length, idleMs: 3000 });
      await rx.listening;
      const started = Date.now();
      send(
        lab,
        seqs.map((s) => `0 ${frameOn(LEG_A, rtp(s))}`),
      );
      await Bun.sleep(300);
      expect((await w.stats()).merges!["1"]!.held).toBe(5);
      expect((await w.setRules([rule(RTP_MERGE)])).errors).toEqual([]);
      const got = await rx.result;
      expect(got.payloads).toEqual(seqs.map((s) => toHex(rtp(s))));
      expect(got.at[8]! - started).toBeLessThan(2500); // not at the old window's 5 s
      const m = (await w.stats()).merges!["1"]!;
      expect([m.out, m.lost, m.held]).toEqual([9, 1, 0]);
    }, 30000);

    // --ingress blocks: a failover's rings stay rings of frames (blocks of the two legs, each
    // handed over on its own timer, broke the arrival order, and the revert sent a packet twice).
    for (const [n, ingress] of [
      [1, "frames"],
      [2, "frames"],
      [1, "blocks"],
    ] as const)
      test(`failover, ${n} worker(s), --ingress ${ingress}: leg B after 100 ms of silence on leg A, back to A after 300 ms of steadiness; each switch counted`, async () => {
        const lab = mergeLab(labs);
        const fanout = ["--fanout-id", String(4300 + (process.pid % 1000)), "--ingress", ingress];
        const workers = Array.from({ length: n }, () => new WorkerDriver(lab, "relay", ["veth1", "veth5"], fanout));
        await Promise.all(workers.map((x) => x.ready()));
        const w = workers[1 % n]!; // rule 1's owner
        const merge: Rule["merge"] = {
          mode: "failover",
          legs: [{ interface: LEG_B.interface, group: LEG_B.group, port: LEG_B.port }],
          failoverAfterMs: 100,
          revertAfterMs: 300,
        };
        for (const [index, x] of workers.entries())
          expect((await x.setRules([rule(merge)], { index, count: n })).errors).toEqual([]);
        // The same packets on both legs, one every ms or so; leg A silent from 200 to 599.
        const lines: string[] = [];
        for (let seq = 0; seq < 1200; seq++) {
          const p = rtp(seq);
          if (seq < 200 || seq >= 600) lines.push(`0 ${frameOn(LEG_A, p)}`);
          lines.push(`1 ${frameOn(LEG_B, p)}`, "w 1");
        }
        const rx = receiveInSink(lab, { group: OUT.group, port: OUT.port, count: 1200, idleMs: 1500 });
        await rx.listening;
        send(lab, lines);
        const got = (await rx.result).payloads.map((h) => Buffer.from(h, "hex").readUInt16BE(2));
        // 0..199 from A; nothing for the 100 ms of silence; then every one to the end, once, in order.
        expect(got.slice(0, 200)).toEqual(Array.from({ length: 200 }, (_, i) => i));
        const resumed = got[200]!;
        expect(resumed).toBeGreaterThan(200);
        expect(resumed).toBeLessThan(400);
        expect(got.slice(200)).toEqual(Array.from({ length: 1200 - resumed }, (_, i) => resumed + i));
        const m = (await w.stats()).merges!["1"]!;
        expect([m.switches, m.active]).toEqual([2, 0]);
        expect(m.out).toBe(got.length);
        expect(m.legs[0]!.unique + m.legs[1]!.unique).toBe(got.length);
        expect(w.stderr).toContain("rule cam: input 1 (veth5 239.2.1.1:5001) forwarded now (switch 1)");
        expect(w.stderr).toContain("rule cam: input 0 (veth1 239.1.1.1:5001) forwarded now (switch 2)");
      }, 30000);
  },
  { skip: sh(["tc", "-V"]).code !== 0 ? "needs tc (iproute2)" : undefined },
);
