// Integers with ranges: ports, TTLs, counts, CPU numbers. Text goes through the one number
// scanner (number.ts) with fractions off.
import { checkNumber, type NumberRule, parseNumber, refuse } from "./number.ts";

export type IntegerRule = Omit<NumberRule, "fraction">;

export const PORT: IntegerRule = { min: 1, max: 65535, what: "a port" };
export const TTL: IntegerRule = { min: 1, max: 255, what: "a TTL" };

export function parseInteger(text: string, field: string, r: IntegerRule = {}): number {
  return parseNumber(text, field, { ...r, fraction: false });
}

export function checkInteger(x: unknown, field: string, r: IntegerRule = {}): number {
  return checkNumber(x, field, { ...r, fraction: false });
}

/**
 * Only that the text is written as an integer (decimal digits), with no range check: where the
 * range is judged later by someone else (a rule's port, by the rule validator that the supervisor
 * runs too, exit 65), the command line still refuses "abc" itself, as a malformed command (64).
 * `r` only words the message.
 */
export function parseIntegerSyntax(text: string, field: string, r: IntegerRule = {}): number {
  if (!/^\d{1,15}$/.test(text)) refuse(field, text, { ...r, fraction: false });
  return Number(text);
}
