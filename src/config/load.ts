// The config file (--config, `mcr config check`): TOML, so that operators can comment it.
// Every error names the file, the line and the key. Unknown keys are errors: a typo must not
// silently become a default.
//
//   interfaces = ["eth0"]
//   workers = 2
//   [[rule]]
//   name = "cam-1"
//   input_group = "239.1.1.1"
//   input_port = 5001
//   outputs = ["239.10.10.10:6001:eth1", "10.0.2.7:7000:eth2:16"]
//   [[rule]]                     # a merge rule: two to four inputs, as --input writes them
//   name = "cam-2"
//   inputs = ["eth0:239.1.1.1:5001", "eth1:239.2.1.1:5001:10.0.0.7"]
//   merge = "rtp"                # merge_window = "50ms" or "500pkts"
//   outputs = ["239.10.10.11:6001:eth2"]
//   (merge = "failover" takes failover_after = "200ms" and revert_after = "5s")
import { readFileSync } from "node:fs";
import { EX, McrError } from "../errors.ts";
import { LOG_FORMATS } from "../log.ts";
import {
  mergeOf,
  parseFailoverAfter,
  parseInputLeg,
  parseMergeWindow,
  parseOutputs,
  parseRevertAfter,
} from "../rules/parse.ts";
import type { InputLeg, Output, RuleInput } from "../types/rules.ts";
import { checkSpec, checkTtl, overlap, RuleError } from "../rules/validate.ts";
import { ValueError } from "../values/error.ts";
import { isIfName } from "../values/ifname.ts";
import { addressPort } from "../values/ipv6.ts";
import { checkInteger, type IntegerRule } from "../values/integer.ts";
import { describeRange } from "../values/number.ts";
import { parseListen } from "../values/listen.ts";
import { RING_MB } from "../values/size.ts";
import { headerLine, keyLine, syntaxErrorLine } from "./lines.ts";
import {
  EGRESS_MODES,
  INGRESS_MODES,
  POLL_MODES,
  type EgressMode,
  type IngressMode,
  type PollMode,
} from "../native/abi.ts";

export interface Config {
  path: string;
  interfaces?: string[];
  workers?: number;
  ringMb?: number;
  poll?: PollMode;
  egress?: EgressMode;
  ingress?: IngressMode;
  controlSocketPath?: string;
  controlSocketGroup?: string;
  stateFile?: string;
  logLevel?: string;
  logFormat?: string;
  metricsListen?: string;
  rules: ConfigRule[];
}

/** A rule as declared; `line` is where its [[rule]] header is. */
export type ConfigRule = RuleInput & { line: number };

export class ConfigError extends McrError {
  constructor(path: string, line: number | undefined, message: string, field?: string) {
    super(`${path}${line !== undefined ? `:${line}` : ""}: ${message}`, EX.CONFIG, field, "invalid_config");
    this.name = "ConfigError";
  }
}

const SETTINGS: Record<string, (v: unknown) => string | undefined> = {
  interfaces: (v) =>
    Array.isArray(v) && v.length > 0 && v.every((x) => typeof x === "string" && isIfName(x))
      ? undefined
      : "must be a list of interface names",
  workers: (v) => intIn(v, WORKERS),
  ring_mb: (v) => intIn(v, RING_MB),
  poll: (v) =>
    typeof v === "string" && (POLL_MODES as readonly string[]).includes(v)
      ? undefined
      : `must be one of ${POLL_MODES.join(", ")}`,
  egress: (v) =>
    typeof v === "string" && (EGRESS_MODES as readonly string[]).includes(v)
      ? undefined
      : `must be one of ${EGRESS_MODES.join(", ")}`,
  ingress: (v) =>
    typeof v === "string" && (INGRESS_MODES as readonly string[]).includes(v)
      ? undefined
      : `must be one of ${INGRESS_MODES.join(", ")}`,
  control_socket_path: (v) => (typeof v === "string" && v.startsWith("/") ? undefined : "must be an absolute path"),
  control_socket_group: (v) => (typeof v === "string" && v !== "" ? undefined : "must be a group name"),
  state_file: (v) => (typeof v === "string" && v.startsWith("/") ? undefined : "must be an absolute path"),
  log_level: (v) =>
    typeof v === "string" && ["error", "warn", "info", "debug", "trace"].includes(v)
      ? undefined
      : "must be error, warn, info, debug or trace",
  log_format: (v) =>
    typeof v === "string" && (LOG_FORMATS as readonly string[]).includes(v)
      ? undefined
      : `must be ${LOG_FORMATS.join(", ")}`,
  metrics_listen: (v) => {
    if (typeof v !== "string") return 'must be an address, e.g. "127.0.0.1:9464"';
    return problem(() => parseListen(v, "metrics_listen"));
  },
};
const RULE_KEYS = [
  "input_interface",
  "input_group",
  "input_port",
  "sources",
  "input_vlan",
  "ttl",
  "outputs",
  "name",
  "allow_link_local",
  "inputs",
  "merge",
  "merge_window",
  "failover_after",
  "revert_after",
];
const OUTPUT_KEYS = ["group", "port", "interface", "ttl", "dscp", "rate", "burst"];

export function loadConfig(path: string, opts: { interfaces?: string[] } = {}): Config {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    throw new McrError(`cannot read the config file ${path}: ${(e as Error).message}`, EX.NOINPUT);
  }
  return parseConfig(text, path, opts);
}

/** opts.interfaces: the command line's --interface, which wins over the file's. */
export function parseConfig(text: string, path: string, opts: { interfaces?: string[] } = {}): Config {
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
  const top = (key: string, message: string): never => {
    throw new ConfigError(path, keyLine(text, key) ?? headerLine(text, key), `${key}: ${message}`, key);
  };
  for (const [k, v] of Object.entries(doc)) {
    if (k === "rule") continue;
    const check = SETTINGS[k];
    if (!check) top(k, `unknown key (known: ${[...Object.keys(SETTINGS), "[[rule]]"].join(", ")})`);
    const problem = check!(v);
    if (problem) top(k, problem);
  }
  const cfg: Config = {
    path,
    interfaces: doc.interfaces as string[] | undefined,
    workers: doc.workers as number | undefined,
    ringMb: doc.ring_mb as number | undefined,
    poll: doc.poll as PollMode | undefined,
    egress: doc.egress as EgressMode | undefined,
    ingress: doc.ingress as IngressMode | undefined,
    controlSocketPath: doc.control_socket_path as string | undefined,
    controlSocketGroup: doc.control_socket_group as string | undefined,
    stateFile: doc.state_file as string | undefined,
    logLevel: doc.log_level as string | undefined,
    logFormat: doc.log_format as string | undefined,
    metricsListen: doc.metrics_listen as string | undefined,
    rules: [],
  };
  const rules = doc.rule ?? [];
  if (!Array.isArray(rules) || rules.some((r) => typeof r !== "object" || r === null || Array.isArray(r)))
    throw new ConfigError(
      path,
      keyLine(text, "rule") ?? headerLine(text, "rule"),
      "rule: write rules as [[rule]] tables",
      "rule",
    );
  const served = opts.interfaces ?? cfg.interfaces;
  const seen: ConfigRule[] = [];
  const names = new Map<string, ConfigRule>();
  rules.forEach((raw: Record<string, unknown>, i) => {
    const where = { name: "rule", index: i };
    const header = keyLine(text, undefined, where);
    const fail = (key: string | undefined, message: string): never => {
      throw new ConfigError(path, keyLine(text, key, where) ?? header, key ? `${key}: ${message}` : message, key);
    };
    const rule = parseRule(raw, served, fail);
    const first = seen.find((r) => overlap(r, rule) !== undefined);
    if (first)
      fail(
        "input_group",
        `this rule relays the same input as the rule at line ${first.line} (${addressPort(rule.inputGroup, rule.inputPort)} on ${rule.inputInterface})`,
      );
    const sameName = rule.name === undefined ? undefined : names.get(rule.name);
    if (sameName) fail("name", `${rule.name} already names the rule at line ${sameName.line}`);
    const withLine = { ...rule, line: header ?? 0 };
    seen.push(withLine);
    if (rule.name !== undefined) names.set(rule.name, withLine);
    cfg.rules.push(withLine);
  });
  return cfg;
}

/** A [[rule]] table's keys -> a checked rule; `fail` puts the line and key in front of a refusal. */
export function parseRule(
  raw: Record<string, unknown>,
  served: string[] | undefined,
  fail: (key: string | undefined, message: string) => never,
): RuleInput {
  for (const k of Object.keys(raw)) if (!RULE_KEYS.includes(k)) fail(k, `unknown key (known: ${RULE_KEYS.join(", ")})`);
  const legs = parseInputs(raw, served, fail);
  let inputInterface = legs ? legs.inputInterface : raw.input_interface;
  if (inputInterface === undefined && served?.length === 1) inputInterface = served[0];
  if (inputInterface === undefined && served !== undefined)
    fail(undefined, `input_interface is missing: the supervisor serves ${served.join(", ")}`);
  if (typeof inputInterface === "string" && served !== undefined && !served.includes(inputInterface))
    fail("input_interface", `${inputInterface} is not one of the interfaces served (${served.join(", ")})`);
  try {
    const ttl = raw.ttl === undefined ? undefined : checkTtl(raw.ttl, "ttl");
    if (!Array.isArray(raw.outputs)) fail("outputs", 'must be a list, e.g. ["239.10.10.10:6001:eth1"]');
    const outputs = (raw.outputs as unknown[]).map((o, i) => parseOutput(o, i, ttl, fail));
    return checkSpec({
      ...(inputInterface !== undefined ? { inputInterface } : {}),
      inputGroup: legs ? legs.inputGroup : raw.input_group,
      inputPort: legs ? legs.inputPort : raw.input_port,
      ...(raw.sources !== undefined ? { inputSources: raw.sources } : {}),
      ...(legs?.inputSources !== undefined ? { inputSources: legs.inputSources } : {}),
      ...(legs?.merge !== undefined ? { merge: legs.merge } : {}),
      ...(raw.input_vlan !== undefined ? { inputVlan: raw.input_vlan } : {}),
      outputs,
      ...(raw.name !== undefined ? { name: raw.name } : {}),
      ...(raw.allow_link_local !== undefined ? { allowLinkLocal: raw.allow_link_local } : {}),
    });
  } catch (e) {
    if (e instanceof RuleError) fail(snake(e.field, legs !== undefined), e.message);
    throw e;
  }
}

const MERGE_KEYS = ["merge", "merge_window", "failover_after", "revert_after"] as const;
/** A merge's field as the file names it. */
const MERGE_FIELD_KEYS: Record<string, string> = {
  merge: "merge",
  "merge.legs": "inputs",
  "merge.windowMs": "merge_window",
  "merge.failoverAfterMs": "failover_after",
  "merge.revertAfterMs": "revert_after",
};

/**
 * `inputs` (the command line's --input strings) and the merge keys -> the rule's own input and
 * its merge; undefined when the rule gives its input as input_group and input_port.
 */
function parseInputs(
  raw: Record<string, unknown>,
  served: string[] | undefined,
  fail: (key: string | undefined, message: string) => never,
): Partial<RuleInput> | undefined {
  if (raw.inputs === undefined) {
    const stray = MERGE_KEYS.find((k) => raw[k] !== undefined);
    if (stray) fail(stray, "a merge takes two to four inputs: list them in inputs (and leave input_group out)");
    return undefined;
  }
  for (const k of ["input_interface", "input_group", "input_port", "sources"])
    if (raw[k] !== undefined) fail(k, "inputs names the input already: write IFACE:GROUP:PORT[:SOURCE] there alone");
  if (!Array.isArray(raw.inputs) || raw.inputs.length === 0 || raw.inputs.some((x) => typeof x !== "string"))
    fail("inputs", 'must be a list of "IFACE:GROUP:PORT[:SOURCE]", e.g. ["eth0:239.1.1.1:5001"]');
  const text = (k: string) => {
    const v = raw[k];
    if (v !== undefined && typeof v !== "string")
      fail(k, `must be a string, e.g. ${k === "merge_window" ? '"50ms"' : '"200ms"'}`);
    return v as string | undefined;
  };
  const valued = <T>(k: string, parse: (t: string, f: string) => T): T | undefined => {
    const t = text(k);
    if (t === undefined) return undefined;
    try {
      return parse(t, k);
    } catch (e) {
      if (e instanceof ValueError) fail(k, e.message);
      throw e;
    }
  };
  const legs = (raw.inputs as string[]).map((t, i) => {
    try {
      return parseInputLeg(t, "inputs");
    } catch (e) {
      if (e instanceof ValueError) fail("inputs", `input ${i + 1}: ${e.message}`);
      throw e;
    }
  });
  legs.forEach((l, i) => {
    if (served !== undefined && !served.includes(l.interface))
      fail("inputs", `input ${i + 1}: ${l.interface} is not one of the interfaces served (${served.join(", ")})`);
  });
  const mode = text("merge");
  if (mode !== undefined && mode !== "rtp" && mode !== "failover") fail("merge", 'must be "rtp" or "failover"');
  const m = {
    mode: mode as "rtp" | "failover" | undefined,
    window: valued("merge_window", parseMergeWindow),
    failoverAfterMs: valued("failover_after", parseFailoverAfter),
    revertAfterMs: valued("revert_after", parseRevertAfter),
  };
  const [first] = legs as [InputLeg, ...InputLeg[]];
  const own = {
    inputInterface: first.interface,
    inputGroup: first.group,
    inputPort: first.port,
    ...(first.source !== undefined ? { inputSources: [first.source] } : {}),
  };
  if (legs.length === 1) {
    const stray = MERGE_KEYS.find((k) => raw[k] !== undefined);
    if (stray) fail(stray, "a merge takes two to four inputs, and inputs lists one");
    return own;
  }
  try {
    return { ...own, merge: mergeOf(legs, m) };
  } catch (e) {
    if (e instanceof ValueError)
      fail(MERGE_FIELD_KEYS[e.field ?? ""] ?? "merge", e.message.replace(/--merge /g, "merge = "));
    throw e;
  }
}

/** An output: "group:port:iface[:ttl]" or { group, port, interface, ttl }. */
function parseOutput(
  o: unknown,
  i: number,
  ttl: number | undefined,
  fail: (key: string | undefined, message: string) => never,
): Partial<Output> {
  if (typeof o === "string") {
    if (o.includes(",")) fail("outputs", `output ${i + 1}: one output per string ("${o}")`);
    try {
      return parseOutputs(o, ttl)[0]!;
    } catch (e) {
      if (e instanceof RuleError) fail("outputs", e.message.replace(/^output 1\b/, `output ${i + 1}`));
      throw e;
    }
  }
  if (typeof o === "object" && o !== null && !Array.isArray(o)) {
    for (const k of Object.keys(o))
      if (!OUTPUT_KEYS.includes(k))
        fail("outputs", `output ${i + 1}: unknown key "${k}" (known: ${OUTPUT_KEYS.join(", ")})`);
    const t = o as Partial<Output>;
    return { ...t, ...(t.ttl === undefined && ttl !== undefined ? { ttl } : {}) };
  }
  return fail("outputs", `output ${i + 1} must be "group:port:interface[:ttl][:key=value...]" or a table`);
}

/** RuleSpec field path -> the config's key: "outputs[1].port" -> "outputs", "inputPort" -> "input_port". */
function snake(field: string | undefined, viaInputs = false): string | undefined {
  if (field === undefined) return undefined;
  if (field.startsWith("merge.legs")) return "inputs";
  if (field.startsWith("merge.window")) return "merge_window";
  if (field.startsWith("merge.")) return MERGE_FIELD_KEYS[field] ?? "merge";
  if (viaInputs && /^input(Group|Port|Interface|Sources)\b/.test(field)) return "inputs";
  const head = field.replace(/[.[].*$/, "");
  if (head === "inputSources") return "sources"; // the issue's name for the key
  return head.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
}

/** The command line's range for --workers, the file's for workers. */
export const WORKERS: IntegerRule = { min: 1, max: 1024 };

/** A value parser's refusal as a setting's problem; anything else goes up. */
function problem(check: () => unknown): string | undefined {
  try {
    check();
    return undefined;
  } catch (e) {
    if (e instanceof ValueError) return e.message;
    throw e;
  }
}

/** "must be an integer from 1 to 1024": a setting's message says what it must be, not what it got. */
const intIn = (v: unknown, r: IntegerRule) =>
  problem(() => checkInteger(v, "", r)) === undefined ? undefined : `must be ${describeRange(r)}`;
