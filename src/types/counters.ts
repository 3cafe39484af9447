// Counters as a worker reports them and the supervisor adds them up.
// The drop reasons' order is the shim's ABI; it belongs below this module (see scripts/layers.ts).
import type { DropReason } from "../native/abi.ts";

export type { DropReason };

export interface PacketCount {
  packets: number;
  bytes: number;
}

export interface OutputCount extends PacketCount {
  errors: number;
}

/** A worker's counters since it started. The supervisor adds up workers and keeps totals across restarts. */
export interface WorkerCounters {
  rxFrames: number; // frames taken off the ring
  rxBytes: number;
  batches: number; // non-empty batches processed
  ringPackets: number; // PACKET_STATISTICS tp_packets, accumulated
  ringDrops: number; // PACKET_STATISTICS tp_drops, accumulated: the ring was full
  txPackets: number; // sends the kernel accepted
  txBytes: number;
  txErrors: number;
  // frames of another host or of a VLAN no rule takes that got past the input's filter (a filter
  // coarsened past the kernel's limits): not input, so neither in rxFrames nor a drop
  rxForeign: number;
  wakeups: number; // returns from a poll(2) that may sleep: per frame, what a sleeping worker costs
  spins: number; // poll mode adaptive: spins after a batch instead of a sleep
  spinHits: number; // spins that found frames (each a wakeup saved)
  drops: Record<DropReason, number>;
  rules: Record<string, PacketCount>; // by rule id
  outputs: Record<string, OutputCount>; // by `${ruleId}:${outputIndex}`
  merges?: Record<string, MergeCount>; // by rule id: merge rules only, counted by the worker that merges them
}

/** One leg of a merge rule (leg 0: the rule's own input). */
export interface MergeLegCount {
  packets: number; // came on this leg
  unique: number; // of them, the copies that went out
  duplicates: number; // another leg's copy went out (failover: the leg was standing by)
  late: number; // beyond the window, or after their hole was given up
  gaps: number; // sequence numbers missing on this leg
  notRtp: number; // rtp: without an RTP version 2 header
  lastSeenNs: number; // CLOCK_MONOTONIC of its last packet, ns; 0: none yet (summed: the latest)
}

/** A merge rule's counters. */
export interface MergeCount {
  out: number; // packets sent on, each to every output
  lost: number; // sequence numbers that no leg brought within the window
  switches: number; // failover: changes of the forwarded leg
  active: number; // failover: the leg forwarded now
  held: number; // rtp: packets waiting now for a hole to fill
  tooLarge: number; // rtp: had to wait, longer than a slot: dropped
  restarts: number; // rtp: streams taken up anew (a new SSRC, a jump past the window)
  legs: MergeLegCount[];
}

/** Which counter slot belongs to which rule (by id), output (`${ruleId}:${index}`) and merge (rule id). */
export interface SlotMap {
  rules: Record<string, number>;
  outputs: Record<string, number>;
  merges?: Record<string, number>; // merge rule id -> its merge counter slot
}
