// Percentages: "1%", "0.5%", "100%" (the sign required, so a bare "1" is not read as 1% or 100%).
import { show, ValueError } from "./error.ts";
import { parseNumber } from "./number.ts";

/** A percentage from 0% to 100%, in parts per million (whole: "0.00005%" is refused). */
export function parsePercentPpm(text: string, field: string): number {
  const bad = () => new ValueError(field, `${show(text)} is not a percentage from 0% to 100% (e.g. 1% or 0.5%)`);
  if (!text.endsWith("%")) throw bad();
  let pct: number;
  try {
    pct = parseNumber(text.slice(0, -1), field, { min: 0, max: 100, fraction: true });
  } catch (e) {
    if (e instanceof ValueError) throw bad();
    throw e;
  }
  const ppm = pct * 10_000;
  if (Math.abs(ppm - Math.round(ppm)) > 1e-6)
    throw new ValueError(field, `${show(text)} is finer than a millionth (0.0001%)`);
  return Math.round(ppm);
}
