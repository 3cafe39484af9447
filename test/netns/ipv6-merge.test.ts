// An IPv6 merge rule end to end (issues 13 and 14), against dist/mcr: one RTP stream sent by
// `mcr gen --legs 2` on two IPv6 groups over two networks into the relay, merged by a rule with
// IPv6 legs, and relayed to an IPv6 group and an IPv4 one. Each sink gets every packet that at
// least one leg carried, once and in order, byte for byte (mcr sink checks each payload); what
// both legs lost, computed again from the seed, is what the sinks miss, exactly.
import { expect, test } from "bun:test";
import type { GenResult } from "../../src/tools/gen.ts";
import type { SinkResult } from "../../src/tools/sink.ts";
import { type Lab, poll } from "../helpers/lab.ts";
import { legDrops, lostOnAll } from "../helpers/legs.ts";
import { mcrArgv } from "../helpers/mcr.ts";
import { describeNetns } from "../helpers/suite.ts";
import { startSupervisor } from "../helpers/supervisor.ts";

const COUNT = 5000;
const SEED = 613;
const LOSS_PPM = 20_000; // 2% on each leg

function sink(lab: Lab, group: string, expectN: number) {
  const p = lab.spawn("sink", [
    ...mcrArgv(),
    "sink",
    "--group",
    group,
    "--interface",
    "veth2",
    "--expect",
    String(expectN),
    "--timeout",
    "3",
    "--json",
  ]);
  return async () => {
    const [out] = await Promise.all([new Response(p.stdout).text(), p.exited]);
    return JSON.parse(out) as SinkResult;
  };
}

describeNetns("IPv6 merge rules end to end", (labs) => {
  test("two IPv6 legs merged into one stream, out to IPv6 and IPv4: every packet one leg carried, once, in order", async () => {
    const lab = labs.chain({ ipv6: true });
    // The blue network into the relay, beside the chain's red one (veth0 -> veth1).
    lab.veth("gen", "veth4", "relay", "veth5");
    lab.addr("gen", "veth4", "2001:db8:4::1/64");
    lab.addr("relay", "veth5", "2001:db8:4::2/64");
    const sup = await startSupervisor(lab, ["--workers", "1"], { interfaces: ["veth1", "veth5"] });
    const add = sup.mcr([
      "rule",
      "add",
      "--name",
      "cam6",
      "--input",
      "veth1:[ff3e::1]:5001",
      "--input",
      "veth5:[ff3e::2]:5001",
      "--merge",
      "rtp",
      "--outputs",
      "[ff3e::9:9]:5099:veth3,239.10.10.10:6001:veth3",
    ]);
    expect({ code: add.code, stderr: add.stderr }).toEqual({ code: 0, stderr: "" });
    const list = JSON.parse(sup.mcr(["rule", "list", "--json"]).stdout);
    expect(list.rules[0].merge.legs).toEqual([{ interface: "veth5", group: "ff3e::2", port: 5001 }]);

    const d0 = legDrops(SEED, 0, LOSS_PPM, COUNT);
    const d1 = legDrops(SEED, 1, LOSS_PPM, COUNT);
    const lost = lostOnAll([d0, d1]);
    expect(lost).toBeGreaterThan(0); // the seed drops some packets on both legs: the check has teeth
    const both = d0.map((x, i) => x && d1[i]);
    expect(both[0] || both[COUNT - 1]).toBe(false); // the head and tail reach the sinks
    const kept = COUNT - lost;
    const six = sink(lab, "[ff3e::9:9]:5099", kept);
    const four = sink(lab, "239.10.10.10:6001", kept);
    await Bun.sleep(500);
    const r = lab.exec(
      "gen",
      [
        ...mcrArgv(),
        "gen",
        "--legs",
        "2",
        "--dest",
        "[ff3e::1]:5001",
        "--dest",
        "[ff3e::2]:5001",
        "--interface",
        "veth0",
        "--interface",
        "veth4",
        "--loss",
        "2%",
        "--seed",
        String(SEED),
        "--rate",
        "5000",
        "--count",
        String(COUNT),
        "--size",
        "400",
        "--json",
      ],
      { timeoutMs: 20_000 },
    );
    expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: "" });
    const sent = JSON.parse(r.stdout) as GenResult;
    expect(sent.sendErrors).toBe(0);
    for (const got of [await six(), await four()]) {
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
      expect(got.streams.map((s) => [s.stream, s.first, s.last])).toEqual([[0, 0, COUNT - 1]]);
      expect(got.rtp.map((s) => [s.packets, s.unique, s.duplicates, s.outOfOrder, s.lost])).toEqual([
        [kept, kept, 0, 0, lost],
      ]);
    }
    // The relay's own count: each leg's packets in, by its IPv6 group; one copy of each merged
    // packet out; what no leg brought, lost.
    const rule = await poll(
      () => sup.stats().rules.find((x: { name?: string }) => x.name === "cam6"),
      (x) => x?.merge?.out === kept,
    );
    const n = (d: boolean[]) => d.filter(Boolean).length;
    expect(rule.outputs.map((o: { packets: number }) => o.packets)).toEqual([kept, kept]);
    expect(rule.merge).toMatchObject({ mode: "rtp", out: kept, lost, held: 0, restarts: 0 });
    expect(
      rule.merge.inputs.map((i: { interface: string; group: string; packets: number; unique: number }) => [
        i.interface,
        i.group,
        i.packets,
      ]),
    ).toEqual([
      ["veth1", "ff3e::1", COUNT - n(d0)],
      ["veth5", "ff3e::2", COUNT - n(d1)],
    ]);
    expect(rule.merge.inputs.reduce((a: number, i: { unique: number }) => a + i.unique, 0)).toBe(kept);
  }, 60000);
});
