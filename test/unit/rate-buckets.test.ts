// The rate limits' shared buckets on the TypeScript side: the region's layout, which bucket each
// rate-limited output gets from the supervisor (kept while the output stays what it was, a new
// one zeroed, i.e. full, for an output that is new or changed, given-up ones reused last), and
// the bucket written into the shim's output entries.
import { describe, expect, test } from "bun:test";
import { BUCKET_WORDS, OUTPUT_ENTRY as OE } from "../../src/native/abi.ts";
import { RateBuckets } from "../../src/supervisor/buckets.ts";
import type { Output, Rule } from "../../src/types/rules.ts";
import { bucketRegionBytes, bucketWord, initBuckets, MAX_BUCKETS, openBuckets } from "../../src/worker/buckets.ts";
import { SlotAllocator, TableCompiler } from "../../src/worker/table.ts";

const out = (group: string, o: Partial<Output> = {}): Output => ({
  group,
  port: 6001,
  interface: "eth1",
  ttl: 1,
  ...o,
});
const rule = (id: number, outputs: Output[]): Rule => ({
  id,
  inputInterface: "eth0",
  inputGroup: "239.1.1.1",
  inputPort: 5001,
  outputs,
});

const region = (n: number) => initBuckets(new Uint8Array(bucketRegionBytes(n)), n);
/** Marks a bucket as used (a word a worker moved), to see whether it was zeroed again. */
const dirty = (r: ReturnType<typeof region>, i: number) => (r.words[i * BUCKET_WORDS] = 12345n);

describe("bucket region", () => {
  test("a header, then a cache line per bucket; another process opens it by its header", () => {
    expect(bucketRegionBytes(3)).toBe(64 + 3 * 64);
    const bytes = new Uint8Array(bucketRegionBytes(3));
    const r = initBuckets(bytes, 3);
    expect(r.count).toBe(3);
    expect(r.words.length).toBe(3 * BUCKET_WORDS);
    r.words[2 * BUCKET_WORDS] = 7n;
    const again = openBuckets(bytes);
    expect(again.count).toBe(3);
    expect(bucketWord(again, 2)).toBe(7n);
  });

  test("refuses what is not a region, a short one, and more buckets than 16 bits name", () => {
    expect(() => openBuckets(new Uint8Array(128))).toThrow("not an mcr bucket region");
    const bytes = new Uint8Array(bucketRegionBytes(4));
    initBuckets(bytes, 4);
    expect(() => openBuckets(bytes.subarray(0, bucketRegionBytes(3)))).toThrow("bucket region truncated");
    expect(() => initBuckets(new Uint8Array(64), 1)).toThrow("bucket region too small");
    expect(() => initBuckets(new Uint8Array(8), MAX_BUCKETS + 1)).toThrow(`at most ${MAX_BUCKETS}`);
  });
});

describe("RateBuckets", () => {
  test("one bucket per rate-limited output, none for the others; the same answer for the same table", () => {
    const book = new RateBuckets(region(8));
    const rules = [
      rule(1, [out("239.9.9.1", { rate: 2000 }), out("239.9.9.2")]),
      rule(2, [out("239.9.9.3", { rate: 100, burst: 5 })]),
    ];
    expect(book.assign(rules)).toEqual({ "1:0": 0, "2:0": 1 });
    expect(book.assign(rules)).toEqual({ "1:0": 0, "2:0": 1 });
    expect(book.short).toBe(0);
  });

  test("an output that stays keeps its bucket and its tokens; a changed or new one gets a full one", () => {
    const r = region(8);
    const book = new RateBuckets(r);
    const a = out("239.9.9.1", { rate: 2000 });
    expect(book.assign([rule(1, [a, out("239.9.9.2", { rate: 10 })])])).toEqual({ "1:0": 0, "1:1": 1 });
    dirty(r, 0);
    dirty(r, 1);
    // rule replace: output 0 the same, output 1 another limit, output 2 new.
    const next = book.assign([rule(1, [a, out("239.9.9.2", { rate: 20 }), out("239.9.9.4", { rate: 5 })])]);
    expect(next).toEqual({ "1:0": 0, "1:1": 2, "1:2": 3 });
    expect(bucketWord(r, 0)).toBe(12345n); // not refilled: no gap, no extra burst
    expect(bucketWord(r, 2)).toBe(0n);
    expect(bucketWord(r, 3)).toBe(0n);
  });

  test("buckets given up are handed out again only when no fresh one is left, oldest first, zeroed", () => {
    const r = region(3);
    const book = new RateBuckets(r);
    book.assign([rule(1, [out("239.9.9.1", { rate: 1 })]), rule(2, [out("239.9.9.2", { rate: 1 })])]);
    dirty(r, 0);
    dirty(r, 1);
    // Rule 1 goes, rule 3 comes: the never-used bucket 2 first.
    expect(book.assign([rule(2, [out("239.9.9.2", { rate: 1 })]), rule(3, [out("239.9.9.3", { rate: 1 })])])).toEqual({
      "2:0": 1,
      "3:0": 2,
    });
    // Rule 4 comes: bucket 0 (rule 1's), zeroed for it.
    const all = [
      rule(2, [out("239.9.9.2", { rate: 1 })]),
      rule(3, [out("239.9.9.3", { rate: 1 })]),
      rule(4, [out("239.9.9.4", { rate: 1 })]),
    ];
    expect(book.assign(all)).toEqual({ "2:0": 1, "3:0": 2, "4:0": 0 });
    expect(bucketWord(r, 0)).toBe(0n);
    expect(bucketWord(r, 1)).toBe(12345n);
    // None left: the fifth output goes without (its workers limit it alone), and says so.
    expect(book.assign([...all, rule(5, [out("239.9.9.5", { rate: 1 })])])).toEqual({ "2:0": 1, "3:0": 2, "4:0": 0 });
    expect(book.short).toBe(1);
  });
});

describe("TableCompiler: the bucket in the output entry", () => {
  const iface = (name: string) =>
    ({ eth0: { ifindex: 2, ipv4: "10.0.0.2" }, eth1: { ifindex: 3, ipv4: "10.0.1.1" } })[name] as never;
  const compile = (rules: Rule[], buckets?: { of: Record<string, number>; count: number }) => {
    const c = new TableCompiler(new SlotAllocator(16), new SlotAllocator(16), () => {});
    const t = c.compile(rules, iface, buckets ? { buckets } : {});
    const v = new DataView(t.outputs.buffer);
    return [...Array(t.nOutputs).keys()].map((i) => v.getUint16(i * OE.BYTES + OE.BUCKET, true));
  };
  const rules = [rule(1, [out("239.9.9.1", { rate: 2000 }), out("239.9.9.2"), out("239.9.9.3", { rate: 5 })])];

  test("1 + the bucket for a rate-limited output that has one; 0 (the worker's own) otherwise", () => {
    expect(compile(rules, { of: { "1:0": 4, "1:2": 0 }, count: 8 })).toEqual([5, 0, 1]);
    // No region: every limit is the worker's own.
    expect(compile(rules)).toEqual([0, 0, 0]);
    // A bucket past the region, or one given to an output without a rate, is not written.
    expect(compile(rules, { of: { "1:0": 8, "1:1": 2, "1:2": -1 }, count: 8 })).toEqual([0, 0, 0]);
  });
});
