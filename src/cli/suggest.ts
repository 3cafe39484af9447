// "did you mean --workers?": the closest known name to a mistyped one.

/** Levenshtein distance (insert, delete, substitute: 1 each). */
export function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++)
      cur[j] = Math.min(
        (prev[j] ?? 0) + 1,
        (cur[j - 1] ?? 0) + 1,
        (prev[j - 1] ?? 0) + (a[i - 1] === b[j - 1] ? 0 : 1),
      );
    prev = cur;
  }
  return prev[b.length] ?? 0;
}

/**
 * The known name closest to `given`, if it is close: within a third of its length in edits (at
 * least 1, at most 3), or the only name it begins ("--interf" -> "--interface").
 */
export function closest(given: string, known: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestD = Math.min(3, Math.max(1, Math.floor(given.length / 3)));
  for (const k of known) {
    const d = editDistance(given, k);
    if (d < bestD || (d === bestD && best === undefined)) [best, bestD] = [k, d];
  }
  if (best !== undefined) return best;
  const prefixed = known.filter((k) => given.length >= 3 && k.startsWith(given));
  return prefixed.length === 1 ? prefixed[0] : undefined;
}
