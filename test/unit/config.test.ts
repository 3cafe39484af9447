// The config file: what it accepts, and errors that name file, line and key.
import { describe, expect, test } from "bun:test";
import { ConfigError, parseConfig } from "../../src/config/load.ts";
import { syntaxErrorLine } from "../../src/config/lines.ts";
import { EX } from "../../src/errors.ts";
import { applyConfigRules, emptyTable, addRule, removeRule } from "../../src/supervisor/table.ts";
import type { RuleSpec } from "../../src/types/rules.ts";

const GOOD = `# relay for the studio
interfaces = ["eth0"]
workers = 2
ring_mb = 16
log_level = "info"
state_file = "/var/lib/mcr/rules.json"

[[rule]]
input_group = "239.1.1.1"   # camera 1
input_port = 5001
outputs = ["239.10.10.10:6001:eth1", "10.0.2.7:7000:eth2:16"]

[[rule]]
input_interface = "eth0"
input_group = "239.1.1.2"
input_port = 5002
ttl = 4
outputs = [
  { group = "239.10.10.11", port = 6002, interface = "eth1" },
  { group = "239.10.10.12", port = 6003, interface = "eth1", ttl = 9 },
]
`;

function configError(text: string, opts = {}): { message: string; exitCode: number } {
  try {
    parseConfig(text, "/etc/mcr/mcr.toml", opts);
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    return { message: e.message, exitCode: e.exitCode };
  }
  throw new Error("accepted");
}

describe("parseConfig", () => {
  test("settings and rules, with defaults filled in", () => {
    const c = parseConfig(GOOD, "/etc/mcr/mcr.toml");
    expect(c).toMatchObject({
      interfaces: ["eth0"],
      workers: 2,
      ringMb: 16,
      logLevel: "info",
      stateFile: "/var/lib/mcr/rules.json",
    });
    expect(c.poll).toBeUndefined();
    expect(parseConfig(GOOD.replace("workers = 2", 'workers = 2\npoll = "busy"'), "/x.toml").poll).toBe("busy");
    expect(c.egress).toBeUndefined();
    expect(parseConfig(GOOD.replace("workers = 2", 'workers = 2\negress = "gso"'), "/x.toml").egress).toBe("gso");
    expect(c.ingress).toBeUndefined();
    expect(parseConfig(GOOD.replace("workers = 2", 'workers = 2\ningress = "blocks"'), "/x.toml").ingress).toBe(
      "blocks",
    );
    expect(c.rules).toEqual([
      {
        line: 8,
        inputInterface: "eth0",
        inputGroup: "239.1.1.1",
        inputPort: 5001,
        outputs: [
          { group: "239.10.10.10", port: 6001, interface: "eth1", ttl: 1 },
          { group: "10.0.2.7", port: 7000, interface: "eth2", ttl: 16 },
        ],
      },
      {
        line: 13,
        inputInterface: "eth0",
        inputGroup: "239.1.1.2",
        inputPort: 5002,
        outputs: [
          { group: "239.10.10.11", port: 6002, interface: "eth1", ttl: 4 },
          { group: "239.10.10.12", port: 6003, interface: "eth1", ttl: 9 },
        ],
      },
    ]);
  });

  const bad: [string, string, string][] = [
    ["a syntax error", GOOD.replace("workers = 2", "workers = = 2"), "/etc/mcr/mcr.toml:3: TOML syntax: "],
    [
      "an unclosed array",
      GOOD.replace(
        'outputs = ["239.10.10.10:6001:eth1", "10.0.2.7:7000:eth2:16"]',
        'outputs = ["239.10.10.10:6001:eth1",\ninput_port = 1',
      ),
      "/etc/mcr/mcr.toml:12: TOML syntax: ",
    ],
    [
      "an unknown top-level key",
      GOOD.replace("workers = 2", "worker = 2"),
      "/etc/mcr/mcr.toml:3: worker: unknown key (known: interfaces, workers",
    ],
    [
      "an unknown rule key",
      GOOD.replace("input_port = 5002", "input_port = 5002\ncolour = 1"),
      "/etc/mcr/mcr.toml:17: colour: unknown key (known: input_interface",
    ],
    [
      "a bad setting",
      GOOD.replace("workers = 2", 'workers = "two"'),
      "/etc/mcr/mcr.toml:3: workers: must be an integer from 1 to 1024",
    ],
    [
      "an unknown poll mode",
      GOOD.replace("workers = 2", 'workers = 2\npoll = "spin"'),
      "/etc/mcr/mcr.toml:4: poll: must be one of adaptive, busy, sleep",
    ],
    [
      "an unknown egress mode",
      GOOD.replace("workers = 2", 'workers = 2\negress = "fast"'),
      "/etc/mcr/mcr.toml:4: egress: must be one of ring, sendmsg, socket, zc, gso",
    ],
    [
      "an unknown ingress mode",
      GOOD.replace("workers = 2", 'workers = 2\ningress = "v3"'),
      "/etc/mcr/mcr.toml:4: ingress: must be one of frames, blocks",
    ],
    [
      "a bad port",
      GOOD.replace("input_port = 5002", "input_port = 70000"),
      "/etc/mcr/mcr.toml:16: input_port: 70000 is not a port (use an integer from 1 to 65535)",
    ],
    [
      "a bad group",
      GOOD.replace('"239.1.1.2"', '"127.1.1.2"'),
      "/etc/mcr/mcr.toml:15: input_group: 127.1.1.2 is a loopback address",
    ],
    [
      "a bad output string",
      GOOD.replace('"10.0.2.7:7000:eth2:16"', '"10.0.2.7:7000"'),
      '/etc/mcr/mcr.toml:11: outputs: output 2 "10.0.2.7:7000" is not group:port:interface',
    ],
    [
      "a bad output table",
      GOOD.replace("ttl = 9", "ttl = 0"),
      "/etc/mcr/mcr.toml:18: outputs: output 2: 0 is not a TTL",
    ],
    [
      "an unknown output key",
      GOOD.replace("ttl = 9", "hops = 9"),
      '/etc/mcr/mcr.toml:18: outputs: output 2: unknown key "hops"',
    ],
    ["a rule TTL out of range", GOOD.replace("ttl = 4", "ttl = 256"), "/etc/mcr/mcr.toml:17: ttl: 256 is not a TTL"],
    [
      "an interface not served",
      GOOD.replace('input_interface = "eth0"', 'input_interface = "eth5"'),
      "/etc/mcr/mcr.toml:14: input_interface: eth5 is not one of the interfaces served (eth0)",
    ],
    [
      "a duplicate input",
      GOOD.replace('"239.1.1.2"', '"239.1.1.1"').replace("5002", "5001"),
      "/etc/mcr/mcr.toml:15: input_group: this rule relays the same input as the rule at line 8",
    ],
    [
      "rule as a plain table",
      'interfaces = ["eth0"]\n[rule]\ninput_port = 1\n',
      "/etc/mcr/mcr.toml:2: rule: write rules as [[rule]] tables",
    ],
  ];
  for (const [name, text, start] of bad)
    test(`refuses ${name}, naming the line`, () => {
      const e = configError(text);
      expect(e.message.startsWith(start) ? start : e.message).toBe(start);
      expect(e.exitCode).toBe(EX.CONFIG);
    });

  test("several interfaces: a rule must name its own", () => {
    const text = GOOD.replace('interfaces = ["eth0"]', 'interfaces = ["eth0", "eth3"]');
    expect(configError(text).message).toBe(
      "/etc/mcr/mcr.toml:8: input_interface is missing: the supervisor serves eth0, eth3",
    );
  });
  test("the command line's interfaces win over the file's", () => {
    expect(configError(GOOD, { interfaces: ["eth9"] }).message).toContain(
      "input_interface: eth0 is not one of the interfaces served (eth9)",
    );
  });
  test("syntaxErrorLine skips constructs still open at a line's end", () => {
    const parse = (t: string) => Bun.TOML.parse(t);
    expect(syntaxErrorLine('a = [\n1,\n2,\n]\nb = "x\nc = 1\n', parse)).toBe(5);
    expect(syntaxErrorLine("a = 1\nb = 2\nc = }\n", parse)).toBe(3);
  });
});

describe("applyConfigRules", () => {
  const spec = (port: number, out = "239.10.10.10"): RuleSpec => ({
    inputInterface: "eth0",
    inputGroup: "239.1.1.1",
    inputPort: port,
    outputs: [{ group: out, port: 6001, interface: "eth1", ttl: 1 }],
  });

  test("unchanged rules keep their ids; changed ones are replaced; runtime rules stay", () => {
    let t = applyConfigRules(emptyTable(), [spec(1), spec(2), spec(3)]).table;
    expect(t.rules.map((r) => [r.id, r.origin])).toEqual([
      [1, "config"],
      [2, "config"],
      [3, "config"],
    ]);
    t = addRule(t, spec(9)).table; // runtime: id 4
    const d = applyConfigRules(t, [spec(1), spec(2, "239.20.20.20"), spec(5)]);
    expect(d.unchanged.map((r) => r.id)).toEqual([1]);
    expect(d.removed.map((r) => r.id)).toEqual([2, 3]);
    expect(d.added.map((r) => [r.id, r.inputPort, r.outputs[0]!.group])).toEqual([
      [5, 2, "239.20.20.20"],
      [6, 5, "239.10.10.10"],
    ]);
    expect(d.table.rules.map((r) => r.id)).toEqual([1, 4, 5, 6]);
    expect(d.table.nextId).toBe(7);
    // Reapplying the same file changes nothing.
    const again = applyConfigRules(d.table, [spec(1), spec(2, "239.20.20.20"), spec(5)]);
    expect([again.added.length, again.removed.length, again.table.rules.map((r) => r.id)]).toEqual([
      0,
      0,
      [1, 4, 5, 6],
    ]);
  });

  test("a config rule that clashes with a runtime rule is refused, naming both", () => {
    const t = addRule(emptyTable(), spec(1)).table;
    expect(() => applyConfigRules(t, [spec(2), spec(1)])).toThrow(
      "rule 1, added at runtime, already relays 239.1.1.1:1 on eth0",
    );
  });

  test("config rules cannot be removed over the socket", () => {
    const t = applyConfigRules(emptyTable(), [spec(1)]).table;
    expect(() => removeRule(t, 1, "/etc/mcr/mcr.toml")).toThrow(
      "rule 1 is declared in /etc/mcr/mcr.toml: remove it there and reload (SIGHUP)",
    );
    // A supervisor started without that file may drop the orphan.
    expect(removeRule(t, 1).table.rules).toEqual([]);
  });
});
