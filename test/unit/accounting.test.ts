import { describe, expect, test } from "bun:test";
import { SinkAccounting } from "../../src/tools/accounting.ts";
import { Histogram, bucketOf, bucketRange } from "../../src/tools/histogram.ts";
import { Status } from "../../src/tools/payload.ts";

const RUN = 0xdeadbeef;

/** Feeds sequence numbers of one stream (entry 0, stream 0), latency = 1000 + seq ns. */
function feed(seqs: number[], opts: ConstructorParameters<typeof SinkAccounting>[0] = {}) {
  const a = new SinkAccounting(opts);
  for (const s of seqs) a.add(0, RUN, 0, s, 1000 + s, Status.OK, true);
  return a;
}

describe("sink accounting", () => {
  test("an in-order stream: all unique, nothing lost", () => {
    const a = feed([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    const t = a.totals();
    expect(t).toMatchObject({
      datagrams: 10,
      valid: 10,
      unique: 10,
      duplicates: 0,
      reordered: 0,
      lost: 0,
      lossRatio: 0,
    });
    expect(a.streams()).toEqual([
      {
        entry: 0,
        runId: RUN,
        stream: 0,
        first: 0,
        last: 9,
        received: 10,
        unique: 10,
        duplicates: 0,
        reordered: 0,
        tooOld: 0,
        lost: 0,
      },
    ]);
  });

  test("gaps are losses", () => {
    const t = feed([0, 1, 4, 5, 9]).totals();
    expect(t.unique).toBe(5);
    expect(t.lost).toBe(5); // 2, 3, 6, 7, 8
    expect(t.lossRatio).toBe(0.5);
    expect(t.reordered).toBe(0);
  });

  test("duplicates are counted once, and are not losses", () => {
    const t = feed([0, 1, 1, 2, 2, 2, 3]).totals();
    expect(t).toMatchObject({ valid: 7, unique: 4, duplicates: 3, lost: 0, reordered: 0 });
  });

  test("a late packet is reordered, not lost and not a duplicate", () => {
    const t = feed([0, 1, 3, 2, 4, 6, 5, 7]).totals();
    expect(t).toMatchObject({ unique: 8, reordered: 2, lost: 0, duplicates: 0 });
  });

  test("a late packet fills its gap; a repeat of the late packet is a duplicate", () => {
    const a = feed([0, 5, 1, 2, 1, 5]);
    expect(a.totals()).toMatchObject({ unique: 4, duplicates: 2, reordered: 2, lost: 2 }); // 3, 4 lost
  });

  test("a stream that starts mid-way counts from its first packet", () => {
    const t = feed([1000, 1001, 1003, 1004]).totals();
    expect(t).toMatchObject({ unique: 4, lost: 1 });
    const s = feed([1000, 1001, 1003, 1004]).streams()[0]!;
    expect(s.first).toBe(1000);
    expect(s.last).toBe(1004);
  });

  test("a packet from before the first one extends the range back", () => {
    const a = feed([500, 501, 498, 502]);
    expect(a.totals()).toMatchObject({ unique: 4, reordered: 1, lost: 1 }); // 499
    expect(a.streams()[0]!.first).toBe(498);
  });

  test("expect counts a lost head and tail", () => {
    const t = feed([2, 3, 4, 6], { expect: 10 }).totals();
    expect(t.lost).toBe(6); // 0, 1, 5, 7, 8, 9
    expect(t.unique).toBe(4);
  });

  test("expect counts an entry where nothing arrived as all lost", () => {
    const a = new SinkAccounting({ expect: 5, entries: 2 });
    for (const s of [0, 1, 2, 3, 4]) a.add(0, RUN, 0, s, 10, Status.OK);
    expect(a.totals()).toMatchObject({ unique: 5, lost: 5, lossRatio: 0.5 });
  });

  test("streams are kept apart by entry, stream id and run id", () => {
    const a = new SinkAccounting();
    // two streams of one gen interleaved, and a second gen (another run) reusing stream 0
    for (let i = 0; i < 100; i++) {
      a.add(0, RUN, 0, i, 5000, Status.OK);
      if (i % 10 !== 3) a.add(0, RUN, 1, i, 5000, Status.OK); // 10 lost on stream 1
      a.add(0, 7, 0, i + 50, 5000, Status.OK);
    }
    a.add(1, RUN, 0, 0, 5000, Status.OK); // same stream seen on another entry: not a duplicate
    a.add(1, RUN, 0, 0, 5000, Status.OK); // ... but this is
    const st = a.streams();
    expect(st.map((s) => [s.entry, s.stream, s.runId, s.unique, s.lost, s.duplicates])).toEqual([
      [0, 0, 7, 100, 0, 0],
      [0, 0, RUN, 100, 0, 0],
      [0, 1, RUN, 90, 10, 0],
      [1, 0, RUN, 1, 0, 1],
    ]);
    expect(a.totals()).toMatchObject({ unique: 291, lost: 10, duplicates: 1, reordered: 0 });
  });

  test("bad datagrams are counted by kind and kept out of the streams", () => {
    const a = new SinkAccounting();
    a.add(0, RUN, 0, 0, 100, Status.OK);
    a.add(0, RUN, 0, 1, 100, Status.CORRUPT);
    a.add(0, RUN, 0, 2, 100, Status.TRUNCATED);
    a.add(0, 0, 0, 0, 0, Status.FOREIGN);
    a.add(0xffff, RUN, 0, 3, 100, Status.OK);
    a.add(0, RUN, 0, 4, 100, Status.OK);
    expect(a.totals()).toMatchObject({
      datagrams: 6,
      valid: 2,
      unique: 2,
      lost: 3,
      corrupt: 1,
      truncated: 1,
      foreign: 1,
      unmatched: 1,
    });
  });

  test("sequence numbers above 2^32 work", () => {
    const base = 2 ** 40 + 17;
    const t = feed([base, base + 1, base + 1, base + 3, base + 2]).totals();
    expect(t).toMatchObject({ unique: 4, duplicates: 1, reordered: 1, lost: 0 });
  });

  test("duplicates are found within the window; older arrivals count as tooOld", () => {
    const a = new SinkAccounting({ windowBits: 6 }); // 64
    for (let i = 0; i < 200; i++) if (i !== 10) a.add(0, RUN, 0, i, 1, Status.OK);
    a.add(0, RUN, 0, 150, 1, Status.OK); // in the window: duplicate
    a.add(0, RUN, 0, 10, 1, Status.OK); // far behind: counted, not judged
    const s = a.streams()[0]!;
    expect(s).toMatchObject({ unique: 200, duplicates: 1, tooOld: 1, reordered: 1, lost: 0 });
  });

  test("a jump beyond the window forgets the old marks", () => {
    const a = new SinkAccounting({ windowBits: 6 });
    a.add(0, RUN, 0, 0, 1, Status.OK);
    a.add(0, RUN, 0, 1000, 1, Status.OK);
    a.add(0, RUN, 0, 1000 - 64, 1, Status.OK); // slot of 1000 - 64 = slot of 1000 - 128... all cleared
    a.add(0, RUN, 0, 999, 1, Status.OK);
    expect(a.totals()).toMatchObject({ unique: 4, duplicates: 0, lost: 997 });
  });

  test("latency percentiles of unique packets only", () => {
    const a = new SinkAccounting();
    // latencies 1..1000 us, shuffled by a fixed stride so the order is not sorted
    for (let i = 0; i < 1000; i++) {
      const k = (i * 7) % 1000;
      a.add(0, RUN, 0, k, (k + 1) * 1000, Status.OK, true);
    }
    a.add(0, RUN, 0, 5, 9e9, Status.OK); // a duplicate: its latency is not a sample
    const l = a.latencySummary();
    expect(l.samples).toBe(1000);
    expect(l.kernelTimestamps).toBe(1000);
    expect(l.minUs).toBe(1);
    expect(l.maxUs).toBe(1000);
    expect(l.meanUs).toBe(500.5);
    expect(l.p50Us).toBeCloseTo(500, 0); // within the histogram's 0.05%
    expect(Math.abs(l.p50Us - 500) / 500).toBeLessThan(0.0005);
    expect(Math.abs(l.p99Us - 990) / 990).toBeLessThan(0.0005);
    expect(Math.abs(l.p999Us - 999) / 999).toBeLessThan(0.0005);
  });
});

describe("histogram", () => {
  test("values below 1024 are exact", () => {
    const h = new Histogram();
    for (const v of [5, 1, 3, 2, 4]) h.record(v);
    expect(h.percentile(50)).toBe(3);
    expect(h.percentile(20)).toBe(1);
    expect(h.percentile(21)).toBe(2);
    expect(h.percentile(100)).toBe(5);
    expect(h.percentile(0)).toBe(1);
  });

  test("nearest rank: p99 of 1..100 is 99, p99 of 1..1000 is 990", () => {
    const a = new Histogram();
    for (let v = 1; v <= 100; v++) a.record(v);
    expect(a.percentile(99)).toBe(99);
    expect(a.percentile(50)).toBe(50);
    const b = new Histogram();
    for (let v = 1; v <= 1000; v++) b.record(v);
    expect(b.percentile(99)).toBe(990);
  });

  test("buckets tile the number line with relative width below 2^-10", () => {
    let prevHi = 0;
    for (let i = 0; i < 20000; i++) {
      const [lo, hi] = bucketRange(i);
      expect(lo).toBe(prevHi);
      if (lo >= 1024) expect((hi - lo) / lo).toBeLessThanOrEqual(1 / 1024);
      prevHi = hi;
    }
    for (const v of [0, 1023, 1024, 1025, 2047, 2048, 123456789, 2 ** 40, 2 ** 40 - 1, 2 ** 52 + 3]) {
      const [lo, hi] = bucketRange(bucketOf(v));
      expect(v >= lo && v < hi).toBe(true);
    }
  });

  test("large values: percentile within 0.05%, max exact", () => {
    const h = new Histogram();
    h.record(30_000);
    h.record(31_337);
    h.record(5_000_000);
    expect(Math.abs(h.percentile(50) - 31_337) / 31_337).toBeLessThan(0.0005);
    expect(h.percentile(100)).toBe(5_000_000);
    expect(h.max).toBe(5_000_000);
  });

  test("negative values land in the zero bucket but keep min", () => {
    const h = new Histogram();
    h.record(-50);
    h.record(100);
    expect(h.min).toBe(-50);
    expect(h.percentile(50)).toBe(0);
  });

  test("empty: NaN", () => {
    expect(new Histogram().percentile(50)).toBeNaN();
  });
});
