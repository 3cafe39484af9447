// IPv6 end to end and across families (issue 13), against the compiled dist/mcr, in the chain lab
// with IPv6 on (CHAIN6's addresses): v6 -> v6 with the MLD join in the relay's /proc/net/igmp6,
// v4 -> v6, v6 -> v4, a fan-out mixing both; mcr gen and mcr sink on IPv6 groups; IPv6 frames
// written on the wire (extension headers, fragments, every malformed kind, random ones); an SSM
// split of two sources; hop limit and traffic class; a tentative source address. Every stream is
// checked byte for byte and in order at a receiving socket, exactly (a receiver that would take
// one more datagram than was sent finds none: no duplicate), and the receiver's checksum-error
// counters stay as they were (the UDP checksums mcr wrote across families are right).
import { expect, test } from "bun:test";
import { DROP_REASONS, type DropReason } from "../../src/stats/reasons.ts";
import { buildFrame, buildFrame6, type Frame6Spec, setUdpChecksum } from "../helpers/frames.ts";
import { CHAIN6, type Lab, must, poll } from "../helpers/lab.ts";
import { payloadFor } from "../helpers/payloads.ts";
import { snmp6Counters, udpCounters } from "../helpers/snmp.ts";
import { describeNetns } from "../helpers/suite.ts";
import { startSupervisor, type SupervisorDriver } from "../helpers/supervisor.ts";
import { mcrArgv } from "../helpers/mcr.ts";
import { expectPayloads, receiveInSink, sendFromGen } from "../helpers/traffic.ts";
import { buildWireTools, capture, INJECT, inject } from "../helpers/wire.ts";

const N = 400;

/** The groups joined on an interface in a namespace's /proc/net/igmp6 (32 hex digits each). */
function igmp6(lab: Lab, role: string, iface: string): string[] {
  return lab
    .exec(role, ["cat", "/proc/net/igmp6"])
    .stdout.split("\n")
    .map((l) => l.trim().split(/\s+/))
    .filter((f) => f[1] === iface)
    .map((f) => f[2]!);
}

/** The sink's checksum-error counters, both families. */
const csumErrors = (lab: Lab) => ({
  udp6: snmp6Counters(lab, "sink").Udp6InCsumErrors,
  udp4: udpCounters(lab, "sink").InCsumErrors,
});

/** The rule's and its outputs' packet counters once the relay has counted `n` in. */
async function counted(sup: SupervisorDriver, id: number, n: number) {
  const rule = await poll(
    () => sup.stats().rules.find((r: { id: number }) => r.id === id),
    (r) => r?.packets === n,
    3000,
  );
  return { in: rule.packets, out: rule.outputs.map((o: { packets: number }) => o.packets) };
}

describeNetns("IPv6 end to end, and across families", (labs) => {
  test("v6 -> v6: group and port rewritten, MLD join in the relay, byte for byte, checksums right", async () => {
    const lab = labs.chain({ ipv6: true });
    const sup = await startSupervisor(lab);
    const id = sup.addRule("ff3e::1:1", 5001, "[ff3e::9:9]:5099:veth3");
    // The input's membership is MLD's, on the ingress (ff3e::1:1 is ff3e0000000000000000000000010001).
    const joined = await poll(
      () => igmp6(lab, "relay", "veth1"),
      (g) => g.includes("ff3e0000000000000000000000010001"),
    );
    expect(joined).toContain("ff3e0000000000000000000000010001");
    const before = csumErrors(lab);
    const rx = receiveInSink(lab, { group: "ff3e::9:9", port: 5099, count: N + 1 });
    await rx.listening;
    sendFromGen(lab, { dest: "ff3e::1:1", port: 5001, count: N, size: 1000, seed: 61, gapUs: 200 });
    const got = await rx.result;
    expectPayloads(got.payloads, 61, N, 1000);
    // From the egress interface's global address.
    expect(new Set(got.sources.map((s) => s.slice(0, s.lastIndexOf(":"))))).toEqual(new Set([CHAIN6.relayOut]));
    expect(csumErrors(lab)).toEqual(before);
    expect(await counted(sup, id, N)).toEqual({ in: N, out: [N] });
    expect(sup.mcr(["rule", "list"]).stdout).toContain("[ff3e::9:9]:5099:veth3");
  }, 30000);

  test("v4 -> v6: an IPv4 group relayed to an IPv6 one, the payload unchanged", async () => {
    const lab = labs.chain({ ipv6: true });
    const sup = await startSupervisor(lab);
    const id = sup.addRule("239.1.1.1", 5002, "[ff3e::9:9]:5098:veth3");
    const before = csumErrors(lab);
    const rx = receiveInSink(lab, { group: "ff3e::9:9", port: 5098, count: N + 1 });
    await rx.listening;
    sendFromGen(lab, { dest: "239.1.1.1", port: 5002, count: N, size: 700, seed: 62, gapUs: 200 });
    const got = await rx.result;
    expectPayloads(got.payloads, 62, N, 700);
    expect(new Set(got.sources.map((s) => s.slice(0, s.lastIndexOf(":"))))).toEqual(new Set([CHAIN6.relayOut]));
    expect(csumErrors(lab)).toEqual(before);
    expect(await counted(sup, id, N)).toEqual({ in: N, out: [N] });
  }, 30000);

  test("v6 -> v4: an IPv6 group relayed to an IPv4 one, the payload unchanged", async () => {
    const lab = labs.chain({ ipv6: true });
    const sup = await startSupervisor(lab);
    const id = sup.addRule("ff3e::1:2", 5003, "239.9.9.9:5097:veth3");
    const before = csumErrors(lab);
    const rx = receiveInSink(lab, { group: "239.9.9.9", port: 5097, count: N + 1 });
    await rx.listening;
    sendFromGen(lab, { dest: "ff3e::1:2", port: 5003, count: N, size: 1200, seed: 63, gapUs: 200 });
    const got = await rx.result;
    expectPayloads(got.payloads, 63, N, 1200);
    expect(new Set(got.sources.map((s) => s.split(":")[0]))).toEqual(new Set(["10.0.1.1"]));
    expect(csumErrors(lab)).toEqual(before);
    expect(await counted(sup, id, N)).toEqual({ in: N, out: [N] });
  }, 30000);

  test("fan-out mixing families: one IPv6 input to an IPv6 group, an IPv4 group and an IPv6 host", async () => {
    const lab = labs.chain({ ipv6: true });
    const sup = await startSupervisor(lab);
    const id = sup.addRule(
      "ff3e::1:3",
      5004,
      `[ff3e::9:9]:5096:veth3,239.9.9.9:5096:veth3,[${CHAIN6.sink}]:7006:veth3`,
    );
    const before = csumErrors(lab);
    const a = receiveInSink(lab, { group: "ff3e::9:9", port: 5096, count: N + 1 });
    const b = receiveInSink(lab, { group: "239.9.9.9", port: 5096, count: N + 1 });
    const u = receiveInSink(lab, { port: 7006, v6: true, count: N + 1 });
    await Promise.all([a.listening, b.listening, u.listening]);
    sendFromGen(lab, { dest: "ff3e::1:3", port: 5004, count: N, size: 333, seed: 64, gapUs: 200 });
    for (const r of [a, b, u]) expectPayloads((await r.result).payloads, 64, N, 333);
    expect(csumErrors(lab)).toEqual(before);
    expect(await counted(sup, id, N)).toEqual({ in: N, out: [N, N, N] });
  }, 30000);
});

describeNetns("mcr gen and mcr sink on IPv6 groups", (labs) => {
  for (const mode of ["packet", "socket"] as const)
    test(`gen (${mode} mode, an IPv6 and an IPv4 destination) -> relay -> sink on two IPv6 groups: exact`, async () => {
      const lab = labs.chain({ ipv6: true });
      const sup = await startSupervisor(lab, ["--workers", "1"]);
      const a = sup.addRule("ff3e::1:1", 5001, "[ff3e::9:9]:6001:veth3");
      const b = sup.addRule("239.1.1.2", 5002, "[ff3e::9:8]:6002:veth3");
      const PER_STREAM = 1500;
      const sink = lab.spawn("sink", [
        ...mcrArgv(),
        "sink",
        "--group",
        "[ff3e::9:9]:6001,[ff3e::9:8]:6002",
        "--interface",
        "veth2",
        "--expect",
        String(PER_STREAM),
        "--timeout",
        "2",
        "--json",
      ]);
      // The sink's MLD joins are made once it listens.
      await poll(
        () => igmp6(lab, "sink", "veth2"),
        (g) => g.includes("ff3e0000000000000000000000090009") && g.includes("ff3e0000000000000000000000090008"),
      );
      const before = csumErrors(lab);
      const gen = lab.exec(
        "gen",
        [
          ...mcrArgv(),
          "gen",
          "--dest",
          "[ff3e::1:1]:5001,239.1.1.2:5002",
          "--interface",
          "veth0",
          "--mode",
          mode,
          "--ttl",
          "4",
          "--rate",
          "3000",
          "--count",
          String(2 * PER_STREAM),
          "--size",
          "600",
          "--json",
        ],
        { timeoutMs: 20000 },
      );
      expect(gen.stderr).toBe("");
      expect(gen.code).toBe(0);
      const sent = JSON.parse(gen.stdout);
      await sink.exited;
      const got = JSON.parse(await new Response(sink.stdout).text());
      expect(sent).toMatchObject({ mode, packets: 2 * PER_STREAM, sendErrors: 0 });
      expect(sent.dests).toEqual([
        { dest: "[ff3e::1:1]:5001", packets: PER_STREAM },
        { dest: "239.1.1.2:5002", packets: PER_STREAM },
      ]);
      expect(got).toMatchObject({
        entries: ["[ff3e::9:9]:6001", "[ff3e::9:8]:6002"],
        valid: 2 * PER_STREAM,
        unique: 2 * PER_STREAM,
        lost: 0,
        duplicates: 0,
        reordered: 0,
        integrityFailures: 0,
        foreign: 0,
      });
      expect(got.streams.map((s: { entry: string; unique: number }) => [s.entry, s.unique])).toEqual([
        ["[ff3e::9:9]:6001", PER_STREAM],
        ["[ff3e::9:8]:6002", PER_STREAM],
      ]);
      expect(csumErrors(lab)).toEqual(before);
      expect(await counted(sup, a, PER_STREAM)).toEqual({ in: PER_STREAM, out: [PER_STREAM] });
      expect(await counted(sup, b, PER_STREAM)).toEqual({ in: PER_STREAM, out: [PER_STREAM] });
    }, 40000);
});

// IPv6 frames built by the test (frames.ts) and written on the wire (test/tools/inject), among
// good ones: extension headers are stepped over and relayed, each malformed kind is counted under
// its own reason, a wrong checksum is kept wrong (the receiver refuses it), and nothing else moves.
const GOOD_KINDS: [string, Frame6Spec][] = [
  ["plain", {}],
  ["hop-by-hop", { ext: [{ type: 0 }] }],
  ["destination options, 16 bytes", { ext: [{ type: 60, units: 1 }] }],
  ["routing, segments left 0", { ext: [{ type: 43 }] }],
  ["hop-by-hop, routing, destination options", { ext: [{ type: 0 }, { type: 43 }, { type: 60 }] }],
];
const BAD_KINDS: [DropReason, Frame6Spec][] = [
  ["ip_fragment", { ext: [{ type: 44 }] }],
  ["ip_fragment", { ext: [{ type: 0 }, { type: 44, fragment: { offset: 100, more: false } }] }],
  ["ip6_truncated", { truncateTo: 14 + 30 }],
  ["ip6_length", { payloadLength: 1400 }],
  ["ip6_length", { payloadLength: 0 }],
  ["ip6_ext", { ext: [{ type: 60 }, { type: 0 }] }], // hop-by-hop not first
  ["ip6_ext", { ext: [{ type: 60, units: 1 }], payloadLength: 12 }], // 16 bytes in a 12-byte payload
  ["not_udp", { nextHeader: 59 }], // "no next header"
  ["udp_length", { udpLength: 4 }],
  ["udp_length", { udpLength: 600 }],
];

describeNetns("IPv6 frames on the wire", (labs) => {
  test("extension headers skipped, fragments and each malformed kind counted, good traffic byte for byte", async () => {
    buildWireTools();
    const lab = labs.chain({ ipv6: true });
    const sup = await startSupervisor(lab);
    const id = sup.addRule("ff3e::1:1", 5001, "[ff3e::9:9]:5099:veth3");
    const ROUNDS = 20;
    const WRONG = 7;
    const SIZE = 300;
    const good = GOOD_KINDS.length * ROUNDS;
    const rx = receiveInSink(lab, { group: "ff3e::9:9", port: 5099, count: good + 1 });
    await rx.listening;
    const before = { drops: sup.stats().drops as Record<DropReason, number>, csum: csumErrors(lab) };
    const frames: Uint8Array[] = [];
    let seq = 0;
    for (let r = 0; r < ROUNDS; r++) {
      for (const [, spec] of GOOD_KINDS) frames.push(buildFrame6({ ...spec, payload: payloadFor(65, seq++, SIZE) }));
      for (const [, spec] of BAD_KINDS) frames.push(buildFrame6({ payload: payloadFor(99, r, SIZE), ...spec }));
      if (r < WRONG) frames.push(buildFrame6({ payload: payloadFor(98, r, SIZE), udpChecksum: "wrong" }));
    }
    for (let i = 0; i < frames.length; i += 50) {
      inject(lab, "gen", "veth0", frames.slice(i, i + 50));
      await Bun.sleep(5);
    }
    const got = await rx.result;
    expectPayloads(got.payloads, 65, good, SIZE);
    // Each wrong checksum was relayed wrong (an RFC 1624 update keeps it so), and refused there.
    expect(csumErrors(lab)).toEqual({ ...before.csum, udp6: (before.csum.udp6 ?? Number.NaN) + WRONG });
    const after = sup.stats();
    const deltas = Object.fromEntries(
      DROP_REASONS.map((r) => [r, (after.drops[r] as number) - (before.drops[r] ?? 0)]),
    );
    const want = Object.fromEntries(DROP_REASONS.map((r) => [r, BAD_KINDS.filter(([k]) => k === r).length * ROUNDS]));
    expect(deltas).toEqual(want);
    expect(await counted(sup, id, good + WRONG)).toEqual({ in: good + WRONG, out: [good + WRONG] });
  }, 40000);

  test("random IPv6 and IPv4 frames: the worker stays up, every frame is counted, good traffic still relayed", async () => {
    buildWireTools();
    const lab = labs.chain({ ipv6: true });
    const sup = await startSupervisor(lab);
    sup.addRule("ff3e::1:1", 5001, "[ff3e::9:9]:5099:veth3");
    const N = 20000;
    const before = sup.stats();
    const r = lab.exec("gen", [INJECT, "veth0", "--random", String(N), "20261201", "both"], { timeoutMs: 60000 });
    expect(r.stderr).toBe("");
    expect(r.stdout.trim()).toBe(String(N));
    const rx = receiveInSink(lab, { group: "ff3e::9:9", port: 5099, count: 201 });
    await rx.listening;
    sendFromGen(lab, { dest: "ff3e::1:1", port: 5001, count: 200, size: 500, seed: 66, gapUs: 200 });
    expectPayloads((await rx.result).payloads, 66, 200, 500);
    const after = sup.stats();
    const w = after.workers[0];
    expect(w.restarts).toBe(before.workers[0].restarts);
    // What the filter let in was taken off the ring and either relayed or counted under a reason.
    const d = (k: string) => after.totals[k] - before.totals[k];
    expect(d("ringDrops")).toBe(0);
    const relayed = after.rules[0].packets - before.rules[0].packets;
    expect(d("rxFrames")).toBe(relayed + d("drops"));
    expect(relayed).toBeGreaterThanOrEqual(200);
  }, 60000);
});

describeNetns("IPv6 source-specific rules", (labs) => {
  test("two sources of one ff3e:: group split exactly between two rules, joined source-specifically (MLDv2)", async () => {
    const lab = labs.chain({ ipv6: true });
    const second = "2001:db8::3";
    lab.addr("gen", "veth0", `${second}/64`);
    const sup = await startSupervisor(lab);
    const a = sup.addRule("ff3e::1:1", 5001, "[ff3e::9:9]:6001:veth3", ["--input-source", CHAIN6.gen]);
    const b = sup.addRule("ff3e::1:1", 5001, "[ff3e::9:8]:6002:veth3", ["--input-source", second]);
    // mcfilter6: Idx Device Multicast-Address Source-Address INC EXC, 32 hex digits each.
    const filters = await poll(
      () =>
        lab
          .exec("relay", ["cat", "/proc/net/mcfilter6"])
          .stdout.split("\n")
          .map((l) => l.trim().split(/\s+/))
          .filter((f) => f[1] === "veth1")
          .map((f) => [f[2], f[3], f[4], f[5]]),
      (x) => x.length >= 2,
    );
    expect(filters.sort()).toEqual([
      ["ff3e0000000000000000000000010001", "20010db8000000000000000000000001", "1", "0"],
      ["ff3e0000000000000000000000010001", "20010db8000000000000000000000003", "1", "0"],
    ]);
    const ra = receiveInSink(lab, { group: "ff3e::9:9", port: 6001, count: N + 1 });
    const rb = receiveInSink(lab, { group: "ff3e::9:8", port: 6002, count: N + 1 });
    await Promise.all([ra.listening, rb.listening]);
    sendFromGen(lab, { dest: "ff3e::1:1", port: 5001, count: N, size: 200, seed: 71, gapUs: 200 });
    sendFromGen(lab, { dest: "ff3e::1:1", port: 5001, count: N, size: 200, seed: 72, gapUs: 200, source: second });
    expectPayloads((await ra.result).payloads, 71, N, 200);
    expectPayloads((await rb.result).payloads, 72, N, 200);
    expect(await counted(sup, a, N)).toEqual({ in: N, out: [N] });
    expect(await counted(sup, b, N)).toEqual({ in: N, out: [N] });
  }, 40000);
});

describeNetns("IPv6 hop limit and traffic class", (labs) => {
  test("hop limit set like the TTL, traffic class kept or set like DSCP (ECN kept), across families", async () => {
    buildWireTools();
    const lab = labs.chain({ ipv6: true });
    const sup = await startSupervisor(lab);
    sup.addRule(
      "ff3e::1:1",
      5001,
      "[ff3e::9:9]:5099:veth3:ttl=7:dscp=10,[ff3e::9:8]:5098:veth3:ttl=-1,239.9.9.9:5097:veth3:ttl=-1",
    );
    sup.addRule("239.1.1.1", 5002, "[ff3e::9:7]:5096:veth3:ttl=-1:dscp=46");
    const PER = 5;
    const cap = capture(lab, "sink", "veth2", { count: 4 * PER });
    await cap.listening;
    const payload = payloadFor(81, 0, 120);
    // DSCP 46 (EF) with ECN 1, hop limit / TTL 9.
    const v6 = buildFrame6({ payload, trafficClass: 0xb9, hopLimit: 9 });
    const v4 = setUdpChecksum(buildFrame({ dst: "239.1.1.1", dport: 5002, payload, tos: 0xb9, ttl: 9 }));
    inject(lab, "gen", "veth0", Array.from({ length: PER }, () => [v6, v4]).flat());
    const got = await cap.result;
    const seen = got.map(
      (c): Record<string, unknown> => ({
        family: c.family,
        group: c.group,
        dport: c.dport,
        source: c.source,
        tos: c.tos,
        ttl: c.ttl,
        payload: c.payload,
      }),
    );
    const hex = Buffer.from(payload).toString("hex");
    const want: Record<string, unknown>[] = [
      { family: 6, group: "ff3e::9:9", dport: 5099, source: CHAIN6.relayOut, tos: (10 << 2) | 1, ttl: 7, payload: hex },
      { family: 6, group: "ff3e::9:8", dport: 5098, source: CHAIN6.relayOut, tos: 0xb9, ttl: 8, payload: hex },
      { family: 4, group: "239.9.9.9", dport: 5097, source: "10.0.1.1", tos: 0xb9, ttl: 8, payload: hex },
      { family: 6, group: "ff3e::9:7", dport: 5096, source: CHAIN6.relayOut, tos: (46 << 2) | 1, ttl: 8, payload: hex },
    ];
    const key = (x: Record<string, unknown>) => String(x.group);
    const sorted = [...seen].sort((x, y) => key(x).localeCompare(key(y)));
    const expected = want
      .flatMap((w) => Array.from({ length: PER }, () => w))
      .sort((x, y) => key(x).localeCompare(key(y)));
    expect(sorted).toEqual(expected);
  }, 30000);
});

describeNetns("mcr sink on both families at once", (labs) => {
  test("one port in both families and an IPv6 unicast listen: each entry gets its own copy, exactly", async () => {
    const lab = labs.chain({ ipv6: true });
    const sup = await startSupervisor(lab, ["--workers", "1"]);
    sup.addRule("ff3e::1:1", 5001, `[ff3e::9:9]:6001:veth3,239.9.9.9:6001:veth3,[${CHAIN6.sink}]:7007:veth3`);
    const PER = 1000;
    const sink = lab.spawn("sink", [
      ...mcrArgv(),
      "sink",
      "--group",
      "[ff3e::9:9]:6001,239.9.9.9:6001",
      "--listen",
      "[::]:7007",
      "--interface",
      "veth2",
      "--expect",
      String(PER),
      "--timeout",
      "2",
      "--json",
    ]);
    // Listening once all three are there: the MLD and IGMP joins, and the IPv6 socket on 7007.
    const ready = () =>
      igmp6(lab, "sink", "veth2").includes("ff3e0000000000000000000000090009") &&
      lab.exec("sink", ["cat", "/proc/net/igmp"]).stdout.includes("090909EF") &&
      lab.exec("sink", ["cat", "/proc/net/udp6"]).stdout.includes(":1B5F ");
    expect(await poll(ready, (x) => x)).toBe(true);
    const gen = lab.exec(
      "gen",
      [
        ...mcrArgv(),
        "gen",
        "--dest",
        "[ff3e::1:1]:5001",
        "--interface",
        "veth0",
        "--rate",
        "3000",
        "--count",
        String(PER),
        "--size",
        "400",
        "--json",
      ],
      { timeoutMs: 20000 },
    );
    expect(gen.code).toBe(0);
    await sink.exited;
    const got = JSON.parse(await new Response(sink.stdout).text());
    expect(got).toMatchObject({
      entries: ["[ff3e::9:9]:6001", "239.9.9.9:6001", "[::]:7007"],
      valid: 3 * PER,
      lost: 0,
      duplicates: 0,
      reordered: 0,
      integrityFailures: 0,
      foreign: 0,
    });
    expect(got.streams.map((s: { entry: string; unique: number }) => [s.entry, s.unique])).toEqual([
      ["[ff3e::9:9]:6001", PER],
      ["239.9.9.9:6001", PER],
      ["[::]:7007", PER],
    ]);
  }, 40000);
});

describeNetns("IPv6 source addresses that cannot send yet", (labs) => {
  test("a tentative address (duplicate address detection running) is not sent from; once usable, the output is", async () => {
    const lab = labs.chain({ ipv6: true });
    lab.addNs("sink2", { ipv6: true });
    lab.veth("relay", "veth5", "sink2", "veth4");
    // Detection that lasts: 3 probes 10 s apart, so the address stays tentative for the test.
    lab.sysctl("relay", { "net.ipv6.conf.veth5.dad_transmits": 3, "net.ipv6.neigh.veth5.retrans_time_ms": 10000 });
    must(["ip", "-n", lab.ns("relay"), "addr", "add", "2001:db8:2::1/64", "dev", "veth5"]);
    lab.addr("sink2", "veth4", "2001:db8:2::2/64");
    expect(lab.exec("relay", ["ip", "-6", "addr", "show", "dev", "veth5", "tentative"]).stdout).toContain(
      "2001:db8:2::1",
    );
    const sup = await startSupervisor(lab);
    const refused = sup.mcr([
      "rule",
      "add",
      "--input-group",
      "ff3e::1:1",
      "--input-port",
      "5001",
      "--outputs",
      "[ff3e::9:9]:6001:veth5",
    ]);
    expect(refused.code).toBe(65);
    expect(refused.stderr).toContain("interface veth5 has no global IPv6 address to send from");
    // The same address without detection: usable at once, and the rule goes through.
    must(["ip", "-n", lab.ns("relay"), "addr", "del", "2001:db8:2::1/64", "dev", "veth5"]);
    lab.addr("relay", "veth5", "2001:db8:2::1/64");
    const id = sup.addRule("ff3e::1:1", 5001, "[ff3e::9:9]:6001:veth5");
    const rx = receiveInSink(lab, { role: "sink2", group: "ff3e::9:9", iface: "veth4", port: 6001, count: N + 1 });
    await rx.listening;
    sendFromGen(lab, { dest: "ff3e::1:1", port: 5001, count: N, size: 256, seed: 91, gapUs: 200 });
    const got = await rx.result;
    expectPayloads(got.payloads, 91, N, 256);
    expect(new Set(got.sources.map((s) => s.slice(0, s.lastIndexOf(":"))))).toEqual(new Set(["2001:db8:2::1"]));
    expect(await counted(sup, id, N)).toEqual({ in: N, out: [N] });
  }, 40000);
});
