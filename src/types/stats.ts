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

export interface RuleStats extends PacketCount {
  id: number;
  name?: string; // absent when the rule has none
  inputInterface: string;
  inputGroup: string;
  inputPort: number;
  outputs: OutputStats[];
  rate?: PacketRate;
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
