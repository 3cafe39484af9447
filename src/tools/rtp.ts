// What `mcr sink` counts of RTP streams (RFC 3550), by SSRC, whatever their payload: the 16-bit
// sequence numbers are extended across wraps (a step of less than half the space forward is
// forward, else backward, as RFC 3550's A.1 reads them) and counted as accounting.ts counts gen's:
//   unique       sequence numbers seen at least once
//   duplicates   arrivals of one already seen (within the last 2^15)
//   outOfOrder   first arrivals of a number below the highest seen before it
//   lost         numbers between the first and the highest seen that never came (a lost head or
//                tail is invisible to RTP: gen's own numbers, with sink --expect, count those)
import { Stream } from "./accounting.ts";

/** Half the sequence space: the most a duplicate can lag and still be known for one. */
const WINDOW_BITS = 15;
/** Where a stream's first number is put, so that an earlier one stays positive. */
const BASE = 16 * 65536;

export interface RtpStreamSummary {
  entry: number;
  ssrc: number;
  packets: number; // arrivals, duplicates included
  unique: number;
  duplicates: number;
  outOfOrder: number;
  lost: number;
  firstSeq: number; // the lowest number seen (16-bit)
  lastSeq: number; // the highest (16-bit)
  wraps: number; // times the highest number went past 65535
}

class RtpStream {
  private readonly seqs: Stream;
  private top = -1;

  constructor(
    readonly entry: number,
    readonly ssrc: number,
  ) {
    this.seqs = new Stream(entry, ssrc, 0, WINDOW_BITS);
  }

  add(seq16: number): boolean {
    let ext: number;
    if (this.top < 0) ext = BASE + seq16;
    else {
      const d = (seq16 - this.top) & 0xffff;
      ext = d < 0x8000 ? this.top + d : this.top - (0x10000 - d);
    }
    if (ext > this.top) this.top = ext;
    return this.seqs.add(ext);
  }

  summary(): RtpStreamSummary {
    const s = this.seqs;
    return {
      entry: this.entry,
      ssrc: this.ssrc,
      packets: s.received,
      unique: s.unique,
      duplicates: s.duplicates,
      outOfOrder: s.reordered,
      lost: s.lost(),
      firstSeq: s.first & 0xffff,
      lastSeq: s.last & 0xffff,
      wraps: Math.floor(s.last / 65536) - BASE / 65536,
    };
  }
}

export class RtpAccounting {
  private readonly streams = new Map<number, RtpStream>(); // entry * 2^32 + ssrc
  private last: RtpStream | undefined;

  /** One RTP datagram for listen entry `entry` (0xffff: none, not counted). */
  add(entry: number, ssrc: number, seq16: number): void {
    if (entry === 0xffff) return;
    let s = this.last;
    if (!s || s.ssrc !== ssrc || s.entry !== entry) {
      const key = entry * 2 ** 32 + ssrc;
      s = this.streams.get(key);
      if (!s) this.streams.set(key, (s = new RtpStream(entry, ssrc)));
      this.last = s;
    }
    s.add(seq16);
  }

  summaries(): RtpStreamSummary[] {
    return [...this.streams.values()].map((s) => s.summary()).sort((a, b) => a.entry - b.entry || a.ssrc - b.ssrc);
  }
}
