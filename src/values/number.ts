// Decimal numbers as operators write them: "1000", "2.5", "10k", "1.5M". One scanner for every
// number mcr reads from text; Number() is not used on input because it takes "0x10", "1e3", " 5"
// and "" (as 0).
import { show, ValueError } from "./error.ts";

export interface NumberRule {
  min?: number;
  max?: number;
  /** Fractions allowed ("0.5"); otherwise only whole numbers. */
  fraction?: boolean;
  /** k, M, G suffixes (powers of 1000) allowed. */
  suffix?: boolean;
  /** What the value is, for messages: "a port" gives `"x" is not a port (use an integer from 1 to 65535)`. */
  what?: string;
}

const SUFFIX: Record<string, number> = { "": 1, k: 1e3, K: 1e3, m: 1e6, M: 1e6, g: 1e9, G: 1e9 };

/** The range as a message says it: "from 1 to 1024", "of at least 1", "up to 255". */
export function describeRange(r: NumberRule): string {
  const kind = r.fraction ? "a number" : "an integer";
  if (r.min !== undefined && r.max !== undefined) return `${kind} from ${r.min} to ${r.max}`;
  if (r.min !== undefined) return `${kind} of at least ${r.min}`;
  if (r.max !== undefined) return `${kind} up to ${r.max}`;
  return kind;
}

/** Throws the message for a value that is not a number within r. */
export function refuse(field: string, x: unknown, r: NumberRule): never {
  if (r.what !== undefined) throw new ValueError(field, `${show(x)} is not ${r.what} (use ${describeRange(r)})`);
  throw new ValueError(field, `${show(x)} is not ${describeRange(r)}${r.suffix ? " (k, M, G suffixes allowed)" : ""}`);
}

/** A number given as text: digits, an optional fraction, an optional suffix; within the range. */
export function parseNumber(text: string, field: string, r: NumberRule = {}): number {
  // A sign only where the range goes below zero (a worker's --cpu -1 means "none").
  const m = /^(-?)(\d+(?:\.\d+)?|\.\d+)([kKmMgG]?)$/.exec(text);
  if (!m || (m[3] !== "" && !r.suffix) || (m[1] === "-" && !((r.min ?? 0) < 0))) refuse(field, text, r);
  const v = (m[1] === "-" ? -1 : 1) * Number(m[2]) * (SUFFIX[m[3] ?? ""] ?? 1);
  if (!r.fraction && !Number.isInteger(v)) refuse(field, text, r);
  if (!Number.isFinite(v) || Math.abs(v) > Number.MAX_SAFE_INTEGER) refuse(field, text, r);
  return checkNumber(v, field, r, text);
}

/** A number already parsed (JSON, TOML): the right type and within the range. */
export function checkNumber(x: unknown, field: string, r: NumberRule = {}, shown: unknown = x): number {
  if (typeof x !== "number" || !Number.isFinite(x)) refuse(field, shown, r);
  if (!r.fraction && !Number.isInteger(x)) refuse(field, shown, r);
  if ((r.min !== undefined && x < r.min) || (r.max !== undefined && x > r.max)) refuse(field, shown, r);
  return x;
}
