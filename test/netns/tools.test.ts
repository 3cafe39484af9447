// mcr gen -> mcr -> mcr sink at a low rate: what the generator sent, what mcr counted and what
// the sink counted agree exactly.
import { expect, test } from "bun:test";
import { describeNetns } from "../helpers/suite.ts";
import { startSupervisor } from "../helpers/supervisor.ts";
import { mcrArgv } from "../helpers/mcr.ts";

describeNetns("mcr gen and mcr sink through the relay", (labs) => {
  test("gen -> relay -> sink, two streams: sent, relayed and received agree to the packet", async () => {
    const lab = labs.chain();
    const sup = await startSupervisor(lab, ["--workers", "1"]);
    const a = sup.addRule("239.1.1.1", 5001, "239.9.9.1:6001:veth3");
    const b = sup.addRule("239.1.1.2", 5002, "239.9.9.2:6002:veth3");
    const PER_STREAM = 3000;
    const sink = lab.spawn("sink", [
      ...mcrArgv(),
      "sink",
      "--group",
      "239.9.9.1:6001,239.9.9.2:6002",
      "--interface",
      "veth2",
      "--expect",
      String(PER_STREAM),
      "--timeout",
      "2",
      "--json",
    ]);
    await Bun.sleep(400);
    const gen = lab.exec(
      "gen",
      [
        ...mcrArgv(),
        "gen",
        "--dest",
        "239.1.1.1:5001,239.1.1.2:5002",
        "--interface",
        "veth0",
        "--rate",
        "4000",
        "--count",
        String(2 * PER_STREAM),
        "--size",
        "700",
        "--json",
      ],
      { timeoutMs: 20000 },
    );
    expect(gen.code).toBe(0);
    const sent = JSON.parse(gen.stdout);
    await sink.exited;
    const got = JSON.parse(await new Response(sink.stdout).text());

    expect(sent.packets).toBe(2 * PER_STREAM);
    expect(sent.sendErrors).toBe(0);
    expect(sent.dests.map((d: { packets: number }) => d.packets)).toEqual([PER_STREAM, PER_STREAM]);
    expect(got).toMatchObject({
      valid: 2 * PER_STREAM,
      unique: 2 * PER_STREAM,
      lost: 0,
      duplicates: 0,
      reordered: 0,
      integrityFailures: 0,
      foreign: 0,
      socketDrops: 0,
    });
    expect(got.streams.map((s: { unique: number; lost: number }) => [s.unique, s.lost])).toEqual([
      [PER_STREAM, 0],
      [PER_STREAM, 0],
    ]);
    // Latency is measured for every packet and ordered sensibly (its size is the benchmark's business).
    const l = got.latency;
    expect(l.samples).toBe(2 * PER_STREAM);
    expect(l.minUs).toBeGreaterThan(0);
    expect(l.minUs <= l.p50Us && l.p50Us <= l.p99Us && l.p99Us <= l.maxUs).toBe(true);

    const stats = sup.stats();
    const rulePackets = (id: number) => stats.rules.find((r: { id: number }) => r.id === id).packets;
    expect([rulePackets(a), rulePackets(b)]).toEqual([PER_STREAM, PER_STREAM]);
    expect(stats.totals?.txPackets ?? stats.workers[0].txPackets).toBe(2 * PER_STREAM);
  }, 40000);
});
