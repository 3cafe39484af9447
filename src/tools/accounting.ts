// What `mcr sink` counts, kept free of sockets so it can be tested on crafted sequences.
//
// A stream is (listen entry, run id, stream id): one gen process's packets to one destination, as
// they arrive for one --group/--listen entry. For each stream:
//   unique      sequence numbers seen at least once
//   duplicates  arrivals of a sequence number already seen
//   reordered   first arrivals of a number lower than the highest seen before it (RFC 4737's
//               "reordered": it came after a later packet)
//   lost        numbers in the stream's range never seen: the range is first..last seen, or with
//               `expect` 0..max(expect-1, last) so that a lost head or tail counts too
// Duplicates are recognised within a window of the last 2^20 sequence numbers; an arrival older
// than that counts as unique and reordered (and as `tooOld`).
import { Histogram } from "./histogram.ts";
import { Status } from "./payload.ts";

export const WINDOW_BITS = 20;

export interface StreamSummary {
  entry: number;
  runId: number;
  stream: number;
  first: number; // lowest sequence number seen
  last: number; // highest sequence number seen
  received: number; // valid arrivals, duplicates included
  unique: number;
  duplicates: number;
  reordered: number;
  tooOld: number;
  lost: number;
}

export interface Totals {
  datagrams: number; // everything the sockets delivered
  valid: number; // datagrams whose header and filler checked out
  unique: number;
  duplicates: number;
  reordered: number;
  lost: number;
  corrupt: number; // filler differs from what the sequence number says
  truncated: number; // length differs from the header's
  foreign: number; // not gen's payload at all
  unmatched: number; // arrived on a socket but for none of the listen entries
  lossRatio: number; // lost / (unique + lost)
}

export interface LatencySummary {
  samples: number;
  minUs: number;
  p50Us: number;
  p99Us: number;
  p999Us: number;
  maxUs: number;
  meanUs: number;
  kernelTimestamps: number; // samples timed by the kernel's receive timestamp
}

export class Stream {
  first = Infinity;
  last = -Infinity;
  received = 0;
  unique = 0;
  duplicates = 0;
  reordered = 0;
  tooOld = 0;
  private readonly seen: Uint32Array;
  private readonly mask: number;

  constructor(
    readonly entry: number,
    readonly runId: number,
    readonly stream: number,
    readonly windowBits: number,
  ) {
    this.seen = new Uint32Array(Math.max(1, (1 << windowBits) >>> 5));
    this.mask = (1 << windowBits) - 1;
  }

  /** Returns true for a first arrival. */
  add(seq: number): boolean {
    this.received++;
    const w = this.mask + 1;
    if (this.unique === 0) {
      this.first = this.last = seq;
      this.mark(seq);
      this.unique++;
      return true;
    }
    if (seq > this.last) {
      const gap = seq - this.last;
      if (gap >= w) this.seen.fill(0);
      else for (let s = this.last + 1; s < seq; s++) this.clear(s);
      this.clear(seq);
      this.mark(seq);
      this.last = seq;
      this.unique++;
      return true;
    }
    if (seq <= this.last - w) {
      this.tooOld++;
      this.reordered++;
      this.unique++;
      if (seq < this.first) this.first = seq;
      return true;
    }
    const bit = seq & this.mask;
    if (this.seen[bit >>> 5]! & (1 << (bit & 31))) {
      this.duplicates++;
      return false;
    }
    this.mark(seq);
    this.unique++;
    this.reordered++;
    if (seq < this.first) this.first = seq;
    return true;
  }

  private mark(seq: number): void {
    const bit = seq & this.mask; // ToInt32 keeps the low bits of any safe integer
    this.seen[bit >>> 5]! |= 1 << (bit & 31);
  }

  private clear(seq: number): void {
    const bit = seq & this.mask;
    this.seen[bit >>> 5]! &= ~(1 << (bit & 31));
  }

  lost(expect?: number): number {
    if (this.unique === 0) return expect ?? 0;
    const lo = expect === undefined ? this.first : 0;
    const hi = expect === undefined ? this.last : Math.max(expect - 1, this.last);
    return Math.max(0, hi - lo + 1 - this.unique);
  }
}

export interface AccountingOptions {
  /** Packets each stream was sent, numbered from 0 (gen's per-destination count). */
  expect?: number;
  /** Listen entries: with `expect`, an entry where no stream arrived counts `expect` lost. */
  entries?: number;
  windowBits?: number;
}

export class SinkAccounting {
  private readonly byEntry = new Map<number, Map<number, Stream>>();
  private lastKey = -1;
  private lastEntry = -1;
  private lastStream: Stream | undefined;
  private readonly windowBits: number;
  readonly latency = new Histogram();
  datagrams = 0;
  corrupt = 0;
  truncated = 0;
  foreign = 0;
  unmatched = 0;
  kernelTimestamps = 0;

  constructor(private readonly opts: AccountingOptions = {}) {
    this.windowBits = opts.windowBits ?? WINDOW_BITS;
    if (opts.expect !== undefined && !(Number.isSafeInteger(opts.expect) && opts.expect >= 0))
      throw new RangeError("expect must be a whole number >= 0");
  }

  /**
   * One datagram. entry: listen entry index (0xffff: none); status: payload.Status; latencyNs:
   * receive time - send time; kernelTs: whether the receive time is the kernel's. Returns true
   * when the datagram is valid and the first of its sequence number.
   */
  add(
    entry: number,
    runId: number,
    stream: number,
    seq: number,
    latencyNs: number,
    status: number,
    kernelTs = false,
  ): boolean {
    this.datagrams++;
    if (status !== Status.OK) {
      if (status === Status.CORRUPT) this.corrupt++;
      else if (status === Status.TRUNCATED) this.truncated++;
      else this.foreign++;
      return false;
    }
    if (entry === 0xffff) {
      this.unmatched++;
      return false;
    }
    const key = runId * 65536 + stream;
    let s = this.lastStream;
    if (key !== this.lastKey || entry !== this.lastEntry || !s) {
      let m = this.byEntry.get(entry);
      if (!m) this.byEntry.set(entry, (m = new Map()));
      s = m.get(key);
      if (!s) m.set(key, (s = new Stream(entry, runId, stream, this.windowBits)));
      this.lastKey = key;
      this.lastEntry = entry;
      this.lastStream = s;
    }
    if (!s.add(seq)) return false;
    this.latency.record(latencyNs);
    if (kernelTs) this.kernelTimestamps++;
    return true;
  }

  /** Unique datagrams so far, over every stream. */
  get unique(): number {
    let n = 0;
    for (const m of this.byEntry.values()) for (const s of m.values()) n += s.unique;
    return n;
  }

  streams(): StreamSummary[] {
    const out: StreamSummary[] = [];
    for (const m of this.byEntry.values())
      for (const s of m.values())
        out.push({
          entry: s.entry,
          runId: s.runId,
          stream: s.stream,
          first: s.first,
          last: s.last,
          received: s.received,
          unique: s.unique,
          duplicates: s.duplicates,
          reordered: s.reordered,
          tooOld: s.tooOld,
          lost: s.lost(this.opts.expect),
        });
    return out.sort((a, b) => a.entry - b.entry || a.stream - b.stream || a.runId - b.runId);
  }

  totals(): Totals {
    const t: Totals = {
      datagrams: this.datagrams,
      valid: 0,
      unique: 0,
      duplicates: 0,
      reordered: 0,
      lost: 0,
      corrupt: this.corrupt,
      truncated: this.truncated,
      foreign: this.foreign,
      unmatched: this.unmatched,
      lossRatio: 0,
    };
    for (const s of this.streams()) {
      t.valid += s.received;
      t.unique += s.unique;
      t.duplicates += s.duplicates;
      t.reordered += s.reordered;
      t.lost += s.lost;
    }
    const { expect, entries } = this.opts;
    if (expect !== undefined && entries !== undefined)
      for (let e = 0; e < entries; e++) if (!this.byEntry.has(e)) t.lost += expect;
    t.lossRatio = t.unique + t.lost > 0 ? t.lost / (t.unique + t.lost) : 0;
    return t;
  }

  latencySummary(): LatencySummary {
    const h = this.latency;
    const us = (ns: number) => (Number.isFinite(ns) ? Math.round(ns / 10) / 100 : NaN);
    return {
      samples: h.count,
      minUs: us(h.count ? h.min : NaN),
      p50Us: us(h.percentile(50)),
      p99Us: us(h.percentile(99)),
      p999Us: us(h.percentile(99.9)),
      maxUs: us(h.count ? h.max : NaN),
      meanUs: us(h.mean()),
      kernelTimestamps: this.kernelTimestamps,
    };
  }
}
