// One worker slot: a process pinned to one CPU, restarted with backoff whenever it exits, for
// as long as the supervisor runs. It speaks src/worker/protocol.ts over the child's stdin/stdout,
// and counts into a counter region (src/stats/shared.ts) that the slot creates for each run and
// hands over as the child's fd 3: the slot reads it in place, and once more after the process is
// gone, so a run's counts are final to the last packet even when it was killed.
import type { Subprocess } from "bun";
import type { ConsolaInstance } from "consola";
import { closeSync } from "node:fs";
import type { WorkerView } from "../types/control.ts";
import { fields, Repeats } from "../log.ts";
import { readCounters, readHeartbeat, type Region } from "../stats/shared.ts";
import type { SlotMap, WorkerCounters } from "../types/counters.ts";
import { encode, lineReader } from "../worker/protocol.ts";
import type { FailedOutput, FromWorker, InputState, ToWorker } from "../types/worker.ts";
import { BACKOFF_MAX_MS, BACKOFF_MIN_MS, restartBackoff } from "./backoff.ts";
import { workerEnv } from "./spawn.ts";

/**
 * A worker whose heartbeat (a counter its data-plane loop bumps every turn, at least every 10 ms)
 * has not moved for this long is stuck: blocked in the shim, stopped, spinning. It is killed
 * and restarted. Well past any pause a healthy worker takes, and past an operator's short stop.
 */
export const HEARTBEAT_TIMEOUT_MS = 5000;
const HEARTBEAT_CHECK_MS = 250;

/** The fd the child finds its counter region on (stdio[3]); its argv says --counters-fd 3. */
export const COUNTERS_FD = 3;

/** A fresh, zeroed counter region: a memfd (inherited by the child) and its mapping here. */
export type NewRegion = () => { fd: number; region: Region };

export interface SlotEvents {
  /** The worker (re)started and said ready: give it the table. */
  ready(slot: WorkerSlot): void;
  /** The worker holds a table version it did not hold before. */
  applied?(slot: WorkerSlot): void;
  /** The worker said how its inputs are (opened, closed, in which fanout group). */
  inputs?(slot: WorkerSlot): void;
  /** The worker's process is gone: `final` is what its run counted, to the last packet. */
  exited(slot: WorkerSlot, final: WorkerCounters | undefined): void;
}

/** One run's counter region, and which of its slots hold which rule and output. */
interface Run {
  region: Region;
  fd: number | undefined; // ours; closed once the child has mapped it (or has gone)
  slots: SlotMap;
}

export type ApplyOutcome = "applied" | "exited" | "timeout";

export class WorkerSlot {
  state: WorkerView["state"] = "stopped";
  restarts = 0;
  appliedVersion = 0;
  /** Per-rule errors the worker reported with the last table it applied. */
  applyErrors: { ruleId: number; message: string }[] = [];
  inputs: InputState[] = [];
  /** Outputs of the worker's table that it cannot send on, as it last said. */
  failedOutputs: FailedOutput[] = [];
  lastExit?: WorkerView["lastExit"];

  private proc?: Subprocess<"pipe", "pipe", "inherit">;
  private lastPid?: number; // the latest run's, for the lines about its exit
  private startedAt = 0;
  private forwardingSince = 0; // when this run first applied a table; 0 until it does
  private backoffMs = BACKOFF_MIN_MS;
  private restartTimer?: ReturnType<typeof setTimeout>;
  private heartbeatTimer?: ReturnType<typeof setInterval>;
  private stopping = false;
  private seq = 0;
  private readonly statsWaiters = new Map<number, (answered: boolean) => void>();
  private appliedWaiters: { version: number; done: (o: ApplyOutcome) => void }[] = [];
  private run?: Run;
  /** Settles once the running process is gone and its final counts are taken. */
  private ended: Promise<void> = Promise.resolve();
  /** Crash loops and protocol noise are logged once per kind and minute, with a count. */
  private readonly repeats = new Repeats(60_000);

  constructor(
    readonly index: number,
    readonly cpu: number,
    private readonly argv: readonly string[],
    private readonly events: SlotEvents,
    private readonly log: ConsolaInstance,
    private readonly newRegion?: NewRegion,
    /** The rate limits' bucket region, shared by every run (its fd 4, after the counters). */
    private readonly bucketsFd?: number,
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
    this.forwardingSince = 0;
    let proc: Subprocess<"pipe", "pipe", "inherit">;
    try {
      const mem = this.newRegion?.();
      this.run = mem ? { region: mem.region, fd: mem.fd, slots: { rules: {}, outputs: {} } } : undefined;
      // env given explicitly: Bun.spawn would otherwise pass the environment as it was at start,
      // without MCR_LOG_LEVEL that --log-level set since; and without Bun's own variables, which
      // would run other code in the worker. Bun closes every other fd in the child.
      proc = Bun.spawn({
        cmd: [...this.argv],
        stdio: [
          "pipe",
          "pipe",
          "inherit",
          ...(mem ? [mem.fd] : []),
          ...(mem && this.bucketsFd !== undefined ? [this.bucketsFd] : []),
        ],
        env: workerEnv(),
      }) as Subprocess<"pipe", "pipe", "inherit">;
    } catch (e) {
      this.log.error(`worker ${this.index}: cannot start ${this.argv[0]}: ${(e as Error).message}`);
      this.afterExit(null, null);
      return;
    }
    this.proc = proc;
    this.lastPid = proc.pid;
    this.watchHeartbeat(proc);
    const feed = lineReader<FromWorker>(
      (m) => this.proc === proc && this.onMessage(m),
      (line) => this.noise("unparsable", `unparsable line: ${line.slice(0, 200)}`),
    );
    const drained = (async () => {
      for await (const chunk of proc.stdout) feed(chunk);
    })().catch(() => {});
    // Its last messages first (an `applied` with new slots), then its exit: the final read of
    // the region must use the slot map the worker last counted with.
    this.ended = proc.exited
      .then(() => Promise.race([drained, Bun.sleep(1000)]))
      .then(() => {
        if (this.proc === proc)
          this.afterExit(proc.exitCode, proc.signalCode === null ? null : String(proc.signalCode));
      });
  }

  /** What the running worker has counted so far, read in place; undefined when none runs. */
  liveCounters(): WorkerCounters | undefined {
    return this.run ? readCounters(this.run.region, this.run.slots) : undefined;
  }

  /** The data-plane heartbeat of the running worker's loop; undefined unless it is ready. */
  heartbeat(): bigint | undefined {
    return this.run && this.state === "ready" ? readHeartbeat(this.run.region) : undefined;
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

  /**
   * Asks the worker to read its rings' PACKET_STATISTICS into the region now (it does so every
   * second anyway); false if it did not answer in time. Everything else in the region is current.
   */
  refreshRings(timeoutMs: number): Promise<boolean> {
    if (this.state !== "ready") return Promise.resolve(false);
    const seq = ++this.seq;
    return new Promise((resolve) => {
      const timer = setTimeout(() => done(false), timeoutMs);
      const done = (answered: boolean) => {
        clearTimeout(timer);
        this.statsWaiters.delete(seq);
        resolve(answered);
      };
      this.statsWaiters.set(seq, done);
      if (!this.send({ type: "stats", seq })) done(false);
    });
  }

  /** Asks the worker to finish its batch and exit; kills it after graceMs. No restart follows. */
  async stop(graceMs: number): Promise<void> {
    this.stopping = true;
    clearTimeout(this.restartTimer);
    const p = this.proc;
    if (!p || this.pid === null) {
      await this.ended; // gone already: let its final counts be taken
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
    await this.ended;
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
      ...(this.failedOutputs.length > 0 ? { failedOutputs: this.failedOutputs } : {}),
      ...(this.lastExit ? { lastExit: this.lastExit } : {}),
    };
  }

  private onMessage(m: FromWorker): void {
    switch (m?.type) {
      case "ready":
        this.state = "ready";
        this.inputs = Array.isArray(m.inputs) ? m.inputs : [];
        this.closeRegionFd(); // the worker has mapped it
        // In a crash loop at full backoff the exits are summarised, and so are the starts.
        (this.backoffMs >= BACKOFF_MAX_MS ? this.log.debug : this.log.info)(
          `worker ${this.index} ready: pid ${m.pid}, cpu ${m.cpu}${this.describeInputs()}`,
          this.about(),
        );
        this.events.ready(this);
        return;
      case "applied":
        // Every table the worker compiles says where its counters are, its own re-applies too.
        if (this.run && m.slots && typeof m.slots === "object")
          this.run.slots = {
            rules: m.slots.rules ?? {},
            outputs: m.slots.outputs ?? {},
            ...(m.slots.merges ? { merges: m.slots.merges } : {}),
          };
        // Its own re-applies too: an output that failed may work now, or one stopped working.
        this.failedOutputs = Array.isArray(m.failedOutputs) ? m.failedOutputs : [];
        // version -1: the worker re-applied the table by itself (an interface came back).
        if (typeof m.version !== "number" || m.version < this.appliedVersion) return;
        this.appliedVersion = m.version;
        if (this.forwardingSince === 0) this.forwardingSince = Date.now();
        this.applyErrors = Array.isArray(m.errors) ? m.errors : [];
        for (const w of [...this.appliedWaiters]) if (w.version <= m.version) w.done("applied");
        this.events.applied?.(this);
        return;
      case "stats":
        // Its counters are in the region, ring statistics now included: the reply is the signal.
        this.statsWaiters.get(m.seq)?.(true);
        return;
      case "inputs":
        if (!Array.isArray(m.inputs)) return;
        this.inputs = m.inputs;
        // An input that cannot receive (EPERM without CAP_NET_RAW, an interface gone) is a warning.
        for (const i of this.inputs)
          (i.state === "up" ? this.log.info : this.log.warn)(
            `worker ${this.index}: ${i.interface} ${i.state}${i.error ? ` (${i.error})` : ""}`,
            this.about({ interface: i.interface, errno: i.errno }),
          );
        this.events.inputs?.(this);
        return;
      default:
        this.noise("unknown", `unknown message ${JSON.stringify(m).slice(0, 200)}`);
    }
  }

  /** A protocol complaint, at most once a minute per kind. */
  private noise(kind: string, what: string): void {
    const held = this.repeats.pass(kind);
    if (held !== undefined)
      this.log.warn(`worker ${this.index}: ${what}${held > 0 ? ` (and ${held} more like it in the last minute)` : ""}`);
  }

  /** Kills the run when its heartbeat stands still for HEARTBEAT_TIMEOUT_MS; afterExit restarts it. */
  private watchHeartbeat(proc: Subprocess<"pipe", "pipe", "inherit">): void {
    clearInterval(this.heartbeatTimer);
    const region = this.run?.region;
    if (!region) return;
    let last = readHeartbeat(region);
    let lastMoved = Date.now();
    this.heartbeatTimer = setInterval(() => {
      if (this.proc !== proc || this.state !== "ready") {
        lastMoved = Date.now(); // a starting worker has not begun its loop yet
        return;
      }
      const beat = readHeartbeat(region);
      if (beat !== last) {
        last = beat;
        lastMoved = Date.now();
      } else if (Date.now() - lastMoved >= HEARTBEAT_TIMEOUT_MS) {
        this.log.warn(
          `worker ${this.index} (pid ${proc.pid}) made no progress for ${((Date.now() - lastMoved) / 1000).toFixed(1)} s: killing it`,
          this.about({ pid: proc.pid }),
        );
        clearInterval(this.heartbeatTimer);
        proc.kill("SIGKILL");
      }
    }, HEARTBEAT_CHECK_MS);
    this.heartbeatTimer.unref?.();
  }

  private closeRegionFd(): void {
    const r = this.run;
    if (r?.fd === undefined) return;
    try {
      closeSync(r.fd);
    } catch {
      /* already closed */
    }
    r.fd = undefined;
  }

  /** Log fields for a line about this worker. */
  private about(more: { interface?: string; errno?: number; pid?: number } = {}): unknown {
    return fields({ worker: this.index, pid: this.pid ?? undefined, ...more });
  }

  private describeInputs(): string {
    return this.inputs.map((i) => ` ${i.interface} ${i.state}${i.error ? ` (${i.error})` : ""}`).join(",");
  }

  private afterExit(code: number | null, signal: string | null): void {
    const ranMs = Date.now() - this.startedAt;
    this.proc = undefined;
    clearInterval(this.heartbeatTimer);
    this.lastExit = { code, signal, at: new Date().toISOString(), ranMs };
    // The process is gone and its last messages are read: the region holds its final counts.
    const final = this.liveCounters();
    this.closeRegionFd();
    this.run = undefined;
    for (const w of [...this.appliedWaiters]) w.done("exited");
    for (const done of [...this.statsWaiters.values()]) done(false);
    this.events.exited(this, final);
    if (this.stopping) {
      this.state = "stopped";
      return;
    }
    const forwardedMs = this.forwardingSince > 0 ? Date.now() - this.forwardingSince : 0;
    const { delayMs: delay, nextMs, healthy } = restartBackoff(this.backoffMs, ranMs, forwardedMs);
    if (healthy) this.repeats.reset("exit");
    this.backoffMs = nextMs;
    this.restarts++;
    this.state = "restarting";
    const how = signal ? `was killed by ${signal}` : `exited with code ${code}`;
    const line = `worker ${this.index} (cpu ${this.cpu}) ${how} after ${(ranMs / 1000).toFixed(1)} s; restart ${this.restarts} in ${delay} ms`;
    // Each backoff step is logged; once the backoff is at its longest, one line a minute says
    // how many exits it stands for.
    const about = this.about({ pid: this.lastPid });
    if (delay < BACKOFF_MAX_MS) this.log.warn(line, about);
    else {
      const held = this.repeats.pass("exit");
      if (held !== undefined)
        this.log.warn(
          held > 0
            ? `${line} (${held} more exit(s) in the last minute, restarting every ${BACKOFF_MAX_MS / 1000} s)`
            : line,
          about,
        );
    }
    this.restartTimer = setTimeout(() => this.start(), delay);
  }
}
