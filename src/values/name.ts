// Rule names (`--name cam-1`): what an operator calls a rule in commands, the config file and
// metric labels. Letters, digits, "-", "_" and "." (safe unquoted in a shell, a TOML value and a
// Prometheus label), starting with a letter or a digit; not all digits, so that a name never
// reads as a rule id.
import { kind, show, ValueError } from "./error.ts";

export const MAX_NAME_LENGTH = 64;

/** Why the text cannot be a rule name, or undefined if it can. */
export function ruleNameProblem(name: string): string | undefined {
  if (name.length === 0) return "is empty";
  if (name.length > MAX_NAME_LENGTH) return `is longer than ${MAX_NAME_LENGTH} characters`;
  if (!/^[A-Za-z0-9._-]+$/.test(name)) return "has a character other than letters, digits, -, _ and .";
  if (/^[0-9]+$/.test(name)) return "is all digits, which reads as a rule id";
  // "-x" would read as a flag on the command line.
  if (!/^[A-Za-z0-9]/.test(name)) return "does not start with a letter or a digit";
  return undefined;
}

/** A rule name, or a ValueError naming the field. */
export function ruleName(x: unknown, field: string): string {
  if (typeof x !== "string") throw new ValueError(field, `the name must be text such as cam-1, got ${kind(x)}`);
  const problem = ruleNameProblem(x);
  if (problem) throw new ValueError(field, `${show(x)} is not a rule name (it ${problem})`);
  return x;
}

/**
 * A rule reference as typed: digits are an id, anything else must be a name. Throws a
 * ValueError (a usage error) for text that is neither.
 */
export function parseRuleRef(text: string, field: string): number | string {
  if (/^[0-9]{1,9}$/.test(text) && Number(text) >= 1) return Number(text);
  if (ruleNameProblem(text) === undefined) return text;
  throw new ValueError(
    field,
    `${show(text)} is neither a rule id (a positive integer) nor a rule name (see mcr rule list)`,
  );
}
