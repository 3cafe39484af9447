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
}

/** Which counter slot belongs to which rule (by id) and output (`${ruleId}:${index}`). */
export interface SlotMap {
  rules: Record<string, number>;
  outputs: Record<string, number>;
}
