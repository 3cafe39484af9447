// A merge rule's counters on their way to the operator: the region's layout read back, summed
// over a worker's runs (gauges from the running one), in the report (schema), the stats table and
// --watch (each input's health), and /metrics with the rule's name.
import { describe, expect, test } from "bun:test";
import { MERGE_COUNTER as MC, MERGE_LEG_COUNTER as ML } from "../../src/native/abi.ts";
import { addCounters, buildReport, emptyCounters } from "../../src/stats/aggregate.ts";
import { renderMetrics } from "../../src/stats/prometheus.ts";
import { renderStats, watchFrame } from "../../src/stats/render.ts";
import { initRegion, readCounters, regionBytes, zeroSlot } from "../../src/stats/shared.ts";
import type { MergeCount } from "../../src/types/counters.ts";
import type { Rule } from "../../src/types/rules.ts";
import { parseExposition, valueOf } from "../helpers/exposition.ts";
import { checkSchema } from "../helpers/stats-schema.ts";

const RULE: Rule = {
  id: 3,
  name: "cam",
  inputInterface: "eth0",
  inputGroup: "239.1.1.1",
  inputPort: 5001,
  outputs: [{ group: "239.9.9.9", port: 5099, interface: "eth2", ttl: 1 }],
  merge: { mode: "failover", legs: [{ interface: "eth1", group: "239.2.1.1", port: 5001 }], failoverAfterMs: 200 },
};

const leg = (packets: number, unique: number, lastSeenNs: number) => ({
  packets,
  unique,
  duplicates: packets - unique,
  late: 0,
  gaps: 1,
  notRtp: 0,
  lastSeenNs,
});

const merge = (over: Partial<MergeCount> = {}): MergeCount => ({
  out: 100,
  lost: 0,
  switches: 1,
  active: 1,
  held: 0,
  tooLarge: 0,
  restarts: 0,
  legs: [leg(60, 40, 1e9), leg(100, 60, 5e9), leg(0, 0, 0), leg(0, 0, 0)],
  ...over,
});

describe("merge counters", () => {
  test("the region holds each merge slot after the outputs, and reads back by rule id", () => {
    const r = initRegion(new Uint8Array(regionBytes(4, 4, 2)), 4, 4, 2);
    expect(r.merge.length).toBe(2 * MC.COUNT);
    r.merge[MC.COUNT + MC.OUT] = 7n;
    r.merge[MC.COUNT + MC.RULE + ML.COUNT + ML.UNIQUE] = 5n;
    const c = readCounters(r, { rules: {}, outputs: {}, merges: { "3": 1 } });
    expect(c.merges?.["3"]?.out).toBe(7);
    expect(c.merges?.["3"]?.legs[1]?.unique).toBe(5);
    zeroSlot(r, "merge", 1);
    expect(readCounters(r, { rules: {}, outputs: {}, merges: { "3": 1 } }).merges?.["3"]?.out).toBe(0);
    expect(readCounters(r, { rules: {}, outputs: {} }).merges).toBeUndefined();
  });

  test("a worker's runs add up; which input is forwarded and what is held are the running one's", () => {
    const a = { ...emptyCounters(), merges: { "3": merge({ active: 1, held: 4 }) } };
    const b = { ...emptyCounters(), merges: { "3": merge({ active: 0, held: 0, switches: 2 }) } };
    const m = addCounters(a, b).merges!["3"]!;
    expect([m.out, m.switches, m.active, m.held]).toEqual([200, 3, 0, 0]);
    expect(m.legs[1]).toEqual({ ...leg(200, 120, 5e9), gaps: 2 });
  });

  test("report, table, --watch and /metrics show the merge and each input's health", () => {
    const counters = { ...emptyCounters(), merges: { "3": merge() } };
    const report = buildReport({
      rules: [RULE],
      workers: [{ index: 0, cpu: 0, pid: 9, state: "ready", restarts: 0, appliedVersion: 1, inputs: [], counters }],
      interfaces: [],
      startedAt: 0,
      now: 1000,
      stale: [],
      version: "1",
      monotonicNs: 5.5e9,
    });
    expect(checkSchema(report)).toEqual([]);
    const m = report.rules[0]!.merge!;
    expect(m.inputs.map((i) => [i.interface, i.unique, i.lastSeenSecondsAgo])).toEqual([
      ["eth0", 40, 4.5],
      ["eth1", 60, 0.5],
    ]);
    const text = renderStats(report);
    expect(text).toContain("merge inputs");
    expect(text).toMatch(/3\s+cam\s+0\s+eth0 239\.1\.1\.1:5001\s+silent\s+60\s+40\s+20\s+0\s+1\s+4\.5 s/);
    expect(text).toMatch(/3\s+cam\s+1\s+eth1 239\.2\.1\.1:5001\s+forwarded\s+100\s+60/);
    const frame = watchFrame(report, { socketPath: "/run/mcr.sock", everySeconds: 1, color: false });
    expect(frame).toContain("forwarded");
    const series = parseExposition(renderMetrics(report, { startedAt: 0 }));
    expect(valueOf(series, "mcr_merge_switches_total", { rule: "3", name: "cam" })).toBe(1);
    expect(valueOf(series, "mcr_merge_active_input", { rule: "3", name: "cam" })).toBe(1);
    expect(
      valueOf(series, "mcr_merge_input_unique_total", { rule: "3", name: "cam", input: "1", interface: "eth1" }),
    ).toBe(60);
  });
});
