// Durations with a unit, in whole milliseconds: "10ms", "200ms", "5s", "1.5s". The unit is
// required: a bare "200" could be either. Durations without a unit (the traffic tools' --interval
// 0.5, in seconds) are seconds.ts's.
import { show, ValueError } from "./error.ts";

export interface DurationRule {
  /** Milliseconds, inclusive. */
  min: number;
  max: number;
}

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000 };

/** Text such as "50ms" or "5s" -> milliseconds, a whole number within r. */
export function parseDuration(text: string, field: string, r: DurationRule): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s)$/.exec(text);
  const range = `from ${formatDuration(r.min)} to ${formatDuration(r.max)}`;
  if (!m) throw new ValueError(field, `${show(text)} is not a duration (write a number and ms or s, e.g. 200ms or 5s)`);
  const ms = Number(m[1]) * (UNIT_MS[m[2] ?? ""] ?? 1);
  // 1.0005s is no whole number of milliseconds; rounding it would be a guess.
  if (!Number.isSafeInteger(Math.round(ms * 1000)) || Math.abs(ms - Math.round(ms)) > 1e-9)
    throw new ValueError(field, `${show(text)} is not a whole number of milliseconds`);
  const v = Math.round(ms);
  if (v < r.min || v > r.max) throw new ValueError(field, `${show(text)} is out of range (use ${range})`);
  return v;
}

/** Milliseconds as an operator writes them: 50 -> "50ms", 5000 -> "5s", 1500 -> "1500ms". */
export function formatDuration(ms: number): string {
  return ms >= 1000 && ms % 1000 === 0 ? `${ms / 1000}s` : `${ms}ms`;
}
