// The command line's rule syntax -> RuleInput. Only syntax lives here; checkSpec judges values.
//   --outputs 239.10.10.10:6001:eth1[,10.0.0.7:6002:eth2[:ttl],...]
import { ValueError } from "../values/error.ts";
import { checkInteger, type IntegerRule, PORT, TTL } from "../values/integer.ts";
import { DEFAULT_TTL, type RuleInput } from "../types/rules.ts";
import { checkSpec, RuleError } from "./validate.ts";

export interface RuleFlags {
  inputGroup?: string;
  /** Text as typed, or a number the command line has already read as one. */
  inputPort?: string | number;
  inputInterface?: string;
  outputs?: string;
  ttl?: string | number; // default TTL for outputs that give none
  name?: string;
  allowLinkLocal?: boolean;
}

/** Parses and checks a rule given as flags. Throws RuleError naming the field. */
export function parseRuleFlags(f: RuleFlags): RuleInput {
  if (f.inputGroup === undefined)
    throw new RuleError("inputGroup", "missing: which multicast group to relay, e.g. 239.1.1.1");
  if (f.inputPort === undefined) throw new RuleError("inputPort", "missing: which UDP port to relay, e.g. 5001");
  if (f.outputs === undefined) throw new RuleError("outputs", "missing: where to send, e.g. 239.10.10.10:6001:eth1");
  const ttl = f.ttl === undefined ? DEFAULT_TTL : integer(f.ttl, "ttl", TTL);
  return checkSpec({
    ...(f.inputInterface !== undefined ? { inputInterface: f.inputInterface } : {}),
    inputGroup: f.inputGroup,
    inputPort: integer(f.inputPort, "inputPort", PORT),
    outputs: parseOutputs(f.outputs, ttl),
    ...(f.name !== undefined ? { name: f.name } : {}),
    ...(f.allowLinkLocal ? { allowLinkLocal: true } : {}),
  });
}

/** "group:port:iface[:ttl],..." -> outputs (values unchecked beyond being numbers where due). */
export function parseOutputs(
  text: string,
  defaultTtl = DEFAULT_TTL,
): { group: string; port: number; interface: string; ttl: number }[] {
  if (text.trim() === "") throw new RuleError("outputs", "empty: give at least one group:port:interface");
  return text.split(",").map((raw, i) => {
    const entry = raw.trim();
    const parts = entry.split(":");
    if (entry === "" || parts.length < 3 || parts.length > 4 || parts.some((p) => p === ""))
      throw new RuleError(
        `outputs[${i}]`,
        `output ${i + 1} "${entry}" is not group:port:interface or group:port:interface:ttl`,
      );
    const label = `output ${i + 1}: `;
    return {
      group: parts[0] ?? "",
      port: integer(parts[1] ?? "", `outputs[${i}].port`, PORT, label),
      interface: parts[2] ?? "",
      ttl: parts[3] === undefined ? defaultTtl : integer(parts[3], `outputs[${i}].ttl`, TTL, label),
    };
  });
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
    id: "ID",
  };
  return flags[head] ?? field;
}
