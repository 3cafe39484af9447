// The command line's rule syntax -> RuleInput. Only syntax lives here; checkSpec judges values.
//   --outputs 239.10.10.10:6001:eth1[,10.0.0.7:6002:eth2[:ttl],...]
import { DEFAULT_TTL } from "../types/rules.ts";
import { checkPort, checkSpec, checkTtl, RuleError } from "./validate.ts";
import type { RuleInput } from "../types/rules.ts";

export interface RuleFlags {
  inputGroup?: string;
  inputPort?: string;
  inputInterface?: string;
  outputs?: string;
  ttl?: string; // default TTL for outputs that give none
}

/** Parses and checks a rule given as flags. Throws RuleError naming the field. */
export function parseRuleFlags(f: RuleFlags): RuleInput {
  if (f.inputGroup === undefined)
    throw new RuleError("inputGroup", "missing: which multicast group to relay, e.g. 239.1.1.1");
  if (f.inputPort === undefined) throw new RuleError("inputPort", "missing: which UDP port to relay, e.g. 5001");
  if (f.outputs === undefined) throw new RuleError("outputs", "missing: where to send, e.g. 239.10.10.10:6001:eth1");
  const ttl = f.ttl === undefined ? DEFAULT_TTL : integer(f.ttl, "ttl", checkTtl);
  return checkSpec({
    ...(f.inputInterface !== undefined ? { inputInterface: f.inputInterface } : {}),
    inputGroup: f.inputGroup,
    inputPort: integer(f.inputPort, "inputPort", checkPort),
    outputs: parseOutputs(f.outputs, ttl),
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
      group: parts[0]!,
      port: integer(parts[1]!, `outputs[${i}].port`, checkPort, label),
      interface: parts[2]!,
      ttl: parts[3] === undefined ? defaultTtl : integer(parts[3], `outputs[${i}].ttl`, checkTtl, label),
    };
  });
}

/** Decimal digits only: Number() would take "0x10", "1e3" or " 5". */
function integer(
  text: string,
  field: string,
  check: (x: unknown, field: string, label?: string) => number,
  label = "",
): number {
  return check(/^[0-9]{1,6}$/.test(text) ? Number(text) : text, field, label);
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
    id: "ID",
  };
  return flags[head] ?? field;
}
