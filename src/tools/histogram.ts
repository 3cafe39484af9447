// A log-linear histogram of non-negative integers (nanoseconds): exact below 1024, then 1024
// buckets per power of two, so a percentile read from it is within 0.05% of the true value.
// Fixed memory (about 360 KiB) whatever the number of samples.

const SUB_BITS = 10;
const SUB = 1 << SUB_BITS;
const MAX_EXP = 52; // values up to 2^53
const BUCKETS = (MAX_EXP - SUB_BITS + 2) * SUB;

function floorLog2(v: number): number {
  let e = Math.floor(Math.log2(v));
  if (2 ** e > v) e--;
  else if (2 ** (e + 1) <= v) e++;
  return e;
}

/** The bucket a value falls in. */
export function bucketOf(v: number): number {
  if (v < SUB) return v;
  const e = floorLog2(v);
  const shift = e - SUB_BITS;
  return (shift + 1) * SUB + (Math.floor(v / 2 ** shift) - SUB);
}

/** [low, high) of a bucket. */
export function bucketRange(i: number): [number, number] {
  if (i < SUB) return [i, i + 1];
  const shift = Math.floor(i / SUB) - 1;
  const m = (i % SUB) + SUB;
  return [m * 2 ** shift, (m + 1) * 2 ** shift];
}

export class Histogram {
  private counts = new Float64Array(BUCKETS);
  count = 0;
  sum = 0;
  min = Infinity;
  max = -Infinity;

  /** Records one value; values below 0 count as 0 in the buckets (min still shows them). */
  record(v: number): void {
    this.count++;
    this.sum += v;
    if (v < this.min) this.min = v;
    if (v > this.max) this.max = v;
    const x = v <= 0 ? 0 : Math.floor(v);
    this.counts[x < SUB ? x : bucketOf(Math.min(x, 2 ** 53 - 1))]!++;
  }

  mean(): number {
    return this.count ? this.sum / this.count : NaN;
  }

  /**
   * Nearest-rank percentile (the smallest value with at least p% of the samples at or below it),
   * read as the middle of its bucket and kept within [min, max]; the top rank is max itself. NaN
   * when empty.
   */
  percentile(p: number): number {
    if (this.count === 0) return NaN;
    const rank = Math.max(1, Math.ceil((p * this.count) / 100 - 1e-9)); // 99.9% of 1000 is 999, not 999.0000000000001
    if (rank >= this.count) return this.max; // the largest sample is known exactly
    let seen = 0;
    for (let i = 0; i < BUCKETS; i++) {
      seen += this.counts[i]!;
      if (seen >= rank) {
        const [lo, hi] = bucketRange(i);
        const mid = hi - lo === 1 ? lo : (lo + hi) / 2;
        return Math.min(Math.max(mid, this.min), this.max);
      }
    }
    return this.max;
  }
}
