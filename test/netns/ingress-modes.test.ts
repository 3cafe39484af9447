// The workers' ingress modes (--ingress frames|blocks) with real packets through namespaces. With
// blocks (TPACKET_V3) the kernel hands over blocks of frames, each when full or at its retire
// timer: a burst relays byte for byte, in order, once, with counters exact; a lone datagram, and a
// slow stream, are not left in a block that never fills. malformed.test.ts, tiny-ring.test.ts,
// merge-e2e.test.ts and the VLAN test of rules-match.test.ts (the kernel's tag is in the V3
// header, not the V2 one) run in both modes too. Nothing here times performance.
import { expect, test } from "bun:test";
import { INGRESS_MODES } from "../../src/native/abi.ts";
import { poll } from "../helpers/lab.ts";
import { mcrArgv } from "../helpers/mcr.ts";
import { describeNetns } from "../helpers/suite.ts";
import { startSupervisor, type SupervisorDriver } from "../helpers/supervisor.ts";
import { expectPayloads, receiveInSink, sendFromGen } from "../helpers/traffic.ts";

/** The relay's counters once its rules have seen `packets` datagrams in all. */
const settled = (sup: SupervisorDriver, packets: number) =>
  poll(
    () => sup.stats(),
    (s) => s.rules.reduce((a: number, r: any) => a + r.packets, 0) >= packets,
  );

describeNetns("ingress modes", (labs) => {
  test("--ingress with an unknown mode is refused with exit 64, naming the flag", () => {
    for (const cmd of [
      ["supervisor", "--interface", "lo"],
      ["worker", "--interface", "lo"],
    ]) {
      const r = Bun.spawnSync([...mcrArgv(), ...cmd, "--ingress", "v3"], { stderr: "pipe", stdout: "pipe" });
      expect({ cmd: cmd[0], code: r.exitCode, err: r.stderr.toString().trim() }).toEqual({
        cmd: cmd[0],
        code: 64,
        err: 'mcr: --ingress: unknown ingress mode "v3" (use frames or blocks)',
      });
    }
  });

  for (const ingress of INGRESS_MODES)
    test(`--ingress ${ingress}: it reaches the workers; a burst of 5,000 byte for byte, in order, once; counters exact`, async () => {
      const lab = labs.chain();
      const sup = await startSupervisor(lab, ["--workers", "1", "--ingress", ingress]);
      const workers = Bun.spawnSync(["pgrep", "-a", "-P", String(sup.proc.pid)]).stdout.toString();
      expect(workers).toContain(`--ingress ${ingress}`);
      sup.addRule("239.1.1.1", 5001, "239.10.10.10:6001:veth3");
      const N = 5000;
      const rx = receiveInSink(lab, { group: "239.10.10.10", port: 6001, count: N + 10, idleMs: 1500 });
      await rx.listening;
      sendFromGen(lab, { dest: "239.1.1.1", port: 5001, count: N, size: 1024, seed: 21 });
      expectPayloads((await rx.result).payloads, 21, N, 1024);
      const s = await settled(sup, N);
      expect(s.rules.map((r: any) => [r.packets, r.bytes, r.outputs[0].packets])).toEqual([[N, N * 1024, N]]);
      expect(s.totals).toMatchObject({ rxFrames: N, txPackets: N, drops: 0, ringDrops: 0 });
    }, 30000);

  test("--ingress blocks: a lone datagram, then 20 at 10 a second, each arrives (the retire timer hands over a block that is not full)", async () => {
    const lab = labs.chain();
    const sup = await startSupervisor(lab, ["--workers", "1", "--ingress", "blocks"]);
    sup.addRule("239.1.1.1", 5001, "239.10.10.10:6001:veth3");
    const one = receiveInSink(lab, { group: "239.10.10.10", port: 6001, count: 1, idleMs: 3000 });
    await one.listening;
    sendFromGen(lab, { dest: "239.1.1.1", port: 5001, count: 1, size: 200, seed: 22 });
    expectPayloads((await one.result).payloads, 22, 1, 200);
    const slow = receiveInSink(lab, { group: "239.10.10.10", port: 6001, count: 20, idleMs: 3000 });
    await slow.listening;
    sendFromGen(lab, { dest: "239.1.1.1", port: 5001, count: 20, size: 200, seed: 23, gapUs: 100_000 });
    expectPayloads((await slow.result).payloads, 23, 20, 200);
    const s = await settled(sup, 21);
    expect(s.totals).toMatchObject({ rxFrames: 21, txPackets: 21, drops: 0 });
  }, 30000);
});
