// A batch of rule changes for `mcr rule apply FILE`, applied by the supervisor as one table.
// JSON is the control protocol's own form; TOML reads like the config file, one [[change]] per
// entry, in order:
//
//   [[change]]
//   op = "add"            # then a [[rule]]'s keys: name, input_group, input_port, outputs, ...
//   name = "cam-1"
//   input_group = "239.1.1.1"
//   input_port = 5001
//   outputs = ["239.10.10.10:6001:eth1"]
//
//   [[change]]
//   op = "replace"        # rule = an id or a name; outputs (and ttl) as in a [[rule]]
//   rule = "cam-2"
//   outputs = ["239.10.10.11:6001:eth1"]
//
//   [[change]]
//   op = "remove"
//   rule = 7
import { readFileSync } from "node:fs";
import { EX, McrError } from "../errors.ts";
import type { RuleChange } from "../types/rules.ts";
import { ConfigError, parseRule } from "./load.ts";
import { headerLine, keyLine, syntaxErrorLine } from "./lines.ts";

export function loadBatch(path: string): RuleChange[] {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    throw new McrError(`cannot read ${path}: ${(e as Error).message}`, EX.NOINPUT);
  }
  // "[[change]]" opens TOML; "{" or a list of objects opens JSON.
  const json = path.endsWith(".json") || /^\s*(\{|\[\s*[{\]])/.test(text);
  return json ? parseJsonBatch(text, path) : parseTomlBatch(text, path);
}

/** {"changes": [...]} or the list alone; each entry's fields are the supervisor's to check. */
export function parseJsonBatch(text: string, path: string): RuleChange[] {
  let x: unknown;
  try {
    x = JSON.parse(text);
  } catch (e) {
    throw new ConfigError(path, undefined, `not JSON: ${(e as Error).message}`);
  }
  const list = Array.isArray(x) ? x : (x as { changes?: unknown } | null)?.changes;
  if (!Array.isArray(list)) throw new ConfigError(path, undefined, 'write {"changes": [...]} or a list of changes');
  if (list.length === 0) throw new ConfigError(path, undefined, "no changes in the file");
  return list as RuleChange[];
}

export function parseTomlBatch(text: string, path: string): RuleChange[] {
  let doc: Record<string, unknown>;
  try {
    doc = Bun.TOML.parse(text) as Record<string, unknown>;
  } catch (e) {
    const message = (e as Error).message.replace(/^TOML Parse error:\s*/, "");
    throw new ConfigError(
      path,
      syntaxErrorLine(text, (t) => Bun.TOML.parse(t)),
      `TOML syntax: ${message}`,
    );
  }
  for (const k of Object.keys(doc))
    if (k !== "change")
      throw new ConfigError(
        path,
        keyLine(text, k) ?? headerLine(text, k),
        `${k}: unknown key (write [[change]] tables)`,
      );
  const list = doc.change;
  if (!Array.isArray(list) || list.length === 0)
    throw new ConfigError(path, undefined, "no [[change]] tables in the file");
  return list.map((raw: Record<string, unknown>, i): RuleChange => {
    const where = { name: "change", index: i };
    const fail = (key: string | undefined, message: string): never => {
      throw new ConfigError(
        path,
        keyLine(text, key, where) ?? keyLine(text, undefined, where),
        `change ${i + 1}: ${key ? `${key}: ${message}` : message}`,
        key,
      );
    };
    const { op, rule, ...rest } = raw;
    if (op === "add") {
      if (rule !== undefined) fail("rule", "an add takes a rule's keys, not rule");
      return { op, rule: parseRule(rest, undefined, fail) };
    }
    if (op !== "remove" && op !== "replace") return fail("op", 'must be "add", "remove" or "replace"');
    if (typeof rule !== "number" && typeof rule !== "string") return fail("rule", "must be a rule id or name");
    if (op === "remove") {
      for (const k of Object.keys(rest)) fail(k, "unknown key (a remove takes op and rule)");
      return { op, id: rule };
    }
    for (const k of Object.keys(rest))
      if (k !== "outputs" && k !== "ttl") fail(k, "unknown key (a replace takes op, rule, outputs and ttl)");
    // Parsed as a rule with a placeholder input, so that outputs read exactly as in a [[rule]];
    // whether they fit the rule (a link-local group, say) is the supervisor's to judge.
    const probe = parseRule(
      { input_group: "239.0.0.1", input_port: 1, allow_link_local: true, ...rest },
      undefined,
      (key, message) => fail(key, message),
    );
    return { op, id: rule, outputs: probe.outputs };
  });
}
