// A merge rule compiled into the shim's tables: one entry per leg (flagged, with its leg and
// merge index, sharing the rule's outputs and counters), one merge entry with the mode and
// window, only in the worker that owns the rule, and a rule that cannot be merged refused alone.
import { describe, expect, test } from "bun:test";
import { MERGE_ENTRY as ME, MERGE_MODE, RULE_ENTRY as RE, RULE_FLAG } from "../../src/native/abi.ts";
import type { InterfaceInfo } from "../../src/net/interfaces.ts";
import type { Rule } from "../../src/types/rules.ts";
import { SlotAllocator, TableCompiler } from "../../src/worker/table.ts";

const IFS: Record<string, InterfaceInfo> = {
  eth0: { ifindex: 2, ipv4: "10.0.0.2" } as InterfaceInfo,
  eth1: { ifindex: 3, ipv4: "10.0.1.2" } as InterfaceInfo,
  eth2: { ifindex: 4, ipv4: "10.0.2.2" } as InterfaceInfo,
};
const resolve = (n: string) => IFS[n];
const out = [{ group: "239.9.9.9", port: 5099, interface: "eth2", ttl: 1 }];
const plain: Rule = { id: 1, inputInterface: "eth0", inputGroup: "239.1.1.9", inputPort: 5001, outputs: out };
const cam: Rule = {
  id: 3,
  inputInterface: "eth0",
  inputGroup: "239.1.1.1",
  inputPort: 5001,
  outputs: out,
  merge: { mode: "rtp", legs: [{ interface: "eth1", group: "239.2.1.1", port: 5001, source: "10.9.9.9" }] },
};
const compiler = () => new TableCompiler(new SlotAllocator(8), new SlotAllocator(8), () => {}, new SlotAllocator(4));

describe("merge tables", () => {
  test("legs as flagged entries sharing outputs and counters; the merge entry with its window", () => {
    const t = compiler().compile([plain, cam], resolve);
    expect(t.errors).toEqual([]);
    expect([t.nRules, t.nOutputs, t.nMerges]).toEqual([3, 2, 1]);
    const v = new DataView(t.rules.buffer);
    const at = (i: number, f: number) => i * RE.BYTES + f;
    expect(v.getUint8(at(0, RE.FLAGS))).toBe(0);
    for (const [i, leg, ifindex] of [
      [1, 0, 2],
      [2, 1, 3],
    ] as const) {
      expect(v.getUint8(at(i, RE.FLAGS))).toBe(RULE_FLAG.MERGE);
      expect(v.getUint8(at(i, RE.LEG))).toBe(leg);
      expect(v.getUint16(at(i, RE.MERGE), true)).toBe(0);
      expect(v.getUint32(at(i, RE.IN_IFINDEX), true)).toBe(ifindex);
      expect(v.getUint32(at(i, RE.FIRST_OUTPUT), true)).toBe(1);
      expect(v.getUint32(at(i, RE.COUNTER_SLOT), true)).toBe(t.ruleSlots.get(3)!);
    }
    expect(v.getUint8(at(2, RE.SOURCE_LEN))).toBe(128); // leg 1's one source
    const m = new DataView(t.merges.buffer);
    expect(m.getUint8(ME.MODE)).toBe(MERGE_MODE.RTP);
    expect(m.getUint8(ME.N_LEGS)).toBe(2);
    expect(m.getUint32(ME.WINDOW_MS, true)).toBe(50);
    expect(m.getUint32(ME.COUNTER_SLOT, true)).toBe(t.mergeSlots.get(3)!);
    expect([...t.mergeInterfaces].map(([name, modes]) => [name, [...modes]]).sort()).toEqual([
      ["eth0", ["rtp"]],
      ["eth1", ["rtp"]],
    ]);
  });

  test("a worker that does not own the merge rule leaves it out", () => {
    const t = compiler().compile([plain, cam], resolve, { owns: (id) => id % 2 === 0 });
    expect([t.nRules, t.nMerges, t.errors]).toEqual([1, 0, []]);
    expect(t.mergeSlots.size).toBe(0);
  });

  test("a rule that cannot be merged is refused alone, saying why", () => {
    const bad = (id: number, merge: Rule["merge"]): Rule => ({ ...cam, id, inputGroup: `239.1.1.${id}`, merge });
    const t = compiler().compile(
      [
        plain,
        bad(4, { mode: "rtp", legs: [] }),
        bad(5, { mode: "rtp", legs: [{ interface: "eth1", group: "239.2.1.1", port: 5001 }], windowPackets: 5000 }),
        bad(6, { mode: "failover", legs: [{ interface: "eth1", group: "239.2.1.1", port: 5001 }], failoverAfterMs: 0 }),
        // leg 1 on leg 0's key
        bad(7, { mode: "rtp", legs: [{ interface: "eth0", group: "239.1.1.7", port: 5001 }] }),
      ],
      resolve,
    );
    expect(t.errors).toEqual([
      { ruleId: 4, message: "a merge takes two to four inputs" },
      { ruleId: 5, message: "merge window: 1 to 4096 packets" },
      { ruleId: 6, message: "failover: a silence of at least 1 ms" },
      { ruleId: 7, message: "two inputs on one key" },
    ]);
    expect([t.nRules, t.nMerges, t.nOutputs]).toEqual([1, 0, 1]);
  });

  test("a leg whose interface is missing is left out and reported; the others merge on", () => {
    const r: Rule = { ...cam, merge: { ...cam.merge!, legs: [{ interface: "eth9", group: "239.2.1.1", port: 5001 }] } };
    const t = compiler().compile([r], resolve);
    expect(t.errors).toEqual([{ ruleId: 3, message: "input 1 (eth9): no such interface" }]);
    expect([t.nRules, t.nMerges]).toEqual([1, 1]);
  });
});
