// Unicast inputs (issue 16): a rule whose input is the relay's own address takes the datagrams
// sent to it, as from the far end of a tunnel, and relays them as a multicast input's would be.
// The supervisor holds the port while the rule exists, so the kernel neither answers them with
// ICMP port unreachable nor hands them to another socket.
import { expect, test } from "bun:test";
import { describeNetns } from "../helpers/suite.ts";
import { bunArgv } from "../helpers/mcr.ts";
import { snmpCounters } from "../helpers/snmp.ts";
import { startSupervisor } from "../helpers/supervisor.ts";
import { expectPayloads, receiveInSink, sendFromGen } from "../helpers/traffic.ts";

const unreachables = (lab: Parameters<typeof snmpCounters>[0]) => snmpCounters(lab, "gen", "Icmp").InDestUnreachs!;
const udpSockets = (lab: Parameters<typeof snmpCounters>[0], port: number) =>
  lab
    .exec("relay", ["ss", "-Huln", `sport = :${port}`])
    .stdout.split("\n")
    .filter(Boolean);

describeNetns("unicast inputs", (labs) => {
  test("unicast to the relay's address out as multicast, byte for byte, no ICMP unreachable", async () => {
    const lab = labs.chain();
    const sup = await startSupervisor(lab);
    // The counter counts: a datagram to a port nobody has is answered with an unreachable.
    const before = unreachables(lab);
    sendFromGen(lab, { dest: "10.0.0.2", port: 5009, count: 1, size: 64, seed: 1 });
    await Bun.sleep(200);
    expect(unreachables(lab)).toBe(before + 1);

    sup.addRule("10.0.0.2", 5001, "239.10.10.10:6001:veth3,239.10.10.11:6002:veth3:ttl=7");
    const a = receiveInSink(lab, { group: "239.10.10.10", port: 6001, count: 2000 });
    const b = receiveInSink(lab, { group: "239.10.10.11", port: 6002, count: 2000 });
    await Promise.all([a.listening, b.listening]);
    const start = unreachables(lab);
    const relayOut = snmpCounters(lab, "relay", "Icmp").OutDestUnreachs!;
    sendFromGen(lab, { dest: "10.0.0.2", port: 5001, count: 2000, size: 1024, seed: 31 });
    const got = await a.result;
    expectPayloads(got.payloads, 31, 2000, 1024);
    expectPayloads((await b.result).payloads, 31, 2000, 1024);
    expect(new Set(got.sources.map((s) => s.split(":")[0]))).toEqual(new Set(["10.0.1.1"]));
    expect(unreachables(lab)).toBe(start);
    expect(snmpCounters(lab, "relay", "Icmp").OutDestUnreachs!).toBe(relayOut);
    const rule = sup.stats().rules.find((r: { id: number }) => r.id === 1);
    expect(rule.packets).toBe(2000);
  }, 40000);

  test("--input-source filters the senders, as for multicast", async () => {
    const lab = labs.chain();
    lab.addr("gen", "veth0", "10.0.0.9/24");
    const sup = await startSupervisor(lab);
    sup.addRule("10.0.0.2", 5001, "239.10.10.10:6001:veth3", ["--input-source", "10.0.0.9"]);
    const rx = receiveInSink(lab, { group: "239.10.10.10", port: 6001, count: 300, idleMs: 2000 });
    await rx.listening;
    sendFromGen(lab, { dest: "10.0.0.2", port: 5001, count: 300, size: 200, seed: 40 }); // from 10.0.0.1
    sendFromGen(lab, { dest: "10.0.0.2", port: 5001, count: 300, size: 200, seed: 41, source: "10.0.0.9" });
    expectPayloads((await rx.result).payloads, 41, 300, 200);
  }, 30000);

  test("the port is held while the rule exists and released with it", async () => {
    const lab = labs.chain();
    const sup = await startSupervisor(lab);
    expect(udpSockets(lab, 5001)).toEqual([]);
    const id = sup.addRule("10.0.0.2", 5001, "239.10.10.10:6001:veth3");
    const held = udpSockets(lab, 5001);
    expect(held.length).toBe(1);
    expect(held[0]).toContain("10.0.0.2:5001");
    expect(sup.mcr(["rule", "remove", String(id)]).code).toBe(0);
    expect(udpSockets(lab, 5001)).toEqual([]);
    // Released: the kernel answers the port's datagrams with unreachables again.
    const before = unreachables(lab);
    sendFromGen(lab, { dest: "10.0.0.2", port: 5001, count: 1, size: 64, seed: 2 });
    await Bun.sleep(200);
    expect(unreachables(lab)).toBe(before + 1);
  }, 30000);

  test("a port another process has: the rule is refused, naming it; nothing is added", async () => {
    const lab = labs.chain();
    const sup = await startSupervisor(lab);
    const other = lab.spawn("relay", [
      ...bunArgv("test/helpers/udp-recv.ts"),
      JSON.stringify({ port: 5001, count: 1, idleMs: 20000 }),
    ]);
    const reader = other.stderr.getReader();
    let text = "";
    while (!text.includes("listening")) {
      const { value, done } = await reader.read();
      if (done) break;
      text += new TextDecoder().decode(value);
    }
    expect(text).toContain("listening");
    const r = sup.mcr([
      "rule",
      "add",
      "--input-group",
      "10.0.0.2",
      "--input-port",
      "5001",
      "--outputs",
      "239.10.10.10:6001:veth3",
    ]);
    expect({ code: r.code, stderr: r.stderr }).toMatchObject({ code: 65 });
    expect(r.stderr).toContain("10.0.0.2:5001 is in use by pid ");
    expect(r.stderr).toMatch(/in use by pid \d+ \(bun\)/);
    expect(JSON.parse(sup.mcr(["rule", "list", "--json"]).stdout).rules ?? []).toEqual([]);
    // The other rules are not disturbed: a port that is free is taken.
    sup.addRule("10.0.0.2", 5002, "239.10.10.10:6001:veth3");
    expect(udpSockets(lab, 5002).length).toBe(1);
  }, 30000);

  test("an address that is not the input interface's is refused, naming the field", async () => {
    const lab = labs.chain();
    const sup = await startSupervisor(lab);
    const r = sup.mcr([
      "rule",
      "add",
      "--input-group",
      "10.0.1.1",
      "--input-port",
      "5001",
      "--outputs",
      "239.10.10.10:6001:veth3",
    ]);
    expect(r.code).toBe(65);
    expect(r.stderr).toContain("10.0.1.1 is not an address of veth1 (it has 10.0.0.2)");
  }, 30000);
});
