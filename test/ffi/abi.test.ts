// The ABI between the shim and TypeScript: the version check at load, the layouts of
// src/native/abi.ts against the _Static_asserts of shim/abi.c (which the C compiler enforces on
// the other side), the drop-reason order against enum mcr_drop, the exported symbols against the
// version script, and handles that refuse use after close().
import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import * as abi from "../../src/native/abi.ts";
import { checkAbi, openDataPlane, openUdpReceiver, openUdpSender, parseFrame } from "../../src/native/shim.ts";
import { address16 } from "../../src/values/ipv6.ts";
import { HEADER_LEN } from "../../src/tools/payload.ts";

const root = `${import.meta.dir}/../..`;
const read = (p: string) => readFileSync(`${root}/${p}`, "utf8");

// C struct -> its table in abi.ts; a field's key is its C name in upper case.
const STRUCTS: Record<string, Record<string, number>> = {
  mcr_rule_entry: abi.RULE_ENTRY,
  mcr_output_entry: abi.OUTPUT_ENTRY,
  mcr_frame_info: abi.FRAME_INFO,
  mcr_merge_entry: abi.MERGE_ENTRY,
  mcr_udp_addr: abi.UDP_ADDR,
  mcr_udp_record: abi.UDP_RECORD,
};

// C constant -> the number abi.ts (or payload.ts, the payload format's reference) holds for it.
function tsValue(name: string): number | undefined {
  const fixed: Record<string, number> = {
    MCR_DROP__COUNT: abi.DROP_REASONS.length,
    MCR_C__COUNT: abi.N_COUNTERS,
    MCR_UDP_REC_KERNEL_TS: abi.UDP_RECORD_FLAG.KERNEL_TS,
    MCR_UDP_REC_RTP: abi.UDP_RECORD_FLAG.RTP,
    MCR_RTP_HDR_LEN: abi.RTP_HDR_LEN,
    MCR_UDP_MAX_LEGS: abi.UDP_MAX_LEGS,
    MCR_UDP_TX__COUNT: abi.UDP_TX_STAT.COUNT,
    MCR_UDP_RX__COUNT: abi.UDP_RX_STAT.COUNT,
    MCR_UDP_HDR_LEN: HEADER_LEN,
    MCR_UDP_MAX_DESTS: abi.UDP_MAX_DESTS,
    MCR_RULE_COUNTERS: abi.RULE_COUNTER.COUNT,
    MCR_OUTPUT_COUNTERS: abi.OUTPUT_COUNTER.COUNT,
    MCR_JOURNAL_LEN: abi.JOURNAL_LEN,
    MCR_JOURNAL_VALID_BIT: abi.JOURNAL.VALID_BIT,
    MCR_JOURNAL_SUBMITTED_BIT: abi.JOURNAL.SUBMITTED_BIT,
    MCR_JOURNAL_SLOT_SHIFT: abi.JOURNAL.SLOT_SHIFT,
    MCR_FANOUT_NEW: abi.FANOUT_NEW,
    MCR_BUCKET_WORDS: abi.BUCKET_WORDS,
    MCR_INPUT_MERGE: abi.INPUT_MERGE,
    MCR_INPUT_MERGE_RTP: abi.INPUT_MERGE_MODE.rtp,
    MCR_INPUT_MERGE_FAILOVER: abi.INPUT_MERGE_MODE.failover,
    MCR_RULE_MERGE: abi.RULE_FLAG.MERGE,
    MCR_MERGE_LEGS_MAX: abi.MERGE_LEGS_MAX,
    MCR_MERGE_WINDOW_PACKETS_MAX: abi.MERGE_WINDOW_PACKETS_MAX,
    MCR_MERGE_COUNTERS: abi.MERGE_COUNTER.COUNT,
    MCR_MC__RULE: abi.MERGE_COUNTER.RULE,
    MCR_ML__COUNT: abi.MERGE_LEG_COUNTER.COUNT,
  };
  if (name in fixed) return fixed[name];
  const pick = (table: Record<string, number>, key: string) => table[key];
  let m = /^MCR_C_(\w+)$/.exec(name);
  if (m) return pick(abi.COUNTER, m[1]!);
  m = /^MCR_MC_(\w+)$/.exec(name);
  if (m) return pick(abi.MERGE_COUNTER, m[1]!);
  m = /^MCR_ML_(\w+)$/.exec(name);
  if (m) return pick(abi.MERGE_LEG_COUNTER, m[1]!);
  m = /^MCR_MERGE_(RTP|FAILOVER)$/.exec(name);
  if (m) return pick(abi.MERGE_MODE, m[1]!);
  m = /^MCR_OUT_(\w+)$/.exec(name);
  if (m) return pick(abi.OUTPUT_FLAG, m[1]!);
  m = /^MCR_POLL_(\w+)$/.exec(name);
  if (m) return (abi.POLL_MODES as readonly string[]).indexOf(m[1]!.toLowerCase());
  m = /^MCR_EGRESS_(\w+)$/.exec(name);
  if (m) return (abi.EGRESS_MODES as readonly string[]).indexOf(m[1]!.toLowerCase());
  m = /^MCR_UDP_TX_(LOOP|PACKET)$/.exec(name);
  if (m) return pick(abi.UDP_TX_FLAG, m[1]!);
  m = /^MCR_UDP_(OK|FOREIGN|CORRUPT|TRUNCATED)$/.exec(name);
  if (m) return pick(abi.UDP_STATUS, m[1]!);
  m = /^MCR_UDP_TX_(\w+)$/.exec(name);
  if (m) return pick(abi.UDP_TX_STAT, m[1]!);
  m = /^MCR_UDP_RX_(\w+)$/.exec(name);
  if (m) return pick(abi.UDP_RX_STAT, m[1]!);
  return undefined;
}

describe("ABI", () => {
  const assertsC = read("shim/abi.c");

  test("the version check refuses another ABI with a message that says what to do", () => {
    expect(() => checkAbi(abi.SHIM_ABI)).not.toThrow();
    expect(() => checkAbi(abi.SHIM_ABI + 1)).toThrow(
      `the mcr shim has ABI version ${abi.SHIM_ABI + 1}, this build of mcr expects ${abi.SHIM_ABI}: rebuild both from one tree (make build)`,
    );
    expect(() => checkAbi(1, 2)).toThrow("ABI version 1, this build of mcr expects 2");
  });

  test("SHIM_ABI is MCR_SHIM_ABI, and the built library loads with it", () => {
    const m = /#define MCR_SHIM_ABI (\d+)/.exec(read("shim/mcr_shim.h"));
    expect(Number(m?.[1])).toBe(abi.SHIM_ABI);
    // Loading runs checkAbi against the library's mcr_abi_version(): a stale build throws here.
    expect(parseFrame(new Uint8Array(0))).toEqual({ drop: abi.DROP_REASONS.indexOf("runt") });
  });

  test("every struct size and offset asserted in C is the one in abi.ts, and every one in abi.ts is asserted", () => {
    const seen = new Map<string, Set<string>>();
    let n = 0;
    for (const [, struct, size] of assertsC.matchAll(/^SIZE\(struct (\w+), (\d+)\);/gm)) {
      expect({ struct, BYTES: STRUCTS[struct!]?.BYTES }).toEqual({ struct, BYTES: Number(size) });
      seen.set(struct!, new Set(["BYTES"]));
      n++;
    }
    for (const [, struct, field, at] of assertsC.matchAll(/^AT\(struct (\w+), (\w+), (\d+)\);/gm)) {
      const key = field!.toUpperCase();
      expect({ struct, key, at: STRUCTS[struct!]?.[key] }).toEqual({ struct, key, at: Number(at) });
      seen.get(struct!)?.add(key);
      n++;
    }
    expect(n).toBe(6 + 13 + 12 + 8 + 2 + 9 + 7);
    for (const [struct, table] of Object.entries(STRUCTS))
      expect({ struct, keys: [...(seen.get(struct) ?? [])].sort() }).toEqual({
        struct,
        keys: Object.keys(table).sort(),
      });
  });

  test("every constant asserted in C has the same value in TypeScript", () => {
    const consts = [...assertsC.matchAll(/^IS\((\w+), (\d+)\);/gm)];
    expect(consts.length).toBe(59 + 22 + 5 + 4);
    for (const [, name, value] of consts) expect({ name, ts: tsValue(name!) }).toEqual({ name, ts: Number(value) });
    // And every index, value and bit abi.ts holds is one of them.
    const asserted = new Set(consts.map((c) => c[1]));
    const want = [
      ...Object.keys(abi.COUNTER).map((k) => `MCR_C_${k}`),
      ...abi.POLL_MODES.map((k) => `MCR_POLL_${k.toUpperCase()}`),
      ...Object.keys(abi.MERGE_MODE).map((k) => `MCR_MERGE_${k}`),
      ...Object.keys(abi.MERGE_COUNTER).map((k) =>
        k === "COUNT" ? "MCR_MERGE_COUNTERS" : k === "RULE" ? "MCR_MC__RULE" : `MCR_MC_${k}`,
      ),
      ...Object.keys(abi.MERGE_LEG_COUNTER).map((k) => (k === "COUNT" ? "MCR_ML__COUNT" : `MCR_ML_${k}`)),
      ...abi.EGRESS_MODES.map((k) => `MCR_EGRESS_${k.toUpperCase()}`),
      ...Object.keys(abi.UDP_STATUS).map((k) => `MCR_UDP_${k}`),
      ...Object.keys(abi.UDP_TX_FLAG).map((k) => `MCR_UDP_TX_${k}`),
      ...Object.keys(abi.UDP_TX_STAT).map((k) => (k === "COUNT" ? "MCR_UDP_TX__COUNT" : `MCR_UDP_TX_${k}`)),
      ...Object.keys(abi.UDP_RX_STAT).map((k) => (k === "COUNT" ? "MCR_UDP_RX__COUNT" : `MCR_UDP_RX_${k}`)),
    ];
    for (const name of want) expect({ name, asserted: asserted.has(name) }).toEqual({ name, asserted: true });
  });

  test("DROP_REASONS lists enum mcr_drop's members, in order", () => {
    const h = read("shim/mcr_shim.h");
    const body = /enum mcr_drop \{([^}]*)\}/.exec(h)?.[1] ?? "";
    const names = [...body.matchAll(/MCR_DROP_([A-Z0-9_]+),/g)].map((m) => m[1]!.toLowerCase());
    expect(names).toEqual([...abi.DROP_REASONS]);
  });

  test("the version script names each symbol shim.ts binds, and no other", () => {
    const map = read("shim/mcr_shim.map");
    expect(map).not.toContain("mcr_*");
    const exported = [...map.matchAll(/^\s+(mcr_\w+);/gm)].map((m) => m[1]!).sort();
    const bound = [...read("src/native/shim.ts").matchAll(/^ {2}(mcr_\w+): \{ args/gm)].map((m) => m[1]!).sort();
    // Both lists were read (the data plane's, the tools', and the version function are in them).
    for (const name of ["mcr_abi_version", "mcr_worker_poll", "mcr_udp_sender_send", "mcr_udp_receiver_recv"])
      expect(bound).toContain(name);
    expect(exported).toEqual(bound);
    // The tools' functions are in their own node.
    const tools = /MCR_TOOLS_1 \{([^}]*)\}/.exec(map)?.[1] ?? "";
    expect([...tools.matchAll(/(mcr_\w+);/g)].map((m) => m[1]).every((s) => s!.startsWith("mcr_udp_"))).toBe(true);
    expect(bound.filter((s) => s.startsWith("mcr_udp_")).every((s) => tools.includes(`${s};`))).toBe(true);
  });
});

describe("closed handles", () => {
  test("a UDP receiver refuses use after close() instead of reading freed memory", () => {
    const rx = openUdpReceiver({
      entries: [{ addr16: address16("127.0.0.1"), port: 0x7fff, text: "127.0.0.1:32767" }],
      ifindex: 0,
      rcvbuf: 0,
    });
    expect(rx.recv(0)).toBe(0);
    expect(rx.stats().sockets).toBe(1);
    rx.close();
    rx.close(); // twice is harmless
    expect(() => rx.recv(0)).toThrow("the UDP receiver used after close()");
    expect(() => rx.stats()).toThrow("the UDP receiver used after close()");
  });

  test("a UDP sender refuses use after close()", () => {
    const tx = openUdpSender({
      dests: [{ addr16: address16("127.0.0.1"), port: 9, text: "127.0.0.1:9" }],
      ifindex: 0,
      ttl: 0,
      size: 64,
      runId: 1,
      batch: 1,
    });
    expect(tx.perDest()).toEqual([0]);
    tx.close();
    expect(() => tx.start(0, 1, 0)).toThrow("the UDP sender used after close()");
    expect(() => tx.run(0)).toThrow("the UDP sender used after close()");
    expect(() => tx.perDest()).toThrow("the UDP sender used after close()");
  });

  test.skipIf(process.getuid?.() !== 0)("the data plane refuses use after close() (root: io_uring)", () => {
    const counters = new BigUint64Array(abi.countersLen(4, 4));
    const dp = openDataPlane({ ruleSlots: 4, outputSlots: 4, ringBytes: 1 << 20, counters });
    expect(dp.poll(0, 1)).toBe(0);
    dp.close();
    dp.close();
    expect(() => dp.poll(0, 1)).toThrow("the data plane used after close()");
    expect(() => dp.setRules(new Uint8Array(0), 0, new Uint8Array(0), 0)).toThrow("the data plane used after close()");
    expect(() => dp.addInput(1, 1)).toThrow("the data plane used after close()");
  });
});
