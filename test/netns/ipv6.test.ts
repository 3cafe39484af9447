// IPv6 end to end and across families (issue 13), against the compiled dist/mcr, in the chain lab
// with IPv6 on (CHAIN6's addresses): v6 -> v6 with the MLD join in the relay's /proc/net/igmp6,
// v4 -> v6, v6 -> v4, and a fan-out mixing both families. Every stream is checked byte for byte
// and in order at a receiving socket, exactly (a receiver that would take one more datagram
// than was sent finds none: no duplicate), and the receiver's checksum-error counters stay as
// they were (the UDP checksums mcr wrote across families are right).
import { expect, test } from "bun:test";
import { CHAIN6, type Lab, poll } from "../helpers/lab.ts";
import { snmp6Counters, udpCounters } from "../helpers/snmp.ts";
import { describeNetns } from "../helpers/suite.ts";
import { startSupervisor, type SupervisorDriver } from "../helpers/supervisor.ts";
import { mcrArgv } from "../helpers/mcr.ts";
import { expectPayloads, receiveInSink, sendFromGen } from "../helpers/traffic.ts";

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
