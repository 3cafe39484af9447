// The rule table as plain immutable data: a change makes a new table, which the supervisor
// saves to disk before it adopts it, so a failed write leaves nothing half-changed.
import { controlError } from "../control/protocol.ts";
import type { Rule, RuleSpec } from "../rules/types.ts";
import { checkTable } from "../rules/validate.ts";

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

export function removeRule(t: RuleTable, id: number): { table: RuleTable; rule: Rule } {
  const rule = t.rules.find((r) => r.id === id);
  if (!rule) throw controlError("not_found", `no rule ${id} (see mcr rule list)`, "id");
  return { table: { nextId: t.nextId, rules: t.rules.filter((r) => r.id !== id) }, rule };
}
