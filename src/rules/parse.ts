// The command line's rule syntax -> RuleInput. Only syntax lives here; checkSpec judges values.
//   --outputs 239.10.10.10:6001:eth1[,10.0.0.7:6002:eth2[:ttl][:key=value...],...]
//   an IPv6 destination in brackets: [ff3e::9:9]:5099:eth1, [2001:db8::5]:7000:eth1:ttl=8
//   output options after the interface: a bare number (the TTL, first only), ttl=N|-1, dscp=N,
//   rate=N[k|M], burst=N. The config file's output strings go through the same parser.
import { ValueError } from "../values/error.ts";
import { parseNumber } from "../values/number.ts";
import { checkInteger, type IntegerRule, PORT, TTL } from "../values/integer.ts";
import { DEFAULT_TTL, type Output, type RuleInput, TTL_FROM_INPUT } from "../types/rules.ts";
import { BURST, checkSpec, DSCP, RATE, RuleError, VLAN } from "./validate.ts";

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
}

/** Parses and checks a rule given as flags. Throws RuleError naming the field. */
export function parseRuleFlags(f: RuleFlags): RuleInput {
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
  });
}

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

/** The command-line flag an error's field comes from, for messages. */
export function flagOf(field: string | undefined): string | undefined {
  if (field === undefined) return undefined;
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
    id: "ID",
  };
  return flags[head] ?? field;
}
