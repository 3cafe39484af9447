// Malformed frames injected at the relay's ingress: each is counted under its own reason, the
// worker keeps running, and good traffic after them is still relayed byte for byte.
import { expect, test } from "bun:test";
import { describeNetns } from "../helpers/suite.ts";
import { sweepStale } from "../helpers/lab.ts";
import { WorkerDriver } from "../helpers/worker.ts";
import { buildFrame, toHex, type FrameSpec } from "../helpers/frames.ts";
import { ROOT } from "../helpers/mcr.ts";
import { receiveInSink, sendFromGen, expectPayloads } from "../helpers/traffic.ts";
import { DROP_REASONS, type DropReason } from "../../src/stats/reasons.ts";
import { INGRESS_MODES } from "../../src/native/abi.ts";

const INJECT = `${ROOT}/test/tools/build/inject`;

const RULE = {
  id: 1,
  inputInterface: "veth1",
  inputGroup: "239.1.1.1",
  inputPort: 5001,
  outputs: [{ group: "239.9.9.9", port: 5099, interface: "veth3", ttl: 1 }],
};

// Kinds that survive a veth: the kernel itself refuses to send a frame shorter than an
// Ethernet header, and takes a truncated VLAN tag off before any tap (the parser tests cover those).
// Each is aimed at the rule's group, so the input's filter lets it reach the parser.
const KINDS: [DropReason, FrameSpec][] = [
  ["not_ipv4", { etherType: 0x0806 }],
  ["ip_truncated", { truncateTo: 14 + 12 }],
  ["ip_version", { ipVersion: 6 }],
  ["ip_ihl", { ihlWords: 4 }],
  ["ip_options", { ihlWords: 6 }],
  ["ip_checksum", { badChecksum: true }],
  ["ip_length", { totalLength: 1400 }],
  ["ip_fragment", { fragment: { mf: true } }],
  ["not_udp", { protocol: 6 }],
  ["udp_truncated", { payload: new Uint8Array(0), totalLength: 24, truncateTo: 14 + 24 }],
  ["udp_length", { udpLength: 300 }],
  // The kernel takes the outer tag off; a priority tag (VLAN 0) is untagged, two remain.
  ["vlan_nested", { vlans: [0, 8, 9] }],
];
// Traffic no rule asks for: the input's filter turns it away before the ring, so it is no drop
// (not even no_rule) and no frame taken.
const TURNED_AWAY: FrameSpec[] = [{ dport: 5002 }, { dst: "239.1.1.2" }, { vlans: [7, 8, 9] }];

describeNetns("malformed frames", (labs) => {
  for (const ingress of INGRESS_MODES)
    test(`--ingress ${ingress}: each malformed kind is counted under its reason; good traffic still flows byte for byte`, async () => {
      sweepStale();
      const lab = labs.chain();
      const w = new WorkerDriver(lab, "relay", ["veth1"], ["--ingress", ingress]);
      await w.ready();
      expect((await w.setRules([RULE])).errors).toEqual([]);
      const before = await w.stats();

      const PER_KIND = 3;
      const lines = [...KINDS.map(([, spec]) => spec), ...TURNED_AWAY].flatMap((spec) =>
        Array.from({ length: PER_KIND }, () => toHex(buildFrame(spec))),
      );
      const inj = lab.exec("gen", [INJECT, "veth0"], { input: lines.join("\n") + "\n" });
      expect(inj.stderr).toBe("");
      expect(inj.stdout.trim()).toBe(String(lines.length));

      const rx = receiveInSink(lab, { group: "239.9.9.9", port: 5099, count: 50 });
      await rx.listening;
      sendFromGen(lab, { dest: "239.1.1.1", port: 5001, count: 50, size: 700, seed: 3 });
      const got = await rx.result;
      expectPayloads(got.payloads, 3, 50, 700);

      const after = await w.stats();
      for (const reason of DROP_REASONS) {
        const want = KINDS.filter(([r]) => r === reason).length * PER_KIND;
        expect({ reason, delta: after.drops[reason] - before.drops[reason] }).toEqual({ reason, delta: want });
      }
      expect(after.rules["1"]).toEqual({ packets: 50, bytes: 50 * 700 });
      expect(after.rxFrames - before.rxFrames).toBe(KINDS.length * PER_KIND + 50);
      expect(after.rxForeign).toBe(0);
      expect(w.proc.exitCode).toBeNull();
    });

  for (const ingress of INGRESS_MODES)
    test(`--ingress ${ingress}: a 9000-byte jumbo datagram and a single VLAN tag are relayed`, async () => {
      const lab = labs.chain();
      for (const [ns, ifs] of [
        ["gen", ["veth0"]],
        ["relay", ["veth1", "veth3"]],
        ["sink", ["veth2"]],
      ] as const)
        for (const i of ifs) lab.exec(ns, ["ip", "link", "set", i, "mtu", "9000"]);
      const w = new WorkerDriver(lab, "relay", ["veth1"], ["--ingress", ingress]);
      await w.ready();
      await w.setRules([RULE]);
      const rx = receiveInSink(lab, { group: "239.9.9.9", port: 5099, count: 2 });
      await rx.listening;
      const jumbo = new Uint8Array(8950).map((_, i) => (i * 7) & 0xff);
      const tagged = new Uint8Array([0xde, 0xad, 0xbe, 0xef]);
      const inj = lab.exec("gen", [INJECT, "veth0"], {
        input:
          [
            toHex(buildFrame({ payload: jumbo })),
            toHex(buildFrame({ payload: new Uint8Array([4, 2]), vlans: [42] })),
            toHex(buildFrame({ payload: tagged, vlans: [0] })),
          ].join("\n") + "\n",
      });
      expect(inj.stdout.trim()).toBe("3");
      const got = await rx.result;
      expect(got.payloads).toEqual([toHex(jumbo), toHex(tagged)]);
    });

  test("a datagram larger than the egress MTU is fragmented on the way out and arrives whole", async () => {
    const lab = labs.chain();
    // Jumbo frames on the ingress only: the relay's egress keeps MTU 1500.
    for (const [ns, i] of [
      ["gen", "veth0"],
      ["relay", "veth1"],
    ] as const)
      lab.exec(ns, ["ip", "link", "set", i, "mtu", "9000"]);
    const w = new WorkerDriver(lab, "relay", ["veth1"]);
    await w.ready();
    await w.setRules([RULE]);
    const rx = receiveInSink(lab, { group: "239.9.9.9", port: 5099, count: 3 });
    await rx.listening;
    const sizes = [4000, 1472, 1473]; // over the MTU, exactly at it, one byte over
    const payloads = sizes.map((n, k) => new Uint8Array(n).map((_, i) => (i * 13 + k) & 0xff));
    const inj = lab.exec("gen", [INJECT, "veth0"], {
      input: payloads.map((p) => toHex(buildFrame({ payload: p }))).join("\n") + "\n",
    });
    expect(inj.stdout.trim()).toBe("3");
    expect((await rx.result).payloads).toEqual(payloads.map(toHex));
    const s = await w.stats();
    expect(s.txErrors).toBe(0);
    expect(s.outputs["1:0"]).toEqual({ packets: 3, bytes: 4000 + 1472 + 1473, errors: 0 });
  });
});
