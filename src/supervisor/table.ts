// The rule table as plain immutable data: a change makes a new table, which the supervisor
// saves to disk before it adopts it, so a failed write leaves nothing half-changed.
import { controlError } from "../types/control.ts";
import type { Rule, RuleSpec } from "../types/rules.ts";
import { checkTable, describeInput, RuleError, sameInput as takesSame } from "../rules/validate.ts";

export interface RuleTable {
  nextId: number; // ids are never reused within one state file
  rules: readonly Rule[];
}

export const emptyTable = (): RuleTable => ({ nextId: 1, rules: [] });

export function addRule(t: RuleTable, spec: RuleSpec): { table: RuleTable; rule: Rule } {
  checkTable(spec, t.rules);
  const rule: Rule = { id: t.nextId, ...spec };
  return { table: { nextId: t.nextId + 1, rules: [...t.rules, rule] }, rule };
}

/** configPath: the supervisor's --config file, if it has one. */
export function removeRule(t: RuleTable, id: number, configPath?: string): { table: RuleTable; rule: Rule } {
  const rule = t.rules.find((r) => r.id === id);
  if (!rule) throw controlError("not_found", `no rule ${id} (see mcr rule list)`, "id");
  // Removed here, it would come back at the next reload: the file is where it lives. (Without a
  // config file a config rule is an orphan from an earlier run, and may go.)
  if (rule.origin === "config" && configPath !== undefined)
    throw controlError(
      "config_rule",
      `rule ${id} is declared in ${configPath}: remove it there and reload (SIGHUP)`,
      "id",
    );
  return { table: { nextId: t.nextId, rules: t.rules.filter((r) => r.id !== id) }, rule };
}

export interface ConfigDiff {
  table: RuleTable;
  added: Rule[];
  removed: Rule[];
  unchanged: Rule[];
}

/**
 * Makes the table's config rules those of the config file, touching nothing else: a rule the
 * file still declares exactly as before keeps its id (its workers' state, its traffic), a changed
 * one is replaced by a new rule, one no longer declared goes. Rules added at runtime stay.
 */
export function applyConfigRules(t: RuleTable, specs: readonly RuleSpec[]): ConfigDiff {
  const old = t.rules.filter((r) => r.origin === "config");
  const unchanged: Rule[] = [];
  const added: Rule[] = [];
  let nextId = t.nextId;
  for (const [i, spec] of specs.entries()) {
    const same = old.find((r) => !unchanged.includes(r) && sameRule(r, spec));
    if (same) {
      unchanged.push(same);
      continue;
    }
    const runtime = t.rules.find((r) => r.origin !== "config" && sameInput(r, spec));
    if (runtime)
      throw new RuleError(
        `rules[${i}].inputGroup`,
        `rule ${runtime.id}, added at runtime, already relays ${describeInput(spec)}: remove it (mcr rule remove ${runtime.id}) or drop this rule from the config`,
        "duplicate",
      );
    added.push({ id: nextId++, ...spec, origin: "config" });
  }
  const removed = old.filter((r) => !unchanged.includes(r));
  const rules = [...t.rules.filter((r) => !removed.includes(r)), ...added];
  return { table: { nextId, rules }, added, removed, unchanged };
}

const sameInput = (a: RuleSpec, b: RuleSpec) => takesSame(a, b);
const outputKey = (s: RuleSpec) =>
  JSON.stringify(s.outputs.map((o) => [o.group, o.port, o.interface, o.ttl, o.dscp, o.rate, o.burst]));
// The same datagrams (sources and VLAN too) and the same outputs: a rule the file did not change.
const inputKey = (s: RuleSpec) => JSON.stringify([s.inputSources ?? [], s.inputVlan ?? 0]);
const sameRule = (a: RuleSpec, b: RuleSpec) =>
  a.inputInterface === b.inputInterface &&
  a.inputGroup === b.inputGroup &&
  a.inputPort === b.inputPort &&
  inputKey(a) === inputKey(b) &&
  outputKey(a) === outputKey(b);
