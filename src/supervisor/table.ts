// The rule table as plain immutable data: a change makes a new table, which the supervisor
// saves to disk before it adopts it, so a failed write leaves nothing half-changed.
import { controlError } from "../types/control.ts";
import type { Output, Rule, RuleRef, RuleSpec } from "../types/rules.ts";
import { checkTable, describeInputs, overlap, RuleError } from "../rules/validate.ts";

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

/** The rule an id or a name names; not_found otherwise. */
export function findRule(t: RuleTable, ref: RuleRef): Rule {
  const rule = t.rules.find((r) => (typeof ref === "number" ? r.id === ref : r.name === ref));
  if (!rule)
    throw controlError(
      "not_found",
      `no rule ${typeof ref === "number" ? ref : `named ${ref}`} (see mcr rule list)`,
      "id",
    );
  return rule;
}

/**
 * Changed here, a config rule would change back at the next reload: the file is where it lives.
 * (Without a config file a config rule is an orphan from an earlier run, and may change.)
 */
function refuseConfigRule(rule: Rule, verb: string, configPath: string | undefined): void {
  if (rule.origin === "config" && configPath !== undefined)
    throw controlError(
      "config_rule",
      `rule ${rule.id}${rule.name ? ` (${rule.name})` : ""} is declared in ${configPath}: ${verb} it there and reload (SIGHUP)`,
      "id",
    );
}

/** configPath: the supervisor's --config file, if it has one. */
export function removeRule(t: RuleTable, ref: RuleRef, configPath?: string): { table: RuleTable; rule: Rule } {
  const rule = findRule(t, ref);
  refuseConfigRule(rule, "remove", configPath);
  return { table: { nextId: t.nextId, rules: t.rules.filter((r) => r !== rule) }, rule };
}

/**
 * The rule with new outputs, in its place: its id, name, input and place in the table stay, so
 * the workers keep its input and counters, and an output that stays keeps sending. `outputs` are
 * checked already (checkSpec, checkHost): here only what the table decides.
 */
export function replaceRule(
  t: RuleTable,
  ref: RuleRef,
  outputs: Output[],
  configPath?: string,
): { table: RuleTable; rule: Rule; before: Rule } {
  const before = findRule(t, ref);
  refuseConfigRule(before, "change", configPath);
  const rule: Rule = { ...before, outputs };
  return { table: { nextId: t.nextId, rules: t.rules.map((r) => (r === before ? rule : r)) }, rule, before };
}

export interface ConfigDiff {
  table: RuleTable;
  added: Rule[];
  removed: Rule[];
  unchanged: Rule[];
  /** Named rules edited in place: same id, new spec. */
  changed: Rule[];
}

/**
 * Makes the table's config rules those of the config file, touching nothing else: a rule the
 * file still declares exactly as before keeps its id (its workers' state, its traffic), a changed
 * one is replaced by a new rule, one no longer declared goes. Rules added at runtime stay.
 * A named rule is the rule of that name whatever else changes: edited, it keeps its id (and so
 * its counters and metric labels), and is listed as `changed`.
 */
export function applyConfigRules(t: RuleTable, specs: readonly RuleSpec[]): ConfigDiff {
  const old = t.rules.filter((r) => r.origin === "config");
  const unchanged: Rule[] = [];
  const added: Rule[] = [];
  const changed: Rule[] = [];
  const edits = new Map<Rule, Rule>(); // old -> its edited self
  let nextId = t.nextId;
  for (const [i, spec] of specs.entries()) {
    const same = old.find((r) => !unchanged.includes(r) && !edits.has(r) && sameRule(r, spec));
    if (same) {
      unchanged.push(same);
      continue;
    }
    const runtime = t.rules.find(
      (r) =>
        r.origin !== "config" && (overlap(r, spec) !== undefined || (spec.name !== undefined && r.name === spec.name)),
    );
    if (runtime && spec.name !== undefined && runtime.name === spec.name)
      throw new RuleError(
        `rules[${i}].name`,
        `rule ${runtime.id}, added at runtime, is already named ${spec.name}: remove it (mcr rule remove ${spec.name}) or rename this rule`,
        "duplicate",
      );
    if (runtime)
      throw new RuleError(
        `rules[${i}].inputGroup`,
        `rule ${runtime.id}, added at runtime, already relays ${describeInputs(spec)}: remove it (mcr rule remove ${runtime.id}) or drop this rule from the config`,
        "duplicate",
      );
    const named = spec.name === undefined ? undefined : old.find((r) => r.name === spec.name && !edits.has(r));
    if (named && !unchanged.includes(named)) {
      const rule: Rule = { id: named.id, ...spec, origin: "config" };
      edits.set(named, rule);
      changed.push(rule);
      continue;
    }
    added.push({ id: nextId++, ...spec, origin: "config" });
  }
  const removed = old.filter((r) => !unchanged.includes(r) && !edits.has(r));
  const rules = [...t.rules.filter((r) => !removed.includes(r)).map((r) => edits.get(r) ?? r), ...added];
  return { table: { nextId, rules }, added, removed, unchanged, changed };
}

const outputKey = (s: RuleSpec) =>
  JSON.stringify(s.outputs.map((o) => [o.group, o.port, o.interface, o.ttl, o.dscp, o.rate, o.burst]));
// The same datagrams (sources and VLAN too), the same outputs and the same name: a rule the file
// did not change.
const inputKey = (s: RuleSpec) => JSON.stringify([s.inputSources ?? [], s.inputVlan ?? 0]);
const sameRule = (a: RuleSpec, b: RuleSpec) =>
  a.inputInterface === b.inputInterface &&
  a.inputGroup === b.inputGroup &&
  a.inputPort === b.inputPort &&
  inputKey(a) === inputKey(b) &&
  outputKey(a) === outputKey(b) &&
  a.name === b.name &&
  JSON.stringify(a.merge) === JSON.stringify(b.merge) &&
  !a.allowLinkLocal === !b.allowLinkLocal;
