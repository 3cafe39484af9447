// The traffic tools' RTP side (issue 14): the sink's per-SSRC counting on crafted sequences
// (wraps, duplicates, out-of-order, a new SSRC), the --loss percentages, and `mcr gen --legs`'s
// flags (exit 64, naming the flag) and choice of mode.
import { describe, expect, test } from "bun:test";
import { EX, McrError } from "../../src/errors.ts";
import { resolveMode } from "../../src/tools/gen.ts";
import { RtpAccounting } from "../../src/tools/rtp.ts";
import { parsePercentPpm } from "../../src/values/percent.ts";
import { bunArgv } from "../helpers/mcr.ts";

const feed = (seqs: number[], ssrc = 0xabc, entry = 0, acc = new RtpAccounting()) => {
  for (const s of seqs) acc.add(entry, ssrc, s);
  return acc;
};

describe("RTP accounting", () => {
  test("in order, no loss", () => {
    expect(feed([0, 1, 2, 3, 4]).summaries()).toEqual([
      {
        entry: 0,
        ssrc: 0xabc,
        packets: 5,
        unique: 5,
        duplicates: 0,
        outOfOrder: 0,
        lost: 0,
        firstSeq: 0,
        lastSeq: 4,
        wraps: 0,
      },
    ]);
  });
  test("across the wrap at 65535: no loss, one wrap; a hole there is counted", () => {
    const seqs = [65533, 65534, 65535, 0, 1, 2];
    expect(feed(seqs).summaries()[0]).toMatchObject({ unique: 6, lost: 0, firstSeq: 65533, lastSeq: 2, wraps: 1 });
    expect(feed([65534, 65535, 1, 2]).summaries()[0]).toMatchObject({ unique: 4, lost: 1, outOfOrder: 0, wraps: 1 });
    // Three times round.
    const long = Array.from({ length: 3 * 65536 + 10 }, (_, i) => (65000 + i) & 0xffff);
    expect(feed(long).summaries()[0]).toMatchObject({ unique: long.length, lost: 0, duplicates: 0, wraps: 3 });
  });
  test("duplicates and out-of-order arrivals, across the wrap too", () => {
    const s = feed([65534, 0, 65535, 0, 1, 65535, 3, 2]).summaries()[0];
    expect(s).toMatchObject({
      packets: 8,
      unique: 6,
      duplicates: 2,
      outOfOrder: 2,
      lost: 0,
      firstSeq: 65534,
      lastSeq: 3,
    });
  });
  test("a first packet that is not the lowest: the earlier one is out of order, not a wrap", () => {
    expect(feed([10, 9, 11]).summaries()[0]).toMatchObject({
      unique: 3,
      outOfOrder: 1,
      firstSeq: 9,
      lastSeq: 11,
      wraps: 0,
    });
    expect(feed([0, 65535, 1]).summaries()[0]).toMatchObject({
      unique: 3,
      outOfOrder: 1,
      firstSeq: 65535,
      lastSeq: 1,
      wraps: 0,
      lost: 0,
    });
  });
  test("each SSRC, and each listen entry, is a stream of its own", () => {
    const acc = feed([0, 1, 2], 1);
    feed([500, 501], 2, 0, acc);
    feed([0, 1, 2], 1, 1, acc);
    acc.add(0xffff, 1, 7); // no entry: not counted
    expect(acc.summaries().map((s) => [s.entry, s.ssrc, s.unique])).toEqual([
      [0, 1, 3],
      [0, 2, 2],
      [1, 1, 3],
    ]);
  });
});

describe("--loss", () => {
  test("a percentage in parts per million", () => {
    expect(parsePercentPpm("1%", "--loss")).toBe(10_000);
    expect(parsePercentPpm("0.5%", "--loss")).toBe(5000);
    expect(parsePercentPpm("0%", "--loss")).toBe(0);
    expect(parsePercentPpm("100%", "--loss")).toBe(1_000_000);
    expect(parsePercentPpm("0.0001%", "--loss")).toBe(1);
    for (const bad of ["1", "101%", "-1%", "%", "1e1%", "one%", "1 %"])
      expect(() => parsePercentPpm(bad, "--loss")).toThrow(
        `"${bad}" is not a percentage from 0% to 100% (e.g. 1% or 0.5%)`,
      );
    expect(() => parsePercentPpm("0.00001%", "--loss")).toThrow('"0.00001%" is finer than a millionth (0.0001%)');
  });
});

describe("gen --legs: the mode", () => {
  const dests = [
    { addr: "239.1.1.1", port: 5001 },
    { addr: "239.2.1.1", port: 5001 },
  ];
  const legs = (interfaces?: string[]) => ({
    lossPpm: 0,
    seed: 1,
    rtpSeqStart: 0,
    ...(interfaces ? { interfaces } : {}),
  });
  test("packet mode where the legs share one interface, sockets where they do not", () => {
    expect(resolveMode({ mode: "auto", dests, interface: "veth0", legs: legs() })).toBe("packet");
    expect(resolveMode({ mode: "auto", dests, legs: legs(["veth0", "veth0"]) })).toBe("packet");
    expect(resolveMode({ mode: "auto", dests, legs: legs(["veth0", "veth2"]) })).toBe("socket");
    expect(() => resolveMode({ mode: "packet", dests, legs: legs(["veth0", "veth2"]) })).toThrow(
      "--mode packet: legs on several interfaces need --mode socket",
    );
    expect(resolveMode({ mode: "packet", dests, legs: legs(["veth0", "veth0"]) })).toBe("packet");
  });
});

describe("gen --legs: flags that do not fit are refused before anything is sent (64)", () => {
  const gen = async (...args: string[]) => {
    const p = Bun.spawn([...bunArgv("src/main.ts"), "gen", ...args], { stdout: "pipe", stderr: "pipe" });
    const [out, err, code] = await Promise.all([
      new Response(p.stdout).text(),
      new Response(p.stderr).text(),
      p.exited,
    ]);
    return { code, out, err: err.trim() };
  };
  const two = ["--dest", "239.1.1.1:5001", "--dest", "239.2.1.1:5001"];
  test.each([
    [["--legs", "2", "--dest", "239.1.1.1:5001"], "mcr: --legs 2: give one --dest per leg (1 given)"],
    [["--legs", "5", ...two], 'mcr: --legs: "5" is not an integer from 2 to 4'],
    [["--loss", "1%", ...two], "mcr: --loss goes with --legs N"],
    [["--rtp-seq", "5", ...two], "mcr: --rtp-seq goes with --legs N"],
    [["--legs", "2", "--seed", "5", ...two], "mcr: --seed goes with --loss"],
    [["--legs", "2", "--loss", "1", ...two], 'mcr: --loss: "1" is not a percentage from 0% to 100% (e.g. 1% or 0.5%)'],
    [["--legs", "2", "--rtp-seq", "65536", ...two], 'mcr: --rtp-seq: "65536" is not an integer from 0 to 65535'],
    [
      ["--legs", "2", ...two, "--interface", "a", "--interface", "b", "--interface", "c"],
      "mcr: --interface: give it once for every leg or once per leg (2), not 3 times",
    ],
    [[...two, "--interface", "a", "--interface", "b"], "mcr: --interface: one interface, or one per leg with --legs"],
  ])("%p", async (args, message) => {
    expect(await gen(...args, "--count", "1")).toEqual({ code: EX.USAGE, out: "", err: message });
  });
});

test("resolveMode's refusals are usage errors (64)", () => {
  let caught: unknown;
  try {
    resolveMode({ mode: "packet", dests: [{ addr: "239.1.1.1", port: 1 }] });
  } catch (e) {
    caught = e;
  }
  expect(caught instanceof McrError && [caught.message, caught.exitCode]).toEqual([
    "--mode packet: needs --interface",
    EX.USAGE,
  ]);
});
