// Merge rules (issue 14) end to end, through dist/mcr as an operator runs it: `mcr rule add
// --input ... --input ... --merge rtp|failover`, `mcr gen --legs 2 --loss 1%` into two veth pairs
// (red and blue) into the relay, `mcr sink` on the output. Every sequence number that some leg
// carried arrives exactly once, in order, its payload intact; what both legs lost (computed again
// from the seed) is the only loss; `mcr stats --json` and GET /metrics say exactly what gen sent
// on each leg and what the sink got; with 1 and 2 workers; through the 16-bit wrap; a leg dead for
// 2 s; a leg 20 ms behind (netem, where the kernel has it); failover and revert, each switch
// counted and logged; the rule kept across a supervisor restart.
import { expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { count } from "../../src/stats/render.ts";
import type { GenResult } from "../../src/tools/gen.ts";
import type { SinkResult } from "../../src/tools/sink.ts";
import { parseExposition, valueOf } from "../helpers/exposition.ts";
import { type Lab, poll } from "../helpers/lab.ts";
import { delaySends, HAVE_NETEM } from "../helpers/netem.ts";
import { legDrops, lostOnAll } from "../helpers/legs.ts";
import { mcrArgv } from "../helpers/mcr.ts";
import { checkSchema } from "../helpers/stats-schema.ts";
import { describeNetns, type Labs } from "../helpers/suite.ts";
import { startSupervisor, type SupervisorDriver } from "../helpers/supervisor.ts";

const RED = { interface: "veth1", group: "239.1.1.1", port: 5001 }; // leg 0, the primary
const BLUE = { interface: "veth5", group: "239.2.1.1", port: 5001 }; // leg 1
const OUT = { group: "239.10.10.10", port: 6001, interface: "veth3" };
const SIZE = 400; // UDP payload: RTP header, gen's header, filler
const COUNT = 10_000;
const RATE = 10_000; // packets a second on each leg
const LOSS_PPM = 10_000; // 1%

/** mcr gen's one stream on both legs: red from veth0, blue from veth4. */
const TWO_LEGS = [
  "--legs",
  "2",
  "--dest",
  `${RED.group}:${RED.port}`,
  "--dest",
  `${BLUE.group}:${BLUE.port}`,
  "--interface",
  "veth0",
  "--interface",
  "veth4",
];

/**
 * gen (veth0: red, veth4: blue) -> relay (veth1, veth5 | veth3) -> sink (veth2): two independent
 * networks into the relay, one out.
 */
function mergeLab(labs: Labs): Lab {
  const lab = labs.empty();
  for (const r of ["gen", "relay", "sink"]) lab.addNs(r);
  lab.veth("gen", "veth0", "relay", "veth1");
  lab.veth("gen", "veth4", "relay", "veth5");
  lab.veth("relay", "veth3", "sink", "veth2");
  lab.addr("gen", "veth0", "10.0.0.1/24");
  lab.addr("relay", "veth1", "10.0.0.2/24");
  lab.addr("gen", "veth4", "10.0.4.1/24");
  lab.addr("relay", "veth5", "10.0.4.2/24");
  lab.addr("relay", "veth3", "10.0.1.1/24");
  lab.addr("sink", "veth2", "10.0.1.2/24");
  lab.route("sink", "224.0.0.0/4", "veth2");
  return lab;
}

function relay(lab: Lab, workers: number, extra: string[] = []): Promise<SupervisorDriver> {
  return startSupervisor(lab, ["--workers", String(workers), ...extra], {
    interfaces: [RED.interface, BLUE.interface],
  });
}

const leg = (l: typeof RED) => `${l.interface}:${l.group}:${l.port}`;

/** `mcr rule add --name cam --input RED --input BLUE ...`: the rule's id. */
function addCam(sup: SupervisorDriver, flags: string[]): number {
  const r = sup.mcr([
    "rule",
    "add",
    "--name",
    "cam",
    "--input",
    leg(RED),
    "--input",
    leg(BLUE),
    ...flags,
    "--outputs",
    `${OUT.group}:${OUT.port}:${OUT.interface}`,
  ]);
  expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: "" });
  return Number(r.stdout.trim());
}

/** `mcr sink` on the output, stopping 2 s after the last packet; resolves with its report. */
async function sink(lab: Lab, expectCount?: number) {
  const p = lab.spawn("sink", [
    ...mcrArgv(),
    "sink",
    "--group",
    `${OUT.group}:${OUT.port}`,
    "--interface",
    "veth2",
    ...(expectCount !== undefined ? ["--expect", String(expectCount)] : []),
    "--timeout",
    "2",
    "--json",
  ]);
  await Bun.sleep(400); // joined and reading (gen-legs.test.ts waits the same)
  return async () => {
    const [out, err] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
    if (p.exitCode !== 0) throw new Error(`sink failed (${p.exitCode}): ${err}`);
    return JSON.parse(out) as SinkResult;
  };
}

/** `mcr gen ... --json` in the generator's namespace, to its end. */
function gen(lab: Lab, args: string[]): GenResult {
  const r = lab.exec("gen", [...mcrArgv(), "gen", ...args, "--json"], { timeoutMs: 30_000 });
  if (r.code !== 0) throw new Error(`gen failed (${r.code}): ${r.stderr}`);
  return JSON.parse(r.stdout) as GenResult;
}

/** The same, in the background: resolves when it ends. */
function genInBackground(lab: Lab, args: string[]): Promise<GenResult> {
  const p = lab.spawn("gen", [...mcrArgv(), "gen", ...args, "--json"]);
  return (async () => {
    const [out, err] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
    if (p.exitCode !== 0) throw new Error(`gen failed (${p.exitCode}): ${err}`);
    return JSON.parse(out) as GenResult;
  })();
}

/** A plain stream (no --legs) on one leg: for failover, which needs no RTP. */
const plain = (l: "red" | "blue", count: number, rate: number) => [
  "--dest",
  `${(l === "red" ? RED : BLUE).group}:${(l === "red" ? RED : BLUE).port}`,
  "--interface",
  l === "red" ? "veth0" : "veth4",
  "--mode",
  "socket",
  "--rate",
  String(rate),
  "--count",
  String(count),
  "--size",
  String(SIZE),
];

/** `mcr stats --json` once the rule's counters have taken in what was sent (they lag the wire). */
async function settledStats(sup: SupervisorDriver, out: number, legPackets: number[]) {
  const s = await poll(
    () => sup.stats(),
    (x) => {
      const m = x.rules.find((r: any) => r.name === "cam")?.merge;
      return m !== undefined && m.out >= out && m.inputs.every((i: any, k: number) => i.packets >= legPackets[k]!);
    },
  );
  expect(checkSchema(s)).toEqual([]);
  return s;
}

interface RtpRun {
  sent: GenResult;
  drops: boolean[][];
  both: number; // lost on both legs: what no merge can bring back
  got: SinkResult;
  stats: any;
}

/**
 * gen --legs 2 --loss 1% --seed `seed` --rtp-seq `seq0`, COUNT packets on each leg, through the
 * merge rule to the sink: what the sink and `mcr stats --json` must say, exactly.
 */
async function rtpRun(lab: Lab, sup: SupervisorDriver, seed: number, seq0 = 0): Promise<RtpRun> {
  const drops = [0, 1].map((k) => legDrops(seed, k, LOSS_PPM, COUNT));
  const both = lostOnAll(drops);
  const lost = drops.map((d) => d.filter(Boolean).length);
  // The seed is one whose loss leaves both ends of the stream to some leg, and some sequence
  // numbers to none (the RTP report cannot see a lost head or tail; the merge cannot either).
  expect(both).toBeGreaterThan(1);
  for (const d of drops) expect([d[0], d[COUNT - 1]]).toEqual([false, false]);
  const received = await sink(lab, COUNT);
  const sent = gen(lab, [
    ...TWO_LEGS,
    "--loss",
    "1%",
    "--seed",
    String(seed),
    "--rtp-seq",
    String(seq0),
    "--rate",
    String(RATE),
    "--count",
    String(COUNT),
    "--size",
    String(SIZE),
  ]);
  expect(sent.sendErrors).toBe(0);
  expect(sent.legs?.lostOnAllLegs).toBe(both);
  expect(sent.legs?.perLeg.map((l) => [l.packets, l.dropped])).toEqual(lost.map((n) => [COUNT - n, n]));
  const got = await received();
  const kept = COUNT - both;
  // Every sequence number some leg carried, once, in order, its payload checked byte for byte by
  // the sink (gen's header and filler; the RTP header's sequence number and SSRC by the report).
  expect(got).toMatchObject({
    datagrams: kept,
    valid: kept,
    unique: kept,
    lost: both,
    duplicates: 0,
    reordered: 0,
    integrityFailures: 0,
    foreign: 0,
    socketDrops: 0,
  });
  expect(got.streams.map((s) => [s.stream, s.runId, s.first, s.last, s.unique, s.lost])).toEqual([
    [0, sent.runId, 0, COUNT - 1, kept, both],
  ]);
  const last = seq0 + COUNT - 1;
  expect(got.rtp).toEqual([
    {
      entry: `${OUT.group}:${OUT.port}`,
      ssrc: sent.runId,
      packets: kept,
      unique: kept,
      duplicates: 0,
      outOfOrder: 0,
      lost: both,
      firstSeq: seq0,
      lastSeq: last & 0xffff,
      wraps: Math.floor(last / 65536),
    },
  ]);
  const legPackets = sent.legs!.perLeg.map((l) => l.packets);
  const stats = await settledStats(sup, kept, legPackets);
  const rule = stats.rules.find((r: any) => r.name === "cam");
  expect(rule.merge).toMatchObject({
    mode: "rtp",
    out: kept,
    lost: both,
    switches: 0,
    active: 0,
    held: 0,
    tooLarge: 0,
    restarts: 0,
  });
  const inputs = rule.merge.inputs;
  expect(inputs.map((i: any) => [i.interface, i.group, i.port])).toEqual(
    [RED, BLUE].map((l) => [l.interface, l.group, l.port]),
  );
  // Per leg: what gen sent on it; each sequence number it lacked is a gap (both ends are kept).
  expect(inputs.map((i: any) => [i.packets, i.gaps, i.late, i.notRtp])).toEqual(
    legPackets.map((n, k) => [n, lost[k], 0, 0]),
  );
  for (const i of inputs) expect(i.lastSeenSecondsAgo).toBeWithin(0, 30);
  // Each copy that went out is one leg's unique contribution; every other copy a duplicate.
  expect(inputs[0].unique + inputs[1].unique).toBe(kept);
  expect(inputs[0].duplicates + inputs[1].duplicates).toBe(sent.packets - kept);
  expect(inputs.every((i: any) => i.unique > 0)).toBe(true);
  // The rule took in every copy of both legs and sent each kept one once.
  expect({ packets: rule.packets, bytes: rule.bytes }).toEqual({ packets: sent.packets, bytes: sent.packets * SIZE });
  expect(rule.outputs.map((o: any) => [o.packets, o.bytes, o.errors])).toEqual([[kept, kept * SIZE, 0]]);
  expect(stats.totals).toMatchObject({ txPackets: kept, txBytes: kept * SIZE, txErrors: 0, drops: 0, ringDrops: 0 });
  return { sent, drops, both, got, stats };
}

/** GET /metrics from inside the relay's namespace (--metrics-listen :9464 is on its loopback). */
function scrape(lab: Lab) {
  const js = `const r = await fetch("http://127.0.0.1:9464/metrics"); console.log(await r.text());`;
  const r = lab.exec("relay", [process.execPath, "-e", js]);
  if (r.code !== 0) throw new Error(`scrape failed: ${r.stderr}`);
  return parseExposition(r.stdout);
}

describeNetns("merge rules end to end (dist/mcr)", (labs) => {
  for (const [workers, seed, seq0, ingress] of [
    [1, 275, 0, "frames"],
    [2, 117, 0, "frames"],
    [1, 178, 65_000, "frames"],
    [2, 117, 0, "blocks"], // the fanout rings and the rtp merge's rings of blocks (docs/merge.md)
  ] as const)
    test(`rtp, ${workers} worker(s), --ingress ${ingress}, gen --legs 2 --loss 1% --seed ${seed} --rtp-seq ${seq0}: every sequence number on some leg once, in order; stats exact`, async () => {
      const lab = mergeLab(labs);
      const sup = await relay(lab, workers, ["--ingress", ingress]);
      expect(addCam(sup, ["--merge", "rtp"])).toBe(1);
      const run = await rtpRun(lab, sup, seed, seq0);
      if (seq0 > 0) expect(run.got.rtp[0]!.wraps).toBe(1);
      if (workers === 2) {
        // Rule 1 is worker 1's (1 % 2): it read both legs; worker 0 took none of their frames.
        const byIndex = [...run.stats.workers].sort((a: any, b: any) => a.index - b.index);
        expect(byIndex.map((w: any) => [w.index, w.rxFrames > 0, w.drops])).toEqual([
          [0, false, 0],
          [1, true, 0],
        ]);
      }
    }, 60_000);

  test.skipIf(!HAVE_NETEM)(
    "rtp, the blue leg 20 ms behind (tc netem) within the 50 ms window: the same, exactly",
    async () => {
      const lab = mergeLab(labs);
      expect(delaySends(lab, "gen", "veth4", 20).stderr).toBe("");
      const sup = await relay(lab, 1);
      addCam(sup, ["--merge", "rtp"]);
      await rtpRun(lab, sup, 80);
    },
    60_000,
  );

  test("rtp, the red leg dead for 2 s (a blackhole qdisc on its wire) while blue goes on: no loss", async () => {
    const lab = mergeLab(labs);
    const sup = await relay(lab, 1);
    addCam(sup, ["--merge", "rtp"]);
    const [n, rate] = [8000, 2000];
    const received = await sink(lab, n);
    const redIn = () => lab.linkCounters("relay", RED.interface).rxPackets;
    const red0 = redIn();
    const sending = genInBackground(lab, [
      ...TWO_LEGS,
      "--rate",
      String(rate),
      "--count",
      String(n),
      "--size",
      String(SIZE),
    ]);
    const tc = (...args: string[]) => lab.exec("gen", ["tc", ...args]);
    await Bun.sleep(1000);
    expect(tc("qdisc", "add", "dev", "veth0", "root", "blackhole").stderr).toBe("");
    await Bun.sleep(2000);
    expect(tc("qdisc", "del", "dev", "veth0", "root").stderr).toBe("");
    const sent = await sending;
    // What the red wire did not carry: the relay's veth1 counts every frame that came (nothing
    // but gen's stream comes there).
    const cut = n - (redIn() - red0);
    expect(sent.sendErrors).toBe(0);
    expect(sent.legs?.perLeg.map((l) => l.packets)).toEqual([n, n]);
    expect(cut).toBeGreaterThan(rate * 1.5); // about 2 s of red
    const got = await received();
    expect(got).toMatchObject({
      datagrams: n,
      unique: n,
      lost: 0,
      duplicates: 0,
      reordered: 0,
      integrityFailures: 0,
      socketDrops: 0,
    });
    expect(got.rtp.map((r) => [r.ssrc, r.packets, r.duplicates, r.outOfOrder, r.lost])).toEqual([
      [sent.runId, n, 0, 0, 0],
    ]);
    const s = await settledStats(sup, n, [n - cut, n]);
    const m = s.rules[0].merge;
    expect(m).toMatchObject({ out: n, lost: 0, held: 0, restarts: 0 });
    // Red brought what was not cut; blue filled every hole, once; red, back, was taken up again.
    expect(m.inputs.map((i: any) => [i.packets, i.late, i.notRtp])).toEqual([
      [n - cut, 0, 0],
      [n, 0, 0],
    ]);
    expect(m.inputs[1].unique).toBeGreaterThanOrEqual(cut);
    expect(m.inputs[0].unique + m.inputs[1].unique).toBe(n);
    expect(m.inputs[0].duplicates + m.inputs[1].duplicates).toBe(n - cut);
    expect(s.rules[0].outputs.map((o: any) => [o.packets, o.errors])).toEqual([[n, 0]]);
  }, 60_000);

  test("rule list --json and the state file carry the merge rule across a supervisor restart; it merges on, and /metrics names it", async () => {
    const lab = mergeLab(labs);
    const sup = await relay(lab, 1, ["--metrics-listen", ":9464"]);
    addCam(sup, ["--merge", "rtp", "--merge-window", "100ms"]);
    const before = JSON.parse(sup.mcr(["rule", "list", "--json"]).stdout).rules;
    expect(before).toEqual([
      {
        id: 1,
        name: "cam",
        inputInterface: RED.interface,
        inputGroup: RED.group,
        inputPort: RED.port,
        outputs: [{ ...OUT, ttl: 1 }],
        merge: {
          mode: "rtp",
          legs: [{ interface: BLUE.interface, group: BLUE.group, port: BLUE.port }],
          windowMs: 100,
        },
      },
    ]);
    expect(JSON.parse(readFileSync(sup.stateFile, "utf8")).rules).toEqual(before);

    sup.proc.kill("SIGTERM");
    await sup.proc.exited;
    expect(sup.proc.exitCode).toBe(0);
    sup.start();
    await sup.ready();
    expect(JSON.parse(sup.mcr(["rule", "list", "--json"]).stdout).rules).toEqual(before);

    const run = await rtpRun(lab, sup, 299);
    const kept = COUNT - run.both;
    const fams = scrape(lab);
    const cam = { rule: "1", name: "cam" };
    const v = (name: string, labels: Record<string, string>) => valueOf(fams, name, labels);
    expect(v("mcr_merge_packets_total", cam)).toBe(kept);
    expect(v("mcr_merge_lost_total", cam)).toBe(run.both);
    expect(v("mcr_merge_switches_total", cam)).toBe(0);
    expect(v("mcr_merge_held_packets", cam)).toBe(0);
    const inputs = run.stats.rules[0].merge.inputs;
    for (const [k, l] of [RED, BLUE].entries()) {
      const labels = { ...cam, input: String(k), interface: l.interface, group: l.group, port: String(l.port) };
      expect(v("mcr_merge_input_packets_total", labels)).toBe(run.sent.legs!.perLeg[k]!.packets);
      expect(v("mcr_merge_input_unique_total", labels)).toBe(inputs[k].unique);
      expect(v("mcr_merge_input_duplicates_total", labels)).toBe(inputs[k].duplicates);
      expect(v("mcr_merge_input_gaps_total", labels)).toBe(run.drops[k]!.filter(Boolean).length);
      expect(v("mcr_merge_input_late_total", labels)).toBe(0);
    }
    expect(v("mcr_rule_receive_packets_total", cam)).toBe(run.sent.packets);
  }, 60_000);

  for (const workers of [1, 2])
    test(`failover, ${workers} worker(s): blue after red's 200 ms of silence, red again after 1 s of steadiness; each switch counted and logged`, async () => {
      const lab = mergeLab(labs);
      const sup = await relay(lab, workers, ["--metrics-listen", ":9464"]);
      addCam(sup, ["--merge", "failover", "--failover-after", "200ms", "--revert-after", "1s"]);
      const RATE_FO = 1000;
      const received = await sink(lab);
      // Blue for 4 s; red for the first second, silent for 0.8 s, then red again for 2.5 s.
      const blueRun = genInBackground(lab, plain("blue", 4000, RATE_FO));
      const red1 = gen(lab, plain("red", 1000, RATE_FO));
      await Bun.sleep(800);
      const red2 = gen(lab, plain("red", 2500, RATE_FO));
      const blue = await blueRun;
      for (const g of [red1, red2, blue]) expect(g.sendErrors).toBe(0);
      const got = await received();
      expect(got).toMatchObject({ duplicates: 0, reordered: 0, integrityFailures: 0, foreign: 0, socketDrops: 0 });
      const stream = (g: GenResult) => {
        const s = got.streams.find((x) => x.runId === g.runId);
        expect(s).toBeDefined();
        return s!;
      };
      const [r1, b, r2] = [stream(red1), stream(blue), stream(red2)];
      // Red's first run whole; then blue, from when red had been silent 200 ms to when red had
      // been back for 1 s; then red to its end: each an unbroken run of its stream.
      expect([r1.first, r1.last, r1.unique]).toEqual([0, 999, 1000]);
      expect(b.unique).toBe(b.last - b.first + 1);
      expect([r2.last, r2.unique]).toEqual([2499, 2500 - r2.first]);
      expect(got.streams.length).toBe(3);
      // When blue took over, by blue's own schedule (its packet i left i ms after it started).
      const at = (g: GenResult, i: number) => Date.parse(g.startedAt) + (i * 1000) / RATE_FO;
      const silence = at(blue, b.first) - at(red1, 999);
      expect(silence).toBeGreaterThanOrEqual(200 - 20);
      expect(silence).toBeLessThan(200 + 300);
      // Red was taken back once it had sent for 1 s without such a silence.
      expect(r2.first).toBeGreaterThanOrEqual(1000 - 20);
      expect(r2.first).toBeLessThan(1000 + 300);
      const out = r1.unique + b.unique + r2.unique;
      expect(got.datagrams).toBe(out);
      const s = await settledStats(sup, out, [3500, 4000]);
      const rule = s.rules[0];
      expect(rule.merge).toMatchObject({ mode: "failover", out, lost: 0, switches: 2, active: 0, held: 0 });
      expect(rule.merge.inputs.map((i: any) => [i.packets, i.unique, i.duplicates, i.late, i.notRtp])).toEqual([
        [3500, r1.unique + r2.unique, 2500 - r2.unique, 0, 0],
        [4000, b.unique, 4000 - b.unique, 0, 0],
      ]);
      expect({ packets: rule.packets, bytes: rule.bytes }).toEqual({ packets: 7500, bytes: 7500 * SIZE });
      expect(rule.outputs.map((o: any) => [o.packets, o.errors])).toEqual([[out, 0]]);
      expect(s.totals).toMatchObject({ txPackets: out, txErrors: 0, drops: 0, ringDrops: 0 });
      // `mcr stats` says the same; each input silent now (the sink waited 2 s past the last packet).
      // A row: its cells in order, from the line's start (an input's row goes on to its last seen).
      const text = sup.mcr(["stats"]).stdout;
      const row = (...cells: (string | number)[]) =>
        new RegExp(
          `^\\s*${cells.map((c) => (typeof c === "number" ? count(c) : c).replace(/\./g, "\\.")).join("\\s+")}(\\s|$)`,
          "m",
        );
      expect(text).toMatch(row(1, "cam", "failover", out, 0, 2, 0));
      expect(text).toMatch(
        row(1, "cam", 0, "veth1", "239.1.1.1:5001", "silent", 3500, r1.unique + r2.unique, 2500 - r2.unique, 0, 0),
      );
      expect(text).toMatch(
        row(1, "cam", 1, "veth5", "239.2.1.1:5001", "silent", 4000, b.unique, 4000 - b.unique, 0, 0),
      );
      // Each switch in the supervisor's log (the owner worker's line, passed on), and in /metrics.
      expect(sup.stderr).toContain("rule cam: input 1 (veth5 239.2.1.1:5001) forwarded now (switch 1)");
      expect(sup.stderr).toContain("rule cam: input 0 (veth1 239.1.1.1:5001) forwarded now (switch 2)");
      const fams = scrape(lab);
      expect(valueOf(fams, "mcr_merge_switches_total", { rule: "1", name: "cam" })).toBe(2);
      expect(valueOf(fams, "mcr_merge_active_input", { rule: "1", name: "cam" })).toBe(0);
      expect(valueOf(fams, "mcr_merge_packets_total", { rule: "1", name: "cam" })).toBe(out);
    }, 60_000);
});
