// Interfaces without an Ethernet header (issue 16): a tun device, what WireGuard, Tailscale and
// other VPNs give, as the relay's input and as its output. The "tunnel" is two tun devices joined
// by test/tools/tunpair (a userspace VPN's work: each IP packet read from one is written to the
// other), between the relay's namespace and a far site's. The relay reads and writes the tun
// device as IP with no link header: its filter turns away what no rule asks for, its parser
// counts what is malformed, and every wanted packet arrives once, in order, byte for byte.
import { expect, test } from "bun:test";
import { DROP_REASONS, type DropReason } from "../../src/stats/reasons.ts";
import { buildFrame, type FrameSpec } from "../helpers/frames.ts";
import type { Lab } from "../helpers/lab.ts";
import { describeNetns } from "../helpers/suite.ts";
import { snmp6Counters } from "../helpers/snmp.ts";
import { startSupervisor } from "../helpers/supervisor.ts";
import { expectPayloads, receiveInSink, sendFromGen } from "../helpers/traffic.ts";
import { tunPair } from "../helpers/tunnel.ts";
import { buildWireTools, inject } from "../helpers/wire.ts";

/** The chain lab plus a far site across a tun link: far (tunA 10.98.0.1) = relay (tunB 10.98.0.2). */
async function withTunnel(lab: Lab) {
  lab.addNs("far");
  const link = await tunPair(
    lab,
    { role: "far", iface: "tunA", addr: "10.98.0.1" },
    { role: "relay", iface: "tunB", addr: "10.98.0.2" },
  );
  lab.route("far", "224.0.0.0/4", "tunA");
  return link;
}

/** The relay's packet sockets bound to an interface (/proc/net/packet: Iface is its index). */
function packetSocketsOn(lab: Lab, iface: string): number {
  const index = String(JSON.parse(lab.exec("relay", ["ip", "-j", "link", "show", iface]).stdout)[0].ifindex);
  const lines = lab.exec("relay", ["cat", "/proc/net/packet"]).stdout.trim().split("\n").slice(1);
  return lines.filter((l) => l.trim().split(/\s+/)[4] === index).length;
}

// IP packets with no link header, aimed at the rule's group: malformed ones the input's filter
// passes to the parser, which counts each under its reason; and traffic no rule asks for, which
// the filter turns away before the ring (no drop, no frame taken).
const MALFORMED: [DropReason, FrameSpec][] = [
  ["ip_options", { ihlWords: 6 }],
  ["ip_checksum", { badChecksum: true }],
  ["ip_fragment", { fragment: { mf: true } }],
  ["not_udp", { protocol: 6 }],
  ["udp_length", { udpLength: 300 }],
];
const TURNED_AWAY: FrameSpec[] = [{ dport: 5002 }, { dst: "239.1.1.2" }, { dst: "239.1.1.2", protocol: 6 }];
const ipOnly = (s: FrameSpec) => buildFrame({ src: "10.98.0.1", ...s }).subarray(14);

describeNetns("a tun interface (no Ethernet header) as input and output", (labs) => {
  test("tunnel in, Ethernet out: byte for byte, once each; unwanted traffic turned away, malformed counted", async () => {
    buildWireTools();
    const lab = labs.chain();
    const link = await withTunnel(lab);
    const sup = await startSupervisor(lab, [], { interfaces: ["tunB"] });
    sup.addRule("239.1.1.1", 5001, "239.2.2.2:6001:veth3");
    const N = 2000;
    // One more than is sent: a duplicate would be read, and the count would say so.
    const rx = receiveInSink(lab, { group: "239.2.2.2", port: 6001, count: N + 1 });
    await rx.listening;
    sendFromGen(lab, {
      role: "far",
      source: "10.98.0.1",
      dest: "239.1.1.1",
      port: 5001,
      count: N,
      size: 800,
      seed: 61,
    });
    sendFromGen(lab, {
      role: "far",
      source: "10.98.0.1",
      dest: "239.1.1.1",
      port: 5002,
      count: 300,
      size: 800,
      seed: 62,
    });
    sendFromGen(lab, {
      role: "far",
      source: "10.98.0.1",
      dest: "239.1.1.9",
      port: 5001,
      count: 300,
      size: 800,
      seed: 63,
    });
    inject(lab, "far", "tunA", [...MALFORMED.map(([, s]) => ipOnly(s)), ...TURNED_AWAY.map(ipOnly)]);
    const got = await rx.result;
    // The tunnel itself lost nothing (a tun device drops what its reader has not taken in time).
    expect(lab.linkCounters("far", "tunA").txDropped).toBe(0);
    expectPayloads(got.payloads, 61, N, 800);
    expect(new Set(got.sources.map((s) => s.split(":")[0]))).toEqual(new Set(["10.0.1.1"]));

    const s = sup.stats();
    expect(s.rules[0].packets).toBe(N);
    for (const reason of DROP_REASONS) {
      const want = MALFORMED.filter(([r]) => r === reason).length;
      expect({ reason, drops: s.drops[reason] }).toEqual({ reason, drops: want });
    }
    // Exactly the stream and the malformed packets entered the ring: the 600 datagrams and
    // 3 packets no rule asks for never did, and are counted nowhere.
    expect(s.totals.rxFrames).toBe(N + MALFORMED.length);
    expect(s.totals.rxForeign).toBe(0);
    const moved = await link.close();
    expect(moved.ab).toBeGreaterThanOrEqual(N + 600 + MALFORMED.length + TURNED_AWAY.length);
  }, 60000);

  test("IPv6 unicast to the relay's tunnel address, out to an IPv4 group: byte for byte, once each, no ICMPv6 unreachable", async () => {
    const lab = labs.chain({ ipv6: true });
    lab.addNs("far", { ipv6: true });
    const link = await tunPair(
      lab,
      { role: "far", iface: "tunA", addr: "2001:db8:98::1" },
      { role: "relay", iface: "tunB", addr: "2001:db8:98::2" },
    );
    // An IPv6 peer address gets no route of its own (unlike IPv4's): one each way.
    lab.route("far", "2001:db8:98::2/128", "tunA");
    lab.route("relay", "2001:db8:98::1/128", "tunB");
    const sup = await startSupervisor(lab, [], { interfaces: ["tunB"] });
    // The counter counts across the tunnel: a port nobody holds is answered with an unreachable.
    const unreachables = () => snmp6Counters(lab, "far").Icmp6InDestUnreachs!;
    const first = unreachables();
    sendFromGen(lab, {
      role: "far",
      source: "2001:db8:98::1",
      dest: "2001:db8:98::2",
      port: 5009,
      count: 1,
      size: 64,
      seed: 3,
    });
    await Bun.sleep(300);
    expect(unreachables()).toBe(first + 1);
    sup.addRule("2001:db8:98::2", 5001, "239.2.2.2:6001:veth3");
    const N = 2000;
    const rx = receiveInSink(lab, { group: "239.2.2.2", port: 6001, count: N + 1 });
    await rx.listening;
    const before = unreachables();
    sendFromGen(lab, {
      role: "far",
      source: "2001:db8:98::1",
      dest: "2001:db8:98::2",
      port: 5001,
      count: N,
      size: 700,
      seed: 64,
    });
    const got = await rx.result;
    expect(lab.linkCounters("far", "tunA").txDropped).toBe(0);
    expectPayloads(got.payloads, 64, N, 700);
    expect(new Set(got.sources.map((s) => s.split(":")[0]))).toEqual(new Set(["10.0.1.1"]));
    // The relay held the port: the far end was never told it was unreachable.
    expect(unreachables()).toBe(before);
    const s = sup.stats();
    expect(s.rules[0].packets).toBe(N);
    expect(s.totals.drops).toBe(0);
    await link.close();
  }, 60000);

  test("Ethernet in, tunnel out: byte for byte, once each, by the tun device's transmit ring", async () => {
    const lab = labs.chain();
    const link = await withTunnel(lab);
    const sup = await startSupervisor(lab);
    sup.addRule("239.1.1.1", 5001, "239.3.3.3:6001:tunB");
    const N = 2000;
    const rx = receiveInSink(lab, { role: "far", group: "239.3.3.3", port: 6001, ifaddr: "10.98.0.1", count: N + 1 });
    await rx.listening;
    sendFromGen(lab, { dest: "239.1.1.1", port: 5001, count: N, size: 900, seed: 71 });
    sendFromGen(lab, { dest: "239.1.1.1", port: 5003, count: 200, size: 900, seed: 72 });
    const got = await rx.result;
    expect(lab.linkCounters("relay", "tunB").txDropped).toBe(0);
    // The far kernel took each as an IPv4 datagram to its group from the relay's tun address,
    // with the checksums right (a wrong one is dropped before the socket).
    expectPayloads(got.payloads, 71, N, 900);
    expect(new Set(got.sources.map((s) => s.split(":")[0]))).toEqual(new Set(["10.98.0.2"]));
    const s = sup.stats();
    expect(s.rules[0].packets).toBe(N);
    expect(s.rules[0].outputs[0].packets).toBe(N);
    expect(s.totals.drops).toBe(0);
    expect(s.totals.txErrors).toBe(0);
    // Sent by a transmit ring on the tun device (a packet socket bound to it), not the UDP socket.
    expect(packetSocketsOn(lab, "tunB")).toBeGreaterThanOrEqual(1);
    await link.close();
  }, 60000);
});
