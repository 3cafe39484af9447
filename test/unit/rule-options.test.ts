// Sources, VLANs and output options (issue 12): one parser for the command line and the config
// file, refusals naming the field.
import { describe, expect, test } from "bun:test";
import { parseConfig } from "../../src/config/load.ts";
import { parseOutputs, parseRuleFlags, type RuleFlags } from "../../src/rules/parse.ts";
import { checkTable, RuleError } from "../../src/rules/validate.ts";
import { TTL_FROM_INPUT } from "../../src/types/rules.ts";

const good: RuleFlags = { inputGroup: "232.1.1.1", inputPort: "5001", outputs: "239.10.10.10:6001:eth1" };

function refusal(f: () => unknown): { field?: string; message: string } {
  try {
    f();
  } catch (e) {
    if (e instanceof RuleError) return { field: e.field, message: e.message };
    throw e;
  }
  throw new Error("not refused");
}

describe("output options", () => {
  test("a bare TTL, then key=value fields", () => {
    expect(parseOutputs("239.9.9.9:5099:eth1:8,239.9.9.10:5099:eth1:ttl=-1:dscp=10:rate=2k:burst=50")).toEqual([
      { group: "239.9.9.9", port: 5099, interface: "eth1", ttl: 8 },
      { group: "239.9.9.10", port: 5099, interface: "eth1", ttl: TTL_FROM_INPUT, dscp: 10, rate: 2000, burst: 50 },
    ]);
  });
  test("rate takes k and M; burst defaults to a tenth of a second", () => {
    const [o] = parseRuleFlags({ ...good, outputs: "239.10.10.10:6001:eth1:rate=1M" }).outputs;
    expect(o).toEqual({
      group: "239.10.10.10",
      port: 6001,
      interface: "eth1",
      ttl: 1,
      rate: 1_000_000,
      burst: 100_000,
    });
  });
  const bad: [string, string, string, RegExp][] = [
    ["dscp past 63", "239.10.10.10:6001:eth1:dscp=64", "outputs[0].dscp", /64 is not a DSCP value/],
    ["ttl 0", "239.10.10.10:6001:eth1:ttl=0", "outputs[0].ttl", /0 is not a TTL/],
    ["ttl -2", "239.10.10.10:6001:eth1:ttl=-2", "outputs[0].ttl", /"-2" is not a TTL/],
    ["rate words", "239.10.10.10:6001:eth1:rate=fast", "outputs[0].rate", /"fast" is not a rate/],
    ["rate 0", "239.10.10.10:6001:eth1:rate=0", "outputs[0].rate", /"0" is not a rate/],
    ["burst without rate", "239.10.10.10:6001:eth1:burst=5", "outputs[0].burst", /give rate too/],
    ["unknown key", "239.10.10.10:6001:eth1:prio=3", "outputs[0].prio", /unknown option "prio"/],
    ["a key twice", "239.10.10.10:6001:eth1:dscp=1:dscp=2", "outputs[0].dscp", /dscp is given twice/],
    ["not key=value", "239.10.10.10:6001:eth1:fast", "outputs[0]", /"fast" is not an option/],
  ];
  for (const [name, outputs, field, message] of bad)
    test(`refuses ${name}, naming the field`, () => {
      const r = refusal(() => parseRuleFlags({ ...good, outputs }));
      expect(r.field).toBe(field);
      expect(r.message).toMatch(message);
    });
});

describe("sources and VLAN", () => {
  test("repeatable and comma lists, canonical", () => {
    const spec = parseRuleFlags({
      ...good,
      inputSource: ["10.0.0.1", "10.0.0.2,10.1.0.0/16", "10.2.2.2/32"],
      inputVlan: "20",
    });
    expect(spec.inputSources).toEqual(["10.0.0.1", "10.0.0.2", "10.1.0.0/16", "10.2.2.2"]);
    expect(spec.inputVlan).toBe(20);
    expect(parseRuleFlags({ ...good, inputVlan: "0" }).inputVlan).toBeUndefined();
  });
  const bad: [string, RuleFlags, string, RegExp][] = [
    ["host bits", { ...good, inputSource: "10.1.0.1/16" }, "inputSources[0]", /write 10\.1\.0\.0\/16/],
    ["a group as source", { ...good, inputSource: "239.1.1.1" }, "inputSources[0]", /cannot be a datagram's source/],
    ["not an address", { ...good, inputSource: "cam1" }, "inputSources[0]", /not an IPv4 address or prefix/],
    ["a repeat", { ...good, inputSource: "10.0.0.1,10.0.0.1/32" }, "inputSources[1]", /repeats source 1/],
    ["VLAN 4095", { ...good, inputVlan: "4095" }, "inputVlan", /4095 is not a VLAN id/],
  ];
  for (const [name, flags, field, message] of bad)
    test(`refuses ${name}`, () => {
      const r = refusal(() => parseRuleFlags(flags));
      expect(r.field).toBe(field);
      expect(r.message).toMatch(message);
    });
  test("rules may share a group and port with other sources or VLANs, not the same ones", () => {
    const base = { id: 1, inputInterface: "eth0", inputGroup: "232.1.1.1", inputPort: 5001, outputs: [] };
    const rules = [
      { ...base, inputSources: ["10.0.0.1"] },
      { ...base, id: 2, inputVlan: 20 },
    ];
    expect(() => checkTable({ ...base, inputSources: ["10.0.0.2"] }, rules)).not.toThrow();
    expect(() => checkTable(base, rules)).not.toThrow(); // any other source
    expect(refusal(() => checkTable({ ...base, inputSources: ["10.0.0.2", "10.0.0.1"] }, rules)).field).toBe(
      "inputGroup",
    );
    expect(refusal(() => checkTable({ ...base, inputVlan: 20 }, rules)).field).toBe("inputGroup");
  });
});

describe("the config file says the same", () => {
  test("sources, input_vlan and output options", () => {
    const cfg = parseConfig(
      'interfaces = ["eth0"]\n[[rule]]\ninput_group = "232.1.1.1"\ninput_port = 5001\nsources = ["10.0.0.1"]\ninput_vlan = 20\noutputs = ["239.9.9.9:5099:eth1:ttl=-1:dscp=46", { group = "239.9.9.8", port = 5099, interface = "eth1", rate = 2000 }]\n',
      "/x.toml",
    );
    const [r] = cfg.rules;
    expect(r?.inputSources).toEqual(["10.0.0.1"]);
    expect(r?.inputVlan).toBe(20);
    expect(r?.outputs).toEqual([
      { group: "239.9.9.9", port: 5099, interface: "eth1", ttl: TTL_FROM_INPUT, dscp: 46 },
      { group: "239.9.9.8", port: 5099, interface: "eth1", ttl: 1, rate: 2000, burst: 200 },
    ]);
  });
  test("a bad source names the key", () => {
    expect(() =>
      parseConfig(
        'interfaces = ["eth0"]\n[[rule]]\ninput_group = "232.1.1.1"\ninput_port = 5001\nsources = ["10.0.0.1/8"]\noutputs = ["239.9.9.9:5099:eth1"]\n',
        "/x.toml",
      ),
    ).toThrow('/x.toml:5: sources: source 1: "10.0.0.1/8" has bits set past /8: write 10.0.0.0/8');
  });
});
