// The pipe between the supervisor and a worker: one JSON object per line.
// Supervisor -> worker on the worker's stdin; worker -> supervisor on its stdout. Logs go to stderr.
import type { PollMode } from "../native/abi.ts";
import type { SlotMap, WorkerCounters } from "./counters.ts";
import type { Rule } from "./rules.ts";

export type ToWorker =
  | { type: "rules"; version: number; rules: Rule[] } // the whole table; applied between two batches
  | { type: "stats"; seq: number } // ask for a counters snapshot
  | { type: "stop" }; // finish the batch in hand and exit 0

export interface InputState {
  interface: string;
  state: "up" | "down" | "missing";
  error?: string;
}

export type FromWorker =
  | { type: "ready"; pid: number; cpu: number; inputs: InputState[] }
  // slots: where each rule's and output's counters are in the worker's counter region
  | { type: "applied"; version: number; errors: { ruleId: number; message: string }[]; slots?: SlotMap }
  | { type: "stats"; seq: number; counters: WorkerCounters }
  | { type: "inputs"; inputs: InputState[] };

/** The hidden command line a supervisor uses to start a worker. */
export interface WorkerArgs {
  cpu: number; // CPU to pin to; -1 for none
  interfaces: string[]; // input interfaces
  fanoutId: number; // PACKET_FANOUT group id shared by the workers of one supervisor
  ringMb?: number;
  /** How the worker waits when its rings are empty (default adaptive). */
  poll?: PollMode;
  /** An inherited memfd holding the counter region (src/stats/shared.ts), set up by the supervisor. */
  countersFd?: number;
}
