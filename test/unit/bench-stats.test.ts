// bench/stats.ts: the medians and the formatting of the benchmark's tables.
import { expect, test } from "bun:test";
import { agg, fmtAgg, fmtLossAgg, fmtLossPct, fmtPps } from "../../bench/stats.ts";

test("agg: median, min and max of the finite values; null when there are none", () => {
  expect(agg([])).toBeNull();
  expect(agg([NaN, Infinity])).toBeNull();
  expect(agg([3, 1, 2])).toEqual({ n: 3, median: 2, min: 1, max: 3 });
  expect(agg([4, 1, 3, 2])).toEqual({ n: 4, median: 2.5, min: 1, max: 4 });
  expect(agg([5, NaN, 7])).toEqual({ n: 2, median: 6, min: 5, max: 7 });
  const input = [9, 8];
  agg(input);
  expect(input).toEqual([9, 8]); // the caller's array is not sorted in place
});

test("fmtAgg: the median alone when the runs agree, else with its range", () => {
  expect(fmtAgg(null)).toBe("–");
  expect(fmtAgg({ n: 1, median: 0.125, min: 0.125, max: 0.125 }, 2)).toBe("0.13");
  expect(fmtAgg({ n: 3, median: 4, min: 4, max: 4 }, 0, " µs")).toBe("4 µs");
  expect(fmtAgg({ n: 3, median: 0.12, min: 0.1, max: 0.15 }, 2)).toBe("0.12 (0.10–0.15)");
});

test("fmtLossPct: zero is 0, small losses keep their digits", () => {
  expect(fmtLossPct(0)).toBe("0");
  expect(fmtLossPct(1e-6)).toBe("1.0e-4%");
  expect(fmtLossPct(0.0005)).toBe("0.0500%");
  expect(fmtLossPct(0.0123)).toBe("1.23%");
  expect(fmtLossPct(1)).toBe("100.00%");
});

test("fmtLossAgg: as fmtLossPct, with the range when the runs differ", () => {
  expect(fmtLossAgg(null)).toBe("–");
  expect(fmtLossAgg({ n: 2, median: 0, min: 0, max: 0 })).toBe("0");
  expect(fmtLossAgg({ n: 3, median: 0.0005, min: 0, max: 0.0123 })).toBe("0.0500% (0–1.23%)");
});

test("fmtPps: M above a million, k above a thousand, a dash for no number", () => {
  expect(fmtPps(null)).toBe("–");
  expect(fmtPps(undefined)).toBe("–");
  expect(fmtPps(NaN)).toBe("–");
  expect(fmtPps(1_500_000)).toBe("1.50 M");
  expect(fmtPps(150_400)).toBe("150 k");
  expect(fmtPps(1000)).toBe("1 k");
  expect(fmtPps(999.6)).toBe("1000");
});
