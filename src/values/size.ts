// Sizes in bytes ("4096", "32M"; k, M, G are powers of 1000 as everywhere in mcr's numbers) and
// sizes in MiB (--ring-mb).
import { parseNumber } from "./number.ts";

export interface SizeRule {
  min?: number;
  max?: number;
}

/** Bytes, with k, M, G suffixes. */
export function parseBytes(text: string, field: string, r: SizeRule = {}): number {
  return parseNumber(text, field, { ...r, suffix: true, what: `a size in bytes` });
}

/** --ring-mb and ring_mb: the receive ring per worker and interface, whole MiB. */
export const RING_MB = { min: 1, max: 4096 } as const;
