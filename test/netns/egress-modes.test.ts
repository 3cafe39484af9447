// The workers' egress modes (--egress ring|sendmsg|socket|zc|gso) with real packets through
// namespaces: each mode relays a burst byte for byte, in order, with no duplicate; its counters
// say what was sent; a datagram whose UDP checksum was wrong on input does not leave with a right
// one; a datagram whose checksum the relay left to the device (sendmsg, gso) sums right where the
// kernel finishes it in software (transmit checksum offload off on the egress); and gso sends a
// batch of like datagrams as runs that the kernel cuts. Nothing here times performance.
import { expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { describeNetns } from "../helpers/suite.ts";
import { must } from "../helpers/lab.ts";
import { mcrArgv, ROOT } from "../helpers/mcr.ts";
import { buildFrame, toHex } from "../helpers/frames.ts";
import { payloadFor } from "../helpers/payloads.ts";
import { udpCounters } from "../helpers/snmp.ts";
import { expectPayloads, receiveInSink, sendFromGen } from "../helpers/traffic.ts";
import { buildWireTools, inject } from "../helpers/wire.ts";
import { WorkerDriver } from "../helpers/worker.ts";
import { SupervisorDriver } from "../helpers/supervisor.ts";
import { EGRESS_MODES } from "../../src/native/abi.ts";
import type { WorkerCounters } from "../../src/types/counters.ts";

const TXCSUM = `${ROOT}/test/tools/build/txcsum`;

const RULE = {
  id: 1,
  inputInterface: "veth1",
  inputGroup: "239.1.1.1",
  inputPort: 5001,
  outputs: [{ group: "239.10.10.10", port: 6001, interface: "veth3", ttl: 1 }],
};

const COUNT = 3000;

function delta(a: WorkerCounters, b: WorkerCounters) {
  return {
    txPackets: b.txPackets - a.txPackets,
    txBytes: b.txBytes - a.txBytes,
    txErrors: b.txErrors - a.txErrors,
    drops: b.drops.udp_checksum - a.drops.udp_checksum + (b.drops.send_error - a.drops.send_error),
  };
}

describeNetns("egress modes", (labs) => {
  test("--egress with an unknown mode is refused with exit 64, naming the flag", () => {
    for (const cmd of [
      ["supervisor", "--interface", "lo"],
      ["worker", "--interface", "lo"],
    ]) {
      const r = Bun.spawnSync([...mcrArgv(), ...cmd, "--egress", "bogus"], { stderr: "pipe", stdout: "pipe" });
      expect({ cmd: cmd[0], code: r.exitCode, err: r.stderr.toString().trim() }).toEqual({
        cmd: cmd[0],
        code: 64,
        err: 'mcr: --egress: unknown egress mode "bogus" (use ring, sendmsg, socket, zc or gso)',
      });
    }
  });

  test("--egress on the supervisor reaches its workers, which relay by it", async () => {
    const lab = labs.chain();
    const sup = new SupervisorDriver(lab, "relay", ["veth1"], ["--egress", "sendmsg", "--workers", "1"]);
    await sup.ready();
    const workers = Bun.spawnSync(["pgrep", "-a", "-P", String(sup.proc.pid)]).stdout.toString();
    expect(workers).toContain("--egress sendmsg");
    sup.addRule("239.1.1.1", 5001, "239.10.10.10:6001:veth3");
    const rx = receiveInSink(lab, { group: "239.10.10.10", port: 6001, count: 500 });
    await rx.listening;
    sendFromGen(lab, { dest: "239.1.1.1", port: 5001, count: 500, size: 700, seed: 9 });
    expectPayloads((await rx.result).payloads, 9, 500, 700);
  }, 30000);

  for (const mode of EGRESS_MODES)
    test(`--egress ${mode}: a burst byte for byte, in order, no duplicate; counters exact; a wrong checksum stays wrong`, async () => {
      buildWireTools();
      const lab = labs.chain();
      const w = new WorkerDriver(lab, "relay", ["veth1"], ["--egress", mode]);
      await w.ready();
      expect((await w.setRules([RULE])).errors).toEqual([]);
      const rx = receiveInSink(lab, { group: "239.10.10.10", port: 6001, count: COUNT + 10, idleMs: 1500 });
      await rx.listening;
      const before = await w.stats();
      const udpBefore = udpCounters(lab, "sink");
      // A local sender's datagrams: their checksums are unfinished on input (the full sum, or
      // left to the device).
      sendFromGen(lab, { dest: "239.1.1.1", port: 5001, count: COUNT, size: 1024, seed: 5 });
      const got = await rx.result;
      expectPayloads(got.payloads, 5, COUNT, 1024);
      const after = await w.stats();
      expect(delta(before, after)).toEqual({ txPackets: COUNT, txBytes: COUNT * 1024, txErrors: 0, drops: 0 });
      expect(udpCounters(lab, "sink").InDatagrams! - udpBefore.InDatagrams!).toBe(COUNT);

      // Frames with complete checksums, one right and one wrong (injected: not a local socket's).
      const good = payloadFor(6, 0, 300);
      const bad = buildFrame({ dst: "239.1.1.1", dport: 5001, payload: payloadFor(6, 1, 300) });
      bad[40] = bad[40]! ^ 0x5a; // the UDP checksum, wrong now
      const rx2 = receiveInSink(lab, { group: "239.10.10.10", port: 6001, count: 2, idleMs: 1000 });
      await rx2.listening;
      const mid = await w.stats();
      const csumBefore = udpCounters(lab, "sink").InCsumErrors!;
      inject(lab, "gen", "veth0", [buildFrame({ dst: "239.1.1.1", dport: 5001, payload: good }), bad]);
      expect((await rx2.result).payloads).toEqual([toHex(good)]);
      const end = await w.stats();
      // The packet paths keep the wrong sum wrong (the sink's UDP refuses it); a UDP socket would
      // make it right, so the relay drops it there instead.
      const socketPath = mode === "socket" || mode === "zc";
      expect({
        sent: end.txPackets - mid.txPackets,
        udpChecksumDrops: end.drops.udp_checksum - mid.drops.udp_checksum,
        sinkCsumErrors: udpCounters(lab, "sink").InCsumErrors! - csumBefore,
      }).toEqual(
        socketPath
          ? { sent: 1, udpChecksumDrops: 1, sinkCsumErrors: 0 }
          : { sent: 2, udpChecksumDrops: 0, sinkCsumErrors: 1 },
      );
      expect(w.proc.exitCode).toBeNull();
    }, 30000);

  for (const mode of ["sendmsg", "gso"] as const)
    test(`--egress ${mode}: checksums left to the device sum right where the kernel finishes them`, async () => {
      if (!existsSync(TXCSUM)) must(["make", "-C", ROOT, "test/tools/build/txcsum"]);
      const lab = labs.chain();
      // Offload off: the kernel sums (and, for gso, cuts) each CHECKSUM_PARTIAL send before veth,
      // and the sink's UDP verifies every datagram (with offload on, veth's receiver trusts the
      // sender and checks nothing).
      must(["ip", "netns", "exec", lab.ns("relay"), TXCSUM, "veth3", "off"]);
      const w = new WorkerDriver(lab, "relay", ["veth1"], ["--egress", mode]);
      await w.ready();
      expect((await w.setRules([RULE])).errors).toEqual([]);
      const csumBefore = udpCounters(lab, "sink").InCsumErrors!;
      for (const [size, seed] of [
        [1024, 11],
        [9, 12], // odd lengths: the pad byte
        [333, 13],
        [8, 14],
      ] as const) {
        const rx = receiveInSink(lab, { group: "239.10.10.10", port: 6001, count: 200 });
        await rx.listening;
        sendFromGen(lab, { dest: "239.1.1.1", port: 5001, count: 200, size, seed });
        expectPayloads((await rx.result).payloads, seed, 200, size);
      }
      expect(udpCounters(lab, "sink").InCsumErrors! - csumBefore).toBe(0);
    }, 30000);

  for (const offload of ["on", "off"] as const)
    test(`--egress gso: a batch of like datagrams leaves as runs of 64 (offload ${offload}), each datagram whole and in order`, async () => {
      if (!existsSync(TXCSUM)) must(["make", "-C", ROOT, "test/tools/build/txcsum"]);
      const lab = labs.chain();
      must(["ip", "netns", "exec", lab.ns("relay"), TXCSUM, "veth3", offload]);
      const w = new WorkerDriver(lab, "relay", ["veth1"], ["--egress", "gso"]);
      await w.ready();
      expect((await w.setRules([RULE])).errors).toEqual([]);
      const N = 200;
      const rx = receiveInSink(lab, { group: "239.10.10.10", port: 6001, count: N + 1, idleMs: 1500 });
      await rx.listening;
      const before = await w.stats();
      const link = lab.linkCounters("relay", "veth3");
      const csumBefore = udpCounters(lab, "sink").InCsumErrors!;
      // The worker stopped while they arrive: its next batch takes all 200 at once.
      process.kill(w.proc.pid, "SIGSTOP");
      try {
        sendFromGen(lab, { dest: "239.1.1.1", port: 5001, count: N, size: 500, seed: 21 });
      } finally {
        process.kill(w.proc.pid, "SIGCONT");
      }
      expectPayloads((await rx.result).payloads, 21, N, 500);
      const after = await w.stats();
      expect(delta(before, after)).toEqual({ txPackets: N, txBytes: N * 500, txErrors: 0, drops: 0 });
      expect(udpCounters(lab, "sink").InCsumErrors! - csumBefore).toBe(0);
      // veth counts a send as one packet: with offload on, the 200 went as sends of 64, 64, 64 and
      // 8; with it off the kernel cut them before the device.
      expect(lab.linkCounters("relay", "veth3").txPackets - link.txPackets).toBe(offload === "on" ? 4 : N);
    }, 30000);

  test("--egress gso: runs that outgrew an MTU lowered meanwhile count as send errors; what counts as sent arrived", async () => {
    const lab = labs.chain();
    const w = new WorkerDriver(lab, "relay", ["veth1"], ["--egress", "gso"]);
    await w.ready();
    expect((await w.setRules([RULE])).errors).toEqual([]);
    const N = 200;
    const rx = receiveInSink(lab, { group: "239.10.10.10", port: 6001, count: N + 1, idleMs: 1500 });
    await rx.listening;
    const before = await w.stats();
    // The burst waits in the ring of a stopped worker while the MTU drops below its datagrams.
    process.kill(w.proc.pid, "SIGSTOP");
    try {
      sendFromGen(lab, { dest: "239.1.1.1", port: 5001, count: N, size: 1024, seed: 31 });
      must(["ip", "-n", lab.ns("relay"), "link", "set", "veth3", "mtu", "600"]);
    } finally {
      process.kill(w.proc.pid, "SIGCONT");
    }
    const got = (await rx.result).payloads;
    const after = await w.stats();
    const d = delta(before, after);
    console.log(`MTU lowered under a stopped worker: ${JSON.stringify({ arrived: got.length, ...d })}`);
    // Nothing went by a run the device would drop unseen: each datagram is sent (and arrived,
    // fragmented by the UDP socket once the worker knows the MTU) or counted as an error.
    expect({ arrived: got.length, errorsPlusSent: d.txPackets + d.txErrors }).toEqual({
      arrived: d.txPackets,
      errorsPlusSent: N,
    });
    // The 200 wait in one batch: its first run (64) outgrew the MTU and is counted, not sent (veth
    // would take it all the same: it forwards a GSO packet whatever its segments' size, where a
    // NIC's segments would be too large for the wire). Then the worker knows the MTU, and the
    // rest go by the UDP socket.
    expect(d.txErrors).toBe(64);
  }, 30000);
});
