// The pipe between the supervisor and a worker: one JSON object per line.
// Supervisor -> worker on the worker's stdin; worker -> supervisor on its stdout. Logs go to stderr.
import type { EgressMode, IngressMode, PollMode } from "../native/abi.ts";
import type { SlotMap, WorkerCounters } from "./counters.ts";
import type { Rule } from "./rules.ts";

export type ToWorker =
  // the whole table, applied between two batches. buckets: the shared rate-limit bucket of each
  // rate-limited output, by `${ruleId}:${outputIndex}` (src/supervisor/buckets.ts). worker: this
  // worker's place among the supervisor's (index 0..count-1): a merge rule is merged by worker
  // `id % count` alone (docs/merge.md); absent: index 0 of 1, this worker merges every merge rule
  | { type: "rules"; version: number; rules: Rule[]; buckets?: Record<string, number>; worker?: WorkerPlace }
  | { type: "stats"; seq: number } // ask for a counters snapshot
  // the PACKET_FANOUT group of each input: an id to join, or "new" for this worker to make one
  // (and report its id in `inputs`); an input not named waits until it is
  | { type: "fanout"; groups: Record<string, number | "new"> }
  | { type: "stop" }; // finish the batch in hand and exit 0

/** Which of the supervisor's workers this is (ToWorker rules). */
export interface WorkerPlace {
  index: number;
  count: number;
}

export interface InputState {
  interface: string;
  state: "up" | "down" | "missing";
  error?: string;
  errno?: number; // why a ring did not open, while down (1, EPERM: no CAP_NET_RAW)
  fanoutId?: number; // the fanout group its ring is in, while up
}

/** An output the worker's table holds but cannot send on (the kernel refused its socket). */
export interface FailedOutput {
  output: string; // `${ruleId}:${outputIndex}`
  errno: number;
  error: string;
}

export type FromWorker =
  | { type: "ready"; pid: number; cpu: number; inputs: InputState[] }
  // slots: where each rule's and output's counters are in the worker's counter region;
  // failedOutputs: the outputs of that table that are out of service (the rest is in)
  | {
      type: "applied";
      version: number;
      errors: { ruleId: number; message: string }[];
      slots?: SlotMap;
      failedOutputs?: FailedOutput[];
    }
  | { type: "stats"; seq: number; counters: WorkerCounters }
  | { type: "inputs"; inputs: InputState[] };

/** The hidden command line a supervisor uses to start a worker. */
export interface WorkerArgs {
  cpu: number; // CPU to pin to; -1 for none
  interfaces: string[]; // input interfaces
  // PACKET_FANOUT group ids for the inputs, fanoutId + index (-1: none), until the supervisor
  // names the groups itself (a `fanout` message): a worker run alone keeps these
  fanoutId: number;
  ringMb?: number;
  /** How the worker waits when its rings are empty (default sleep: the cheapest, measured). */
  poll?: PollMode;
  /** How multicast outputs leave (default ring). */
  egress?: EgressMode;
  /** How the receive rings hand frames over (default frames). */
  ingress?: IngressMode;
  /** An inherited memfd holding the counter region (src/stats/shared.ts), set up by the supervisor. */
  countersFd?: number;
  /** An inherited memfd holding the rate limits' buckets (src/worker/buckets.ts), shared by all workers. */
  bucketsFd?: number;
}
