// Drives one `mcr worker` over its pipe protocol, for data-plane tests below the supervisor.
import type { Subprocess } from "bun";
import type { Lab } from "./lab.ts";
import type { Rule } from "../../src/types/rules.ts";
import type { FromWorker, WorkerPlace } from "../../src/types/worker.ts";
import { encode, lineReader } from "../../src/worker/protocol.ts";
import type { WorkerCounters } from "../../src/types/counters.ts";
import { mcrArgv } from "./mcr.ts";

export class WorkerDriver {
  private waiters: ((m: FromWorker) => boolean)[] = [];
  readonly messages: FromWorker[] = [];
  stderr = "";
  private version = 0;
  private seq = 0;
  readonly proc: Subprocess<"pipe", "pipe", "pipe">;

  constructor(lab: Lab, role: string, interfaces: string[], extra: string[] = []) {
    const argv = [
      ...mcrArgv(),
      "worker",
      "--cpu",
      "-1",
      ...interfaces.flatMap((i) => ["--interface", i]),
      "--ring-mb",
      "4",
      ...extra,
    ];
    const proc = lab.spawn(role, argv);
    this.proc = proc;
    const feed = lineReader<FromWorker>(
      (m) => {
        this.messages.push(m);
        this.waiters = this.waiters.filter((w) => !w(m));
      },
      () => {},
    );
    void (async () => {
      for await (const chunk of proc.stdout) feed(chunk);
    })();
    void (async () => {
      for await (const chunk of proc.stderr) this.stderr += new TextDecoder().decode(chunk);
    })();
  }

  private waitFor<T extends FromWorker>(pred: (m: FromWorker) => m is T, timeoutMs = 5000): Promise<T> {
    const seen = this.messages.find(pred);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`worker: timed out; stderr: ${this.stderr}`)), timeoutMs);
      this.waiters.push((m) => {
        if (!pred(m)) return false;
        clearTimeout(t);
        resolve(m);
        return true;
      });
    });
  }

  ready() {
    return this.waitFor((m): m is Extract<FromWorker, { type: "ready" }> => m.type === "ready");
  }

  /** worker: its place among the supervisor's (which merge rules it merges); absent: alone. */
  async setRules(rules: Rule[], worker?: WorkerPlace) {
    const version = ++this.version;
    this.proc.stdin.write(encode({ type: "rules", version, rules, ...(worker ? { worker } : {}) }));
    this.proc.stdin.flush();
    return this.waitFor(
      (m): m is Extract<FromWorker, { type: "applied" }> => m.type === "applied" && m.version === version,
    );
  }

  async stats(): Promise<WorkerCounters> {
    const seq = ++this.seq;
    this.proc.stdin.write(encode({ type: "stats", seq }));
    this.proc.stdin.flush();
    const m = await this.waitFor(
      (m): m is Extract<FromWorker, { type: "stats" }> => m.type === "stats" && m.seq === seq,
    );
    return m.counters;
  }
}
