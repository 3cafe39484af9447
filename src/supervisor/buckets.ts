// Which rate-limit bucket (src/worker/buckets.ts) each rate-limited output of the table takes
// tokens from. One bucket per output, the same for every worker, so that the output's rate holds
// however PACKET_FANOUT spreads its sources over the workers.
//
// An output keeps its bucket for as long as it stays what it was (same rule, place, destination
// and limit): a table change, `rule replace` included, does not refill the outputs that stay. An
// output that is new, or whose destination or limit changed, gets a bucket zeroed for it: full.
// Buckets given up are handed out again last (oldest first), so that a worker still on the
// previous table for a moment does not take from a new output's bucket.
import type { Rule } from "../types/rules.ts";
import { resetBucket, type BucketRegion } from "../worker/buckets.ts";

/** What an output's bucket belongs to: a change to any of it is a new output. */
function identity(rule: Rule, index: number): string | undefined {
  const o = rule.outputs[index]!;
  if (o.rate === undefined) return undefined;
  return JSON.stringify([rule.id, index, o.group, o.port, o.interface, o.rate, o.burst ?? null]);
}

export class RateBuckets {
  private held = new Map<string, number>(); // identity -> bucket
  private readonly given: number[] = []; // buckets given up, oldest first
  private next = 0; // buckets never handed out start here
  /** Outputs that found no bucket left in the last assignment (they limit per worker). */
  short = 0;

  constructor(private readonly region: BucketRegion) {}

  /**
   * The bucket of each rate-limited output of `rules`, by `${ruleId}:${index}`. Outputs past the
   * region's buckets get none (each worker then limits them on its own; `short` counts them).
   */
  assign(rules: readonly Rule[]): Record<string, number> {
    const keep = new Map<string, number>();
    const wanted: [string, string][] = []; // [identity, key] of outputs without a bucket yet
    const out: Record<string, number> = {};
    for (const rule of rules)
      for (let i = 0; i < rule.outputs.length; i++) {
        const id = identity(rule, i);
        if (id === undefined) continue;
        const b = this.held.get(id);
        if (b !== undefined) {
          keep.set(id, b);
          out[`${rule.id}:${i}`] = b;
        } else wanted.push([id, `${rule.id}:${i}`]);
      }
    for (const [id, b] of this.held) if (!keep.has(id)) this.given.push(b);
    this.short = 0;
    for (const [id, key] of wanted) {
      const b = this.next < this.region.count ? this.next++ : this.given.shift();
      if (b === undefined) {
        this.short++;
        continue;
      }
      resetBucket(this.region, b);
      keep.set(id, b);
      out[key] = b;
    }
    this.held = keep;
    return out;
  }
}
