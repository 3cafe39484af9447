// The workers of one supervisor: one slot per worker, each pinned to its CPU, all sharing one
// PACKET_FANOUT group per input interface. The pool hands every worker the whole rule table,
// waits for their confirmations, and keeps their counters across restarts: each run counts into
// its own shared region, read in place while it runs and added to the slot's totals when it ends.
import type { ConsolaInstance } from "consola";
import type { WorkerView } from "../types/control.ts";
import type { Rule } from "../types/rules.ts";
import { StatsBook } from "../stats/aggregate.ts";
import type { WorkerCounters } from "../types/counters.ts";
import type { ToWorker, WorkerArgs } from "../types/worker.ts";
import { BUCKETS_FD } from "../worker/buckets.ts";
import { cpuFor } from "./cpus.ts";
import type { Beat } from "./systemd.ts";
import { COUNTERS_FD, WorkerSlot, type NewRegion } from "./worker.ts";

/** The shortest time between two rounds of ring-statistics requests to the workers. */
export const RING_ROUND_MS = 100;

export interface PoolOptions {
  count: number;
  cpus: readonly number[];
  interfaces: readonly string[];
  fanoutId: number;
  ringMb?: number;
  poll?: WorkerArgs["poll"];
  egress?: WorkerArgs["egress"];
  ingress?: WorkerArgs["ingress"];
  argv: (a: WorkerArgs) => string[];
  /** The table a worker gets when it (re)starts. */
  table: () => { version: number; rules: readonly Rule[] };
  log: ConsolaInstance;
  /** Makes each run's counter region; without it workers count into their own, unseen. */
  newRegion?: NewRegion;
  /**
   * The rate limits' bucket region, one for all workers and runs (with newRegion only): its fd,
   * which every worker inherits, and the bucket of each rate-limited output of a table.
   */
  buckets?: { fd: number; assign(rules: readonly Rule[]): Record<string, number> };
}

export interface ApplyResult {
  /** Workers that were running and did not confirm in time. */
  late: WorkerView[];
  /** What the workers could not apply, by rule (e.g. an output interface that vanished). */
  errors: { worker: number; ruleId: number; message: string }[];
}

export class WorkerPool {
  readonly slots: WorkerSlot[];
  readonly book = new StatsBook();
  private readyWaiters: (() => void)[] = [];
  /**
   * Each input's PACKET_FANOUT group, once a worker made it. One worker makes it with an id the
   * kernel picks among those free in the namespace (so a second relay on the host, whatever its
   * pid, never shares it), and the others join by that id.
   */
  private readonly groups = new Map<string, number>();
  /** The worker told to make an input's group, until it reports the id. */
  private readonly makers = new Map<string, WorkerSlot>();

  constructor(private readonly o: PoolOptions) {
    this.slots = Array.from({ length: o.count }, (_, i) => {
      const cpu = cpuFor(i, o.cpus);
      const argv = o.argv({
        cpu,
        interfaces: [...o.interfaces],
        fanoutId: o.fanoutId,
        ringMb: o.ringMb,
        ...(o.poll !== undefined ? { poll: o.poll } : {}),
        ...(o.egress !== undefined ? { egress: o.egress } : {}),
        ...(o.ingress !== undefined ? { ingress: o.ingress } : {}),
        ...(o.newRegion ? { countersFd: COUNTERS_FD } : {}),
        ...(o.newRegion && o.buckets ? { bucketsFd: BUCKETS_FD } : {}),
      });
      return new WorkerSlot(i, cpu, argv, this.events, o.log, o.newRegion, o.newRegion ? o.buckets?.fd : undefined);
    });
  }

  /** What a worker joins: the known groups, "new" for those it is to make; others it waits for. */
  private fanoutFor(slot: WorkerSlot): Record<string, number | "new"> {
    const groups: Record<string, number | "new"> = {};
    for (const name of this.o.interfaces) {
      const id = this.groups.get(name);
      const maker = this.makers.get(name);
      if (id !== undefined) groups[name] = id;
      else if (!maker || maker === slot || maker.pid === null) {
        this.makers.set(name, slot);
        groups[name] = "new";
      }
    }
    return groups;
  }

  /** Which worker this is of how many: a merge rule is merged by worker `id % count` alone (docs/merge.md). */
  private place(slot: WorkerSlot) {
    return { index: slot.index, count: this.slots.length };
  }

  private tellFanout(): void {
    for (const s of this.slots) if (s.state === "ready") s.send({ type: "fanout", groups: this.fanoutFor(s) });
  }

  private readonly events = {
    ready: (slot: WorkerSlot) => {
      slot.send({ type: "fanout", groups: this.fanoutFor(slot) });
      const t = this.o.table();
      slot.send({ ...this.rulesMessage(t.version, t.rules), worker: this.place(slot) });
      this.wake();
    },
    applied: () => this.wake(),
    inputs: (slot: WorkerSlot) => {
      let learned = false;
      for (const i of slot.inputs)
        if (i.state === "up" && typeof i.fanoutId === "number" && !this.groups.has(i.interface)) {
          this.groups.set(i.interface, i.fanoutId);
          this.makers.delete(i.interface);
          learned = true;
        }
      if (learned) this.tellFanout(); // the workers waiting for it open their rings
      this.wake();
    },
    exited: (slot: WorkerSlot, final: WorkerCounters | undefined) => {
      if (final) this.book.retire(slot.index, final);
      // A maker gone before it said its group's id: another worker makes it.
      let orphaned = false;
      for (const [name, maker] of this.makers)
        if (maker === slot) {
          this.makers.delete(name);
          orphaned = true;
        }
      if (orphaned) this.tellFanout();
      this.wake();
    },
  };

  /** A table for the workers, with the bucket of each of its rate-limited outputs. */
  private rulesMessage(version: number, rules: readonly Rule[]): Extract<ToWorker, { type: "rules" }> {
    const buckets = this.o.newRegion ? this.o.buckets?.assign(rules) : undefined;
    return { type: "rules", version, rules: [...rules], ...(buckets ? { buckets } : {}) };
  }

  start(): void {
    for (const s of this.slots) s.start();
  }

  /**
   * Resolves true once `done()` holds, checked whenever a worker starts, applies a table, reports
   * its inputs or exits; false after timeoutMs.
   */
  async waitUntil(done: () => boolean, timeoutMs: number): Promise<boolean> {
    if (done()) return true;
    return new Promise((resolve) => {
      const check = () => {
        if (done()) finish(true);
      };
      const finish = (ok: boolean) => {
        clearTimeout(timer);
        this.readyWaiters = this.readyWaiters.filter((w) => w !== check);
        resolve(ok);
      };
      const timer = setTimeout(() => finish(false), timeoutMs);
      this.readyWaiters.push(check);
    });
  }

  private wake(): void {
    for (const w of [...this.readyWaiters]) w();
  }

  /** Each worker's data-plane heartbeat, while its loop runs. */
  beats(): Beat[] {
    return this.slots.map((s) => ({ index: s.index, pid: s.pid, beat: s.heartbeat() }));
  }

  /**
   * Sends the table to every running worker and waits until each has it live. A worker that
   * exits meanwhile is not waited for: it gets the table when it is back.
   */
  async apply(version: number, rules: readonly Rule[], timeoutMs: number): Promise<ApplyResult> {
    const message = this.rulesMessage(version, rules);
    const running = this.slots.filter((s) => s.state === "ready" && s.send({ ...message, worker: this.place(s) }));
    const outcomes = await Promise.all(running.map((s) => s.waitApplied(version, timeoutMs)));
    const late = running.filter((_, i) => outcomes[i] === "timeout").map((s) => s.view());
    const errors = running
      .filter((s, i) => outcomes[i] === "applied" && s.appliedVersion === version)
      .flatMap((s) => s.applyErrors.map((e) => ({ worker: s.index, ...e })));
    return { late, errors };
  }

  /**
   * Has every running worker read its ring statistics; returns the indexes of those that did not
   * answer. The answer reflects a round asked for after the call, but rounds come at most every
   * RING_ROUND_MS, each shared by every caller waiting for it: a flood of `stats` and /metrics
   * requests costs each worker at most 1000 / RING_ROUND_MS messages a second, not one per request.
   * (Every other counter is read in place, from the shared region, with no message at all.)
   */
  refreshRings(timeoutMs: number): Promise<number[]> {
    if (this.nextRound) return this.nextRound;
    const wait = Math.max(0, this.lastRoundAt + RING_ROUND_MS - performance.now());
    let round!: Promise<number[]>;
    round = (async () => {
      await (wait > 0 ? Bun.sleep(wait) : undefined); // always yields: `round` is set by then
      // A timer may fire a little early: the spacing is a promise to the workers, keep it.
      while (performance.now() < this.lastRoundAt + RING_ROUND_MS)
        await Bun.sleep(this.lastRoundAt + RING_ROUND_MS - performance.now());
      // Callers from now on need a round that starts after them: the next one.
      if (this.nextRound === round) this.nextRound = undefined;
      this.lastRoundAt = performance.now();
      return this.askRings(timeoutMs);
    })();
    this.nextRound = round;
    return round;
  }

  private nextRound?: Promise<number[]>;
  private lastRoundAt = -Infinity;

  private async askRings(timeoutMs: number): Promise<number[]> {
    const running = this.slots.filter((s) => s.state === "ready");
    const got = await Promise.all(running.map((s) => s.refreshRings(timeoutMs)));
    return running.filter((_, i) => !got[i]).map((s) => s.index);
  }

  /** A slot's counters: its finished runs plus the running one, read in place. */
  counters(index: number): WorkerCounters {
    return this.book.slot(index, this.slots[index]?.liveCounters());
  }

  views(): WorkerView[] {
    return this.slots.map((s) => s.view());
  }

  async stop(graceMs: number): Promise<void> {
    await Promise.all(this.slots.map((s) => s.stop(graceMs)));
  }
}
