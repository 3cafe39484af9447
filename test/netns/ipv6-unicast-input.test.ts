// IPv6 unicast inputs (issue 13 with issue 16), against dist/mcr in the chain lab with IPv6 on: a
// rule whose input is the relay's own IPv6 address takes the datagrams sent to it and relays them
// to an IPv6 group and an IPv4 one, byte for byte, none twice. The supervisor holds the port with
// an IPv6 socket, so the kernel answers none of them with ICMPv6 port unreachable.
import { expect, test } from "bun:test";
import { CHAIN6, type Lab } from "../helpers/lab.ts";
import { bunArgv } from "../helpers/mcr.ts";
import { snmp6Counters } from "../helpers/snmp.ts";
import { describeNetns } from "../helpers/suite.ts";
import { startSupervisor } from "../helpers/supervisor.ts";
import { expectPayloads, receiveInSink, sendFromGen } from "../helpers/traffic.ts";

const N = 1000;
const unreachables = (lab: Lab) => ({
  genIn: snmp6Counters(lab, "gen").Icmp6InDestUnreachs!,
  relayOut: snmp6Counters(lab, "relay").Icmp6OutDestUnreachs!,
});
const udpSockets = (lab: Lab, port: number) =>
  lab
    .exec("relay", ["ss", "-Huln", `sport = :${port}`])
    .stdout.split("\n")
    .filter(Boolean);

describeNetns("IPv6 unicast inputs", (labs) => {
  test("unicast to the relay's IPv6 address out to an IPv6 group and an IPv4 one, byte for byte, no ICMPv6 unreachable", async () => {
    const lab = labs.chain({ ipv6: true });
    const sup = await startSupervisor(lab);
    // The counters count: a datagram to a port nobody has is answered with an unreachable.
    const first = unreachables(lab);
    sendFromGen(lab, { dest: CHAIN6.relayIn, port: 5009, count: 1, size: 64, seed: 1 });
    await Bun.sleep(200);
    expect(unreachables(lab)).toEqual({ genIn: first.genIn + 1, relayOut: first.relayOut + 1 });

    const id = sup.addRule(CHAIN6.relayIn, 5001, "[ff3e::9:9]:5099:veth3,239.10.10.10:6001:veth3");
    const held = udpSockets(lab, 5001);
    expect(held.length).toBe(1);
    expect(held[0]).toContain(`[${CHAIN6.relayIn}]:5001`);
    // Each receiver would take one more than was sent: a duplicate would show.
    const a = receiveInSink(lab, { group: "ff3e::9:9", port: 5099, count: N + 1 });
    const b = receiveInSink(lab, { group: "239.10.10.10", port: 6001, count: N + 1 });
    await Promise.all([a.listening, b.listening]);
    const before = unreachables(lab);
    sendFromGen(lab, { dest: CHAIN6.relayIn, port: 5001, count: N, size: 900, seed: 71, gapUs: 100 });
    const got6 = await a.result;
    const got4 = await b.result;
    expectPayloads(got6.payloads, 71, N, 900);
    expectPayloads(got4.payloads, 71, N, 900);
    expect(new Set(got6.sources.map((s) => s.slice(0, s.lastIndexOf(":"))))).toEqual(new Set([CHAIN6.relayOut]));
    expect(new Set(got4.sources.map((s) => s.split(":")[0]))).toEqual(new Set(["10.0.1.1"]));
    expect(unreachables(lab)).toEqual(before);
    const rule = sup.stats().rules.find((r: { id: number }) => r.id === id);
    expect(rule.packets).toBe(N);
    expect(rule.outputs.map((o: { packets: number }) => o.packets)).toEqual([N, N]);

    // Released with the rule: the kernel answers the port's datagrams again.
    expect(sup.mcr(["rule", "remove", String(id)]).code).toBe(0);
    expect(udpSockets(lab, 5001)).toEqual([]);
    const after = unreachables(lab);
    sendFromGen(lab, { dest: CHAIN6.relayIn, port: 5001, count: 1, size: 64, seed: 2 });
    await Bun.sleep(200);
    expect(unreachables(lab)).toEqual({ genIn: after.genIn + 1, relayOut: after.relayOut + 1 });
  }, 40000);

  test("a link-local address of the input interface: held on that interface, relayed byte for byte, no unreachable", async () => {
    const lab = labs.chain({ ipv6: true });
    lab.addr("gen", "veth0", "fe80::1/64");
    lab.addr("relay", "veth1", "fe80::2/64");
    lab.addr("relay", "veth3", "fe80::3/64"); // veth3 has one as well: only veth1's is the input
    const sup = await startSupervisor(lab);
    sup.addRule("fe80::2", 5001, "[ff3e::9:9]:5099:veth3");
    const held = udpSockets(lab, 5001);
    expect(held.length).toBe(1);
    expect(held[0]).toContain("[fe80::2]%veth1:5001");
    const rx = receiveInSink(lab, { group: "ff3e::9:9", port: 5099, count: 301 });
    await rx.listening;
    const before = unreachables(lab);
    sendFromGen(lab, { dest: "fe80::2%veth0", source: "fe80::1%veth0", port: 5001, count: 300, size: 500, seed: 72 });
    expectPayloads((await rx.result).payloads, 72, 300, 500);
    expect(unreachables(lab)).toEqual(before);
    // The same address on the other interface is not this rule's input.
    const r = sup.mcr([
      "rule",
      "add",
      "--input-group",
      "fe80::3",
      "--input-port",
      "5002",
      "--outputs",
      "[ff3e::9:9]:5099:veth3",
    ]);
    expect(r.code).toBe(65);
    // (The kernel's own link-local address follows once its duplicate detection is done.)
    expect(r.stderr).toContain("fe80::3 is not an address of veth1 (it has 2001:db8::2, fe80::2");
    expect(r.stderr).toContain("): a unicast input takes the datagrams sent to the relay's own address");
  }, 30000);

  test("a port another process has on the IPv6 wildcard: the rule is refused, naming it; nothing is added", async () => {
    const lab = labs.chain({ ipv6: true });
    const sup = await startSupervisor(lab);
    const other = lab.spawn("relay", [
      ...bunArgv("test/helpers/udp-recv.ts"),
      JSON.stringify({ port: 5001, v6: true, count: 1, idleMs: 20000 }),
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
      CHAIN6.relayIn,
      "--input-port",
      "5001",
      "--outputs",
      "[ff3e::9:9]:5099:veth3",
    ]);
    expect(r.code).toBe(65);
    expect(r.stderr).toMatch(
      /\[2001:db8::2\]:5001 is in use by pid \d+ \(bun\): a unicast input needs the port to itself/,
    );
    expect(JSON.parse(sup.mcr(["rule", "list", "--json"]).stdout).rules ?? []).toEqual([]);
    // The other rules are not disturbed: a port that is free is taken.
    sup.addRule(CHAIN6.relayIn, 5002, "[ff3e::9:9]:5099:veth3");
    expect(udpSockets(lab, 5002).length).toBe(1);
  }, 30000);

  test("another interface's IPv6 address is refused, naming the field and what the input has", async () => {
    const lab = labs.chain({ ipv6: true });
    const sup = await startSupervisor(lab);
    const r = sup.mcr([
      "rule",
      "add",
      "--input-group",
      CHAIN6.relayOut,
      "--input-port",
      "5001",
      "--outputs",
      "[ff3e::9:9]:5099:veth3",
    ]);
    expect(r.code).toBe(65);
    // (The kernel's own link-local address follows once its duplicate detection is done.)
    expect(r.stderr).toContain(`${CHAIN6.relayOut} is not an address of veth1 (it has ${CHAIN6.relayIn}`);
    expect(r.stderr).toContain("): a unicast input takes the datagrams sent to the relay's own address");
    expect(udpSockets(lab, 5001)).toEqual([]);
  }, 30000);
});
