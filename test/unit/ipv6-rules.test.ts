// IPv6 in rules (issue 13): groups, outputs in brackets, sources, the loop checks across
// families, the interface's address of the output's family, the config file and `rule list`.
import { describe, expect, test } from "bun:test";
import { parseConfig } from "../../src/config/load.ts";
import type { InterfaceInfo } from "../../src/net/interfaces.ts";
import { parseOutputs, parseRuleFlags, type RuleFlags } from "../../src/rules/parse.ts";
import { checkHost, checkLoops, checkTable, RuleError, sameInput } from "../../src/rules/validate.ts";
import { renderRuleList } from "../../src/stats/render.ts";
import type { Rule } from "../../src/types/rules.ts";
import { TTL_FROM_INPUT } from "../../src/types/rules.ts";
import { OUTPUT_ENTRY as OE, RULE_ENTRY as RE } from "../../src/native/abi.ts";
import { SlotAllocator, TableCompiler } from "../../src/worker/table.ts";
import { addressPort, ipv6Bytes, parseIPv6, unicastProblemIPv6 } from "../../src/values/ipv6.ts";

const good: RuleFlags = { inputGroup: "ff3e::1:1", inputPort: "5001", outputs: "[ff3e::9:9]:5099:eth1" };

function refusal(f: () => unknown): { field?: string; message: string } {
  try {
    f();
  } catch (e) {
    if (e instanceof RuleError) return { field: e.field, message: e.message };
    throw e;
  }
  throw new Error("not refused");
}

describe("IPv6 values", () => {
  test("an address and port take brackets only for IPv6", () => {
    expect(addressPort("ff3e::1:1", 5001)).toBe("[ff3e::1:1]:5001");
    expect(addressPort("239.1.1.1", 5001)).toBe("239.1.1.1:5001");
  });
  test("16 bytes in network order", () => {
    expect([...ipv6Bytes(parseIPv6("ff3e::1:2")!)]).toEqual([0xff, 0x3e, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 2]);
  });
  test("unicast addresses that cannot be a destination", () => {
    expect(unicastProblemIPv6(parseIPv6("::")!)).toContain("unspecified");
    expect(unicastProblemIPv6(parseIPv6("::1")!)).toContain("loopback");
    expect(unicastProblemIPv6(parseIPv6("::ffff:10.0.0.1")!)).toContain("IPv4-mapped");
    expect(unicastProblemIPv6(parseIPv6("2001:db8::5")!)).toBeUndefined();
  });
});

describe("IPv6 rules from flags", () => {
  test("a group, an output in brackets with options, a unicast output, kept in canonical text", () => {
    const r = parseRuleFlags({
      ...good,
      inputGroup: "FF3E:0::1:1",
      outputs: "[ff3e:0:0::9:9]:5099:eth1:ttl=8:dscp=10,[2001:DB8::5]:7000:eth2:ttl=-1:rate=2k:burst=50",
    });
    expect(r.inputGroup).toBe("ff3e::1:1");
    expect(r.outputs).toEqual([
      { group: "ff3e::9:9", port: 5099, interface: "eth1", ttl: 8, dscp: 10 },
      { group: "2001:db8::5", port: 7000, interface: "eth2", ttl: TTL_FROM_INPUT, rate: 2000, burst: 50 },
    ]);
  });
  test("IPv4 and IPv6 outputs in one rule, either way round", () => {
    expect(parseRuleFlags({ ...good, outputs: "[ff3e::9:9]:5099:eth1,239.9.9.9:5099:eth1" }).outputs).toHaveLength(2);
    const v4in = parseRuleFlags({ inputGroup: "239.1.1.1", inputPort: 5001, outputs: "[ff3e::9:9]:5099:eth1" });
    expect(v4in.outputs[0]!.group).toBe("ff3e::9:9");
  });
  test("an IPv6 output without brackets, or with them half closed, is refused naming the output", () => {
    expect(refusal(() => parseOutputs("ff3e::9:9:5099:eth1"))).toEqual({
      field: "outputs[0]",
      message:
        'output 1 "ff3e::9:9:5099:eth1" is not group:port:interface or group:port:interface:ttl (write an IPv6 group in brackets: [ff3e::9:9]:5099:eth1)',
    });
    expect(refusal(() => parseOutputs("[ff3e::9:9:5099:eth1"))).toMatchObject({ field: "outputs[0]" });
    expect(refusal(() => parseOutputs("[ff3e::9:9]5099:eth1"))).toMatchObject({ field: "outputs[0]" });
    expect(refusal(() => parseOutputs("[ff3e::9:9]:x:eth1"))).toMatchObject({ field: "outputs[0].port" });
    expect(refusal(() => parseRuleFlags({ ...good, outputs: "[ff3e::g]:5099:eth1" }))).toMatchObject({
      field: "outputs[0].group",
      message: 'output 1: "ff3e::g" is not an IPv6 address (e.g. ff3e::9:9 or 2001:db8::5)',
    });
  });
  test("scopes: interface-local and reserved 0 never; link-local only with allowLinkLocal", () => {
    expect(refusal(() => parseRuleFlags({ ...good, inputGroup: "ff01::1" }))).toMatchObject({
      field: "inputGroup",
      message: "ff01::1 is interface-local (ff01::/16 scope), which never leaves a host",
    });
    expect(refusal(() => parseRuleFlags({ ...good, inputGroup: "ff31::1" }))).toMatchObject({ field: "inputGroup" });
    expect(refusal(() => parseRuleFlags({ ...good, inputGroup: "ff00::1" }))).toMatchObject({ field: "inputGroup" });
    expect(refusal(() => parseRuleFlags({ ...good, inputGroup: "ff02::fb" })).message).toContain("--allow-link-local");
    expect(parseRuleFlags({ ...good, inputGroup: "ff02::fb", allowLinkLocal: true }).inputGroup).toBe("ff02::fb");
    expect(refusal(() => parseRuleFlags({ ...good, outputs: "[ff02::9]:5099:eth1" }))).toMatchObject({
      field: "outputs[0].group",
    });
    for (const g of ["ff05::1", "ff08::1", "ff0e::1", "ff3e::1:1", "ff15::1"])
      expect(parseRuleFlags({ ...good, inputGroup: g }).inputGroup).toBe(g);
  });
  test("an input that is not multicast is a unicast input (checkHost: the interface's own), never one no host has; outputs that cannot be destinations", () => {
    // A unicast input: whether it is the input interface's own address is checkHost's to say
    // (test/unit/ipv6-unicast-input.test.ts).
    expect(parseRuleFlags({ ...good, inputGroup: "2001:DB8::1" }).inputGroup).toBe("2001:db8::1");
    expect(refusal(() => parseRuleFlags({ ...good, inputGroup: "::" }))).toMatchObject({
      field: "inputGroup",
      message:
        ":: is the unspecified address ::, not a destination: an input is a multicast group (ff00::/8) or an address of the input interface",
    });
    for (const d of ["::", "::1", "::ffff:10.0.0.1"])
      expect(refusal(() => parseRuleFlags({ ...good, outputs: `[${d}]:5099:eth1` }))).toMatchObject({
        field: "outputs[0].group",
      });
  });
  test("the same output written two ways is one output", () => {
    expect(
      refusal(() => parseRuleFlags({ ...good, outputs: "[ff3e::9:9]:5099:eth1,[FF3E:0::9:9]:5099:eth1" })),
    ).toEqual({
      field: "outputs[1]",
      message: "output 2 ([ff3e::9:9]:5099:eth1) repeats output 1: every packet would go out twice",
    });
  });
});

describe("IPv6 sources", () => {
  test("hosts and prefixes, canonical", () => {
    const r = parseRuleFlags({ ...good, inputSource: ["2001:DB8::7", "2001:db8:1::/48", "fd00::/8"] });
    expect(r.inputSources).toEqual(["2001:db8::7", "2001:db8:1::/48", "fd00::/8"]);
  });
  test("refusals: host bits, length, family, multicast, repeats", () => {
    expect(refusal(() => parseRuleFlags({ ...good, inputSource: "2001:db8::1/32" }))).toEqual({
      field: "inputSources[0]",
      message: 'source 1: "2001:db8::1/32" has bits set past /32: write 2001:db8::/32',
    });
    expect(refusal(() => parseRuleFlags({ ...good, inputSource: "2001:db8::/129" }))).toMatchObject({
      field: "inputSources[0]",
    });
    expect(refusal(() => parseRuleFlags({ ...good, inputSource: "10.1.1.1" }))).toEqual({
      field: "inputSources[0]",
      message: 'source 1: "10.1.1.1" is not an IPv6 address or prefix: an IPv6 group takes IPv6 sources',
    });
    expect(
      refusal(() =>
        parseRuleFlags({
          inputGroup: "232.1.1.1",
          inputPort: 5001,
          outputs: "[ff3e::9]:1:eth1",
          inputSource: "2001:db8::7",
        }),
      ),
    ).toEqual({
      field: "inputSources[0]",
      message: 'source 1: "2001:db8::7" is not an IPv4 address or prefix: an IPv4 group takes IPv4 sources',
    });
    expect(refusal(() => parseRuleFlags({ ...good, inputSource: "ff3e::1" }))).toMatchObject({
      field: "inputSources[0]",
    });
    expect(refusal(() => parseRuleFlags({ ...good, inputSource: "::1" }))).toMatchObject({ field: "inputSources[0]" });
    expect(refusal(() => parseRuleFlags({ ...good, inputSource: "2001:db8::7,2001:DB8:0::7" }))).toEqual({
      field: "inputSources[1]",
      message: "source 2: 2001:db8::7 repeats source 1",
    });
  });
});

describe("loops and duplicates across families", () => {
  const rule = (id: number, f: RuleFlags): Rule =>
    ({ id, ...parseRuleFlags({ inputInterface: "eth0", ...f }) }) as Rule;
  test("an output into its own IPv6 input, however written", () => {
    expect(
      refusal(() => parseRuleFlags({ ...good, inputInterface: "eth1", outputs: "[FF3E:0::1:1]:5001:eth1" })),
    ).toEqual({
      field: "outputs[0]",
      message: "output 1 ([ff3e::1:1]:5001:eth1) sends back into the rule's own input",
    });
  });
  test("a v4 rule feeding a v6 rule's input is a loop; a v4 group is not the v6 one", () => {
    const v6 = rule(1, good);
    const v4 = rule(2, { inputGroup: "239.1.1.1", inputPort: 5001, outputs: "[ff3e::1:1]:5001:eth0" });
    expect(refusal(() => checkLoops(v4, [v6], ["eth0"])).message).toContain("sends into the input of rule 1");
    const v4b = rule(3, { inputGroup: "239.1.1.1", inputPort: 5001, outputs: "239.1.1.2:5001:eth0" });
    expect(() => checkLoops(v4b, [v6], ["eth0"])).not.toThrow();
    // And the other way: a v6 rule whose input a v4 rule's output feeds.
    expect(refusal(() => checkLoops(v6, [v4], ["eth0"])).message).toContain("rule 2's output 1");
  });
  test("duplicates: one group spelled two ways; any source per family", () => {
    const a = rule(1, good);
    expect(refusal(() => checkTable(rule(2, { ...good, inputGroup: "ff3e:0:0::1:1" }), [a]))).toMatchObject({
      field: "inputGroup",
    });
    const src = rule(3, { ...good, inputSource: "2001:db8::7" });
    expect(sameInput(a, src)).toBe(false);
    expect(sameInput(src, rule(4, { ...good, inputSource: "2001:db8::7,2001:db8::8" }))).toBe(true);
  });
});

describe("checkHost: the output's family needs its address", () => {
  const infos: Record<string, InterfaceInfo> = {
    eth0: { name: "eth0", ifindex: 1, ipv4: "10.0.0.1", ipv4Prefix: 24 },
    v4only: { name: "v4only", ifindex: 2, ipv4: "10.0.1.1", ipv4Prefix: 24, ipv6LinkLocal: "fe80::1" },
    v6: { name: "v6", ifindex: 3, ipv6: "2001:db8:1::1", ipv6LinkLocal: "fe80::2" },
  };
  const lookup = (n: string) => infos[n];
  const spec = (outputs: string, allowLinkLocal = false) =>
    parseRuleFlags({ ...good, inputInterface: "eth0", outputs, allowLinkLocal });
  test("a global IPv6 address for global groups and unicast; link-local for ff02", () => {
    expect(checkHost(spec("[ff3e::9:9]:5099:v6"), ["eth0"], lookup).outputs).toHaveLength(1);
    expect(checkHost(spec("[2001:db8::5]:7000:v6"), ["eth0"], lookup).outputs).toHaveLength(1);
    expect(refusal(() => checkHost(spec("[ff3e::9:9]:5099:v4only"), ["eth0"], lookup))).toEqual({
      field: "outputs[0].interface",
      message: "output 1 ([ff3e::9:9]:5099:v4only): interface v4only has no global IPv6 address to send from",
    });
    expect(checkHost(spec("[ff02::9]:5099:v4only", true), ["eth0"], lookup).outputs).toHaveLength(1);
    expect(refusal(() => checkHost(spec("239.9.9.9:5099:v6"), ["eth0"], lookup))).toEqual({
      field: "outputs[0].interface",
      message: "output 1 (239.9.9.9:5099:v6): interface v6 has no IPv4 address to send from",
    });
  });
});

describe("the config file and rule list", () => {
  test("IPv6 groups, sources and bracketed outputs in the file", () => {
    const c = parseConfig(
      `interfaces = ["eth0"]\n\n[[rule]]\ninput_group = "ff3e::1:1"\ninput_port = 5001\nsources = ["2001:db8::7"]\noutputs = ["[ff3e::9:9]:5099:eth1:ttl=4", { group = "2001:db8::5", port = 7000, interface = "eth1" }]\n`,
      "/etc/mcr/mcr.toml",
    );
    expect(c.rules[0]).toMatchObject({
      inputGroup: "ff3e::1:1",
      inputSources: ["2001:db8::7"],
      outputs: [
        { group: "ff3e::9:9", port: 5099, interface: "eth1", ttl: 4 },
        { group: "2001:db8::5", port: 7000, interface: "eth1", ttl: 1 },
      ],
    });
  });
  test("rule list writes IPv6 endpoints in brackets", () => {
    const r = { id: 1, ...parseRuleFlags({ ...good, inputInterface: "eth0" }) } as Rule;
    const text = renderRuleList({ version: 1, rules: [r], workers: [] });
    expect(text).toContain("[ff3e::1:1]:5001");
    expect(text).toContain("[ff3e::9:9]:5099:eth1");
  });
});

describe("the worker's table carries both families", () => {
  const info = (name: string): InterfaceInfo => ({
    name,
    ifindex: name === "eth0" ? 7 : 9,
    ipv4: "10.0.0.1",
    ipv6: "2001:db8::1",
    ipv6LinkLocal: "fe80::1",
  });
  const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");
  const entry = (buf: Uint8Array, i: number, bytes: number) => buf.subarray(i * bytes, (i + 1) * bytes);

  test("an IPv6 rule with sources: 16-byte group and sources, prefix lengths, family 6", () => {
    const c = new TableCompiler(new SlotAllocator(8), new SlotAllocator(8), () => {});
    const rule = {
      id: 1,
      ...parseRuleFlags({ ...good, inputInterface: "eth0", inputSource: "2001:db8::7,2001:db8:1::/48" }),
    } as Rule;
    const t = c.compile([rule], info);
    expect(t.errors).toEqual([]);
    expect(t.nRules).toBe(2);
    for (const [i, source, len] of [
      [0, "20010db8000000000000000000000007", 128],
      [1, "20010db8000100000000000000000000", 48],
    ] as const) {
      const e = entry(t.rules, i, RE.BYTES);
      const v = new DataView(e.buffer, e.byteOffset, e.byteLength);
      expect(v.getUint32(RE.IN_IFINDEX, true)).toBe(7);
      expect(hex(e.subarray(RE.GROUP, RE.GROUP + 16))).toBe("ff3e0000000000000000000000010001");
      expect(hex(e.subarray(RE.SOURCE, RE.SOURCE + 16))).toBe(source);
      expect(v.getUint8(RE.SOURCE_LEN)).toBe(len);
      expect(v.getUint8(RE.FAMILY)).toBe(6);
      expect(v.getUint16(RE.PORT, true)).toBe(5001);
      expect(v.getUint16(RE.N_OUTPUTS, true)).toBe(1);
    }
    const o = entry(t.outputs, 0, OE.BYTES);
    const ov = new DataView(o.buffer, o.byteOffset, o.byteLength);
    expect(ov.getUint32(OE.IFINDEX, true)).toBe(9);
    expect(hex(o.subarray(OE.SOURCE, OE.SOURCE + 16))).toBe("20010db8000000000000000000000001");
    expect(hex(o.subarray(OE.DEST, OE.DEST + 16))).toBe("ff3e0000000000000000000000090009");
    expect(ov.getUint8(OE.FAMILY)).toBe(6);
    expect(ov.getUint16(OE.PORT, true)).toBe(5099);
  });

  test("any source is ::/0 for an IPv6 group, 0.0.0.0/0 (mapped: 96 bits) for an IPv4 one", () => {
    const c = new TableCompiler(new SlotAllocator(8), new SlotAllocator(8), () => {});
    const v6 = { id: 1, ...parseRuleFlags({ ...good, inputInterface: "eth0" }) } as Rule;
    const v4 = {
      id: 2,
      ...parseRuleFlags({
        inputGroup: "239.1.1.1",
        inputPort: 5001,
        inputInterface: "eth0",
        outputs: "239.9.9.9:1:eth1",
      }),
    } as Rule;
    const t = c.compile([v6, v4], info);
    expect(t.errors).toEqual([]);
    expect(t.nRules).toBe(2);
    const r6 = entry(t.rules, 0, RE.BYTES);
    const r4 = entry(t.rules, 1, RE.BYTES);
    expect(hex(r6.subarray(RE.SOURCE, RE.SOURCE + 16))).toBe("0".repeat(32));
    expect([r6[RE.SOURCE_LEN], r6[RE.FAMILY]]).toEqual([0, 6]);
    expect(hex(r4.subarray(RE.SOURCE, RE.SOURCE + 16))).toBe(`${"0".repeat(20)}ffff00000000`);
    expect([r4[RE.SOURCE_LEN], r4[RE.FAMILY]]).toEqual([96, 4]);
    expect(hex(r4.subarray(RE.GROUP, RE.GROUP + 16))).toBe(`${"0".repeat(20)}ffffef010101`);
  });

  test("across families: each output takes its own family's source, link-local for ff02", () => {
    const c = new TableCompiler(new SlotAllocator(8), new SlotAllocator(8), () => {});
    const v4in = {
      id: 1,
      ...parseRuleFlags({
        inputGroup: "239.1.1.1",
        inputPort: 5001,
        inputInterface: "eth0",
        allowLinkLocal: true,
        outputs: "[ff3e::9:9]:5099:eth1,239.9.9.9:5099:eth1,[ff02::9]:5099:eth1,[2001:db8::5]:7000:eth1",
      }),
    } as Rule;
    const t = c.compile([v4in], info);
    expect(t.errors).toEqual([]);
    expect(t.nOutputs).toBe(4);
    const got = [0, 1, 2, 3].map((i) => {
      const o = entry(t.outputs, i, OE.BYTES);
      return [hex(o.subarray(OE.SOURCE, OE.SOURCE + 16)), o[OE.FAMILY]];
    });
    expect(got).toEqual([
      ["20010db8000000000000000000000001", 6],
      [`${"0".repeat(20)}ffff0a000001`, 4],
      ["fe800000000000000000000000000001", 6],
      ["20010db8000000000000000000000001", 6],
    ]);
    const r = entry(t.rules, 0, RE.BYTES);
    expect(r[RE.FAMILY]).toBe(4);
  });

  test("an IPv6 output on an interface without a global address is held and named; the rest compiles", () => {
    const c = new TableCompiler(new SlotAllocator(8), new SlotAllocator(8), () => {});
    const look = (name: string): InterfaceInfo =>
      name === "v4only" ? { name, ifindex: 11, ipv4: "10.0.2.1", ipv6LinkLocal: "fe80::2" } : info(name);
    const rule = {
      id: 1,
      ...parseRuleFlags({ ...good, inputInterface: "eth0", outputs: "[ff3e::9:9]:5099:v4only,239.9.9.9:5099:eth1" }),
    } as Rule;
    const t = c.compile([rule], look);
    expect(t.errors).toEqual([
      { ruleId: 1, message: "output 0 (v4only): interface v4only has no global IPv6 address to send from" },
    ]);
    expect(t.nRules).toBe(1);
    expect(t.nOutputs).toBe(1);
    expect(t.outputKeys).toEqual(["1:1"]);
  });
});
