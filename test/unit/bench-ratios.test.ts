import { describe, expect, test } from "bun:test";
import { cpuPerMillion, fmtRatio, fmtRatios, perSecond, ratio } from "../../bench/ratios.ts";

describe("bench ratios", () => {
  test("ratio divides by a positive reference and refuses the rest", () => {
    expect(ratio(335_000, 500_000)).toBe(0.67);
    expect(ratio(0, 500_000)).toBe(0);
    expect(ratio(1, 0)).toBeUndefined();
    expect(ratio(1, -5)).toBeUndefined();
    expect(ratio(undefined, 5)).toBeUndefined();
    expect(ratio(5, undefined)).toBeUndefined();
    expect(ratio(Number.NaN, 5)).toBeUndefined();
  });

  test("fmtRatio: two decimals under 10, one above, a dash for none", () => {
    expect(fmtRatio(0.6712)).toBe("0.67×");
    expect(fmtRatio(7.74)).toBe("7.74×");
    expect(fmtRatio(14.06)).toBe("14.1×");
    expect(fmtRatio(undefined)).toBe("–");
  });

  test("fmtRatios names each reference and leaves out the missing ones", () => {
    expect(
      fmtRatios(300, [
        ["bare", 400],
        ["socat", 100],
      ]),
    ).toBe("0.75× bare, 3.00× socat");
    expect(
      fmtRatios(300, [
        ["bare", undefined],
        ["socat", 100],
      ]),
    ).toBe("3.00× socat");
    expect(fmtRatios(undefined, [["bare", 400]])).toBe("");
  });

  test("perSecond is packets over the send time", () => {
    expect(perSecond(1_000_000, 2)).toBe(500_000);
    expect(perSecond(5, 0)).toBeUndefined();
  });

  test("cpuPerMillion: half a core for 2 s over 150,000 pps is 3.33 CPU-seconds per million", () => {
    // 0.5 core x 2 s = 1 CPU-second for 300,000 packets
    expect(cpuPerMillion(50, 2, 300_000)).toBeCloseTo(10 / 3, 10);
    expect(cpuPerMillion(100, 1, 1_000_000)).toBe(1);
    expect(cpuPerMillion(0, 1, 1_000_000)).toBe(0);
    expect(cpuPerMillion(50, 1, 0)).toBeUndefined();
    expect(cpuPerMillion(undefined, 1, 10)).toBeUndefined();
    expect(cpuPerMillion(50, 0, 10)).toBeUndefined();
  });
});
