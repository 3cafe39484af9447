// Figures relative to a reference measured in the same run (the bare wire, socat), and the CPU a
// relay spends per packet. Pure: the report and the run's log use them.

/** x ÷ ref, or undefined where either is missing or the reference is not positive. */
export function ratio(x: number | undefined, ref: number | undefined): number | undefined {
  if (x === undefined || ref === undefined || !Number.isFinite(x) || !Number.isFinite(ref) || ref <= 0)
    return undefined;
  return x / ref;
}

/** "0.65×" (two decimals under 10, one above); "–" where there is no ratio. */
export function fmtRatio(r: number | undefined): string {
  if (r === undefined) return "–";
  return `${r.toFixed(r < 10 ? 2 : 1)}×`;
}

/** A figure followed by its ratios to the named references: "0.65× bare, 3.02× socat" (missing ones left out). */
export function fmtRatios(x: number | undefined, refs: [name: string, value: number | undefined][]): string {
  const parts = refs.map(([n, v]) => [n, ratio(x, v)] as const).filter(([, r]) => r !== undefined);
  return parts.map(([n, r]) => `${fmtRatio(r)} ${n}`).join(", ");
}

/** Packets per second of sending: what reached the socket, over the generator's send time. */
export function perSecond(packets: number, durationS: number): number | undefined {
  return durationS > 0 && Number.isFinite(packets) ? packets / durationS : undefined;
}

/**
 * CPU-seconds per million packets: `percent` of one core held over `durationS`, for `packets`.
 * Undefined without packets (a relay that relayed nothing has no cost per packet).
 */
export function cpuPerMillion(percent: number | undefined, durationS: number, packets: number): number | undefined {
  if (percent === undefined || !Number.isFinite(percent) || !(durationS > 0) || !(packets > 0)) return undefined;
  return ((percent / 100) * durationS * 1e6) / packets;
}
