// The counter region a worker counts into and its supervisor reads in place: a memfd the
// supervisor creates and maps before starting the worker, so the counts of a worker that died
// are still there to be added to the totals, to the last packet.
//
// Layout (little-endian): a 64-byte header {magic u32, version u32, ruleSlots u32, outputSlots u32,
// mergeSlots u32}, then uint64 counters: the worker-wide ones (COUNTER in src/native/abi.ts, then
// one per drop reason), ruleSlots x (packets, bytes), outputSlots x (packets, bytes, errors), the
// shim's send journal (JOURNAL_LEN words: shim/worker.c says what it holds), then mergeSlots x
// MERGE_COUNTER.COUNT (a merge rule's, then its legs').
import {
  COUNTER,
  countersLen,
  DROP_REASONS,
  JOURNAL,
  JOURNAL_LEN,
  MERGE_COUNTER as MC,
  MERGE_LEG_COUNTER as ML,
  MERGE_LEGS_MAX,
  N_COUNTERS,
  OUTPUT_COUNTER as OC,
  RULE_COUNTER as RC,
} from "../native/abi.ts";
import type { MergeCount, SlotMap, WorkerCounters } from "../types/counters.ts";

export const HEADER_BYTES = 64;
const MAGIC = 0x6d637243; // "Crcm"
const VERSION = 3; // 2: HEARTBEAT among the worker-wide counters; 3: the send journal, merge slots

// Re-exported for the region's readers (tests, the fake worker); the numbers are the shim's.
export { COUNTER, N_COUNTERS };

export const DEFAULT_RULE_SLOTS = 4096;
export const DEFAULT_OUTPUT_SLOTS = 16384;
export const DEFAULT_MERGE_SLOTS = 256;

function words(ruleSlots: number, outputSlots: number, mergeSlots: number): number {
  return countersLen(ruleSlots, outputSlots) + mergeSlots * MC.COUNT;
}

export function regionBytes(ruleSlots: number, outputSlots: number, mergeSlots = DEFAULT_MERGE_SLOTS): number {
  return HEADER_BYTES + words(ruleSlots, outputSlots, mergeSlots) * 8;
}

export interface Region {
  bytes: Uint8Array; // the whole mapping
  words: BigUint64Array; // the counters after the header
  ruleSlots: number;
  outputSlots: number;
  mergeSlots: number;
  merge: BigUint64Array; // the merge slots' counters, within words
}

/** Writes the header of a fresh (zeroed) region. */
export function initRegion(
  bytes: Uint8Array,
  ruleSlots: number,
  outputSlots: number,
  mergeSlots = DEFAULT_MERGE_SLOTS,
): Region {
  if (bytes.byteLength < regionBytes(ruleSlots, outputSlots, mergeSlots)) throw new Error("counter region too small");
  const h = new DataView(bytes.buffer, bytes.byteOffset, HEADER_BYTES);
  h.setUint32(0, MAGIC, true);
  h.setUint32(4, VERSION, true);
  h.setUint32(8, ruleSlots, true);
  h.setUint32(12, outputSlots, true);
  h.setUint32(16, mergeSlots, true);
  return openRegion(bytes);
}

/** A region written by initRegion, possibly in another process. */
export function openRegion(bytes: Uint8Array): Region {
  const h = new DataView(bytes.buffer, bytes.byteOffset, HEADER_BYTES);
  if (h.getUint32(0, true) !== MAGIC || h.getUint32(4, true) !== VERSION) throw new Error("not an mcr counter region");
  const ruleSlots = h.getUint32(8, true);
  const outputSlots = h.getUint32(12, true);
  const mergeSlots = h.getUint32(16, true);
  const n = words(ruleSlots, outputSlots, mergeSlots);
  const all = new BigUint64Array(bytes.buffer, bytes.byteOffset + HEADER_BYTES, n);
  const merge = all.subarray(n - mergeSlots * MC.COUNT);
  return { bytes, words: all, ruleSlots, outputSlots, mergeSlots, merge };
}

/** Reads a region. Ring statistics are as fresh as the worker's last PACKET_STATISTICS read. */
export function readCounters(r: Region, slots: SlotMap): WorkerCounters {
  const w = r.words;
  const n = (i: number) => Number(w[i]);
  const ruleBase = N_COUNTERS;
  const outBase = N_COUNTERS + r.ruleSlots * RC.COUNT;
  const rules: WorkerCounters["rules"] = {};
  for (const [id, s] of Object.entries(slots.rules))
    rules[id] = { packets: n(ruleBase + s * RC.COUNT + RC.PACKETS), bytes: n(ruleBase + s * RC.COUNT + RC.BYTES) };
  const outputs: WorkerCounters["outputs"] = {};
  for (const [key, s] of Object.entries(slots.outputs))
    outputs[key] = {
      packets: n(outBase + s * OC.COUNT + OC.PACKETS),
      bytes: n(outBase + s * OC.COUNT + OC.BYTES),
      errors: n(outBase + s * OC.COUNT + OC.ERRORS),
    };
  const merges: Record<string, MergeCount> = {};
  for (const [id, s] of Object.entries(slots.merges ?? {})) merges[id] = readMerge(r, s);
  return {
    ...(slots.merges ? { merges } : {}),
    rxFrames: n(COUNTER.RX_FRAMES),
    rxBytes: n(COUNTER.RX_BYTES),
    batches: n(COUNTER.BATCHES),
    ringPackets: n(COUNTER.RING_PACKETS),
    ringDrops: n(COUNTER.RING_DROPS),
    txPackets: n(COUNTER.TX_PACKETS),
    txBytes: n(COUNTER.TX_BYTES),
    txErrors: n(COUNTER.TX_ERRORS),
    rxForeign: n(COUNTER.RX_FOREIGN),
    wakeups: n(COUNTER.WAKEUPS),
    spins: n(COUNTER.SPINS),
    spinHits: n(COUNTER.SPIN_HITS),
    drops: Object.fromEntries(
      DROP_REASONS.map((reason, i) => [reason, n(COUNTER.DROPS + i)]),
    ) as WorkerCounters["drops"],
    rules,
    outputs,
  };
}

/** A merge slot's counters. */
export function readMerge(r: Region, slot: number): MergeCount {
  const at = slot * MC.COUNT;
  const n = (i: number) => Number(r.merge[at + i] ?? 0n);
  return {
    out: n(MC.OUT),
    lost: n(MC.LOST),
    switches: n(MC.SWITCHES),
    active: n(MC.ACTIVE),
    held: n(MC.HELD),
    tooLarge: n(MC.TOO_LARGE),
    restarts: n(MC.RESTARTS),
    legs: Array.from({ length: MERGE_LEGS_MAX }, (_, leg) => {
      const l = (i: number) => n(MC.RULE + leg * ML.COUNT + i);
      return {
        packets: l(ML.PACKETS),
        unique: l(ML.UNIQUE),
        duplicates: l(ML.DUPLICATES),
        late: l(ML.LATE),
        gaps: l(ML.GAPS),
        notRtp: l(ML.NOT_RTP),
        lastSeenNs: l(ML.LAST_NS),
      };
    }),
  };
}

/**
 * Counts what a worker that is gone left in its send journal (shim/mcr_shim.h, MCR_JOURNAL_*):
 * each datagram whose send it had submitted as sent (the kernel finishes a system call before a
 * kill takes effect), each one it had queued and never submitted as lost (`worker_died`), both
 * for their output; then empties the journal. Only for a region no process counts into any more.
 */
export function settleJournal(r: Region): { sent: number; lost: number } {
  const w = r.words;
  const outBase = N_COUNTERS + r.ruleSlots * RC.COUNT;
  const start = outBase + r.outputSlots * OC.COUNT;
  const valid = 1n << BigInt(JOURNAL.VALID_BIT);
  const submitted = 1n << BigInt(JOURNAL.SUBMITTED_BIT);
  const died = COUNTER.DROPS + DROP_REASONS.indexOf("worker_died");
  let sent = 0;
  let lost = 0;
  for (let j = start; j < start + JOURNAL_LEN; j++) {
    const e = w[j]!;
    if ((e & valid) === 0n) continue;
    w[j] = 0n;
    const slot = Number((e >> BigInt(JOURNAL.SLOT_SHIFT)) & 0xffffffffn);
    if (slot >= r.outputSlots) continue;
    const o = outBase + slot * OC.COUNT;
    if (e & submitted) {
      const len = e & 0xffffn;
      w[o + OC.PACKETS]! += 1n;
      w[o + OC.BYTES]! += len;
      w[COUNTER.TX_PACKETS]! += 1n;
      w[COUNTER.TX_BYTES]! += len;
      sent++;
    } else {
      w[o + OC.ERRORS]! += 1n;
      w[COUNTER.TX_ERRORS]! += 1n;
      w[died]! += 1n;
      lost++;
    }
  }
  return { sent, lost };
}

/** The worker's heartbeat: it moves as long as the worker's data-plane loop turns. */
export function readHeartbeat(r: Region): bigint {
  return r.words[COUNTER.HEARTBEAT]!;
}

/** Zeroes a slot's counters before it is handed to a new rule or output. */
export function zeroSlot(r: Region, kind: "rule" | "output" | "merge", slot: number): void {
  if (kind === "merge") r.merge.fill(0n, slot * MC.COUNT, (slot + 1) * MC.COUNT);
  else if (kind === "rule") r.words.fill(0n, N_COUNTERS + slot * RC.COUNT, N_COUNTERS + (slot + 1) * RC.COUNT);
  else {
    const base = N_COUNTERS + r.ruleSlots * RC.COUNT + slot * OC.COUNT;
    r.words.fill(0n, base, base + OC.COUNT);
  }
}
