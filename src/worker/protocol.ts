// Framing for the pipe between the supervisor and a worker (its messages: src/types/worker.ts).
import type { FromWorker, ToWorker } from "../types/worker.ts";

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
