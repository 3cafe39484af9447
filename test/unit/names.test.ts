// Rule names, replace, batches and link-local rules, below the supervisor: the name parser, the
// validator, the table's changes by name, the config's reload by name, the batch file, and the
// worker's counter slots when a replace puts another destination at an output's place.
import { describe, expect, test } from "bun:test";
import { McrError } from "../../src/errors.ts";
import { parseConfig } from "../../src/config/load.ts";
import { parseJsonBatch, parseTomlBatch } from "../../src/config/batch.ts";
import { checkSpec, checkTable } from "../../src/rules/validate.ts";
import {
  addRule,
  applyConfigRules,
  emptyTable,
  findRule,
  removeRule,
  replaceRule,
} from "../../src/supervisor/table.ts";
import { parseRuleRef, ruleName } from "../../src/values/name.ts";
import { SlotAllocator, TableCompiler } from "../../src/worker/table.ts";
import type { Rule, RuleSpec } from "../../src/types/rules.ts";

function refusal(fn: () => unknown): { field?: string; message: string; exitCode: number; code: string } {
  try {
    fn();
  } catch (e) {
    if (!(e instanceof McrError)) throw e;
    return { field: e.field, message: e.message, exitCode: e.exitCode, code: e.code };
  }
  throw new Error("expected a refusal, got none");
}

const out = (group: string, port = 6001, iface = "eth1") => ({ group, port, interface: iface, ttl: 1 });
const spec = (port: number, extra: Partial<RuleSpec> = {}): RuleSpec => ({
  inputInterface: "eth0",
  inputGroup: "239.1.1.1",
  inputPort: port,
  outputs: [out("239.10.10.10")],
  ...extra,
});

describe("ruleName and parseRuleRef", () => {
  test("letters, digits, -, _ and . ; not all digits; at most 64", () => {
    for (const ok of ["cam-1", "feed_A.primary", "x", "1a", "a".repeat(64)]) expect(ruleName(ok, "name")).toBe(ok);
    const cases: [unknown, string][] = [
      ["", '"" is not a rule name (it is empty)'],
      ["cam 1", '"cam 1" is not a rule name (it has a character other than letters, digits, -, _ and .)'],
      ["cam/1", '"cam/1" is not a rule name (it has a character other than letters, digits, -, _ and .)'],
      ["caméra", '"caméra" is not a rule name (it has a character other than letters, digits, -, _ and .)'],
      ["42", '"42" is not a rule name (it is all digits, which reads as a rule id)'],
      ["a".repeat(65), `"${"a".repeat(65)}" is not a rule name (it is longer than 64 characters)`],
      ["-cam", '"-cam" is not a rule name (it does not start with a letter or a digit)'],
      [".x", '".x" is not a rule name (it does not start with a letter or a digit)'],
      [7, "the name must be text such as cam-1, got a number"],
    ];
    for (const [x, message] of cases)
      expect(refusal(() => ruleName(x, "name"))).toEqual({
        field: "name",
        message,
        exitCode: 64,
        code: "invalid_value",
      });
  });
  test("digits are an id, a name is a name, anything else is refused", () => {
    expect(parseRuleRef("12", "id")).toBe(12);
    expect(parseRuleRef("cam-1", "id")).toBe("cam-1");
    for (const bad of ["0", "cam 1", "", "-1"]) expect(refusal(() => parseRuleRef(bad, "id")).exitCode).toBe(64);
  });
});

describe("checkSpec: name and allowLinkLocal", () => {
  const base = { inputGroup: "239.1.1.1", inputPort: 5001, outputs: [out("239.10.10.10")] };
  test("a name is kept; a bad one is refused naming the field (65)", () => {
    expect(checkSpec({ ...base, name: "cam-1" })).toEqual({ ...base, name: "cam-1" });
    expect(refusal(() => checkSpec({ ...base, name: "cam 1" }))).toMatchObject({ field: "name", exitCode: 65 });
  });
  test("a link-local group only with allowLinkLocal, and never back onto the input interface", () => {
    const mdns = {
      inputInterface: "eth0",
      inputGroup: "224.0.0.251",
      inputPort: 5353,
      outputs: [out("224.0.0.251", 5353)],
    };
    expect(refusal(() => checkSpec(mdns))).toMatchObject({ field: "inputGroup", exitCode: 65 });
    expect(refusal(() => checkSpec({ ...mdns, inputGroup: "239.1.1.1" })).field).toBe("outputs[0].group");
    expect(checkSpec({ ...mdns, allowLinkLocal: true })).toEqual({ ...mdns, allowLinkLocal: true });
    expect(
      refusal(() => checkSpec({ ...mdns, allowLinkLocal: true, outputs: [out("224.0.0.251", 5353, "eth0")] })),
    ).toEqual({
      field: "outputs[0].interface",
      message:
        "output 1 (224.0.0.251:5353:eth0) is on the input interface eth0: a rule with allowLinkLocal must send to another interface",
      exitCode: 65,
      code: "invalid_rule",
    });
    expect(refusal(() => checkSpec({ ...mdns, allowLinkLocal: "yes" })).field).toBe("allowLinkLocal");
    // false is the default, and is not written back.
    expect(checkSpec({ ...base, allowLinkLocal: false })).toEqual(base);
  });
});

describe("the table by name", () => {
  test("names are unique; find, remove and replace take an id or a name", () => {
    let t = addRule(emptyTable(), spec(5001, { name: "cam-1" })).table;
    t = addRule(t, spec(5002)).table;
    expect(refusal(() => checkTable(spec(5003, { name: "cam-1" }), t.rules))).toEqual({
      field: "name",
      message: "rule 1 is already named cam-1: a name names one rule",
      exitCode: 65,
      code: "duplicate",
    });
    expect(findRule(t, "cam-1").id).toBe(1);
    expect(findRule(t, 2).inputPort).toBe(5002);
    expect(refusal(() => findRule(t, "cam-9"))).toMatchObject({
      code: "not_found",
      message: "no rule named cam-9 (see mcr rule list)",
    });
    const r = replaceRule(t, "cam-1", [out("239.10.10.20"), out("239.10.10.21")]);
    expect(r.table.rules.map((x) => [x.id, x.name, x.outputs.length])).toEqual([
      [1, "cam-1", 2],
      [2, undefined, 1],
    ]);
    expect(r.table.nextId).toBe(t.nextId);
    expect(removeRule(r.table, "cam-1").table.rules.map((x) => x.id)).toEqual([2]);
  });
  test("a config rule is changed in the file, not by replace", () => {
    const t = applyConfigRules(emptyTable(), [spec(5001, { name: "cam-1" })]).table;
    expect(refusal(() => replaceRule(t, "cam-1", [out("239.10.10.20")], "/etc/mcr/mcr.toml"))).toMatchObject({
      code: "config_rule",
      message: "rule 1 (cam-1) is declared in /etc/mcr/mcr.toml: change it there and reload (SIGHUP)",
    });
  });
  test("a reload keeps a named rule's id when it is edited, and gives an unnamed edited rule a new one", () => {
    const t = applyConfigRules(emptyTable(), [spec(5001, { name: "cam-1" }), spec(5002)]).table;
    const d = applyConfigRules(t, [
      spec(5001, { name: "cam-1", outputs: [out("239.10.10.10"), out("239.10.10.11")] }),
      spec(5002, { outputs: [out("239.10.10.12")] }),
    ]);
    expect(d.changed.map((r) => [r.id, r.name, r.outputs.length])).toEqual([[1, "cam-1", 2]]);
    expect(d.added.map((r) => r.id)).toEqual([3]);
    expect(d.removed.map((r) => r.id)).toEqual([2]);
    expect(d.table.rules.map((r) => r.id)).toEqual([1, 3]);
    // Even its input may change: the name is the rule.
    const moved = applyConfigRules(d.table, [
      spec(5009, { name: "cam-1" }),
      spec(5002, { outputs: [out("239.10.10.12")] }),
    ]);
    expect(moved.changed.map((r) => [r.id, r.inputPort])).toEqual([[1, 5009]]);
    expect(moved.unchanged.map((r) => r.id)).toEqual([3]);
    // A name taken by a runtime rule is refused.
    const rt = addRule(emptyTable(), spec(5005, { name: "cam-2" })).table;
    expect(refusal(() => applyConfigRules(rt, [spec(5001, { name: "cam-2" })]))).toMatchObject({
      field: "rules[0].name",
      code: "duplicate",
    });
  });
});

describe("config: name and allow_link_local", () => {
  const rule = (body: string) =>
    `interfaces = ["eth0"]\n[[rule]]\ninput_group = "224.0.0.251"\ninput_port = 5353\n${body}`;
  test("read into the rule", () => {
    const c = parseConfig(
      rule('name = "mdns"\nallow_link_local = true\noutputs = ["224.0.0.251:5353:eth1"]\n'),
      "/x.toml",
    );
    expect(c.rules[0]).toMatchObject({ name: "mdns", allowLinkLocal: true, inputGroup: "224.0.0.251" });
  });
  test("refused naming the line and key", () => {
    expect(refusal(() => parseConfig(rule('outputs = ["224.0.0.251:5353:eth1"]\n'), "/x.toml")).message).toBe(
      "/x.toml:3: input_group: 224.0.0.251 is a link-local group (224.0.0.0/24), relayed only by a rule with --allow-link-local (config: allow_link_local = true)",
    );
    expect(
      refusal(() => parseConfig(rule('allow_link_local = "yes"\noutputs = ["224.0.0.251:5353:eth1"]\n'), "/x.toml"))
        .message,
    ).toBe("/x.toml:5: allow_link_local: must be true or false, got a string");
    const two =
      'interfaces = ["eth0"]\n[[rule]]\nname = "a"\ninput_group = "239.1.1.1"\ninput_port = 1\noutputs = ["239.2.2.2:1:eth1"]\n' +
      '[[rule]]\nname = "a"\ninput_group = "239.1.1.2"\ninput_port = 1\noutputs = ["239.2.2.2:1:eth1"]\n';
    expect(refusal(() => parseConfig(two, "/x.toml")).message).toBe(
      "/x.toml:8: name: a already names the rule at line 2",
    );
  });
});

describe("batch files", () => {
  test("TOML [[change]] tables in order", () => {
    const text =
      '[[change]]\nop = "add"\nname = "n"\ninput_group = "239.1.1.2"\ninput_port = 5002\noutputs = ["239.9.9.9:1:eth1"]\n' +
      '[[change]]\nop = "replace"\nrule = "old"\nttl = 4\noutputs = ["239.9.9.8:1:eth1"]\n[[change]]\nop = "remove"\nrule = 3\n';
    expect(parseTomlBatch(text, "/b.toml")).toEqual([
      { op: "add", rule: { inputGroup: "239.1.1.2", inputPort: 5002, outputs: [out("239.9.9.9", 1)], name: "n" } },
      { op: "replace", id: "old", outputs: [{ ...out("239.9.9.8", 1), ttl: 4 }] },
      { op: "remove", id: 3 },
    ]);
  });
  test("mistakes name the change, the line and the key (78)", () => {
    const cases: [string, string][] = [
      ['[[change]]\nop = "move"\n', '/b.toml:2: change 1: op: must be "add", "remove" or "replace"'],
      [
        '[[change]]\nop = "remove"\nrule = "a"\nid = 1\n',
        "/b.toml:4: change 1: id: unknown key (a remove takes op and rule)",
      ],
      ['[[change]]\nop = "remove"\n', "/b.toml:1: change 1: rule: must be a rule id or name"],
      [
        '[[change]]\nop = "add"\ninput_group = "239.1.1.1"\ninput_port = 0\noutputs = ["239.9.9.9:1:eth1"]\n',
        "/b.toml:4: change 1: input_port: 0 is not a port (use an integer from 1 to 65535)",
      ],
      ["[[rule]]\n", "/b.toml:1: rule: unknown key (write [[change]] tables)"],
      ["", "/b.toml: no [[change]] tables in the file"],
    ];
    for (const [text, message] of cases)
      expect(refusal(() => parseTomlBatch(text, "/b.toml"))).toMatchObject({ message, exitCode: 78 });
    expect(parseJsonBatch('[{"op":"remove","id":1}]', "/b.json")).toEqual([{ op: "remove", id: 1 }]);
    expect(refusal(() => parseJsonBatch('{"changes": []}', "/b.json")).message).toBe("/b.json: no changes in the file");
  });
});

describe("worker counter slots across a replace", () => {
  test("an output index that gets another destination starts from a fresh, zeroed slot; one that stays keeps its slot", () => {
    const zeroed: number[] = [];
    const c = new TableCompiler(new SlotAllocator(8), new SlotAllocator(8), (kind, slot) => {
      if (kind === "output") zeroed.push(slot);
    });
    const info = (name: string) => ({ name, ifindex: name === "eth0" ? 2 : 3, ipv4: "10.0.0.1", ipv4Prefix: 24 });
    const rule = (outputs: Rule["outputs"]): Rule[] => [{ id: 1, ...spec(5001), outputs }];
    const first = c.compile(rule([out("239.10.10.10"), out("239.10.10.11")]), info as never);
    const a = first.outputSlots.get("1:0");
    const b = first.outputSlots.get("1:1");
    zeroed.length = 0;
    const second = c.compile(rule([out("239.10.10.10"), out("239.10.10.12")]), info as never);
    expect(second.outputSlots.get("1:0")).toBe(a!);
    // The new destination at index 1 was zeroed before use (it may reuse B's freed slot).
    expect(zeroed).toEqual([second.outputSlots.get("1:1")!]);
    expect(second.ruleSlots.get(1)).toBe(first.ruleSlots.get(1)!);
    expect(b).toBeDefined();
  });
});
