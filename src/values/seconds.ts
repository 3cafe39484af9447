// Durations in seconds, fractions allowed: --interval 0.5, --duration 10, --timeout 2.5.
import { show, ValueError } from "./error.ts";

export interface SecondsRule {
  /** The least allowed; without it, anything more than 0. */
  min?: number;
  max?: number;
}

export function parseSeconds(text: string, field: string, r: SecondsRule = {}): number {
  const range =
    r.min !== undefined && r.max !== undefined
      ? `from ${r.min} to ${r.max}`
      : r.min !== undefined
        ? `of at least ${r.min}`
        : "more than 0";
  const v = /^(\d+(\.\d+)?|\.\d+)$/.test(text) ? Number(text) : Number.NaN;
  const low = r.min !== undefined ? v < r.min : !(v > 0);
  if (!Number.isFinite(v) || low || (r.max !== undefined && v > r.max))
    throw new ValueError(field, `${show(text)} is not a number of seconds ${range}`);
  return v;
}
