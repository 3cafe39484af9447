// The command line's rule syntax -> RuleInput. Only syntax lives here; checkSpec judges values.
//   --input IFACE:GROUP:PORT[:SOURCE] (repeatable: a merge rule's legs, the first the primary),
//   an IPv6 group in brackets: eth0:[ff3e::1]:5001[:2001:db8::7]
//   --merge rtp [--merge-window 50ms|<N>pkts] | --merge failover --failover-after 200ms [--revert-after 5s]
//   --outputs 239.10.10.10:6001:eth1[,10.0.0.7:6002:eth2[:ttl][:key=value...],...]
//   an IPv6 destination in brackets: [ff3e::9:9]:5099:eth1, [2001:db8::5]:7000:eth1:ttl=8
//   output options after the interface: a bare number (the TTL, first only), ttl=N|-1, dscp=N,
//   rate=N[k|M], burst=N. The config file's output strings go through the same parser.
import { parseDuration } from "../values/duration.ts";
import { show, ValueError } from "../values/error.ts";
import { parseNumber } from "../values/number.ts";
import { checkInteger, type IntegerRule, parseInteger, PORT, TTL } from "../values/integer.ts";
import {
  DEFAULT_TTL,
  type InputLeg,
  type MergeSpec,
  type Output,
  type RuleInput,
  TTL_FROM_INPUT,
} from "../types/rules.ts";
import {
  BURST,
  checkSpec,
  DSCP,
  FAILOVER_AFTER_MS,
  MERGE_LEGS,
  MERGE_WINDOW_MS,
  MERGE_WINDOW_PACKETS,
  RATE,
  REVERT_AFTER_MS,
  RuleError,
  VLAN,
} from "./validate.ts";

export interface RuleFlags {
  inputGroup?: string;
  /** Text as typed, or a number the command line has already read as one. */
  inputPort?: string | number;
  inputInterface?: string;
  outputs?: string;
  ttl?: string | number; // default TTL for outputs that give none
  name?: string;
  allowLinkLocal?: boolean;
  /** --input-source, repeatable, each a comma list. */
  inputSource?: string | string[];
  inputVlan?: string | number;
  /** The merge that fromInputs made of several --input (internal). */
  mergeSpec?: MergeSpec;
  /** --input, repeatable, parsed (parseInputLeg): the rule's inputs, the first its own. */
  inputs?: InputLeg[];
  /** --merge and its settings. */
  merge?: MergeFlags;
}

export interface MergeFlags {
  mode?: MergeSpec["mode"];
  window?: MergeWindow; // --merge-window
  failoverAfterMs?: number; // --failover-after
  revertAfterMs?: number; // --revert-after
}

export type MergeWindow = { windowMs: number } | { windowPackets: number };

/** Parses and checks a rule given as flags. Throws RuleError naming the field. */
export function parseRuleFlags(f: RuleFlags): RuleInput {
  if (f.inputs !== undefined && f.inputs.length > 0) return parseRuleFlags({ ...f, ...fromInputs(f), inputs: [] });
  if (f.merge !== undefined && Object.values(f.merge).some((v) => v !== undefined))
    throw new ValueError("merge", "a merge takes two to four inputs: give each with --input IFACE:GROUP:PORT");
  if (f.inputGroup === undefined)
    throw new RuleError("inputGroup", "missing: which multicast group to relay, e.g. 239.1.1.1");
  if (f.inputPort === undefined) throw new RuleError("inputPort", "missing: which UDP port to relay, e.g. 5001");
  if (f.outputs === undefined) throw new RuleError("outputs", "missing: where to send, e.g. 239.10.10.10:6001:eth1");
  const ttl = f.ttl === undefined ? DEFAULT_TTL : integer(f.ttl, "ttl", TTL);
  const sources = f.inputSource === undefined ? undefined : parseSources(f.inputSource);
  return checkSpec({
    ...(f.inputInterface !== undefined ? { inputInterface: f.inputInterface } : {}),
    inputGroup: f.inputGroup,
    inputPort: integer(f.inputPort, "inputPort", PORT),
    ...(sources !== undefined ? { inputSources: sources } : {}),
    ...(f.inputVlan !== undefined ? { inputVlan: integer(f.inputVlan, "inputVlan", VLAN) } : {}),
    outputs: parseOutputs(f.outputs, ttl),
    ...(f.name !== undefined ? { name: f.name } : {}),
    ...(f.allowLinkLocal ? { allowLinkLocal: true } : {}),
    ...(f.mergeSpec !== undefined ? { merge: f.mergeSpec } : {}),
  });
}

/**
 * --input legs -> the rule's own input fields (the first leg) and, with two or more, its merge.
 * How the flags combine is the command line's to say (a ValueError naming the flag's field: 64);
 * what the values are is checkSpec's.
 */
function fromInputs(f: RuleFlags): Partial<RuleFlags> & { mergeSpec?: MergeSpec } {
  const legs = f.inputs ?? [];
  const mixed = (
    [
      ["inputGroup", "--input-group"],
      ["inputPort", "--input-port"],
      ["inputInterface", "--input-interface"],
      ["inputSource", "--input-source"],
    ] as const
  ).find(([k]) => f[k] !== undefined);
  if (mixed)
    throw new ValueError(
      "inputs",
      `${mixed[1]} and --input both name the input: give IFACE:GROUP:PORT[:SOURCE] with --input alone`,
    );
  const [first] = legs as [InputLeg, ...InputLeg[]];
  const own = {
    inputInterface: first.interface,
    inputGroup: first.group,
    inputPort: first.port,
    ...(first.source !== undefined ? { inputSource: [first.source] } : {}),
  };
  const m = f.merge ?? {};
  if (legs.length === 1) {
    if (Object.values(m).some((v) => v !== undefined))
      throw new ValueError("merge", "a merge takes two to four inputs, and one --input is given");
    return own;
  }
  return { ...own, merge: undefined, mergeSpec: mergeOf(legs, m) };
}

/** The merge of two to four legs, from its mode and settings; a ValueError names the misplaced one. */
export function mergeOf(legs: readonly InputLeg[], m: MergeFlags): MergeSpec {
  if (legs.length > MERGE_LEGS.max)
    throw new ValueError("merge.legs", `a merge takes at most ${MERGE_LEGS.max} inputs, ${legs.length} are given`);
  if (m.mode === undefined)
    throw new ValueError(
      "merge",
      `${legs.length} inputs need a merge mode: rtp (the first copy of each RTP packet) or failover (one input at a time)`,
    );
  const rest = legs.slice(1);
  if (m.mode === "rtp") {
    if (m.failoverAfterMs !== undefined)
      throw new ValueError("merge.failoverAfterMs", "applies to --merge failover only, not to --merge rtp");
    if (m.revertAfterMs !== undefined)
      throw new ValueError("merge.revertAfterMs", "applies to --merge failover only, not to --merge rtp");
    return { mode: "rtp", legs: rest, ...(m.window ?? {}) };
  }
  if (m.window !== undefined)
    throw new ValueError("merge.windowMs", "applies to --merge rtp only, not to --merge failover");
  if (m.failoverAfterMs === undefined)
    throw new ValueError("merge.failoverAfterMs", "a failover merge needs it: how long the first input may be silent");
  return {
    mode: "failover",
    legs: rest,
    failoverAfterMs: m.failoverAfterMs,
    ...(m.revertAfterMs !== undefined ? { revertAfterMs: m.revertAfterMs } : {}),
  };
}

/**
 * "IFACE:GROUP:PORT[:SOURCE]" -> a leg: the interface up to the first colon (no interface name
 * has one), the group (IPv6 in brackets), the port, then the source if any (IPv6 bare or in
 * brackets). Syntax and the port's range here; the group, source and interface are checkSpec's.
 */
export function parseInputLeg(text: string, field: string): InputLeg {
  const bad = (why: string, example = "write IFACE:GROUP:PORT[:SOURCE], e.g. eth0:239.1.1.1:5001"): never => {
    throw new ValueError(field, `${show(text)} ${why} (${example})`);
  };
  const c = text.indexOf(":");
  if (c <= 0) bad("names no interface");
  const iface = text.slice(0, c);
  let rest = text.slice(c + 1);
  let group: string;
  if (rest.startsWith("[")) {
    const close = rest.indexOf("]");
    if (close < 0 || rest[close + 1] !== ":") bad("has an IPv6 group whose brackets are not closed before the port");
    group = rest.slice(1, close);
    rest = rest.slice(close + 2);
  } else {
    const k = rest.indexOf(":");
    if (k < 0) bad("has no port");
    group = rest.slice(0, k);
    rest = rest.slice(k + 1);
    if (group === "") bad("has no group");
    // No IPv4 address is without dots: hex digits alone are the start of an unbracketed IPv6 group.
    if (/^[0-9A-Fa-f]+$/.test(group) && !/^\d+$/.test(group))
      bad("looks like an IPv6 group", "write it in brackets, e.g. eth0:[ff3e::1]:5001");
  }
  if (group === "") bad("has no group");
  const k = rest.indexOf(":");
  const portText = k < 0 ? rest : rest.slice(0, k);
  let port: number;
  try {
    port = parseInteger(portText, field, PORT);
  } catch (e) {
    if (e instanceof ValueError) throw new ValueError(field, `${show(text)}: ${e.message}`);
    throw e;
  }
  const leg: InputLeg = { interface: iface, group, port };
  if (k >= 0) {
    const src = rest.slice(k + 1).replace(/^\[(.*)\]$/, "$1");
    if (src === "") bad("ends in a colon with no source");
    leg.source = src;
  }
  return leg;
}

/** --merge-window: "50ms" (a duration) or "500pkts" (a count of packets), within the bounds of each. */
export function parseMergeWindow(text: string, field: string): MergeWindow {
  const pkts = /^(\d+)pkts$/.exec(text);
  if (pkts) {
    const n = Number(pkts[1]);
    if (n < MERGE_WINDOW_PACKETS.min || n > MERGE_WINDOW_PACKETS.max)
      throw new ValueError(
        field,
        `${show(text)} is out of range (use from ${MERGE_WINDOW_PACKETS.min}pkts to ${MERGE_WINDOW_PACKETS.max}pkts)`,
      );
    return { windowPackets: n };
  }
  if (!/^\d+(\.\d+)?(ms|s)$/.test(text))
    throw new ValueError(
      field,
      `${show(text)} is not a window: write a duration (10ms, 50ms, 450ms) or a count of packets (500pkts)`,
    );
  return { windowMs: parseDuration(text, field, MERGE_WINDOW_MS) };
}

/** --failover-after and --revert-after, as durations within their bounds. */
export const parseFailoverAfter = (text: string, field: string) => parseDuration(text, field, FAILOVER_AFTER_MS);
export const parseRevertAfter = (text: string, field: string) => parseDuration(text, field, REVERT_AFTER_MS);

/** "--input-source A --input-source B,C" -> ["A", "B", "C"] (each judged by checkSpec). */
export function parseSources(x: string | string[]): string[] {
  const all = (Array.isArray(x) ? x : [x]).flatMap((t) => t.split(","));
  all.forEach((t, i) => {
    if (t.trim() === "") throw new RuleError(`inputSources[${i}]`, `source ${i + 1} is empty`);
  });
  return all.map((t) => t.trim());
}

/** "group:port:iface[:ttl],..." -> outputs (values unchecked beyond being numbers where due). */
export function parseOutputs(text: string, defaultTtl = DEFAULT_TTL): Output[] {
  if (text.trim() === "") throw new RuleError("outputs", "empty: give at least one group:port:interface");
  return text.split(",").map((raw, i) => {
    const entry = raw.trim();
    const parts = splitOutput(entry, i);
    if (entry === "" || parts.length < 3 || parts.some((p) => p === ""))
      throw new RuleError(
        `outputs[${i}]`,
        `output ${i + 1} "${entry}" is not group:port:interface or group:port:interface:ttl${
          /^[0-9A-Fa-f]{0,4}:[0-9A-Fa-f]{0,4}:/.test(entry)
            ? " (write an IPv6 group in brackets: [ff3e::9:9]:5099:eth1)"
            : ""
        }`,
      );
    const label = `output ${i + 1}: `;
    const out: Output = {
      group: parts[0] ?? "",
      port: integer(parts[1] ?? "", `outputs[${i}].port`, PORT, label),
      interface: parts[2] ?? "",
      ttl: defaultTtl,
    };
    parseOutputOptions(parts.slice(3), i, out);
    return out;
  });
}

/** An output's fields: "[v6]:port:if:..." keeps the address whole, "v4:port:if:..." splits on every colon. */
function splitOutput(entry: string, i: number): string[] {
  if (!entry.startsWith("[")) return entry.split(":");
  const close = entry.indexOf("]");
  if (close < 0 || entry[close + 1] !== ":")
    throw new RuleError(
      `outputs[${i}]`,
      `output ${i + 1} "${entry}": an IPv6 group is written in brackets and followed by the port, e.g. [ff3e::9:9]:5099:eth1`,
    );
  return [entry.slice(1, close), ...entry.slice(close + 2).split(":")];
}

const OPTION_KEYS = ["ttl", "dscp", "rate", "burst"] as const;

/** The options after an output's interface, into out (ranges are checkSpec's, but numbers must be numbers). */
function parseOutputOptions(options: string[], i: number, out: Output): void {
  const label = `output ${i + 1}: `;
  const seen = new Set<string>();
  options.forEach((opt, j) => {
    const eq = opt.indexOf("=");
    // A bare number first is the TTL, as before options existed.
    const [key, value] =
      eq < 0 && j === 0 && /^[0-9]+$/.test(opt) ? ["ttl", opt] : [opt.slice(0, eq), opt.slice(eq + 1)];
    if (eq < 0 && key !== "ttl")
      throw new RuleError(
        `outputs[${i}]`,
        `${label}"${opt}" is not an option: write key=value (${OPTION_KEYS.join(", ")}), or the TTL as a bare number first`,
      );
    if (!(OPTION_KEYS as readonly string[]).includes(key))
      throw new RuleError(`outputs[${i}].${key}`, `${label}unknown option "${key}" (known: ${OPTION_KEYS.join(", ")})`);
    const field = `outputs[${i}].${key}`;
    if (seen.has(key)) throw new RuleError(field, `${label}${key} is given twice`);
    seen.add(key);
    if (key === "ttl") out.ttl = value === "-1" ? TTL_FROM_INPUT : integer(value, field, TTL, label);
    else if (key === "dscp") out.dscp = integer(value, field, DSCP, label);
    else if (key === "rate") out.rate = rate(value, field, label);
    else out.burst = integer(value, field, BURST, label);
  });
}

/** Packets per second: digits, with k or M (the values layer's one number scanner). */
function rate(text: string, field: string, label: string): number {
  try {
    return parseNumber(text, field, { ...RATE, fraction: false, suffix: true });
  } catch (e) {
    if (e instanceof ValueError) throw new RuleError(field, label + e.message);
    throw e;
  }
}

/** Decimal digits only (the values layer's rule: "0x10", "1e3" or " 5" are not numbers), in range. */
function integer(x: string | number, field: string, r: IntegerRule, label = ""): number {
  try {
    return checkInteger(typeof x === "string" && /^[0-9]{1,6}$/.test(x) ? Number(x) : x, field, r);
  } catch (e) {
    if (e instanceof ValueError) throw new RuleError(field, label + e.message);
    throw e;
  }
}

/**
 * The command-line flag an error's field comes from, for messages. `viaInput`: the rule's own
 * input was given with --input, so its fields are that flag's.
 */
export function flagOf(field: string | undefined, viaInput = false): string | undefined {
  if (field === undefined) return undefined;
  const merge: Record<string, string> = {
    "merge.windowMs": "--merge-window",
    "merge.windowPackets": "--merge-window",
    "merge.failoverAfterMs": "--failover-after",
    "merge.revertAfterMs": "--revert-after",
  };
  if (merge[field] !== undefined) return merge[field];
  if (field.startsWith("merge.legs") || field === "inputs") return "--input";
  if (viaInput && /^input(Group|Port|Interface|Sources)\b/.test(field)) return "--input";
  const head = field.replace(/[.[].*$/, "");
  const flags: Record<string, string> = {
    inputGroup: "--input-group",
    inputPort: "--input-port",
    inputInterface: "--input-interface",
    outputs: "--outputs",
    ttl: "--ttl",
    name: "--name",
    allowLinkLocal: "--allow-link-local",
    inputSources: "--input-source",
    inputVlan: "--input-vlan",
    merge: "--merge",
    id: "ID",
  };
  return flags[head] ?? field;
}
