// `mcr gen --legs 2 --loss P% --seed S` through veth pairs into `mcr sink`: one RTP stream on two
// legs (two interfaces, or two groups on one), each leg dropping its own packets. What every sink
// counts (gen's sequence numbers and the RTP report by SSRC) is exactly what the seed says each
// leg dropped, computed here again from the seed, independently of the sender.
import { expect, test } from "bun:test";
import type { GenResult } from "../../src/tools/gen.ts";
import type { SinkResult } from "../../src/tools/sink.ts";
import type { Lab } from "../helpers/lab.ts";
import { legDrops as drops, lostOnAll } from "../helpers/legs.ts";
import { mcrArgv } from "../helpers/mcr.ts";
import { describeNetns } from "../helpers/suite.ts";

const COUNT = 5000;
const SEED = 2022;

/** gen (veth0, veth4) -> sink (veth1, veth5): two independent networks, red and blue. */
function twoNetworks(lab: Lab): void {
  lab.addNs("gen");
  lab.addNs("sink");
  lab.veth("gen", "veth0", "sink", "veth1");
  lab.veth("gen", "veth4", "sink", "veth5");
  lab.addr("gen", "veth0", "10.0.0.1/24");
  lab.addr("sink", "veth1", "10.0.0.2/24");
  lab.addr("gen", "veth4", "10.0.4.1/24");
  lab.addr("sink", "veth5", "10.0.4.2/24");
}

function sink(lab: Lab, group: string, iface: string) {
  const p = lab.spawn("sink", [
    ...mcrArgv(),
    "sink",
    "--group",
    group,
    "--interface",
    iface,
    "--expect",
    String(COUNT),
    "--timeout",
    "2",
    "--json",
  ]);
  return async () => {
    const [out] = await Promise.all([new Response(p.stdout).text(), p.exited]);
    return JSON.parse(out) as SinkResult;
  };
}

function gen(lab: Lab, args: string[]): GenResult {
  const r = lab.exec("gen", [...mcrArgv(), "gen", ...args, "--json"], { timeoutMs: 20_000 });
  if (r.code !== 0) throw new Error(`gen failed (${r.code}): ${r.stderr}`);
  return JSON.parse(r.stdout) as GenResult;
}

/** What a sink of one leg must report, given that leg's drops. */
function expectLeg(got: SinkResult, dropped: boolean[], ssrc: string, rtpSeq0: number) {
  const lost = dropped.filter(Boolean).length;
  const kept = COUNT - lost;
  expect(got).toMatchObject({
    datagrams: kept,
    valid: kept,
    unique: kept,
    lost,
    duplicates: 0,
    reordered: 0,
    integrityFailures: 0,
    foreign: 0,
    socketDrops: 0,
  });
  // Gen's numbers on one stream (0 on every leg), and the same as an RTP stream: the RTP report
  // cannot see a lost head or tail, so its loss is the holes between the first and last kept.
  const first = dropped.indexOf(false);
  const last = dropped.lastIndexOf(false);
  const holes = dropped.slice(first, last + 1).filter(Boolean).length;
  expect(got.streams.map((s) => [s.stream, s.runId, s.first, s.last])).toEqual([[0, ssrc, first, last]]);
  expect(got.rtp).toEqual([
    {
      entry: got.entries[0]!,
      ssrc,
      packets: kept,
      unique: kept,
      duplicates: 0,
      outOfOrder: 0,
      lost: holes,
      firstSeq: (rtpSeq0 + first) & 0xffff,
      lastSeq: (rtpSeq0 + last) & 0xffff,
      wraps: Math.floor((rtpSeq0 + last) / 65536) - Math.floor((rtpSeq0 + first) / 65536),
    },
  ]);
}

describeNetns("mcr gen --legs: one RTP stream on two legs with independent loss", (labs) => {
  test("two interfaces (socket mode), one sink per leg: each leg's loss exactly as the seed says", async () => {
    const lab = labs.empty();
    twoNetworks(lab);
    const red = sink(lab, "239.1.1.1:5001", "veth1");
    const blue = sink(lab, "239.2.1.1:5001", "veth5");
    await Bun.sleep(400);
    const sent = gen(lab, [
      "--legs",
      "2",
      "--dest",
      "239.1.1.1:5001",
      "--dest",
      "239.2.1.1:5001",
      "--interface",
      "veth0",
      "--interface",
      "veth4",
      "--loss",
      "1%",
      "--seed",
      String(SEED),
      "--rate",
      "5000",
      "--count",
      String(COUNT),
      "--size",
      "400",
    ]);
    const d0 = drops(SEED, 0, 10_000, COUNT);
    const d1 = drops(SEED, 1, 10_000, COUNT);
    const n = (d: boolean[]) => d.filter(Boolean).length;
    expect(n(d0)).toBeGreaterThan(0);
    expect(sent.mode).toBe("socket");
    expect(sent.sendErrors).toBe(0);
    expect(sent.legs).toEqual({
      ssrc: sent.runId,
      rtpSeqStart: 0,
      lossPct: 1,
      seed: SEED,
      lostOnAllLegs: lostOnAll([d0, d1]),
      perLeg: [
        { dest: "239.1.1.1:5001", interface: "veth0", packets: COUNT - n(d0), dropped: n(d0) },
        { dest: "239.2.1.1:5001", interface: "veth4", packets: COUNT - n(d1), dropped: n(d1) },
      ],
    });
    expect(sent.packets).toBe(2 * COUNT - n(d0) - n(d1));
    expectLeg(await red(), d0, sent.runId, 0);
    expectLeg(await blue(), d1, sent.runId, 0);
  });

  test("two groups on one interface (packet mode), the RTP sequence wrapping: one sink for both legs", async () => {
    const lab = labs.empty();
    twoNetworks(lab);
    lab.route("gen", "224.0.0.0/4", "veth0");
    const both = sink(lab, "239.1.1.1:5001,239.2.1.1:5002", "veth1");
    await Bun.sleep(400);
    const seq0 = 63000; // wraps after 2536 packets
    const sent = gen(lab, [
      "--legs",
      "2",
      "--dest",
      "239.1.1.1:5001",
      "--dest",
      "239.2.1.1:5002",
      "--interface",
      "veth0",
      "--loss",
      "5%",
      "--seed",
      String(SEED + 1),
      "--rtp-seq",
      String(seq0),
      "--rate",
      "5000",
      "--count",
      String(COUNT),
      "--size",
      "300",
    ]);
    expect(sent.mode).toBe("packet");
    const d0 = drops(SEED + 1, 0, 50_000, COUNT);
    const d1 = drops(SEED + 1, 1, 50_000, COUNT);
    expect(sent.legs?.perLeg.map((l) => l.dropped)).toEqual([d0, d1].map((d) => d.filter(Boolean).length));
    const got = await both();
    const lost = [d0, d1].map((d) => d.filter(Boolean).length) as [number, number];
    expect(got).toMatchObject({
      unique: 2 * COUNT - lost[0] - lost[1],
      lost: lost[0] + lost[1],
      duplicates: 0,
      reordered: 0,
      integrityFailures: 0,
      foreign: 0,
    });
    expect(got.streams.map((s) => [s.entry, s.unique, s.lost])).toEqual([
      ["239.1.1.1:5001", COUNT - lost[0], lost[0]],
      ["239.2.1.1:5002", COUNT - lost[1], lost[1]],
    ]);
    expect(got.rtp.map((r) => [r.entry, r.ssrc, r.unique, r.duplicates, r.outOfOrder, r.wraps])).toEqual([
      ["239.1.1.1:5001", sent.runId, COUNT - lost[0], 0, 0, 1],
      ["239.2.1.1:5002", sent.runId, COUNT - lost[1], 0, 0, 1],
    ]);
  });
});
