// Medians with their min and max, over the runs of one point.

export interface Agg {
  n: number;
  median: number;
  min: number;
  max: number;
}

export function agg(values: number[]): Agg | null {
  const v = values.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return null;
  const mid = v.length >> 1;
  const median = v.length % 2 ? v[mid]! : (v[mid - 1]! + v[mid]!) / 2;
  return { n: v.length, median, min: v[0]!, max: v[v.length - 1]! };
}

/** "0.12 (0.10–0.15)" with `digits` decimals; "–" for no data. */
export function fmtAgg(a: Agg | null, digits = 1, unit = ""): string {
  if (!a) return "–";
  const f = (x: number) => x.toFixed(digits) + unit;
  if (a.n === 1 || a.min === a.max) return f(a.median);
  return `${f(a.median)} (${f(a.min)}–${f(a.max)})`;
}

/** A loss ratio as a percentage that shows small non-zero losses. */
export function fmtLossPct(x: number): string {
  if (x === 0) return "0";
  const p = x * 100;
  if (p < 0.001) return p.toExponential(1) + "%";
  if (p < 0.1) return p.toFixed(4) + "%";
  return p.toFixed(2) + "%";
}

export function fmtLossAgg(a: Agg | null): string {
  if (!a) return "–";
  if (a.n === 1 || a.min === a.max) return fmtLossPct(a.median);
  return `${fmtLossPct(a.median)} (${fmtLossPct(a.min)}–${fmtLossPct(a.max)})`;
}

export function fmtPps(x: number | null | undefined): string {
  if (x === null || x === undefined || !Number.isFinite(x)) return "–";
  if (x >= 1e6) return `${(x / 1e6).toFixed(2)} M`;
  if (x >= 1e3) return `${Math.round(x / 1e3)} k`;
  return String(Math.round(x));
}
