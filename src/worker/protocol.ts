// The pipe between the supervisor and a worker: one JSON object per line.
// Supervisor -> worker on the worker's stdin; worker -> supervisor on its stdout. Logs go to stderr.
import type { Rule } from "../rules/types.ts";
import type { WorkerCounters } from "../stats/types.ts";
import type { SlotMap } from "../stats/shared.ts";

export type ToWorker =
  | { type: "rules"; version: number; rules: Rule[] } // the whole table; applied between two batches
  | { type: "stats"; seq: number } // ask for a counters snapshot
  // the PACKET_FANOUT group of each input: an id to join, or "new" for this worker to make one
  // (and report its id in `inputs`); an input not named waits until it is
  | { type: "fanout"; groups: Record<string, number | "new"> }
  | { type: "stop" }; // finish the batch in hand and exit 0

export interface InputState {
  interface: string;
  state: "up" | "down" | "missing";
  error?: string;
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
  /** An inherited memfd holding the counter region (src/stats/shared.ts), set up by the supervisor. */
  countersFd?: number;
}

export function encode(msg: ToWorker | FromWorker): string {
  return JSON.stringify(msg) + "\n";
}

/** Splits a byte stream into JSON lines; a bad line goes to onError and the stream goes on. */
export function lineReader<T>(onMessage: (m: T) => void, onError: (line: string, err: unknown) => void) {
  let buf = "";
  const dec = new TextDecoder();
  return (chunk: Uint8Array | string) => {
    buf += typeof chunk === "string" ? chunk : dec.decode(chunk, { stream: true });
    let nl: number;
    while ((nl = buf.indexOf("\n")) >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      if (line.trim() === "") continue;
      let msg: T;
      try {
        msg = JSON.parse(line) as T;
      } catch (e) {
        onError(line, e);
        continue;
      }
      onMessage(msg);
    }
  };
}
