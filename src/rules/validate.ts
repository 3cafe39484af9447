// Rule validation in three steps, each where its facts live:
//   checkSpec  - the rule alone (syntax, ranges, loops): the client runs it before connecting,
//                the supervisor runs it again on whatever arrives on the socket;
//   checkHost  - the rule against this host's interfaces: only the supervisor knows them;
//   checkTable - the rule against the rules already in the table (duplicates).
// Every refusal is a RuleError naming the field (a path into RuleSpec, e.g. "outputs[1].port").
import { EX, McrError } from "../errors.ts";
import { MERGE_LEGS_MAX, MERGE_WINDOW_PACKETS_MAX } from "../native/abi.ts";
import type { InterfaceInfo } from "../net/interfaces.ts";
import { kind, show, ValueError } from "../values/error.ts";
import { ifName } from "../values/ifname.ts";
import { ruleName } from "../values/name.ts";
import { checkInteger, PORT, TTL } from "../values/integer.ts";
import { formatIPv4, isLinkLocalMulticast, isMulticast, parseIPv4, unicastProblem } from "../values/ipv4.ts";
import {
  address16,
  addressPort,
  canonicalIPv6,
  formatIPv6,
  isMulticastIPv6,
  multicastScopeIPv6,
  parseIPv6,
  unicastProblemIPv6,
} from "../values/ipv6.ts";
import {
  DEFAULT_TTL,
  type InputLeg,
  type MergeSpec,
  type Output,
  type Rule,
  type RuleInput,
  type RuleSpec,
  TTL_FROM_INPUT,
} from "../types/rules.ts";

export const MAX_OUTPUTS_PER_RULE = 256;
export const MAX_SOURCES_PER_RULE = 256;
/** An output's rate= (packets per second) and burst= (packets). */
export const RATE = { min: 1, max: 100_000_000, what: "a rate in packets per second" };
export const BURST = { min: 1, max: 100_000_000, what: "a burst in packets" };
export const DSCP = { min: 0, max: 63, what: "a DSCP value" };
export const VLAN = { min: 0, max: 4094, what: "a VLAN id" };
/** A merge rule's inputs, its own (the first) included. */
export const MERGE_LEGS = { min: 2, max: MERGE_LEGS_MAX };
/**
 * An RTP merge's window. In time: from 1 ms to a second (ST 2022-7's class C, the widest, is
 * 450 ms). In packets: up to what the shim holds slots for (it refuses a wider one, and the
 * rule would then be out of service though accepted).
 */
export const MERGE_WINDOW_MS = { min: 1, max: 1000 };
export const MERGE_WINDOW_PACKETS = { min: 1, max: MERGE_WINDOW_PACKETS_MAX, what: "a window in packets" };
/** Failover: the primary's silence before the next leg is taken, and its steadiness before it is taken back. */
export const FAILOVER_AFTER_MS = { min: 1, max: 60_000 };
export const REVERT_AFTER_MS = { min: 0, max: 3_600_000 };

export class RuleError extends McrError {
  constructor(field: string, message: string, code = "invalid_rule") {
    super(message, EX.DATAERR, field, code);
    this.name = "RuleError";
  }
}

const SPEC_KEYS = new Set([
  "inputInterface",
  "inputGroup",
  "inputPort",
  "inputSources",
  "inputVlan",
  "outputs",
  "name",
  "allowLinkLocal",
  "merge",
]);
const MERGE_KEYS: Record<MergeSpec["mode"], readonly string[]> = {
  rtp: ["mode", "legs", "windowMs", "windowPackets"],
  failover: ["mode", "legs", "failoverAfterMs", "revertAfterMs"],
};
const LEG_KEYS = new Set(["interface", "group", "port", "source"]);
const OUTPUT_KEYS = new Set(["group", "port", "interface", "ttl", "dscp", "rate", "burst"]);

/** The rule on its own: shape, types and ranges. Returns a clean copy (defaults filled in). */
export function checkSpec(x: unknown): RuleInput {
  if (!isObject(x)) throw new RuleError("rule", `a rule must be an object, got ${kind(x)}`);
  for (const k of Object.keys(x)) if (!SPEC_KEYS.has(k)) throw new RuleError(k, `unknown field "${k}"`);
  const inputInterface = x.inputInterface === undefined ? undefined : checkIfName(x.inputInterface, "inputInterface");
  const name = x.name === undefined ? undefined : asRule(() => ruleName(x.name, "name"), "name", "");
  if (x.allowLinkLocal !== undefined && typeof x.allowLinkLocal !== "boolean")
    throw new RuleError("allowLinkLocal", `must be true or false, got ${kind(x.allowLinkLocal)}`);
  const allowLinkLocal = x.allowLinkLocal === true;
  const inputGroup = checkGroup(x.inputGroup, "inputGroup", allowLinkLocal);
  const inputPort = checkPort(x.inputPort, "inputPort");
  const inputSources =
    x.inputSources === undefined ? undefined : checkSources(x.inputSources, "inputSources", isIPv6(inputGroup));
  // VLAN 0 is what a rule without one takes (untagged frames): one way to write it.
  const vlan =
    x.inputVlan === undefined ? 0 : asRule(() => checkInteger(x.inputVlan, "inputVlan", VLAN), "inputVlan", "");
  if (!Array.isArray(x.outputs)) throw new RuleError("outputs", `must be a list of outputs, got ${kind(x.outputs)}`);
  if (x.outputs.length === 0) throw new RuleError("outputs", "a rule needs at least one output");
  if (x.outputs.length > MAX_OUTPUTS_PER_RULE)
    throw new RuleError(
      "outputs",
      `a rule has at most ${MAX_OUTPUTS_PER_RULE} outputs, this one has ${x.outputs.length}`,
    );
  const outputs = x.outputs.map((o, i) => checkOutput(o, i, allowLinkLocal));
  const seen = new Map<string, number>();
  outputs.forEach((o, i) => {
    const key = describeOutput(o);
    const first = seen.get(key);
    if (first !== undefined)
      throw new RuleError(
        `outputs[${i}]`,
        `output ${i + 1} (${key}) repeats output ${first + 1}: every packet would go out twice`,
      );
    seen.set(key, i);
  });
  const spec: RuleInput = {
    ...(inputInterface !== undefined ? { inputInterface } : {}),
    inputGroup,
    inputPort,
    ...(inputSources !== undefined ? { inputSources } : {}),
    ...(vlan !== 0 ? { inputVlan: vlan } : {}),
    outputs,
    ...(name !== undefined ? { name } : {}),
    ...(allowLinkLocal ? { allowLinkLocal } : {}),
  };
  if (x.merge !== undefined) spec.merge = checkMerge(x.merge, spec);
  checkLoop(spec);
  return spec;
}

/**
 * A merge rule's mode, its further legs and the mode's settings. Every leg is a multicast group
 * (a merge takes copies of one stream from several networks), with one source host at most, so
 * that a leg is one (interface, group, port, source) that the workers can tell from every other.
 */
function checkMerge(x: unknown, spec: RuleInput): MergeSpec {
  if (!isObject(x)) throw new RuleError("merge", `must be an object with mode and legs, got ${kind(x)}`);
  const mode = x.mode;
  if (mode !== "rtp" && mode !== "failover")
    throw new RuleError("merge.mode", `must be "rtp" or "failover", got ${show(mode)}`);
  const takes = MERGE_KEYS[mode];
  for (const k of Object.keys(x))
    if (!takes.includes(k)) {
      const other = mode === "rtp" ? "failover" : "rtp";
      throw new RuleError(
        `merge.${k}`,
        MERGE_KEYS[other].includes(k)
          ? `${k} is ${article(other)} ${other} merge's setting, and this is ${article(mode)} ${mode} merge (it takes ${takes.slice(2).join(" and ")})`
          : `unknown field "${k}"`,
      );
    }
  if (!Array.isArray(x.legs)) throw new RuleError("merge.legs", `must be a list of inputs, got ${kind(x.legs)}`);
  const total = x.legs.length + 1;
  if (total < MERGE_LEGS.min || total > MERGE_LEGS.max)
    throw new RuleError(
      "merge.legs",
      `a merge rule has ${MERGE_LEGS.min} to ${MERGE_LEGS.max} inputs (its own and ${MERGE_LEGS.min - 1} to ${MERGE_LEGS.max - 1} more), this one has ${total}`,
    );
  if (spec.inputVlan !== undefined)
    throw new RuleError("inputVlan", "a merge rule takes untagged frames only: VLANs are not merged yet");
  if (isUnicastInput(spec.inputGroup))
    throw new RuleError(
      "inputGroup",
      `input 1: ${spec.inputGroup} is not a multicast group: a merge rule's inputs are groups`,
    );
  const sources = spec.inputSources;
  if (sources !== undefined && (sources.length > 1 || sources[0]!.includes("/")))
    throw new RuleError(
      "inputSources",
      `input 1: a merge rule's input takes one source address at most (no prefix), got ${sources.join(", ")}`,
    );
  const legs = x.legs.map((l, i) => checkLeg(l, i, spec.allowLinkLocal === true));
  const settings = (): Partial<MergeSpec> => {
    if (mode === "rtp") {
      if (x.windowMs !== undefined && x.windowPackets !== undefined)
        throw new RuleError("merge.windowPackets", "give the window in milliseconds or in packets, not both");
      return {
        ...(x.windowMs !== undefined
          ? { windowMs: asRule(() => checkInteger(x.windowMs, "", MERGE_WINDOW_MS), "merge.windowMs", "") }
          : {}),
        ...(x.windowPackets !== undefined
          ? {
              windowPackets: asRule(
                () => checkInteger(x.windowPackets, "", MERGE_WINDOW_PACKETS),
                "merge.windowPackets",
                "",
              ),
            }
          : {}),
      };
    }
    if (x.failoverAfterMs === undefined)
      throw new RuleError(
        "merge.failoverAfterMs",
        "a failover merge needs failoverAfterMs: how long the primary may be silent",
      );
    return {
      failoverAfterMs: asRule(
        () => checkInteger(x.failoverAfterMs, "", FAILOVER_AFTER_MS),
        "merge.failoverAfterMs",
        "",
      ),
      ...(x.revertAfterMs !== undefined
        ? {
            revertAfterMs: asRule(() => checkInteger(x.revertAfterMs, "", REVERT_AFTER_MS), "merge.revertAfterMs", ""),
          }
        : {}),
    };
  };
  const merge = { mode, legs, ...settings() } as MergeSpec;
  checkOwnLegs({ ...spec, merge });
  return merge;
}

const article = (mode: string) => (mode === "rtp" ? "an" : "a");

function checkLeg(x: unknown, i: number, allowLinkLocal: boolean): InputLeg {
  const at = `merge.legs[${i}]`;
  const label = `input ${i + 2}: `;
  if (!isObject(x)) throw new RuleError(at, `${label}must be an object, got ${kind(x)}`);
  for (const k of Object.keys(x))
    if (!LEG_KEYS.has(k)) throw new RuleError(`${at}.${k}`, `${label}unknown field "${k}"`);
  const iface = checkIfName(x.interface, `${at}.interface`, label);
  const group = asLabel(() => checkGroup(x.group, `${at}.group`, allowLinkLocal), label);
  if (isUnicastInput(group))
    throw new RuleError(`${at}.group`, `${label}${group} is not a multicast group: a merge rule's inputs are groups`);
  const port = checkPort(x.port, `${at}.port`, label);
  const leg: InputLeg = { interface: iface, group, port };
  if (x.source !== undefined) {
    if (typeof x.source !== "string" || x.source.includes("/"))
      throw new RuleError(`${at}.source`, `${label}the source must be one address (no prefix), got ${show(x.source)}`);
    const [s] = asLabel(() => checkSources([x.source], `${at}.source`, isIPv6(group)), label);
    leg.source = s!;
  }
  return leg;
}

/** A refusal with "input N: " in front of its message. */
function asLabel<T>(f: () => T, label: string): T {
  try {
    return f();
  } catch (e) {
    if (e instanceof RuleError) throw new RuleError(e.field ?? "", label + e.message.replace(/^source 1: /, ""));
    throw e;
  }
}

/** One input of a rule as the overlap and loop checks see it: the rule's own fields, or a leg. */
export interface RuleInputLeg {
  inputInterface?: string;
  inputGroup: string;
  inputPort: number;
  inputSources?: string[];
  inputVlan?: number;
}

/** Every input of a rule: its own first, then a merge rule's further legs. */
export function inputsOf(s: RuleInput): RuleInputLeg[] {
  const own: RuleInputLeg = {
    ...(s.inputInterface !== undefined ? { inputInterface: s.inputInterface } : {}),
    inputGroup: s.inputGroup,
    inputPort: s.inputPort,
    ...(s.inputSources !== undefined ? { inputSources: s.inputSources } : {}),
    ...(s.inputVlan !== undefined ? { inputVlan: s.inputVlan } : {}),
  };
  const legs = (s.merge?.legs ?? []).map(
    (l): RuleInputLeg => ({
      inputInterface: l.interface,
      inputGroup: l.group,
      inputPort: l.port,
      ...(l.source !== undefined ? { inputSources: [l.source] } : {}),
    }),
  );
  return [own, ...legs];
}

/** The field that names a rule's input i: its own fields for the first, merge.legs[i-1] after. */
export const legField = (i: number) => (i === 0 ? "inputGroup" : `merge.legs[${i - 1}]`);

/** Two inputs of one rule that take the same datagrams would count every packet twice. */
function checkOwnLegs(spec: RuleInput): void {
  const legs = inputsOf(spec);
  for (let j = 1; j < legs.length; j++)
    for (let i = 0; i < j; i++) {
      const [a, b] = [legs[i]!, legs[j]!];
      if (a.inputInterface === undefined) continue; // judged once the supervisor fills it in
      if (sameInput(a, b))
        throw new RuleError(
          legField(j),
          `input ${j + 1} (${describeInput(b)}) takes the same datagrams as input ${i + 1} (${describeInput(a)})`,
        );
    }
}

/**
 * Inputs i of a and j of b that would take the same datagrams, if any. Plain rules share a group
 * by source (the longest prefix takes a datagram); beside a merge rule they may not: an (S,G)
 * rule would take S's datagrams from a merge leg for any source, which would go out unmerged.
 */
export function overlap(a: RuleInput, b: RuleInput): [number, number] | undefined {
  const la = inputsOf(a);
  const lb = inputsOf(b);
  const taken = a.merge !== undefined || b.merge !== undefined ? inputsMeet : sameInput;
  for (const [i, x] of la.entries()) for (const [j, y] of lb.entries()) if (taken(x, y)) return [i, j];
  return undefined;
}

/** An output that equals the input would feed the relay its own packets, forever. */
function checkLoop(spec: RuleInput): void {
  if (spec.inputInterface === undefined) return;
  // A link-local group never crosses a router: relaying it back onto its own segment would
  // repeat every packet there (and answer mDNS queries with themselves).
  const legs = inputsOf(spec);
  if (spec.allowLinkLocal)
    spec.outputs.forEach((o, i) => {
      if (legs.some((l) => l.inputInterface === o.interface))
        throw new RuleError(
          `outputs[${i}].interface`,
          `output ${i + 1} (${describeOutput(o)}) is on the input interface ${o.interface}: a rule with allowLinkLocal must send to another interface`,
        );
    });
  spec.outputs.forEach((o, i) => {
    const k = legs.findIndex(
      (l) => o.interface === l.inputInterface && o.group === l.inputGroup && o.port === l.inputPort,
    );
    if (k >= 0)
      throw new RuleError(
        `outputs[${i}]`,
        `output ${i + 1} (${describeOutput(o)}) sends back into the rule's own input${legs.length > 1 ? ` ${k + 1}` : ""}`,
      );
  });
  checkOwnLegs(spec);
}

/**
 * A rule against the others: none may send into another's input. An output on a served
 * interface to a group and port that another rule takes as input (on any served interface: two of
 * them may share a segment, or be bridged) is relayed again by that rule, and a pair that maps
 * into each other storms for ever. Checked both ways: the new rule's outputs against the others'
 * inputs, and its input against the others' outputs.
 */
export function checkLoops(spec: RuleSpec, rules: readonly Rule[], served: readonly string[]): void {
  const feeds = (o: Output, r: RuleInputLeg) =>
    served.includes(o.interface) && o.group === r.inputGroup && o.port === r.inputPort;
  const mine = inputsOf(spec);
  for (const r of rules) {
    for (const leg of inputsOf(r)) {
      const i = spec.outputs.findIndex((o) => feeds(o, leg));
      if (i >= 0)
        throw new RuleError(
          `outputs[${i}]`,
          `output ${i + 1} (${describeOutput(spec.outputs[i]!)}) sends into the input of rule ${r.id} (${describeInput(leg)}): the relay would take its own packets again`,
        );
    }
    for (const [k, leg] of mine.entries()) {
      const j = r.outputs.findIndex((o) => feeds(o, leg));
      if (j >= 0)
        throw new RuleError(
          legField(k),
          `rule ${r.id}'s output ${j + 1} (${describeOutput(r.outputs[j]!)}) sends into this rule's input (${describeInput(leg)}): the relay would take its own packets again`,
        );
    }
  }
}

/**
 * Why an interface cannot send an output, or undefined: an IPv4 output needs an IPv4 address, an
 * IPv6 one a global address (a link-local group, ff02::/16, the link-local one).
 */
export function missingSource(o: Pick<Output, "group" | "interface">, info: InterfaceInfo): string | undefined {
  if (!isIPv6(o.group)) return info.ipv4 ? undefined : `interface ${o.interface} has no IPv4 address to send from`;
  if (isLinkLocalGroupIPv6(o.group))
    return info.ipv6LinkLocal ? undefined : `interface ${o.interface} has no link-local IPv6 address to send from`;
  return info.ipv6 ? undefined : `interface ${o.interface} has no global IPv6 address to send from`;
}

/** The address an output sends from on info, or undefined (missingSource says why). */
export function sourceAddress(o: Pick<Output, "group">, info: InterfaceInfo): string | undefined {
  if (!isIPv6(o.group)) return info.ipv4;
  return isLinkLocalGroupIPv6(o.group) ? info.ipv6LinkLocal : info.ipv6;
}

const isLinkLocalGroupIPv6 = (addr: string) => {
  const g = parseIPv6(addr);
  return g !== undefined && isMulticastIPv6(g) && multicastScopeIPv6(g) === 2;
};

export type LookupInterface = (name: string) => InterfaceInfo | undefined;

/**
 * The rule against this host: the input interface must be one the supervisor serves (and is
 * filled in when it serves exactly one), every output interface must exist and have an address
 * of the output's family to send from (missingSource).
 */
export function checkHost(spec: RuleInput, served: readonly string[], lookup: LookupInterface): RuleSpec {
  let inputInterface = spec.inputInterface;
  if (inputInterface === undefined) {
    if (served.length !== 1)
      throw new RuleError("inputInterface", `the supervisor serves ${served.join(", ")}: name the input interface`);
    inputInterface = served[0]!;
  } else if (!served.includes(inputInterface)) {
    throw new RuleError(
      "inputInterface",
      `the supervisor does not serve ${inputInterface} (it serves ${served.join(", ")}): start it with --interface ${inputInterface}`,
    );
  } else if (!lookup(inputInterface)) {
    throw new RuleError("inputInterface", `no interface named ${inputInterface} on this host`);
  }
  if (isUnicastInput(spec.inputGroup)) {
    const info = lookup(inputInterface);
    const v6 = isIPv6(spec.inputGroup);
    const own = v6
      ? (info?.ipv6Addresses ?? []).map((a) => canonicalIPv6(a) ?? a)
      : (info?.ipv4Addresses ?? (info?.ipv4 ? [info.ipv4] : []));
    if (!own.includes(spec.inputGroup))
      throw new RuleError(
        "inputGroup",
        `${spec.inputGroup} is not an address of ${inputInterface} (${own.length ? `it has ${own.join(", ")}` : `it has no ${v6 ? "IPv6" : "IPv4"} address`}): a unicast input takes the datagrams sent to the relay's own address`,
      );
  }
  spec.outputs.forEach((o, i) => {
    const info = lookup(o.interface);
    if (!info)
      throw new RuleError(
        `outputs[${i}].interface`,
        `output ${i + 1} (${describeOutput(o)}): no interface named ${o.interface} on this host`,
      );
    const missing = missingSource(o, info);
    if (missing) throw new RuleError(`outputs[${i}].interface`, `output ${i + 1} (${describeOutput(o)}): ${missing}`);
    if (isIPv6(o.group)) return;
    // The kernel refuses to connect to a broadcast address: the output could never send.
    const prefix = info.ipv4Prefix;
    if (prefix !== undefined && prefix < 31 && !isMulticast(parseIPv4(o.group)!)) {
      const broadcast = (parseIPv4(info.ipv4 ?? "")! | (0xffffffff >>> prefix)) >>> 0;
      if (parseIPv4(o.group) === broadcast)
        throw new RuleError(
          `outputs[${i}].group`,
          `output ${i + 1} (${describeOutput(o)}): ${o.group} is the broadcast address of ${o.interface}'s subnet (${info.ipv4}/${prefix}), which mcr does not relay to`,
        );
    }
  });
  spec.merge?.legs.forEach((l, i) => {
    const at = `merge.legs[${i}].interface`;
    if (!served.includes(l.interface))
      throw new RuleError(
        at,
        `input ${i + 2}: the supervisor does not serve ${l.interface} (it serves ${served.join(", ")}): start it with --interface ${l.interface}`,
      );
    if (!lookup(l.interface)) throw new RuleError(at, `input ${i + 2}: no interface named ${l.interface} on this host`);
  });
  const full: RuleSpec = { ...spec, inputInterface };
  checkLoop(full);
  return full;
}

/**
 * One rule per (input interface, group, port, VLAN, source): a second would make every packet go
 * out twice. Rules may share a group and port with different sources (the longest prefix that
 * matches a datagram's source takes it; a rule without sources takes the sources no rule names).
 */
export function checkTable(spec: RuleSpec, rules: readonly Rule[]): void {
  const named = spec.name === undefined ? undefined : rules.find((r) => r.name === spec.name);
  if (named)
    throw new RuleError("name", `rule ${named.id} is already named ${spec.name}: a name names one rule`, "duplicate");
  for (const r of rules) {
    const hit = overlap(spec, r);
    if (!hit) continue;
    const [mine, theirs] = hit;
    const leg = inputsOf(spec)[mine]!;
    const their = inputsOf(r)[theirs]!;
    const merge = spec.merge !== undefined || r.merge !== undefined;
    const which = inputsOf(r).length > 1 ? ` (its input ${theirs + 1})` : "";
    if (!sameInput(leg, their))
      throw new RuleError(
        legField(mine),
        `rule ${r.id} relays ${describeInput(their)}${which}, some of the datagrams of ${describeInput(leg)}: beside a merge rule, sources do not share a group and port (the other rule would take them from the merge), so remove it first (mcr rule remove ${r.id})`,
        "duplicate",
      );
    throw new RuleError(
      legField(mine),
      `rule ${r.id} already relays ${describeInput(leg)}${which}: ${
        merge ? "a datagram goes to one rule" : "add outputs to it"
      }, or remove it first (mcr rule remove ${r.id})`,
      "duplicate",
    );
  }
}

/** Whether two inputs would take the same datagrams: same input, VLAN, and a source in common (or both any). */
export function sameInput(a: RuleInputLeg, b: RuleInputLeg): boolean {
  if (a.inputInterface !== b.inputInterface || a.inputGroup !== b.inputGroup || a.inputPort !== b.inputPort)
    return false;
  if ((a.inputVlan ?? 0) !== (b.inputVlan ?? 0)) return false;
  const sa = a.inputSources ?? [anySource(a.inputGroup)];
  const sb = b.inputSources ?? [anySource(b.inputGroup)];
  return sa.some((s) => sb.includes(s));
}

/** Whether some datagram could match both inputs: same input and VLAN, and two source prefixes that meet. */
function inputsMeet(a: RuleInputLeg, b: RuleInputLeg): boolean {
  if (a.inputInterface !== b.inputInterface || a.inputGroup !== b.inputGroup || a.inputPort !== b.inputPort)
    return false;
  if ((a.inputVlan ?? 0) !== (b.inputVlan ?? 0)) return false;
  const sa = a.inputSources ?? [anySource(a.inputGroup)];
  const sb = b.inputSources ?? [anySource(b.inputGroup)];
  return sa.some((x) => sb.some((y) => prefixesMeet(x, y)));
}

/** Two source prefixes of one family meet when the shorter holds the longer. */
function prefixesMeet(a: string, b: string): boolean {
  const bits = (p: string): [Uint8Array, number] => {
    const [addr, len] = p.split("/");
    const v6 = isIPv6(addr!);
    return [address16(addr!), len === undefined ? 128 : Number(len) + (v6 ? 0 : 96)];
  };
  const [x, lx] = bits(a);
  const [y, ly] = bits(b);
  const n = Math.min(lx, ly);
  for (let i = 0; i < n; i++) if (((x[i >> 3]! ^ y[i >> 3]!) >> (7 - (i & 7))) & 1) return false;
  return true;
}

/** The source prefix that stands for "any source" in the group's family. */
export const anySource = (group: string) => (isIPv6(group) ? "::/0" : "0.0.0.0/0");
/** Whether a rule's input (as checkSpec leaves it) is a unicast address of the relay's, not a group. */
export const isUnicastInput = (group: string) =>
  isIPv6(group) ? !isMulticastIPv6(parseIPv6(group) ?? [0xff00]) : !isMulticast(parseIPv4(group) ?? 0xe0000000);
/** Whether a rule's address (as checkSpec leaves it) is IPv6. */
export const isIPv6 = (addr: string) => addr.includes(":");

export const describeInput = (s: RuleInputLeg) =>
  `${s.inputSources ? `(${s.inputSources.join(",")}) ` : ""}${addressPort(s.inputGroup, s.inputPort)}${
    s.inputVlan ? ` VLAN ${s.inputVlan}` : ""
  }${s.inputInterface ? ` on ${s.inputInterface}` : ""}`;
/** All of a rule's inputs: the one, or a merge rule's legs and mode. */
export const describeInputs = (s: RuleInput) =>
  s.merge ? `${s.merge.mode} merge of ${inputsOf(s).map(describeInput).join(" + ")}` : describeInput(s);
export const describeOutput = (o: Pick<Output, "group" | "port" | "interface">) =>
  `${addressPort(o.group, o.port)}:${o.interface}`;

function checkOutput(x: unknown, i: number, allowLinkLocal: boolean): Output {
  const at = `outputs[${i}]`;
  if (!isObject(x)) throw new RuleError(at, `output ${i + 1} must be an object, got ${kind(x)}`);
  for (const k of Object.keys(x))
    if (!OUTPUT_KEYS.has(k)) throw new RuleError(`${at}.${k}`, `output ${i + 1}: unknown field "${k}"`);
  const label = `output ${i + 1}: `;
  const group = checkAddress(x.group, `${at}.group`, label, allowLinkLocal);
  const port = checkPort(x.port, `${at}.port`, label);
  const iface = checkIfName(x.interface, `${at}.interface`, label);
  const ttl =
    x.ttl === undefined ? DEFAULT_TTL : x.ttl === TTL_FROM_INPUT ? TTL_FROM_INPUT : checkTtl(x.ttl, `${at}.ttl`, label);
  const out: Output = { group, port, interface: iface, ttl };
  if (x.dscp !== undefined) out.dscp = asRule(() => checkInteger(x.dscp, `${at}.dscp`, DSCP), `${at}.dscp`, label);
  if (x.rate !== undefined) out.rate = asRule(() => checkInteger(x.rate, `${at}.rate`, RATE), `${at}.rate`, label);
  if (x.burst !== undefined) {
    if (out.rate === undefined) throw new RuleError(`${at}.burst`, `${label}burst is the rate limit's: give rate too`);
    out.burst = asRule(() => checkInteger(x.burst, `${at}.burst`, BURST), `${at}.burst`, label);
  } else if (out.rate !== undefined) {
    out.burst = Math.max(1, Math.round(out.rate / 10)); // a tenth of a second's worth
  }
  return out;
}

/**
 * Sources: hosts or prefixes of the group's family, as "a.b.c.d" or "2001:db8::7" (a host) or
 * "a.b.c.d/len", "2001:db8::/32" with no host bits set. Kept in canonical text (RFC 5952 for IPv6).
 */
function checkSources(x: unknown, field: string, v6: boolean): string[] {
  if (!Array.isArray(x)) throw new RuleError(field, `must be a list of source addresses, got ${kind(x)}`);
  if (x.length === 0) throw new RuleError(field, "an empty list of sources: leave it out to take any source");
  if (x.length > MAX_SOURCES_PER_RULE)
    throw new RuleError(field, `a rule has at most ${MAX_SOURCES_PER_RULE} sources, this one has ${x.length}`);
  const family = v6 ? "IPv6" : "IPv4";
  const out: string[] = [];
  x.forEach((s, i) => {
    const at = `${field}[${i}]`;
    const label = `source ${i + 1}: `;
    if (typeof s !== "string")
      throw new RuleError(at, `${label}must be an ${family} address or prefix, got ${kind(s)}`);
    const canonical = v6 ? checkSourceIPv6(s, at, label) : checkSourceIPv4(s, at, label);
    const first = out.indexOf(canonical);
    if (first >= 0) throw new RuleError(at, `${label}${canonical} repeats source ${first + 1}`);
    out.push(canonical);
  });
  return out;
}

function checkSourceIPv4(s: string, at: string, label: string): string {
  const [addr, len, extra] = s.split("/");
  const ip = parseIPv4(addr ?? "");
  if (ip === undefined || extra !== undefined || (len !== undefined && !/^\d{1,2}$/.test(len))) {
    const hint = parseIPv6(addr ?? "") ? ": an IPv4 group takes IPv4 sources" : " (e.g. 10.1.1.1 or 10.1.0.0/16)";
    throw new RuleError(at, `${label}"${s}" is not an IPv4 address or prefix${hint}`);
  }
  const bits = len === undefined ? 32 : Number(len);
  if (bits < 1 || bits > 32)
    throw new RuleError(at, `${label}"${s}": a prefix length is 1 to 32 (for any source, give no source)`);
  const mask = bits === 32 ? 0xffffffff : ~(0xffffffff >>> bits) >>> 0;
  if ((ip & ~mask) >>> 0 !== 0)
    throw new RuleError(
      at,
      `${label}"${s}" has bits set past /${bits}: write ${formatIPv4((ip & mask) >>> 0)}/${bits}`,
    );
  if (isMulticast(ip) || ip >>> 24 === 0 || ip >>> 24 >= 240)
    throw new RuleError(at, `${label}${s} cannot be a datagram's source`);
  return bits === 32 ? formatIPv4(ip) : `${formatIPv4(ip)}/${bits}`;
}

function checkSourceIPv6(s: string, at: string, label: string): string {
  const [addr, len, extra] = s.split("/");
  const g = parseIPv6(addr ?? "");
  if (g === undefined || extra !== undefined || (len !== undefined && !/^\d{1,3}$/.test(len))) {
    const hint =
      parseIPv4(addr ?? "") !== undefined
        ? ": an IPv6 group takes IPv6 sources"
        : " (e.g. 2001:db8::7 or 2001:db8::/32)";
    throw new RuleError(at, `${label}"${s}" is not an IPv6 address or prefix${hint}`);
  }
  const bits = len === undefined ? 128 : Number(len);
  if (bits < 1 || bits > 128)
    throw new RuleError(at, `${label}"${s}": a prefix length is 1 to 128 (for any source, give no source)`);
  const masked = g.map((v, k) => {
    const keep = Math.max(0, Math.min(16, bits - k * 16));
    return keep === 0 ? 0 : v & ((0xffff << (16 - keep)) & 0xffff);
  });
  if (masked.some((v, k) => v !== g[k]))
    throw new RuleError(at, `${label}"${s}" has bits set past /${bits}: write ${formatIPv6(masked)}/${bits}`);
  if (isMulticastIPv6(g) || (bits === 128 && unicastProblemIPv6(g)))
    throw new RuleError(at, `${label}${s} cannot be a datagram's source`);
  return bits === 128 ? formatIPv6(g) : `${formatIPv6(g)}/${bits}`;
}

const LINK_LOCAL_HINT =
  "a link-local group (224.0.0.0/24), relayed only by a rule with --allow-link-local (config: allow_link_local = true)";
const LINK_LOCAL_HINT6 =
  "a link-local group (ff02::/16), relayed only by a rule with --allow-link-local (config: allow_link_local = true)";

/** An IPv6 multicast group's scope problem, or undefined: interface-local (and reserved 0) never leave the host. */
function scopeProblemIPv6(g: readonly number[], text: string, allowLinkLocal: boolean): string | undefined {
  const scope = multicastScopeIPv6(g);
  if (scope === 0) return `${text} has the reserved multicast scope 0, which no packet may carry`;
  if (scope === 1) return `${text} is interface-local (ff01::/16 scope), which never leaves a host`;
  if (scope === 2 && !allowLinkLocal) return `${text} is ${LINK_LOCAL_HINT6}`;
  return undefined;
}

/** The input group, IPv4 or IPv6; IPv6 in canonical text, so that one group has one spelling. */
function checkGroup(x: unknown, field: string, allowLinkLocal: boolean): string {
  if (typeof x !== "string")
    throw new RuleError(
      field,
      `must be a multicast group such as 239.1.1.1 or ff3e::1:1, or an address of the input interface, got ${kind(x)}`,
    );
  if (x.includes(":")) {
    const g = parseIPv6(x);
    if (!g) throw new RuleError(field, `"${x}" is not an IPv6 address (e.g. ff3e::1:1)`);
    if (!isMulticastIPv6(g)) {
      // A unicast input, as for IPv4 below: an address of the input interface's (checkHost).
      const problem = unicastProblemIPv6(g);
      if (problem)
        throw new RuleError(
          field,
          `${x} ${problem}: an input is a multicast group (ff00::/8) or an address of the input interface`,
        );
      return formatIPv6(g);
    }
    const problem = scopeProblemIPv6(g, x, allowLinkLocal);
    if (problem) throw new RuleError(field, problem);
    return formatIPv6(g);
  }
  const ip = parseIPv4(x);
  if (ip === undefined)
    throw new RuleError(
      field,
      `"${x}" is not an IPv4 address (write it as four numbers, e.g. 239.1.1.1) or an IPv6 one (e.g. ff3e::1:1)`,
    );
  if (!isMulticast(ip)) {
    // A unicast input: the datagrams sent to the relay's own address (checkHost: the input
    // interface's), as from the far end of a tunnel.
    const problem = unicastProblem(ip);
    if (problem)
      throw new RuleError(
        field,
        `${x} ${problem}: an input is a multicast group (224.0.0.0/4) or an address of the input interface`,
      );
    return x;
  }
  if (isLinkLocalMulticast(ip) && !allowLinkLocal) throw new RuleError(field, `${x} is ${LINK_LOCAL_HINT}`);
  return x;
}

/** An output destination: a multicast group or a unicast host, IPv4 or IPv6 (canonical text). */
function checkAddress(x: unknown, field: string, label: string, allowLinkLocal: boolean): string {
  if (typeof x !== "string")
    throw new RuleError(field, `${label}the destination must be an IPv4 or IPv6 address, got ${kind(x)}`);
  if (x.includes(":")) {
    const g = parseIPv6(x);
    if (!g) throw new RuleError(field, `${label}"${x}" is not an IPv6 address (e.g. ff3e::9:9 or 2001:db8::5)`);
    const problem = isMulticastIPv6(g) ? scopeProblemIPv6(g, x, allowLinkLocal) : unicastProblemIPv6(g);
    if (problem) throw new RuleError(field, `${label}${isMulticastIPv6(g) ? problem : `${x} ${problem}`}`);
    return formatIPv6(g);
  }
  const ip = parseIPv4(x);
  if (ip === undefined)
    throw new RuleError(field, `${label}"${x}" is not an IPv4 address (write it as four numbers, e.g. 239.10.10.10)`);
  if (isMulticast(ip)) {
    if (isLinkLocalMulticast(ip) && !allowLinkLocal) throw new RuleError(field, `${label}${x} is ${LINK_LOCAL_HINT}`);
  } else {
    const problem = unicastProblem(ip);
    if (problem) throw new RuleError(field, `${label}${x} ${problem}`);
  }
  return x;
}

export function checkPort(x: unknown, field: string, label = ""): number {
  return asRule(() => checkInteger(x, field, PORT), field, label);
}

export function checkTtl(x: unknown, field: string, label = ""): number {
  return asRule(() => checkInteger(x, field, TTL), field, label);
}

function checkIfName(x: unknown, field: string, label = ""): string {
  return asRule(() => ifName(x, field), field, label);
}

/** A value parser's refusal, as a rule's: exit 65, the field, the output it is about. */
function asRule<T>(f: () => T, field: string, label: string): T {
  try {
    return f();
  } catch (e) {
    if (e instanceof ValueError) throw new RuleError(field, label + e.message);
    throw e;
  }
}

const isObject = (x: unknown): x is Record<string, unknown> => typeof x === "object" && x !== null && !Array.isArray(x);
