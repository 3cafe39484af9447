// Rule syntax and validation: each refusal names its field and says what is wrong.
import { describe, expect, test } from "bun:test";
import { EX, McrError } from "../../src/errors.ts";
import { parseIPv4 } from "../../src/values/ipv4.ts";
import { flagOf, parseOutputs, parseRuleFlags, type RuleFlags } from "../../src/rules/parse.ts";
import { checkHost, checkSpec, checkTable, type LookupInterface } from "../../src/rules/validate.ts";
import { addRule, emptyTable, removeRule } from "../../src/supervisor/table.ts";
import { parseCpuList, cpuFor } from "../../src/supervisor/cpus.ts";

const good: RuleFlags = { inputGroup: "239.1.1.1", inputPort: "5001", outputs: "239.10.10.10:6001:eth1" };

/** The error a function throws, as field + message + exit code. */
function refusal(fn: () => unknown): { field?: string; message: string; exitCode: number; code: string } {
  try {
    fn();
  } catch (e) {
    if (!(e instanceof McrError)) throw e;
    return { field: e.field, message: e.message, exitCode: e.exitCode, code: e.code };
  }
  throw new Error("expected a refusal, got none");
}

describe("parseIPv4", () => {
  test("dotted quads only", () => {
    expect(parseIPv4("239.1.1.1")).toBe(0xef010101);
    expect(parseIPv4("255.255.255.255")).toBe(0xffffffff);
    for (const bad of [
      "239.1.1",
      "239.1.1.1.1",
      "256.1.1.1",
      "0x7f.0.0.1",
      "239.01.1.1",
      " 239.1.1.1",
      "239.1.1.-1",
      "",
    ])
      expect(parseIPv4(bad)).toBeUndefined();
  });
});

describe("parseRuleFlags", () => {
  test("a good rule, TTL defaulting to 1", () => {
    expect(parseRuleFlags(good)).toEqual({
      inputGroup: "239.1.1.1",
      inputPort: 5001,
      outputs: [{ group: "239.10.10.10", port: 6001, interface: "eth1", ttl: 1 }],
    });
  });

  test("fan-out, unicast, per-output TTL and --ttl default", () => {
    const s = parseRuleFlags({
      ...good,
      inputInterface: "eth0",
      ttl: "8",
      outputs: "239.10.10.10:6001:eth1, 10.0.1.2:7000:eth2:64,239.10.10.11:6002:eth2",
    });
    expect(s.inputInterface).toBe("eth0");
    expect(s.outputs).toEqual([
      { group: "239.10.10.10", port: 6001, interface: "eth1", ttl: 8 },
      { group: "10.0.1.2", port: 7000, interface: "eth2", ttl: 64 },
      { group: "239.10.10.11", port: 6002, interface: "eth2", ttl: 8 },
    ]);
  });

  const cases: [string, RuleFlags, string, RegExp][] = [
    // A unicast address is an input (issue 16), one no datagram is sent to is not.
    [
      "a loopback input",
      { ...good, inputGroup: "127.0.0.1" },
      "inputGroup",
      /127\.0\.0\.1 is a loopback address.*: an input is a multicast group \(224\.0\.0\.0\/4\) or an address of the input interface/,
    ],
    ["an input in 0.0.0.0/8", { ...good, inputGroup: "0.1.2.3" }, "inputGroup", /0\.1\.2\.3 is in 0\.0\.0\.0\/8/],
    ["group not an address", { ...good, inputGroup: "239.1.1" }, "inputGroup", /"239\.1\.1" is not an IPv4 address/],
    [
      "link-local group without allowLinkLocal",
      { ...good, inputGroup: "224.0.0.5" },
      "inputGroup",
      /224\.0\.0\.5 is a link-local group \(224\.0\.0\.0\/24\), relayed only by a rule with --allow-link-local/,
    ],
    ["port 0", { ...good, inputPort: "0" }, "inputPort", /^0 is not a port \(use an integer from 1 to 65535\)/],
    ["port too big", { ...good, inputPort: "65536" }, "inputPort", /^65536 is not a port/],
    ["port not a number", { ...good, inputPort: "50x1" }, "inputPort", /^"50x1" is not a port/],
    ["port in hex", { ...good, inputPort: "0x10" }, "inputPort", /^"0x10" is not a port/],
    ["port fractional", { ...good, inputPort: "5001.5" }, "inputPort", /is not a port/],
    [
      "outputs: two fields",
      { ...good, outputs: "239.10.10.10:6001" },
      "outputs[0]",
      /output 1 "239\.10\.10\.10:6001" is not group:port:interface/,
    ],
    [
      "outputs: a bare number past the TTL",
      { ...good, outputs: "239.10.10.10:6001:eth1:1:2" },
      "outputs[0]",
      /output 1: "2" is not an option: write key=value/,
    ],
    [
      "outputs: empty entry",
      { ...good, outputs: "239.10.10.10:6001:eth1,,239.10.10.11:6001:eth1" },
      "outputs[1]",
      /output 2 "" is not/,
    ],
    ["outputs: empty", { ...good, outputs: " " }, "outputs", /empty/],
    [
      "output port 0",
      { ...good, outputs: "239.10.10.10:6001:eth1,239.10.10.11:0:eth2" },
      "outputs[1].port",
      /^output 2: 0 is not a port/,
    ],
    [
      "output TTL 0",
      { ...good, outputs: "239.10.10.10:6001:eth1:0" },
      "outputs[0].ttl",
      /^output 1: 0 is not a TTL \(use an integer from 1 to 255\)/,
    ],
    ["output TTL 256", { ...good, outputs: "239.10.10.10:6001:eth1:256" }, "outputs[0].ttl", /256 is not a TTL/],
    ["--ttl 0", { ...good, ttl: "0" }, "ttl", /^0 is not a TTL/],
    [
      "output group garbage",
      { ...good, outputs: "nowhere:6001:eth1" },
      "outputs[0].group",
      /"nowhere" is not an IPv4 address/,
    ],
    ["output to loopback", { ...good, outputs: "127.0.0.1:6001:eth1" }, "outputs[0].group", /loopback/],
    ["output to broadcast", { ...good, outputs: "255.255.255.255:6001:eth1" }, "outputs[0].group", /broadcast/],
    ["output to a control group", { ...good, outputs: "224.0.0.251:5353:eth1" }, "outputs[0].group", /link-local/],
    [
      "output interface name too long",
      { ...good, outputs: "239.10.10.10:6001:abcdefghijklmnop" },
      "outputs[0].interface",
      /is not an interface name/,
    ],
    [
      "output repeated",
      { ...good, outputs: "239.10.10.10:6001:eth1,239.10.10.10:6001:eth1" },
      "outputs[1]",
      /repeats output 1/,
    ],
    [
      "output into its own input",
      { ...good, inputInterface: "eth0", outputs: "239.10.10.10:6001:eth1,239.1.1.1:5001:eth0" },
      "outputs[1]",
      /output 2 \(239\.1\.1\.1:5001:eth0\) sends back into the rule's own input/,
    ],
    ["missing --outputs", { inputGroup: "239.1.1.1", inputPort: "5001" }, "outputs", /missing/],
  ];
  for (const [name, flags, field, message] of cases)
    test(`refuses: ${name}`, () => {
      const r = refusal(() => parseRuleFlags(flags));
      expect(r.field).toBe(field);
      expect(r.message).toMatch(message);
      expect(r.exitCode).toBe(EX.DATAERR);
      expect(r.code).toBe("invalid_rule");
    });

  test("the same output group on another interface or port is no loop", () => {
    expect(() =>
      parseRuleFlags({ ...good, inputInterface: "eth0", outputs: "239.1.1.1:5001:eth1,239.1.1.1:5002:eth0" }),
    ).not.toThrow();
  });

  test("parseOutputs keeps order and the default TTL", () => {
    expect(parseOutputs("239.2.2.2:1:a,239.3.3.3:2:b:9", 4).map((o) => [o.group, o.ttl])).toEqual([
      ["239.2.2.2", 4],
      ["239.3.3.3", 9],
    ]);
  });

  test("flagOf maps fields to the flags an operator typed", () => {
    expect(flagOf("inputPort")).toBe("--input-port");
    expect(flagOf("outputs[3].ttl")).toBe("--outputs");
    expect(flagOf("inputInterface")).toBe("--input-interface");
    expect(flagOf("id")).toBe("ID");
  });
});

describe("checkSpec on what arrives over the socket", () => {
  const spec = {
    inputGroup: "239.1.1.1",
    inputPort: 5001,
    outputs: [{ group: "239.10.10.10", port: 6001, interface: "eth1" }],
  };
  test("fills the TTL", () => {
    expect(checkSpec(spec).outputs[0]!.ttl).toBe(1);
  });
  test("wrong types are named", () => {
    expect(refusal(() => checkSpec({ ...spec, inputPort: "5001" }))).toMatchObject({
      field: "inputPort",
      message: '"5001" is not a port (use an integer from 1 to 65535)',
    });
    expect(refusal(() => checkSpec({ ...spec, inputGroup: 5 }))).toMatchObject({
      field: "inputGroup",
      message: expect.stringContaining("got a number"),
    });
    expect(refusal(() => checkSpec({ ...spec, outputs: "x" }))).toMatchObject({
      field: "outputs",
      message: expect.stringContaining("got a string"),
    });
    expect(refusal(() => checkSpec({ ...spec, outputs: [] }))).toMatchObject({
      field: "outputs",
      message: "a rule needs at least one output",
    });
    expect(refusal(() => checkSpec({ ...spec, outputs: [null] }))).toMatchObject({
      field: "outputs[0]",
      message: "output 1 must be an object, got null",
    });
    expect(refusal(() => checkSpec({ ...spec, colour: "red" }))).toMatchObject({
      field: "colour",
      message: 'unknown field "colour"',
    });
    expect(refusal(() => checkSpec([]))).toMatchObject({ field: "rule" });
    expect(refusal(() => checkSpec({ ...spec, outputs: [{ ...spec.outputs[0], ttl: 1.5 }] }))).toMatchObject({
      field: "outputs[0].ttl",
    });
  });
});

describe("checkHost", () => {
  const ifs: Record<string, { ipv4?: string }> = { eth0: { ipv4: "10.0.0.2" }, eth1: { ipv4: "10.0.1.1" }, bare: {} };
  const lookup: LookupInterface = (n) =>
    n in ifs ? { name: n, ifindex: Object.keys(ifs).indexOf(n) + 1, ...ifs[n] } : undefined;
  const spec = checkSpec({
    inputGroup: "239.1.1.1",
    inputPort: 5001,
    outputs: [{ group: "239.10.10.10", port: 6001, interface: "eth1" }],
  });

  test("fills the input interface when the supervisor serves one", () => {
    expect(checkHost(spec, ["eth0"], lookup).inputInterface).toBe("eth0");
  });
  test("asks for it when the supervisor serves several", () => {
    expect(refusal(() => checkHost(spec, ["eth0", "eth1"], lookup))).toMatchObject({
      field: "inputInterface",
      message: "the supervisor serves eth0, eth1: name the input interface",
    });
  });
  test("refuses an interface the supervisor does not serve", () => {
    expect(refusal(() => checkHost({ ...spec, inputInterface: "eth1" }, ["eth0"], lookup))).toMatchObject({
      field: "inputInterface",
      message: expect.stringContaining("does not serve eth1"),
    });
  });
  test("refuses an unknown output interface", () => {
    const s = { ...spec, outputs: [{ ...spec.outputs[0]!, interface: "eth9" }] };
    expect(refusal(() => checkHost(s, ["eth0"], lookup))).toMatchObject({
      field: "outputs[0].interface",
      message: expect.stringContaining("no interface named eth9"),
    });
  });
  test("refuses an output interface without IPv4", () => {
    const s = { ...spec, outputs: [{ ...spec.outputs[0]!, interface: "bare" }] };
    expect(refusal(() => checkHost(s, ["eth0"], lookup))).toMatchObject({
      field: "outputs[0].interface",
      message: expect.stringContaining("has no IPv4 address"),
    });
  });
  test("refuses a unicast output to the output interface's subnet broadcast", () => {
    const withPrefix: LookupInterface = (n) =>
      n === "eth1" ? { name: n, ifindex: 2, ipv4: "10.0.1.1", ipv4Prefix: 24 } : lookup(n);
    const s = { ...spec, outputs: [{ ...spec.outputs[0]!, group: "10.0.1.255", port: 7000 }] };
    expect(refusal(() => checkHost(s, ["eth0"], withPrefix))).toMatchObject({
      field: "outputs[0].group",
      message: expect.stringContaining("is the broadcast address of eth1's subnet (10.0.1.1/24)"),
      exitCode: EX.DATAERR,
    });
    const host = { ...spec, outputs: [{ ...spec.outputs[0]!, group: "10.0.1.254", port: 7000 }] };
    expect(checkHost(host, ["eth0"], withPrefix).outputs[0]!.group).toBe("10.0.1.254");
  });
  test("finds the loop once the input interface is filled in", () => {
    const s = { ...spec, outputs: [{ group: "239.1.1.1", port: 5001, interface: "eth0", ttl: 1 }] };
    expect(refusal(() => checkHost(s, ["eth0"], lookup))).toMatchObject({
      field: "outputs[0]",
      message: expect.stringContaining("sends back into"),
    });
  });
});

describe("the rule table", () => {
  const spec = {
    inputInterface: "eth0",
    inputGroup: "239.1.1.1",
    inputPort: 5001,
    outputs: [{ group: "239.10.10.10", port: 6001, interface: "eth1", ttl: 1 }],
  };
  test("ids grow and are never reused", () => {
    const a = addRule(emptyTable(), spec);
    expect(a.rule.id).toBe(1);
    const r = removeRule(a.table, 1);
    const b = addRule(r.table, spec);
    expect(b.rule.id).toBe(2);
  });
  test("a duplicate input is refused, naming the rule it clashes with", () => {
    const { table } = addRule(emptyTable(), spec);
    const r = refusal(() => checkTable({ ...spec, outputs: [{ ...spec.outputs[0]!, port: 7000 }] }, table.rules));
    expect(r).toMatchObject({ field: "inputGroup", code: "duplicate", exitCode: EX.DATAERR });
    expect(r.message).toContain("rule 1 already relays 239.1.1.1:5001 on eth0");
    // The same group and port on another input interface is another rule.
    expect(() => checkTable({ ...spec, inputInterface: "eth2" }, table.rules)).not.toThrow();
  });
  test("removing an unknown id is not_found", () => {
    expect(refusal(() => removeRule(emptyTable(), 7))).toMatchObject({
      code: "not_found",
      exitCode: EX.DATAERR,
      field: "id",
    });
  });
});

describe("cpus", () => {
  test("parses cpu lists and wraps workers around them", () => {
    expect(parseCpuList("0-3,8,10-11\n")).toEqual([0, 1, 2, 3, 8, 10, 11]);
    expect([0, 1, 2, 3].map((i) => cpuFor(i, [4, 6]))).toEqual([4, 6, 4, 6]);
  });
});
