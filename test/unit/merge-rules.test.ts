// Merge rules on the control side (issue 14): --input legs, --merge and its settings, their
// validation, the config file's keys, the joins, the list. Each refusal names its field.
import { describe, expect, test } from "bun:test";
import { parseConfig } from "../../src/config/load.ts";
import { EX, McrError } from "../../src/errors.ts";
import { flagOf, parseInputLeg, parseMergeWindow, parseRuleFlags, type RuleFlags } from "../../src/rules/parse.ts";
import {
  checkHost,
  checkLoops,
  checkSpec,
  checkTable,
  describeInputs,
  type LookupInterface,
} from "../../src/rules/validate.ts";
import { renderRuleList } from "../../src/stats/render.ts";
import { joinsOf } from "../../src/supervisor/membership.ts";
import { addRule, applyConfigRules, emptyTable } from "../../src/supervisor/table.ts";
import type { Rule, RuleInput, RuleSpec } from "../../src/types/rules.ts";
import { formatDuration, parseDuration } from "../../src/values/duration.ts";

function refusal(fn: () => unknown): { field?: string; message: string; exitCode: number } {
  try {
    fn();
  } catch (e) {
    if (!(e instanceof McrError)) throw e;
    return { field: e.field, message: e.message, exitCode: e.exitCode };
  }
  throw new Error("expected a refusal, got none");
}

const OUT = "239.10.10.10:6001:eth2";
const leg = (t: string) => parseInputLeg(t, "--input");
const flags = (inputs: string[], merge: RuleFlags["merge"] = {}, more: Partial<RuleFlags> = {}): RuleFlags => ({
  inputs: inputs.map(leg),
  merge,
  outputs: OUT,
  ...more,
});
const RED = "eth0:239.1.1.1:5001";
const BLUE = "eth1:239.2.1.1:5001";

describe("durations", () => {
  test("a number and ms or s, in whole milliseconds, within the bounds", () => {
    const r = { min: 1, max: 60_000 };
    expect(parseDuration("200ms", "f", r)).toBe(200);
    expect(parseDuration("5s", "f", r)).toBe(5000);
    expect(parseDuration("1.5s", "f", r)).toBe(1500);
    expect(parseDuration("0.25s", "f", r)).toBe(250);
    expect(refusal(() => parseDuration("200", "f", r))).toEqual({
      field: "f",
      message: '"200" is not a duration (write a number and ms or s, e.g. 200ms or 5s)',
      exitCode: EX.USAGE,
    });
    expect(refusal(() => parseDuration("0.5ms", "f", r)).message).toBe('"0.5ms" is not a whole number of milliseconds');
    expect(refusal(() => parseDuration("61s", "f", r)).message).toBe('"61s" is out of range (use from 1ms to 60s)');
    expect(refusal(() => parseDuration("0ms", "f", r)).message).toBe('"0ms" is out of range (use from 1ms to 60s)');
    for (const bad of ["", "ms", "-5ms", "5 ms", "5m", "1e3ms", "0x10ms", "5S"])
      expect(refusal(() => parseDuration(bad, "f", r)).message).toContain("is not a duration");
  });
  test("written back as an operator would", () => {
    expect([50, 450, 1000, 1500, 5000, 0].map(formatDuration)).toEqual(["50ms", "450ms", "1s", "1500ms", "5s", "0ms"]);
  });
});

describe("--input IFACE:GROUP:PORT[:SOURCE]", () => {
  test("IPv4 and bracketed IPv6 groups, with or without a source", () => {
    expect(leg("eth0:239.1.1.1:5001")).toEqual({ interface: "eth0", group: "239.1.1.1", port: 5001 });
    expect(leg("eth1:239.2.1.1:5001:10.0.0.7")).toEqual({
      interface: "eth1",
      group: "239.2.1.1",
      port: 5001,
      source: "10.0.0.7",
    });
    expect(leg("eth0:[ff3e::1]:5001")).toEqual({ interface: "eth0", group: "ff3e::1", port: 5001 });
    expect(leg("eth0:[ff3e::1]:5001:2001:db8::7")).toEqual({
      interface: "eth0",
      group: "ff3e::1",
      port: 5001,
      source: "2001:db8::7",
    });
    expect(leg("eth0:[ff3e::1]:5001:[2001:db8::7]").source).toBe("2001:db8::7");
  });
  test("malformed legs are usage errors naming the flag", () => {
    const cases: [string, string][] = [
      ["239.1.1.1:5001", '"239.1.1.1:5001" has no port (write IFACE:GROUP:PORT[:SOURCE], e.g. eth0:239.1.1.1:5001)'],
      [
        ":239.1.1.1:5001",
        '":239.1.1.1:5001" names no interface (write IFACE:GROUP:PORT[:SOURCE], e.g. eth0:239.1.1.1:5001)',
      ],
      ["eth0", '"eth0" names no interface (write IFACE:GROUP:PORT[:SOURCE], e.g. eth0:239.1.1.1:5001)'],
      ["eth0::5001", '"eth0::5001" has no group (write IFACE:GROUP:PORT[:SOURCE], e.g. eth0:239.1.1.1:5001)'],
      [
        "eth0:ff3e::1:5001",
        '"eth0:ff3e::1:5001" looks like an IPv6 group (write it in brackets, e.g. eth0:[ff3e::1]:5001)',
      ],
      [
        "eth0:[ff3e::1:5001",
        '"eth0:[ff3e::1:5001" has an IPv6 group whose brackets are not closed before the port (write IFACE:GROUP:PORT[:SOURCE], e.g. eth0:239.1.1.1:5001)',
      ],
      ["eth0:239.1.1.1:0", '"eth0:239.1.1.1:0": "0" is not a port (use an integer from 1 to 65535)'],
      ["eth0:239.1.1.1:x", '"eth0:239.1.1.1:x": "x" is not a port (use an integer from 1 to 65535)'],
      [
        "eth0:239.1.1.1:5001:",
        '"eth0:239.1.1.1:5001:" ends in a colon with no source (write IFACE:GROUP:PORT[:SOURCE], e.g. eth0:239.1.1.1:5001)',
      ],
    ];
    for (const [text, message] of cases)
      expect(refusal(() => leg(text))).toEqual({ field: "--input", message, exitCode: EX.USAGE });
  });
});

describe("--merge-window", () => {
  test("a duration or a count of packets, each within its bounds", () => {
    expect(parseMergeWindow("10ms", "w")).toEqual({ windowMs: 10 });
    expect(parseMergeWindow("450ms", "w")).toEqual({ windowMs: 450 });
    expect(parseMergeWindow("1s", "w")).toEqual({ windowMs: 1000 });
    expect(parseMergeWindow("1pkts", "w")).toEqual({ windowPackets: 1 });
    expect(parseMergeWindow("4096pkts", "w")).toEqual({ windowPackets: 4096 });
    expect(refusal(() => parseMergeWindow("1001ms", "w")).message).toBe(
      '"1001ms" is out of range (use from 1ms to 1s)',
    );
    expect(refusal(() => parseMergeWindow("4097pkts", "w")).message).toBe(
      '"4097pkts" is out of range (use from 1pkts to 4096pkts)',
    );
    expect(refusal(() => parseMergeWindow("0pkts", "w")).message).toContain("out of range");
    for (const bad of ["50", "50pkt", "pkts", "50 ms", "-1ms"])
      expect(refusal(() => parseMergeWindow(bad, "w"))).toEqual({
        field: "w",
        message: `"${bad}" is not a window: write a duration (10ms, 50ms, 450ms) or a count of packets (500pkts)`,
        exitCode: EX.USAGE,
      });
  });
});

describe("rules from --input and --merge", () => {
  test("one --input is the rule's own input, as --input-interface/--input-group/--input-port", () => {
    expect(parseRuleFlags(flags([RED]))).toEqual(
      parseRuleFlags({ inputInterface: "eth0", inputGroup: "239.1.1.1", inputPort: "5001", outputs: OUT }),
    );
    expect(parseRuleFlags(flags(["eth0:239.1.1.1:5001:10.0.0.7"])).inputSources).toEqual(["10.0.0.7"]);
  });
  test("two legs, rtp: the first is the rule's own, the window as given or absent (the default)", () => {
    expect(parseRuleFlags(flags([RED, BLUE], { mode: "rtp" }))).toEqual({
      inputInterface: "eth0",
      inputGroup: "239.1.1.1",
      inputPort: 5001,
      outputs: [{ group: "239.10.10.10", port: 6001, interface: "eth2", ttl: 1 }],
      merge: { mode: "rtp", legs: [{ interface: "eth1", group: "239.2.1.1", port: 5001 }] },
    });
    expect(parseRuleFlags(flags([RED, BLUE], { mode: "rtp", window: { windowMs: 10 } })).merge).toEqual({
      mode: "rtp",
      legs: [{ interface: "eth1", group: "239.2.1.1", port: 5001 }],
      windowMs: 10,
    });
    expect(parseRuleFlags(flags([RED, BLUE], { mode: "rtp", window: { windowPackets: 500 } })).merge).toMatchObject({
      windowPackets: 500,
    });
  });
  test("four legs, failover, with and without --revert-after", () => {
    const four = [RED, BLUE, "eth0:239.3.1.1:5001", "eth1:239.4.1.1:5001:10.0.1.9"];
    expect(parseRuleFlags(flags(four, { mode: "failover", failoverAfterMs: 200 })).merge).toEqual({
      mode: "failover",
      legs: [
        { interface: "eth1", group: "239.2.1.1", port: 5001 },
        { interface: "eth0", group: "239.3.1.1", port: 5001 },
        { interface: "eth1", group: "239.4.1.1", port: 5001, source: "10.0.1.9" },
      ],
      failoverAfterMs: 200,
    });
    expect(
      parseRuleFlags(flags([RED, BLUE], { mode: "failover", failoverAfterMs: 200, revertAfterMs: 5000 })).merge,
    ).toMatchObject({ failoverAfterMs: 200, revertAfterMs: 5000 });
  });
  test("flags that do not combine are usage errors naming the flag", () => {
    const cases: [RuleFlags, string, string][] = [
      [
        flags([RED, BLUE]),
        "--merge",
        "2 inputs need a merge mode: rtp (the first copy of each RTP packet) or failover (one input at a time)",
      ],
      [flags([RED], { mode: "rtp" }), "--merge", "a merge takes two to four inputs, and one --input is given"],
      [
        flags([RED, BLUE, "eth0:239.3.1.1:1", "eth0:239.4.1.1:1", "eth0:239.5.1.1:1"], { mode: "rtp" }),
        "--input",
        "a merge takes at most 4 inputs, 5 are given",
      ],
      [
        flags([RED, BLUE], { mode: "rtp", failoverAfterMs: 200 }),
        "--failover-after",
        "applies to --merge failover only, not to --merge rtp",
      ],
      [
        flags([RED, BLUE], { mode: "rtp", revertAfterMs: 200 }),
        "--revert-after",
        "applies to --merge failover only, not to --merge rtp",
      ],
      [
        flags([RED, BLUE], { mode: "failover", failoverAfterMs: 200, window: { windowMs: 10 } }),
        "--merge-window",
        "applies to --merge rtp only, not to --merge failover",
      ],
      [
        flags([RED, BLUE], { mode: "failover" }),
        "--failover-after",
        "a failover merge needs it: how long the first input may be silent",
      ],
      [
        flags([RED], {}, { inputGroup: "239.1.1.1" }),
        "--input",
        "--input-group and --input both name the input: give IFACE:GROUP:PORT[:SOURCE] with --input alone",
      ],
      [
        flags([RED], {}, { inputSource: ["10.0.0.1"] }),
        "--input",
        "--input-source and --input both name the input: give IFACE:GROUP:PORT[:SOURCE] with --input alone",
      ],
      [
        { inputGroup: "239.1.1.1", inputPort: "5001", outputs: OUT, merge: { mode: "rtp" } },
        "--merge",
        "a merge takes two to four inputs: give each with --input IFACE:GROUP:PORT",
      ],
    ];
    for (const [f, flag, message] of cases) {
      const r = refusal(() => parseRuleFlags(f));
      expect({ flag: flagOf(r.field, true), message: r.message, exitCode: r.exitCode }).toEqual({
        flag,
        message,
        exitCode: EX.USAGE,
      });
    }
  });
  test("a leg's values are the rule's to judge (65), named by --input", () => {
    const cases: [string[], string][] = [
      [
        [RED, "eth1:239.2.1:5001"],
        'input 2: "239.2.1" is not an IPv4 address (write it as four numbers, e.g. 239.1.1.1) or an IPv6 one (e.g. ff3e::1:1)',
      ],
      [[RED, "eth1:10.0.0.1:5001"], "input 2: 10.0.0.1 is not a multicast group: a merge rule's inputs are groups"],
      [["eth0:10.0.0.2:5001", BLUE], "input 1: 10.0.0.2 is not a multicast group: a merge rule's inputs are groups"],
      [
        [RED, "eth1:224.0.0.251:5353"],
        "input 2: 224.0.0.251 is a link-local group (224.0.0.0/24), relayed only by a rule with --allow-link-local (config: allow_link_local = true)",
      ],
      [
        [RED, "eth1:239.2.1.1:5001:10.0.0.0/8"],
        'input 2: the source must be one address (no prefix), got "10.0.0.0/8"',
      ],
      [[RED, "eth1:239.2.1.1:5001:239.9.9.9"], "input 2: 239.9.9.9 cannot be a datagram's source"],
      [
        [RED, "eth1:[ff3e::1]:5001:10.0.0.1"],
        'input 2: "10.0.0.1" is not an IPv6 address or prefix: an IPv6 group takes IPv6 sources',
      ],
      [
        [RED, "eth0:239.1.1.1:5001"],
        "input 2 (239.1.1.1:5001 on eth0) takes the same datagrams as input 1 (239.1.1.1:5001 on eth0)",
      ],
      [
        [RED, BLUE, "eth1:239.2.1.1:5001"],
        "input 3 (239.2.1.1:5001 on eth1) takes the same datagrams as input 2 (239.2.1.1:5001 on eth1)",
      ],
      [
        ["eth0:239.1.1.1:5001:10.0.0.7", "eth0:239.1.1.1:5001:10.0.0.7"],
        "input 2 ((10.0.0.7) 239.1.1.1:5001 on eth0) takes the same datagrams as input 1 ((10.0.0.7) 239.1.1.1:5001 on eth0)",
      ],
    ];
    for (const [inputs, message] of cases) {
      const r = refusal(() => parseRuleFlags(flags(inputs, { mode: "rtp" })));
      expect({ flag: flagOf(r.field, true), message: r.message, exitCode: r.exitCode }).toEqual({
        flag: "--input",
        message,
        exitCode: EX.DATAERR,
      });
    }
    // One group and port from two sources on one network are two legs (ST 2022-7 on one LAN).
    expect(
      parseRuleFlags(flags(["eth0:239.1.1.1:5001:10.0.0.7", "eth0:239.1.1.1:5001:10.0.0.8"], { mode: "rtp" })).merge
        ?.legs,
    ).toEqual([{ interface: "eth0", group: "239.1.1.1", port: 5001, source: "10.0.0.8" }]);
  });
  test("an output into any leg is a loop", () => {
    const r = refusal(() => parseRuleFlags(flags([RED, BLUE], { mode: "rtp" }, { outputs: "239.2.1.1:5001:eth1" })));
    expect(r).toEqual({
      field: "outputs[0]",
      message: "output 1 (239.2.1.1:5001:eth1) sends back into the rule's own input 2",
      exitCode: EX.DATAERR,
    });
  });
});

const merged = (extra: object = {}): Record<string, unknown> => ({
  inputInterface: "eth0",
  inputGroup: "239.1.1.1",
  inputPort: 5001,
  outputs: [{ group: "239.10.10.10", port: 6001, interface: "eth2", ttl: 1 }],
  merge: { mode: "rtp", legs: [{ interface: "eth1", group: "239.2.1.1", port: 5001 }] },
  ...extra,
});

describe("checkSpec: a merge as any client sends it", () => {
  test("accepted as sent, the IPv6 leg in canonical text", () => {
    expect(checkSpec(merged())).toEqual(merged() as unknown as RuleInput);
    const v6 = checkSpec(
      merged({ merge: { mode: "rtp", legs: [{ interface: "eth1", group: "FF3E:0::1", port: 5001 }], windowMs: 450 } }),
    );
    expect(v6.merge).toEqual({
      mode: "rtp",
      legs: [{ interface: "eth1", group: "ff3e::1", port: 5001 }],
      windowMs: 450,
    });
  });
  test("refusals name the field, exit 65", () => {
    const legs = [{ interface: "eth1", group: "239.2.1.1", port: 5001 }];
    const cases: [object, string, string][] = [
      [{ merge: "rtp" }, "merge", "must be an object with mode and legs, got a string"],
      [{ merge: { mode: "best", legs } }, "merge.mode", 'must be "rtp" or "failover", got "best"'],
      [{ merge: { mode: "rtp" } }, "merge.legs", "must be a list of inputs, got nothing"],
      [
        { merge: { mode: "rtp", legs: [] } },
        "merge.legs",
        "a merge rule has 2 to 4 inputs (its own and 1 to 3 more), this one has 1",
      ],
      [
        { merge: { mode: "rtp", legs: [...legs, ...legs, ...legs, ...legs] } },
        "merge.legs",
        "a merge rule has 2 to 4 inputs (its own and 1 to 3 more), this one has 5",
      ],
      [
        { merge: { mode: "rtp", legs, failoverAfterMs: 200 } },
        "merge.failoverAfterMs",
        "failoverAfterMs is a failover merge's setting, and this is an rtp merge (it takes windowMs and windowPackets)",
      ],
      [
        { merge: { mode: "failover", legs, failoverAfterMs: 200, windowMs: 50 } },
        "merge.windowMs",
        "windowMs is an rtp merge's setting, and this is a failover merge (it takes failoverAfterMs and revertAfterMs)",
      ],
      [{ merge: { mode: "rtp", legs, window: 5 } }, "merge.window", 'unknown field "window"'],
      [
        { merge: { mode: "rtp", legs, windowMs: 50, windowPackets: 100 } },
        "merge.windowPackets",
        "give the window in milliseconds or in packets, not both",
      ],
      [{ merge: { mode: "rtp", legs, windowMs: 0 } }, "merge.windowMs", "0 is not an integer from 1 to 1000"],
      [{ merge: { mode: "rtp", legs, windowMs: 2.5 } }, "merge.windowMs", "2.5 is not an integer from 1 to 1000"],
      [
        { merge: { mode: "rtp", legs, windowPackets: 40000 } },
        "merge.windowPackets",
        "40000 is not a window in packets (use an integer from 1 to 4096)",
      ],
      [
        { merge: { mode: "failover", legs } },
        "merge.failoverAfterMs",
        "a failover merge needs failoverAfterMs: how long the primary may be silent",
      ],
      [
        { merge: { mode: "failover", legs, failoverAfterMs: 60_001 } },
        "merge.failoverAfterMs",
        "60001 is not an integer from 1 to 60000",
      ],
      [
        { merge: { mode: "failover", legs, failoverAfterMs: 200, revertAfterMs: -1 } },
        "merge.revertAfterMs",
        "-1 is not an integer from 0 to 3600000",
      ],
      [
        { merge: { mode: "rtp", legs: [{ interface: "eth1", group: "239.2.1.1", port: 5001, vlan: 3 }] } },
        "merge.legs[0].vlan",
        'input 2: unknown field "vlan"',
      ],
      [
        { merge: { mode: "rtp", legs: [{ interface: "eth1:1", group: "239.2.1.1", port: 5001 }] } },
        "merge.legs[0].interface",
        'input 2: "eth1:1" is not an interface name (it has a character the kernel refuses (/, :, white space))',
      ],
      [
        { merge: { mode: "rtp", legs: [{ interface: "eth1", group: "239.2.1.1", port: 0 }] } },
        "merge.legs[0].port",
        "input 2: 0 is not a port (use an integer from 1 to 65535)",
      ],
      [{ inputVlan: 10 }, "inputVlan", "a merge rule takes untagged frames only: VLANs are not merged yet"],
      [
        { inputSources: ["10.0.0.1", "10.0.0.2"] },
        "inputSources",
        "input 1: a merge rule's input takes one source address at most (no prefix), got 10.0.0.1, 10.0.0.2",
      ],
      [
        { inputSources: ["10.0.0.0/8"] },
        "inputSources",
        "input 1: a merge rule's input takes one source address at most (no prefix), got 10.0.0.0/8",
      ],
    ];
    for (const [extra, field, message] of cases)
      expect(refusal(() => checkSpec(merged(extra)))).toEqual({ field, message, exitCode: EX.DATAERR });
  });
  test("IPv6 legs are accepted, in brackets or not", () => {
    const spec = checkSpec(
      merged({ merge: { mode: "rtp", legs: [{ interface: "eth1", group: "ff3e::1", port: 5001 }] } }),
    );
    expect(spec.merge?.legs[0]?.group).toBe("ff3e::1");
  });
});

const IFS = ["eth0", "eth1", "eth2"];
const lookup: LookupInterface = (name) =>
  IFS.includes(name) ? { name, ifindex: IFS.indexOf(name) + 2, ipv4: `10.0.${IFS.indexOf(name)}.1` } : undefined;
const spec = (x: object = {}) => checkHost(checkSpec(merged(x)), IFS, lookup);

describe("a merge rule against the host and the table", () => {
  test("every leg's interface is served and exists", () => {
    expect(refusal(() => checkHost(checkSpec(merged()), ["eth0", "eth2"], lookup))).toEqual({
      field: "merge.legs[0].interface",
      message: "input 2: the supervisor does not serve eth1 (it serves eth0, eth2): start it with --interface eth1",
      exitCode: EX.DATAERR,
    });
    const gone = { merge: { mode: "rtp", legs: [{ interface: "eth9", group: "239.2.1.1", port: 5001 }] } };
    expect(refusal(() => checkHost(checkSpec(merged(gone)), [...IFS, "eth9"], lookup)).message).toBe(
      "input 2: no interface named eth9 on this host",
    );
  });
  test("legs are judged against each other once the supervisor names the first one's interface", () => {
    const noIf = merged({ merge: { mode: "rtp", legs: [{ interface: "eth0", group: "239.1.1.1", port: 5001 }] } });
    delete noIf.inputInterface;
    const loose = checkSpec(noIf);
    expect(refusal(() => checkHost(loose, ["eth0"], lookup))).toEqual({
      field: "merge.legs[0]",
      message: "input 2 (239.1.1.1:5001 on eth0) takes the same datagrams as input 1 (239.1.1.1:5001 on eth0)",
      exitCode: EX.DATAERR,
    });
  });
  test("no leg may take what another rule's input or leg takes", () => {
    const t = addRule(emptyTable(), spec()).table;
    const plain = checkHost(
      checkSpec({ inputInterface: "eth1", inputGroup: "239.2.1.1", inputPort: 5001, outputs: merged().outputs }),
      IFS,
      lookup,
    );
    expect(refusal(() => checkTable(plain, t.rules))).toEqual({
      field: "inputGroup",
      message:
        "rule 1 already relays 239.2.1.1:5001 on eth1 (its input 2): a datagram goes to one rule, or remove it first (mcr rule remove 1)",
      exitCode: EX.DATAERR,
    });
    const other = spec({
      inputGroup: "239.5.1.1",
      merge: { mode: "failover", legs: [{ interface: "eth0", group: "239.1.1.1", port: 5001 }], failoverAfterMs: 100 },
    });
    expect(refusal(() => checkTable(other, t.rules))).toEqual({
      field: "merge.legs[0]",
      message:
        "rule 1 already relays 239.1.1.1:5001 on eth0 (its input 1): a datagram goes to one rule, or remove it first (mcr rule remove 1)",
      exitCode: EX.DATAERR,
    });
    // Between plain rules the longest source prefix takes a datagram; beside a merge rule a leg
    // from a named source would take that source's datagrams from an any-source leg (or a plain
    // (S,G) rule from a merge leg, which then sent them out unmerged): refused.
    const fromSource = spec({
      inputGroup: "239.5.1.1",
      merge: { mode: "rtp", legs: [{ interface: "eth1", group: "239.2.1.1", port: 5001, source: "10.0.1.7" }] },
    });
    expect(refusal(() => checkTable(fromSource, t.rules))).toEqual({
      field: "merge.legs[0]",
      message:
        "rule 1 relays 239.2.1.1:5001 on eth1 (its input 2), some of the datagrams of (10.0.1.7) 239.2.1.1:5001 on eth1: beside a merge rule, sources do not share a group and port (the other rule would take them from the merge), so remove it first (mcr rule remove 1)",
      exitCode: EX.DATAERR,
    });
    const sg = checkHost(
      checkSpec({
        inputInterface: "eth0",
        inputGroup: "239.1.1.1",
        inputPort: 5001,
        inputSources: ["10.0.0.0/8"],
        outputs: merged().outputs,
      }),
      IFS,
      lookup,
    );
    expect(refusal(() => checkTable(sg, t.rules))?.message).toStartWith(
      "rule 1 relays 239.1.1.1:5001 on eth0 (its input 1), some of the datagrams of (10.0.0.0/8) 239.1.1.1:5001 on eth0",
    );
    // Sources that never meet do share: a leg from 10.0.1.7 beside a plain rule for 192.168.0.0/16.
    const t2 = addRule(emptyTable(), { ...sg, inputGroup: "239.7.1.1", inputSources: ["192.168.0.0/16"] }).table;
    const legFrom = spec({
      inputGroup: "239.5.1.1",
      merge: { mode: "rtp", legs: [{ interface: "eth0", group: "239.7.1.1", port: 5001, source: "10.0.1.7" }] },
    });
    expect(() => checkTable(legFrom, t2.rules)).not.toThrow();
    // A plain rule on another interface is not a leg's.
    const elsewhere = { ...plain, inputInterface: "eth2" };
    expect(() => checkTable(elsewhere, t.rules)).not.toThrow();
  });
  test("no output may feed another rule's leg, nor another rule's output a leg of this one", () => {
    const mergeRule: Rule = { id: 1, ...spec() };
    const feeder = checkHost(
      checkSpec({
        inputInterface: "eth2",
        inputGroup: "239.7.1.1",
        inputPort: 7000,
        outputs: [{ group: "239.2.1.1", port: 5001, interface: "eth2", ttl: 1 }],
      }),
      IFS,
      lookup,
    );
    expect(refusal(() => checkLoops(feeder, [mergeRule], IFS))).toEqual({
      field: "outputs[0]",
      message:
        "output 1 (239.2.1.1:5001:eth2) sends into the input of rule 1 (239.2.1.1:5001 on eth1): the relay would take its own packets again",
      exitCode: EX.DATAERR,
    });
    expect(refusal(() => checkLoops(mergeRule, [{ id: 2, ...feeder }], IFS))).toEqual({
      field: "merge.legs[0]",
      message:
        "rule 2's output 1 (239.2.1.1:5001:eth2) sends into this rule's input (239.2.1.1:5001 on eth1): the relay would take its own packets again",
      exitCode: EX.DATAERR,
    });
  });
  test("a config rule whose merge changed is a changed rule; one that did not is unchanged", () => {
    const first = applyConfigRules(emptyTable(), [{ ...spec(), name: "cam" }]);
    const same = applyConfigRules(first.table, [{ ...spec(), name: "cam" }]);
    expect(same.unchanged.map((r) => r.id)).toEqual([1]);
    const wider = { ...spec(), name: "cam" } as RuleSpec;
    wider.merge = { ...wider.merge!, windowMs: 450 } as RuleSpec["merge"];
    const edited = applyConfigRules(first.table, [wider]);
    expect(edited.changed.map((r) => [r.id, r.merge])).toEqual([[1, wider.merge]]);
  });
  test("described with every leg", () => {
    expect(describeInputs(spec())).toBe("rtp merge of 239.1.1.1:5001 on eth0 + 239.2.1.1:5001 on eth1");
  });
});

describe("joins", () => {
  test("every leg's group on its own interface, source-specific where the leg names a source", () => {
    const r: Rule = {
      id: 1,
      ...spec({
        inputSources: ["10.0.0.7"],
        merge: {
          mode: "rtp",
          legs: [
            { interface: "eth1", group: "239.2.1.1", port: 5001 },
            { interface: "eth2", group: "239.3.1.1", port: 5001, source: "10.0.2.9" },
          ],
        },
      }),
    };
    expect(joinsOf(r)).toEqual(["eth0|239.1.1.1|10.0.0.7", "eth1|239.2.1.1|", "eth2|239.3.1.1|10.0.2.9"]);
  });
});

describe("rule list", () => {
  test("a merge rule's legs one to a row, its mode (defaults shown) beside the first", () => {
    const a: Rule = { id: 1, name: "cam", ...spec() };
    const b: Rule = {
      id: 2,
      ...spec({
        inputGroup: "239.5.1.1",
        outputs: [
          { group: "239.10.10.11", port: 6001, interface: "eth2", ttl: 1 },
          { group: "239.10.10.12", port: 6001, interface: "eth2", ttl: 4 },
          { group: "239.10.10.13", port: 6001, interface: "eth2", ttl: 1 },
        ],
        merge: {
          mode: "failover",
          legs: [{ interface: "eth1", group: "239.6.1.1", port: 5001, source: "10.0.1.7" }],
          failoverAfterMs: 200,
        },
      }),
    };
    const c: Rule = {
      id: 3,
      ...spec({
        inputGroup: "239.8.1.1",
        merge: { mode: "rtp", legs: [{ interface: "eth1", group: "239.9.1.1", port: 5001 }], windowPackets: 500 },
      }),
    };
    const text = renderRuleList({ version: 1, rules: [a, b, c], workers: [] });
    expect(text.split("\n").map((l) => l.trimEnd())).toEqual([
      "ID  NAME  INTERFACE  INPUT                         MERGE                     OUTPUT                  TTL",
      "1   cam   eth0       239.1.1.1:5001                rtp 50ms                  239.10.10.10:6001:eth2  1",
      "          eth1       239.2.1.1:5001",
      "2   -     eth0       239.5.1.1:5001                failover 200ms revert 5s  239.10.10.11:6001:eth2  1",
      "          eth1       239.6.1.1:5001 from 10.0.1.7                            239.10.10.12:6001:eth2  4",
      "                                                                             239.10.10.13:6001:eth2  1",
      "3   -     eth0       239.8.1.1:5001                rtp 500pkts               239.10.10.10:6001:eth2  1",
      "          eth1       239.9.1.1:5001",
    ]);
  });
});

describe("the config file", () => {
  const file = (rule: string) =>
    `interfaces = ["eth0", "eth1", "eth2"]\n[[rule]]\nname = "cam"\n${rule}\noutputs = ["${OUT}"]\n`;
  test("inputs and the merge keys, read as the command line reads them", () => {
    const cfg = parseConfig(
      file('inputs = ["eth0:239.1.1.1:5001:10.0.0.7", "eth1:239.2.1.1:5001"]\nmerge = "rtp"\nmerge_window = "10ms"'),
      "mcr.toml",
    );
    expect(cfg.rules[0]).toEqual({
      ...parseRuleFlags({
        ...flags(["eth0:239.1.1.1:5001:10.0.0.7", BLUE], { mode: "rtp", window: { windowMs: 10 } }),
        name: "cam",
      }),
      line: 2,
    });
    const failover = parseConfig(
      file(
        'inputs = ["eth0:239.1.1.1:5001", "eth1:239.2.1.1:5001"]\nmerge = "failover"\nfailover_after = "200ms"\nrevert_after = "10s"',
      ),
      "mcr.toml",
    );
    expect(failover.rules[0]?.merge).toEqual({
      mode: "failover",
      legs: [{ interface: "eth1", group: "239.2.1.1", port: 5001 }],
      failoverAfterMs: 200,
      revertAfterMs: 10_000,
    });
    const one = parseConfig(file('inputs = ["eth1:239.2.1.1:5001"]'), "mcr.toml").rules[0];
    expect(one).toMatchObject({ inputInterface: "eth1", inputGroup: "239.2.1.1", inputPort: 5001 });
    expect(one?.merge).toBeUndefined();
  });
  test("refusals name the file, the line and the key (exit 78)", () => {
    const cases: [string, string][] = [
      [
        'inputs = ["eth0:239.1.1.1:5001", "eth1:239.2.1.1:5001"]',
        "mcr.toml:2: merge: 2 inputs need a merge mode: rtp (the first copy of each RTP packet) or failover (one input at a time)",
      ],
      [
        'inputs = ["eth0:239.1.1.1:5001", "eth1:239.2.1.1:5001"]\nmerge = "rtp"\nfailover_after = "200ms"',
        "mcr.toml:6: failover_after: applies to merge = failover only, not to merge = rtp",
      ],
      [
        'inputs = ["eth0:239.1.1.1:5001", "eth1:239.2.1.1:5001"]\nmerge = "rtp"\nmerge_window = "2s"',
        'mcr.toml:6: merge_window: "2s" is out of range (use from 1ms to 1s)',
      ],
      [
        'inputs = ["eth0:239.1.1.1:5001", "eth1:239.2.1.1:5001"]\nmerge = "fast"',
        'mcr.toml:5: merge: must be "rtp" or "failover"',
      ],
      [
        'inputs = ["eth0:239.1.1.1:5001", "eth1:239.2.1.1"]\nmerge = "rtp"',
        'mcr.toml:4: inputs: input 2: "eth1:239.2.1.1" has no port (write IFACE:GROUP:PORT[:SOURCE], e.g. eth0:239.1.1.1:5001)',
      ],
      [
        'inputs = ["eth0:239.1.1.1:5001", "eth3:239.2.1.1:5001"]\nmerge = "rtp"',
        "mcr.toml:4: inputs: input 2: eth3 is not one of the interfaces served (eth0, eth1, eth2)",
      ],
      [
        'inputs = ["eth0:239.1.1.1:5001", "eth0:239.1.1.1:5001"]\nmerge = "rtp"',
        "mcr.toml:4: inputs: input 2 (239.1.1.1:5001 on eth0) takes the same datagrams as input 1 (239.1.1.1:5001 on eth0)",
      ],
      [
        'inputs = ["eth0:239.1.1.1:5001"]\ninput_group = "239.1.1.1"',
        "mcr.toml:5: input_group: inputs names the input already: write IFACE:GROUP:PORT[:SOURCE] there alone",
      ],
      [
        'input_group = "239.1.1.1"\ninput_port = 5001\nmerge = "rtp"',
        "mcr.toml:6: merge: a merge takes two to four inputs: list them in inputs (and leave input_group out)",
      ],
      [
        'inputs = ["eth0:239.1.1.1:5001"]\nmerge = "rtp"',
        "mcr.toml:5: merge: a merge takes two to four inputs, and inputs lists one",
      ],
      [
        "inputs = []",
        'mcr.toml:4: inputs: must be a list of "IFACE:GROUP:PORT[:SOURCE]", e.g. ["eth0:239.1.1.1:5001"]',
      ],
    ];
    for (const [rule, message] of cases) {
      const r = refusal(() => parseConfig(file(rule), "mcr.toml"));
      expect({ message: r.message, exitCode: r.exitCode }).toEqual({ message, exitCode: EX.CONFIG });
    }
  });
  test("two rules whose legs overlap are refused", () => {
    const text = `${file('inputs = ["eth0:239.1.1.1:5001", "eth1:239.2.1.1:5001"]\nmerge = "rtp"')}[[rule]]\ninput_interface = "eth1"\ninput_group = "239.2.1.1"\ninput_port = 5001\noutputs = ["239.10.10.11:6001:eth2"]\n`;
    expect(refusal(() => parseConfig(text, "mcr.toml")).message).toStartWith(
      "mcr.toml:9: input_group: this rule relays the same input as the rule at line 2",
    );
  });
});
