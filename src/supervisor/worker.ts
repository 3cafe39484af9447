// One worker slot: a process pinned to one CPU, restarted with backoff whenever it exits, for
// as long as the supervisor runs. It speaks src/worker/protocol.ts over the child's stdin/stdout.
import type { Subprocess } from "bun";
import type { ConsolaInstance } from "consola";
import type { WorkerView } from "../control/protocol.ts";
import type { WorkerCounters } from "../stats/types.ts";
import { encode, lineReader, type FromWorker, type InputState, type ToWorker } from "../worker/protocol.ts";

export const BACKOFF_MIN_MS = 100;
export const BACKOFF_MAX_MS = 10_000;
/** A run this long counts as healthy: the next failure restarts quickly again. */
export const HEALTHY_RUN_MS = 30_000;

export interface SlotEvents {
  /** The worker (re)started and said ready: give it the table. */
  ready(slot: WorkerSlot): void;
  stats(slot: WorkerSlot, counters: WorkerCounters): void;
  /** The worker's process is gone: its counters so far are final. */
  exited(slot: WorkerSlot): void;
}

export type ApplyOutcome = "applied" | "exited" | "timeout";

export class WorkerSlot {
  state: WorkerView["state"] = "stopped";
  restarts = 0;
  appliedVersion = 0;
  /** Per-rule errors the worker reported with the last table it applied. */
  applyErrors: { ruleId: number; message: string }[] = [];
  inputs: InputState[] = [];
  lastExit?: WorkerView["lastExit"];

  private proc?: Subprocess<"pipe", "pipe", "inherit">;
  private startedAt = 0;
  private backoffMs = BACKOFF_MIN_MS;
  private restartTimer?: ReturnType<typeof setTimeout>;
  private stopping = false;
  private seq = 0;
  private readonly statsWaiters = new Map<number, (c: WorkerCounters | undefined) => void>();
  private appliedWaiters: { version: number; done: (o: ApplyOutcome) => void }[] = [];

  constructor(
    readonly index: number,
    readonly cpu: number,
    private readonly argv: readonly string[],
    private readonly events: SlotEvents,
    private readonly log: ConsolaInstance,
  ) {}

  get pid(): number | null {
    return this.proc && this.proc.exitCode === null && this.proc.signalCode === null ? this.proc.pid : null;
  }

  start(): void {
    if (this.stopping) return;
    this.restartTimer = undefined;
    this.state = "starting";
    this.appliedVersion = 0;
    this.startedAt = Date.now();
    let proc: Subprocess<"pipe", "pipe", "inherit">;
    try {
      // env given explicitly: Bun.spawn would otherwise pass the environment as it was at start,
      // without MCR_LOG_LEVEL that --log-level set since.
      proc = Bun.spawn({ cmd: [...this.argv], stdin: "pipe", stdout: "pipe", stderr: "inherit", env: { ...process.env } });
    } catch (e) {
      this.log.error(`worker ${this.index}: cannot start ${this.argv[0]}: ${(e as Error).message}`);
      this.afterExit(null, null);
      return;
    }
    this.proc = proc;
    const feed = lineReader<FromWorker>(
      (m) => this.proc === proc && this.onMessage(m),
      (line) => this.log.warn(`worker ${this.index}: unparsable line: ${line.slice(0, 200)}`),
    );
    void (async () => {
      for await (const chunk of proc.stdout) feed(chunk);
    })().catch(() => {});
    void proc.exited.then(() => {
      if (this.proc === proc) this.afterExit(proc.exitCode, proc.signalCode === null ? null : String(proc.signalCode));
    });
  }

  send(msg: ToWorker): boolean {
    const p = this.proc;
    if (!p || this.pid === null) return false;
    try {
      p.stdin.write(encode(msg));
      void p.stdin.flush();
      return true;
    } catch {
      return false; // it is dying: afterExit restarts it
    }
  }

  /** Resolves once this worker has applied `version` (or a later one), exited, or timed out. */
  waitApplied(version: number, timeoutMs: number): Promise<ApplyOutcome> {
    if (this.appliedVersion >= version) return Promise.resolve("applied");
    return new Promise((resolve) => {
      const w = {
        version,
        done: (o: ApplyOutcome) => {
          clearTimeout(timer);
          this.appliedWaiters = this.appliedWaiters.filter((x) => x !== w);
          resolve(o);
        },
      };
      const timer = setTimeout(() => w.done("timeout"), timeoutMs);
      this.appliedWaiters.push(w);
    });
  }

  /** A fresh counters snapshot, or undefined if the worker did not answer in time. */
  requestStats(timeoutMs: number): Promise<WorkerCounters | undefined> {
    if (this.state !== "ready") return Promise.resolve(undefined);
    const seq = ++this.seq;
    return new Promise((resolve) => {
      const timer = setTimeout(() => done(undefined), timeoutMs);
      const done = (c: WorkerCounters | undefined) => {
        clearTimeout(timer);
        this.statsWaiters.delete(seq);
        resolve(c);
      };
      this.statsWaiters.set(seq, done);
      if (!this.send({ type: "stats", seq })) done(undefined);
    });
  }

  /** Asks the worker to finish its batch and exit; kills it after graceMs. No restart follows. */
  async stop(graceMs: number): Promise<void> {
    this.stopping = true;
    clearTimeout(this.restartTimer);
    const p = this.proc;
    if (!p || this.pid === null) {
      this.state = "stopped";
      return;
    }
    this.state = "stopping";
    this.send({ type: "stop" });
    try {
      void p.stdin.end();
    } catch {
      /* already closed */
    }
    const timer = setTimeout(() => {
      this.log.warn(`worker ${this.index} (pid ${p.pid}) did not stop within ${graceMs} ms: killing it`);
      p.kill("SIGKILL");
    }, graceMs);
    await p.exited;
    clearTimeout(timer);
  }

  view(): WorkerView {
    return {
      index: this.index,
      cpu: this.cpu,
      pid: this.pid,
      state: this.state,
      restarts: this.restarts,
      appliedVersion: this.appliedVersion,
      inputs: this.inputs,
      ...(this.lastExit ? { lastExit: this.lastExit } : {}),
    };
  }

  private onMessage(m: FromWorker): void {
    switch (m?.type) {
      case "ready":
        this.state = "ready";
        this.inputs = Array.isArray(m.inputs) ? m.inputs : [];
        this.log.info(`worker ${this.index} ready: pid ${m.pid}, cpu ${m.cpu}${this.describeInputs()}`);
        this.events.ready(this);
        return;
      case "applied":
        // version -1: the worker re-applied the table by itself (an interface came back).
        if (typeof m.version !== "number" || m.version < this.appliedVersion) return;
        this.appliedVersion = m.version;
        this.applyErrors = Array.isArray(m.errors) ? m.errors : [];
        for (const w of [...this.appliedWaiters]) if (w.version <= m.version) w.done("applied");
        return;
      case "stats":
        if (m.counters && typeof m.counters === "object") this.events.stats(this, m.counters);
        this.statsWaiters.get(m.seq)?.(m.counters);
        return;
      case "inputs":
        if (!Array.isArray(m.inputs)) return;
        this.inputs = m.inputs;
        this.log.info(`worker ${this.index}:${this.describeInputs()}`);
        return;
      default:
        this.log.warn(`worker ${this.index}: unknown message ${JSON.stringify(m).slice(0, 200)}`);
    }
  }

  private describeInputs(): string {
    return this.inputs.map((i) => ` ${i.interface} ${i.state}${i.error ? ` (${i.error})` : ""}`).join(",");
  }

  private afterExit(code: number | null, signal: string | null): void {
    const ranMs = Date.now() - this.startedAt;
    this.proc = undefined;
    this.lastExit = { code, signal, at: new Date().toISOString(), ranMs };
    for (const w of [...this.appliedWaiters]) w.done("exited");
    for (const done of [...this.statsWaiters.values()]) done(undefined);
    this.events.exited(this);
    if (this.stopping) {
      this.state = "stopped";
      return;
    }
    if (ranMs >= HEALTHY_RUN_MS) this.backoffMs = BACKOFF_MIN_MS;
    const delay = this.backoffMs;
    this.backoffMs = Math.min(this.backoffMs * 2, BACKOFF_MAX_MS);
    this.restarts++;
    this.state = "restarting";
    const how = signal ? `was killed by ${signal}` : `exited with code ${code}`;
    this.log.warn(`worker ${this.index} (cpu ${this.cpu}) ${how} after ${(ranMs / 1000).toFixed(1)} s; restart ${this.restarts} in ${delay} ms`);
    this.restartTimer = setTimeout(() => this.start(), delay);
  }
}
