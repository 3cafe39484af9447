// The report `mcr stats --json` prints, the control socket's `stats` reply, what /metrics
// renders: schema 1 (docs/stats-schema.md).
import type { WorkerView } from "./control.ts";
import type { DropReason, OutputCount, PacketCount } from "./counters.ts";
import type { FailedOutput, InputState } from "./worker.ts";

export const STATS_SCHEMA = 1;

/** Rates over the interval `mcr stats` measured (present only when it measured one). */
export interface PacketRate {
  packetsPerSecond: number;
  bitsPerSecond: number; // of the bytes counted next to it (UDP payload for rules and outputs)
}

export interface TrafficRate {
  rxFramesPerSecond: number;
  rxBitsPerSecond: number; // whole frames
  txPacketsPerSecond: number;
  txBitsPerSecond: number; // UDP payload
  txErrorsPerSecond: number;
  dropsPerSecond: number;
  ringDropsPerSecond: number;
}

export interface OutputStats extends OutputCount {
  group: string;
  port: number;
  interface: string;
  ttl: number;
  rate?: PacketRate & { errorsPerSecond: number };
}

/** One input (leg) of a merge rule; input 0 is the rule's own. */
export interface MergeInputStats {
  interface: string;
  group: string;
  port: number;
  packets: number; // came on this input
  unique: number; // of them, the copies that went out
  duplicates: number; // another input's copy went out (failover: this one stood by)
  late: number; // beyond the window, or after their hole was given up
  gaps: number; // sequence numbers missing on this input
  notRtp: number; // rtp: without an RTP version 2 header
  lastSeenSecondsAgo: number | null; // null: nothing yet
}

/** A merge rule's counters (issue 14; docs/merge.md). */
export interface MergeStats {
  mode: "rtp" | "failover";
  out: number; // packets sent on, each to every output
  lost: number; // sequence numbers that no input brought within the window
  switches: number; // failover: changes of the input forwarded
  active: number; // failover: the input forwarded now
  held: number; // rtp: packets waiting now for a hole to fill
  tooLarge: number; // rtp: had to wait, longer than a slot (2048 bytes): dropped
  restarts: number; // rtp: streams taken up anew (a new SSRC, a jump past the window)
  inputs: MergeInputStats[];
}

export interface RuleStats extends PacketCount {
  id: number;
  name?: string; // absent when the rule has none
  inputInterface: string;
  inputGroup: string;
  inputPort: number;
  outputs: OutputStats[];
  rate?: PacketRate;
  merge?: MergeStats; // merge rules only
}

export interface Totals {
  rxFrames: number;
  rxBytes: number;
  batches: number;
  ringPackets: number;
  ringDrops: number;
  txPackets: number;
  txBytes: number;
  txErrors: number;
  rxForeign: number; // other hosts' or VLANs' frames past a coarsened input filter: not input, no drop
  wakeups: number; // returns from a poll(2) that may sleep
  spins: number; // poll mode adaptive: spins after a batch
  spinHits: number; // spins that found frames
  drops: number; // all reasons together (ring drops are counted apart: the kernel dropped them)
  rate?: TrafficRate;
}

export interface WorkerStats extends Totals {
  index: number;
  cpu: number;
  pid: number | null;
  state: WorkerView["state"];
  restarts: number;
  averageBatch: number; // rxFrames / batches: frames per non-empty batch
  inputs: InputState[];
  failedOutputs?: FailedOutput[]; // outputs it holds out of service, with the kernel's reason
}

export interface InterfaceStats {
  name: string;
  up: boolean; // every running worker receives on it
  workersUp: number; // running workers whose ring on it is open
  workers: number; // running workers
}

export interface StatsReport {
  schema: typeof STATS_SCHEMA;
  version: string; // mcr's
  at: string; // when the snapshot was taken, ISO 8601
  uptimeSeconds: number;
  /** Seconds between the two snapshots the rates come from; absent without rates. */
  intervalSeconds?: number;
  totals: Totals;
  drops: Record<DropReason, number>;
  dropRates?: Record<DropReason, number>; // per second
  rules: RuleStats[];
  workers: WorkerStats[];
  interfaces: InterfaceStats[];
  /** Workers that did not refresh their ring statistics in time: those are up to a second old. */
  stale: number[];
  config?: { path: string; lastReload?: { at: string; ok: boolean; error?: string } };
}
