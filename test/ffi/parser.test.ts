// The shim's frame parser, called through the FFI boundary on crafted frames.
import { describe, expect, test } from "bun:test";
import { parseFrame } from "../../src/native/shim.ts";
import { DROP_REASONS, type DropReason } from "../../src/stats/reasons.ts";
import { buildFrame, type FrameSpec } from "../helpers/frames.ts";

const reasonOf = (f: Uint8Array): DropReason | "ok" => {
  const r = parseFrame(f);
  return "drop" in r ? DROP_REASONS[r.drop]! : "ok";
};

describe("frame parser", () => {
  test("a well-formed datagram yields group, ports and the payload's place", () => {
    const payload = new Uint8Array([9, 8, 7, 6, 5]);
    const f = buildFrame({ src: "10.0.0.1", dst: "239.1.2.3", sport: 1234, dport: 5001, payload });
    const r = parseFrame(f);
    expect(r).toEqual({
      family: 4,
      group: "239.1.2.3",
      source: "10.0.0.1",
      port: 5001,
      sport: 1234,
      ipOffset: 14,
      payloadOffset: 42,
      payloadLength: 5,
    });
    if (!("drop" in r))
      expect(Array.from(f.subarray(r.payloadOffset, r.payloadOffset + r.payloadLength))).toEqual([9, 8, 7, 6, 5]);
  });

  test("one 802.1Q tag is skipped", () => {
    const r = parseFrame(buildFrame({ vlans: [100], payload: new Uint8Array(3) }));
    expect(r).toMatchObject({ group: "239.1.1.1", port: 5001, payloadOffset: 46, payloadLength: 3 });
  });

  test("Ethernet padding after a short datagram is not payload", () => {
    const f = buildFrame({ payload: new Uint8Array([1]) });
    const padded = new Uint8Array(60);
    padded.set(f);
    expect(parseFrame(padded)).toMatchObject({ payloadLength: 1 });
  });

  const cases: [string, FrameSpec | Uint8Array, DropReason][] = [
    ["runt (13 bytes)", new Uint8Array(13), "runt"],
    ["empty frame", new Uint8Array(0), "runt"],
    ["VLAN tag cut short", { vlans: [5], truncateTo: 16 }, "vlan_truncated"],
    ["two tags left in the frame", { vlans: [5, 6] }, "vlan_nested"],
    ["ARP", { etherType: 0x0806 }, "not_ipv4"],
    // The IPv6 EtherType with an IPv4 datagram behind it (IPv6 itself is parsed: issue 13).
    ["IPv6 EtherType, a 28-byte IPv4 datagram inside", { etherType: 0x86dd }, "ip6_truncated"],
    ["Ethernet header only", { truncateTo: 14 }, "ip_truncated"],
    ["IPv4 header cut at 19 bytes", { truncateTo: 33 }, "ip_truncated"],
    ["version 6 in an IPv4 frame", { ipVersion: 6 }, "ip_version"],
    ["IHL 4", { ihlWords: 4 }, "ip_ihl"],
    ["IHL 0", { ihlWords: 0 }, "ip_ihl"],
    ["IHL beyond the frame", { ihlWords: 15, truncateTo: 40 }, "ip_ihl"],
    ["IP options", { ihlWords: 6 }, "ip_options"],
    ["bad header checksum", { badChecksum: true }, "ip_checksum"],
    ["total length beyond the frame", { totalLength: 1500 }, "ip_length"],
    ["total length below the header", { totalLength: 10 }, "ip_length"],
    ["first fragment (MF)", { fragment: { mf: true } }, "ip_fragment"],
    ["later fragment (offset)", { fragment: { offset: 185 } }, "ip_fragment"],
    ["TCP", { protocol: 6 }, "not_udp"],
    ["ICMP", { protocol: 1 }, "not_udp"],
    ["UDP header cut short", { payload: new Uint8Array(0), totalLength: 24, truncateTo: 38 }, "udp_truncated"],
    ["UDP length below 8", { udpLength: 7 }, "udp_length"],
    ["UDP length beyond the IP payload", { udpLength: 200 }, "udp_length"],
  ];
  for (const [name, spec, reason] of cases) {
    test(`${name} -> ${reason}`, () => {
      const f = spec instanceof Uint8Array ? spec : buildFrame(spec);
      expect(reasonOf(f)).toBe(reason);
    });
  }

  test("every prefix of a good frame is refused, never read past its end", () => {
    const f = buildFrame({ payload: new Uint8Array(16).fill(0xab) });
    for (let n = 0; n < f.length; n++) expect(reasonOf(f.slice(0, n))).not.toBe("ok");
    expect(reasonOf(f)).toBe("ok");
  });
});
