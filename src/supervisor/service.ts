// The supervisor: owns the rule table, the workers and the control socket, and answers the
// control commands. Rule changes are serialised: validate, save to the state file, hand the
// whole table to every worker, wait for each to confirm, then reply.
import type { ConsolaInstance } from "consola";
import {
  controlError,
  type Commands,
  type ControlServer,
  type RefuseIfLive,
  type Request,
  type StartControlServer,
  type Status,
} from "../types/control.ts";
import { fields, log as rootLog, Repeats, setLogFormat, setLogLevel } from "../log.ts";
import type { Rule, RuleChange, RuleRef, RuleSpec } from "../types/rules.ts";
import {
  checkHost,
  checkLoops,
  checkSpec,
  describeInputs,
  describeOutput,
  inputsOf,
  missingSource,
  RuleError,
  type LookupInterface,
} from "../rules/validate.ts";
import { buildReport } from "../stats/aggregate.ts";
import type { StatsReport } from "../types/stats.ts";
import { renderMetrics } from "../stats/prometheus.ts";
import { renderProcessMetrics } from "../stats/process.ts";
import { DEFAULT_OUTPUT_SLOTS, DEFAULT_RULE_SLOTS, initRegion, regionBytes } from "../stats/shared.ts";
import { bucketRegionBytes, initBuckets, MAX_BUCKETS } from "../worker/buckets.ts";
import { RateBuckets } from "./buckets.ts";
import { VERSION } from "../version.ts";
import type { WorkerArgs } from "../types/worker.ts";
import { allowedCpus } from "./cpus.ts";
import { Memberships } from "./membership.ts";
import { PortHolds } from "./ports.ts";
import { WorkerPool } from "./pool.ts";
import { startMetricsServer, type ListenAddress, type MetricsServer } from "./metrics.ts";
import { workerArgv } from "./spawn.ts";
import { loadState, lockState, saveState, type StateLock } from "./state.ts";
import {
  addRule,
  applyConfigRules,
  findRule,
  removeRule,
  replaceRule,
  type ConfigDiff,
  type RuleTable,
} from "./table.ts";
import { ConfigError, loadConfig, type Config } from "../config/load.ts";
import { EX, McrError } from "../errors.ts";
import { ruleNameProblem } from "../values/name.ts";
import { judgeReadiness } from "./readiness.ts";
import { Progress, STATUS_EVERY_MS, statusText, watchdogPeriodMs } from "./systemd.ts";

export interface SupervisorConfig {
  interfaces: string[];
  socketPath: string;
  socketGid?: number;
  /** Serves the control socket (src/control/server.ts; passed in because control sits above the supervisor). */
  controlServer: StartControlServer;
  /** Refuses a socket path a live supervisor listens on, before the state lock is taken, so that
   * the likelier mistake is the one named (the control server refuses it too, later). */
  refuseIfLive?: RefuseIfLive;
  stateFile: string;
  workers?: number; // default: one per allowed CPU
  ringMb?: number;
  poll?: WorkerArgs["poll"];
  egress?: WorkerArgs["egress"];
  ingress?: WorkerArgs["ingress"];
  /** How long a rule change waits for every worker's confirmation. */
  applyTimeoutMs?: number;
  lookup: LookupInterface;
  /** How to start a worker (tests put a fake here). */
  workerArgv?: (a: WorkerArgs) => string[];
  /** sd_notify; a no-op outside systemd. */
  notify?: (state: string) => void;
  /** Join input groups on the ingress (IGMP). */
  joinGroups?: boolean;
  /** The --config file as read at start: its rules join the table; reload() reads it again. */
  config?: Config;
  /** Serve GET /metrics (Prometheus) there; off when absent. */
  metricsListen?: ListenAddress;
  /** memfd_create + mmap for the workers' counter regions (default: the shim's sharedMemory). */
  sharedMemory?: (bytes: number) => { fd: number; map: Uint8Array };
  /** Counter slots of each worker's region: the most rules and outputs a table may hold (tests make them small). */
  counterSlots?: { rules: number; outputs: number };
  /** Control connection limits (default: the server's MAX_CONNECTIONS and IDLE_MS). */
  control?: { maxConnections?: number; idleMs?: number };
  /** flock(LOCK_EX | LOCK_NB) for the state's lock (default: the shim's lockFile). */
  lockFile?: (fd: number) => boolean;
}

// Counters are read from the workers' shared regions in place; only ring statistics come from a
// system call in the worker, which it makes every second and when asked. Asking is worth a wait
// for `mcr stats` (exact figures), less for a scrape that comes every few seconds anyway.
const STATS_TIMEOUT_MS = 1000;
const SCRAPE_TIMEOUT_MS = 250;
const MEMBERSHIP_REFRESH_MS = 5000;
const STOP_GRACE_MS = 1000;
/** How long READY=1 may wait before the supervisor says what holds it back. */
const READY_WARN_MS = 10_000;

export class Supervisor {
  private table: RuleTable;
  private version = 1;
  private readonly pool: WorkerPool;
  private readonly memberships?: Memberships;
  private readonly ports?: PortHolds;
  private server?: ControlServer;
  private changes: Promise<unknown> = Promise.resolve();
  private timers: ReturnType<typeof setInterval>[] = [];
  private readonly startedAt = Date.now();
  private stopping?: Promise<void>;
  private lastReload?: { at: string; ok: boolean; error?: string };
  private metrics?: MetricsServer;
  private readonly repeats = new Repeats(60_000);
  private readonly log: ConsolaInstance = rootLog.withTag("supervisor");
  private readonly slots: { rules: number; outputs: number };
  private ready = false;
  private failWith!: (e: McrError) => void;
  /** Settles when the supervisor cannot go on (no input can ever open): the caller stops it and exits with its code. */
  readonly failed = new Promise<McrError>((resolve) => (this.failWith = resolve));

  private constructor(
    private readonly cfg: SupervisorConfig,
    sharedMemory: (bytes: number) => { fd: number; map: Uint8Array },
    private readonly lock: StateLock,
    native: typeof import("../native/shim.ts") | undefined,
  ) {
    this.slots = cfg.counterSlots ?? { rules: DEFAULT_RULE_SLOTS, outputs: DEFAULT_OUTPUT_SLOTS };
    this.table = loadState(cfg.stateFile, (m) => this.log.warn(m));
    const cpus = allowedCpus();
    this.pool = new WorkerPool({
      count: cfg.workers ?? cpus.length,
      cpus,
      interfaces: cfg.interfaces,
      // One fanout group per supervisor: two supervisors on one host never share one.
      fanoutId: process.pid & 0xffff,
      ringMb: cfg.ringMb,
      poll: cfg.poll,
      egress: cfg.egress,
      ingress: cfg.ingress,
      argv: cfg.workerArgv ?? workerArgv,
      table: () => ({ version: this.version, rules: this.table.rules }),
      log: this.log,
      newRegion: () => {
        const { rules, outputs } = this.slots;
        const { fd, map } = sharedMemory(regionBytes(rules, outputs));
        return { fd, region: initRegion(map, rules, outputs) };
      },
      buckets: this.rateBuckets(sharedMemory),
    });
    if (cfg.joinGroups !== false) this.memberships = new Memberships(cfg.lookup, this.log, native!.joinGroup);
    if (native) this.ports = new PortHolds(native.holdPort, cfg.lookup, this.log);
  }

  /** The rate limits' buckets, one region for every worker and run: as many as outputs may be. */
  private rateBuckets(sharedMemory: (bytes: number) => { fd: number; map: Uint8Array }) {
    const n = Math.min(this.slots.outputs, MAX_BUCKETS);
    const { fd, map } = sharedMemory(bucketRegionBytes(n));
    const book = new RateBuckets(initBuckets(map, n));
    return {
      fd,
      assign: (rules: readonly Rule[]) => {
        const b = book.assign(rules);
        if (book.short > 0 && this.repeats.pass("buckets") !== undefined)
          this.log.warn(
            `${book.short} rate-limited output(s) found no shared bucket left: each worker limits them alone`,
          );
        return b;
      },
    };
  }

  /** Loads the state, takes the control socket, starts the workers. Throws McrError if it cannot. */
  static async start(cfg: SupervisorConfig): Promise<Supervisor> {
    // The shim only where it is needed: a test may bring its own.
    const needed = !cfg.sharedMemory || !cfg.lockFile || cfg.joinGroups !== false;
    const native = needed ? await import("../native/shim.ts") : undefined;
    const shm = cfg.sharedMemory ?? native!.sharedMemory;
    // A live supervisor on this socket is the likelier mistake: it is named first. Then the lock:
    // a second supervisor on this state leaves before it reads or writes it.
    await cfg.refuseIfLive?.(cfg.socketPath);
    const lock = lockState(cfg.stateFile, cfg.lockFile ?? native!.lockFile);
    try {
      const s = new Supervisor(cfg, shm, lock, native);
      await s.begin();
      return s;
    } catch (e) {
      lock.release();
      throw e;
    }
  }

  private async begin(): Promise<void> {
    const { cfg, log } = this;
    for (const r of this.table.rules) {
      const away = inputsOf(r).find((l) => !cfg.interfaces.includes(l.inputInterface!))?.inputInterface;
      if (away !== undefined)
        log.warn(
          `rule ${r.id} (${describeInputs(r)}) names an interface this supervisor does not serve: it relays nothing until one started with --interface ${away} does`,
        );
    }
    if (this.table.rules.length > 0) log.info(`restored ${this.table.rules.length} rule(s) from ${cfg.stateFile}`);
    const orphans = cfg.config ? [] : this.table.rules.filter((r) => r.origin === "config");
    if (orphans.length > 0)
      log.warn(
        `rule(s) ${orphans.map((r) => r.id).join(", ")} came from a config file, and this supervisor has no --config: they stay, and mcr rule remove may remove them`,
      );
    // The socket first: if another supervisor is live there, leave before starting any worker
    // (and before touching the state file it is using).
    this.server = await cfg.controlServer(cfg.socketPath, (req) => this.handle(req), {
      gid: cfg.socketGid,
      ...cfg.control,
    });
    if (cfg.config) {
      try {
        const diff = this.configDiff(cfg.config);
        if (diff.added.length + diff.removed.length + diff.changed.length > 0) this.saveAtStart(diff.table);
        this.table = diff.table;
        log.info(`${cfg.config.path}: ${describeDiff(diff)}`);
      } catch (e) {
        this.server.close();
        throw e;
      }
    }
    if (cfg.metricsListen) {
      try {
        this.metrics = startMetricsServer(
          cfg.metricsListen,
          () => this.scrape(),
          (e) => this.warnOnce("scrape", `GET /metrics failed: ${e.message}`),
        );
      } catch (e) {
        this.server.close();
        throw e;
      }
      log.info(`metrics on ${this.metrics.url}`);
    }
    log.info(
      `listening on ${cfg.socketPath}; serving ${cfg.interfaces.join(", ")} with ${this.pool.slots.length} worker(s)`,
    );
    this.pool.start();
    void this.memberships?.sync(this.table.rules);
    this.ports?.sync(this.table.rules);
    if (this.memberships) this.timers.push(setInterval(() => void this.memberships!.refresh(), MEMBERSHIP_REFRESH_MS));
    void this.awaitReady();
    this.startNotifications();
  }

  /**
   * At start the config's rules are what the operator asked for: a state that cannot be written
   * (a full disk, a read-only directory) does not stop them; the next change saves them all.
   */
  private saveAtStart(table: RuleTable): void {
    try {
      saveState(this.cfg.stateFile, table);
    } catch (e) {
      if (!(e instanceof McrError) || e.code !== "state_write") throw e;
      this.log.warn(`${e.message}: starting with the table in memory; it is saved at the next change that can be`);
    }
  }

  /** Where GET /metrics is served, when it is. */
  get metricsUrl(): string | undefined {
    return this.metrics?.url;
  }

  /** Answers one control request (the server turns a throw into an error reply). */
  async handle(req: Request): Promise<unknown> {
    // An argument a command does not take is refused, not ignored: {"id": 3, "dryRun": true} from
    // a newer client must not remove rule 3. (rule.add's arguments are checked whole by checkSpec.)
    const takes = COMMAND_ARGS[req.cmd];
    if (takes)
      for (const k of Object.keys(req.args ?? {}))
        if (!takes.includes(k))
          throw controlError(
            "bad_request",
            `unknown argument "${k.slice(0, 64)}" (${req.cmd} takes ${takes.join(", ") || "none"})`,
            k,
          );
    switch (req.cmd) {
      case "rule.add":
        return this.add(req.args as Commands["rule.add"]["args"]);
      case "rule.remove":
        return this.remove(req.args as Commands["rule.remove"]["args"]);
      case "rule.replace":
        return this.replace(req.args as Record<string, unknown>);
      case "rule.apply":
        return this.apply(req.args as Record<string, unknown>);
      case "rule.list":
        return {
          version: this.version,
          rules: [...this.table.rules],
          workers: this.pool.views(),
        } satisfies Commands["rule.list"]["result"];
      case "stats":
        return this.stats() satisfies Promise<Commands["stats"]["result"]>;
      case "status":
        return this.status();
    }
  }

  private add(args: Record<string, unknown>): Promise<Commands["rule.add"]["result"]> {
    const { dryRun, ...rest } = args ?? {};
    const dry = checkDryRun(dryRun);
    const spec = checkHost(checkSpec(rest), this.cfg.interfaces, this.cfg.lookup);
    return this.change(async () => {
      const { table, rule } = this.addTo(this.table, spec);
      if (dry) return { rule, warnings: [], dryRun: true as const };
      const warnings = await this.commit(
        table,
        [rule.id],
        `rule ${rule.id} added: ${describeRule(rule)}`,
        `rule ${rule.id} is added`,
      );
      return { rule, warnings };
    });
  }

  private remove(args: { id?: unknown }): Promise<Commands["rule.remove"]["result"]> {
    const ref = checkRef(args.id, "id");
    return this.change(async () => {
      const { table, rule } = removeRule(this.table, ref, this.cfg.config?.path);
      await this.commit(
        table,
        [rule.id],
        `rule ${rule.id} removed: ${describeRule(rule)}`,
        `rule ${rule.id} is removed`,
      );
      return { rule };
    });
  }

  private replace(args: Record<string, unknown>): Promise<Commands["rule.replace"]["result"]> {
    const ref = checkRef(args.id, "id");
    const dry = checkDryRun(args.dryRun);
    return this.change(async () => {
      const { table, rule, before } = this.replaceIn(this.table, ref, args.outputs);
      if (dry) return { rule, warnings: [], dryRun: true as const };
      const warnings = await this.commit(
        table,
        [rule.id],
        `rule ${rule.id} replaced: ${describeRule(before)} => ${describeRule(rule)}`,
        `rule ${rule.id} is replaced`,
      );
      return { rule, warnings };
    });
  }

  /**
   * A batch, applied in order to a copy of the table and checked at every step as the single
   * commands would be; the result is saved and handed to the workers once (one version), and the
   * first entry that does not fit refuses the whole batch, naming it: nothing changes.
   */
  private apply(args: Record<string, unknown>): Promise<Commands["rule.apply"]["result"]> {
    const dry = checkDryRun(args.dryRun);
    const changes = args.changes;
    if (!Array.isArray(changes)) throw controlError("bad_request", "changes must be a list", "changes");
    if (changes.length === 0) throw controlError("bad_request", "changes is empty: nothing to apply", "changes");
    return this.change(async () => {
      let t = this.table;
      const added: Rule[] = [];
      const removed: Rule[] = [];
      const replaced: Rule[] = [];
      changes.forEach((c: unknown, i) => {
        try {
          t = this.applyOne(t, c, { added, removed, replaced });
        } catch (e) {
          if (!(e instanceof McrError)) throw e;
          const field = `changes[${i}]${e.field ? `.${e.field}` : ""}`;
          throw new McrError(`change ${i + 1}: ${e.message}`, e.exitCode, field, e.code);
        }
      });
      // Listed as they end: a rule added and then replaced in one batch is one added rule.
      const live = (r: Rule) => t.rules.find((x) => x.id === r.id);
      const result = {
        version: dry ? this.version : this.version + 1,
        added: added.flatMap((r) => live(r) ?? []),
        removed: removed.filter((r) => !added.some((a) => a.id === r.id)),
        replaced: replaced.filter((r) => !added.some((a) => a.id === r.id)).flatMap((r) => live(r) ?? []),
      };
      if (dry) return { ...result, warnings: [], dryRun: true as const };
      const ids = [...result.added, ...result.replaced].map((r) => r.id);
      const warnings = await this.commit(
        t,
        ids,
        `applied ${changes.length} change(s): ${result.added.length} added (${result.added.map((r) => r.id).join(", ") || "-"}), ${result.removed.length} removed (${result.removed.map((r) => r.id).join(", ") || "-"}), ${result.replaced.length} replaced (${result.replaced.map((r) => r.id).join(", ") || "-"})`,
        `a batch of ${changes.length} change(s) is applied`,
      );
      return { ...result, warnings };
    });
  }

  private applyOne(t: RuleTable, c: unknown, out: { added: Rule[]; removed: Rule[]; replaced: Rule[] }): RuleTable {
    if (typeof c !== "object" || c === null || Array.isArray(c))
      throw controlError("bad_request", "a change must be an object with op", "op");
    const x = c as Record<string, unknown>;
    const takes: Record<string, string[]> = {
      add: ["op", "rule"],
      remove: ["op", "id"],
      replace: ["op", "id", "outputs"],
    };
    const keys = typeof x.op === "string" ? takes[x.op] : undefined;
    if (!keys)
      throw controlError("bad_request", `op must be add, remove or replace, got ${JSON.stringify(x.op)}`, "op");
    for (const k of Object.keys(x))
      if (!keys.includes(k)) throw controlError("bad_request", `unknown field "${k.slice(0, 64)}" for ${x.op}`, k);
    const change = x as unknown as RuleChange;
    switch (change.op) {
      case "add": {
        const spec = withField("rule", () => checkHost(checkSpec(change.rule), this.cfg.interfaces, this.cfg.lookup));
        const { table, rule } = withField("rule", () => this.addTo(t, spec));
        out.added.push(rule);
        return table;
      }
      case "remove": {
        const { table, rule } = removeRule(t, checkRef(change.id, "id"), this.cfg.config?.path);
        out.removed.push(rule);
        return table;
      }
      case "replace": {
        const { table, rule } = this.replaceIn(t, checkRef(change.id, "id"), change.outputs);
        out.replaced.push(rule);
        return table;
      }
    }
  }

  /** The table with one more rule, if it fits: counter slots, loops, duplicates. */
  private addTo(t: RuleTable, spec: RuleSpec): { table: RuleTable; rule: Rule } {
    this.checkRoom(t.rules, spec.outputs.length);
    checkLoops(spec, t.rules, this.cfg.interfaces);
    const added = addRule(t, spec); // a duplicate is refused before its port is asked for
    this.ports?.claim(spec);
    return added;
  }

  /** The table with a rule's outputs replaced, checked as a rule with those outputs would be. */
  private replaceIn(t: RuleTable, ref: RuleRef, outputs: unknown) {
    const before = findRule(t, ref);
    const { id: _, origin: __, ...spec } = before;
    const next = checkHost(checkSpec({ ...spec, outputs }), this.cfg.interfaces, this.cfg.lookup);
    const others = t.rules.filter((r) => r !== before);
    this.checkRoom(others, next.outputs.length);
    checkLoops(next, others, this.cfg.interfaces);
    return replaceRule(t, ref, next.outputs, this.cfg.config?.path);
  }

  /**
   * Every rule and output of the table needs a counter slot in each worker's region: one beyond
   * them would be accepted and saved, yet never installed. Refused instead, saying why.
   */
  private checkRoom(rules: readonly Rule[], newOutputs: number, at?: string): void {
    const { rules: maxRules, outputs: maxOutputs } = this.slots;
    if (rules.length + 1 > maxRules)
      throw new RuleError(
        at ?? "rule",
        `the table is full: it holds at most ${maxRules} rules (counter slots), and has ${rules.length}`,
      );
    const outputs = rules.reduce((n, r) => n + r.outputs.length, 0);
    if (outputs + newOutputs > maxOutputs)
      throw new RuleError(
        at ? `${at}.outputs` : "outputs",
        `the table holds at most ${maxOutputs} outputs (counter slots): it has ${outputs}, and this rule adds ${newOutputs}`,
      );
  }

  /** Rule changes one at a time: each sees the table the previous one left. */
  private change<T>(fn: () => Promise<T>): Promise<T> {
    // A port claimed for a change that then failed goes back; one whose rule went, too.
    const run = () => fn().finally(() => this.ports?.sync(this.table.rules));
    const next = this.changes.then(run, run);
    this.changes = next.catch(() => {});
    return next;
  }

  /** Saves, adopts and distributes a new table; returns the workers' complaints about the rules changed. */
  private async commit(table: RuleTable, ruleIds: number[], what: string, subject = what): Promise<string[]> {
    saveState(this.cfg.stateFile, table); // throws state_write: nothing changed
    const one = ruleIds.length === 1 ? table.rules.find((r) => r.id === ruleIds[0]) : undefined;
    this.log.info(what, fields(one ? { rule: one.id, ...(one.name ? { name: one.name } : {}) } : {}));
    const { late, errors, timeoutMs } = await this.adopt(table);
    if (late.length > 0) {
      const who = late.map((w) => `worker ${w.index} (cpu ${w.cpu}, pid ${w.pid})`).join(", ");
      // The id matters even now: the rule is in the table, and the operator may want it gone.
      throw controlError(
        "not_applied",
        `${subject} and saved, but ${who} did not confirm it within ${timeoutMs / 1000} s (see mcr rule list)`,
      );
    }
    const mine = errors.filter((e) => ruleIds.includes(e.ruleId) || e.ruleId === 0);
    return [...new Set(mine.map((e) => e.message))];
  }

  /** Makes a saved table the live one: groups joined, every running worker holding it. */
  private async adopt(table: RuleTable) {
    this.table = table;
    this.version++;
    await this.memberships?.sync(table.rules); // joined (or the reason logged) before the reply
    this.ports?.sync(table.rules);
    const timeoutMs = this.cfg.applyTimeoutMs ?? 2000;
    const result = await this.pool.apply(this.version, table.rules, timeoutMs);
    if (result.late.length > 0)
      this.log.warn(
        `table version ${this.version}: ${result.late.map((w) => `worker ${w.index}`).join(", ")} did not confirm within ${timeoutMs} ms`,
      );
    return { ...result, timeoutMs };
  }

  /** The table with the config's rules in it (throws ConfigError/RuleError if they clash). */
  private configDiff(config: Config): ConfigDiff {
    for (const r of config.rules)
      for (const o of r.outputs) {
        const info = this.cfg.lookup(o.interface);
        const missing = info ? missingSource(o, info) : "no such interface";
        if (missing) this.log.warn(`${config.path}:${r.line}: output ${describeOutput(o)}: ${missing} (yet)`);
      }
    const specs = config.rules.map(({ line: _, ...spec }) => spec as RuleSpec);
    try {
      const diff = applyConfigRules(this.table, specs);
      // Checked rule by rule, so that the error names the first one that does not fit.
      const fresh = [...diff.changed, ...diff.added];
      fresh.forEach((r, i) => {
        const before = diff.table.rules.filter((x) => !fresh.slice(i).includes(x));
        const at = specs.findIndex(
          (x) => x.inputInterface === r.inputInterface && x.inputGroup === r.inputGroup && x.inputPort === r.inputPort,
        );
        this.checkRoom(before, r.outputs.length, `rules[${at}]`);
        try {
          checkLoops(
            r,
            diff.table.rules.filter((x) => x !== r),
            this.cfg.interfaces,
          );
        } catch (e) {
          if (e instanceof RuleError) throw new RuleError(`rules[${at}].${e.field}`, e.message);
          throw e;
        }
      });
      return diff;
    } catch (e) {
      if (!(e instanceof McrError)) throw e;
      const i = Number(/^rules\[(\d+)\]/.exec(e.field ?? "")?.[1]);
      throw new ConfigError(config.path, config.rules[i]?.line, e.message);
    }
  }

  /**
   * SIGHUP: reads the config file again and applies only the difference to its rules. A file
   * that does not load changes nothing: the running rules stay.
   */
  async reload(): Promise<void> {
    const old = this.cfg.config;
    if (!old) {
      this.log.info("SIGHUP: nothing to reload (no --config file)");
      return;
    }
    this.notify(`RELOADING=1\nMONOTONIC_USEC=${Math.round(performance.timeOrigin * 1000 + performance.now() * 1000)}`);
    try {
      const next = loadConfig(old.path, { interfaces: this.cfg.interfaces });
      for (const k of [
        "interfaces",
        "workers",
        "ringMb",
        "poll",
        "egress",
        "ingress",
        "controlSocketPath",
        "controlSocketGroup",
        "stateFile",
      ] as const)
        if (JSON.stringify(next[k]) !== JSON.stringify(old[k]))
          this.log.warn(`${old.path}: a change of ${k} takes effect at the next start, not on reload`);
      if (next.logLevel !== old.logLevel && next.logLevel) setLogLevel(next.logLevel);
      if (next.logFormat !== old.logFormat && next.logFormat) setLogFormat(next.logFormat);
      if (next.metricsListen !== old.metricsListen)
        this.log.warn(`${old.path}: a change of metricsListen takes effect at the next start, not on reload`);
      await this.change(async () => {
        const diff = this.configDiff(next);
        if (diff.added.length + diff.removed.length + diff.changed.length > 0) {
          saveState(this.cfg.stateFile, diff.table);
          await this.adopt(diff.table);
        }
        this.cfg.config = next;
        this.log.info(`reloaded ${old.path}: ${describeDiff(diff)}`);
      });
      this.lastReload = { at: new Date().toISOString(), ok: true };
    } catch (e) {
      const error = (e as Error).message;
      this.lastReload = { at: new Date().toISOString(), ok: false, error };
      this.log.error(`reload failed, the running rules stay: ${error}`);
    } finally {
      this.notify("READY=1");
    }
  }

  /** The counters, read from the workers' regions, ring statistics refreshed first. */
  async stats(timeoutMs = STATS_TIMEOUT_MS): Promise<StatsReport> {
    const stale = await this.pool.refreshRings(timeoutMs);
    return buildReport({
      rules: this.table.rules,
      workers: this.pool.views().map((w) => ({ ...w, counters: this.pool.counters(w.index) })),
      interfaces: this.cfg.interfaces,
      startedAt: this.startedAt,
      stale,
      version: VERSION,
      ...(this.cfg.config
        ? { config: { path: this.cfg.config.path, ...(this.lastReload ? { lastReload: this.lastReload } : {}) } }
        : {}),
    });
  }

  /** The body of GET /metrics. */
  private async scrape(): Promise<string> {
    const report = await this.stats(SCRAPE_TIMEOUT_MS);
    return renderMetrics(report, { startedAt: this.startedAt }) + renderProcessMetrics(report.workers);
  }

  private status(): Status {
    return {
      pid: process.pid,
      version: VERSION,
      protocol: 1,
      interfaces: this.cfg.interfaces,
      socketPath: this.cfg.socketPath,
      stateFile: this.cfg.stateFile,
      startedAt: new Date(this.startedAt).toISOString(),
      tableVersion: this.version,
      rules: this.table.rules.length,
      workers: this.pool.views(),
      ...(this.cfg.config
        ? { config: { path: this.cfg.config.path, ...(this.lastReload ? { lastReload: this.lastReload } : {}) } }
        : {}),
    };
  }

  /** Stops the workers, leaves the groups, removes the socket. Idempotent. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      this.notify("STOPPING=1");
      this.log.info("stopping");
      for (const t of this.timers) clearInterval(t);
      this.server?.close();
      this.metrics?.stop();
      await this.changes.catch(() => {});
      await this.pool.stop(STOP_GRACE_MS);
      await this.memberships?.close();
      this.ports?.close();
      this.lock.release();
      this.log.info("stopped");
    })();
    return this.stopping;
  }

  /**
   * READY=1 once every input that exists has its ring in every worker; a start that can never
   * get there (every ring refused for want of CAP_NET_RAW) fails instead of pretending.
   */
  private async awaitReady(): Promise<void> {
    const judge = () => judgeReadiness(this.pool.views(), this.version);
    let warned = false;
    while (!this.stopping) {
      const settled = await this.pool.waitUntil(() => judge().state !== "waiting", READY_WARN_MS);
      if (this.stopping) return;
      const r = judge();
      if (r.state === "ready") {
        this.ready = true;
        this.log.info(`all workers ready: ${this.describeWorkers()}`);
        this.notify("READY=1");
        this.sendStatus();
        return;
      }
      if (r.state === "noperm") {
        this.notify(`STATUS=${r.message}`);
        this.failWith(new McrError(r.message, EX.NOPERM, undefined, "noperm"));
        return;
      }
      if (!settled && !warned) {
        warned = true;
        this.log.warn(`not ready after ${READY_WARN_MS / 1000} s, READY=1 waits: ${r.why}`);
      }
    }
  }

  /** STATUS= on a change (looked at every second) and every STATUS_EVERY_MS; WATCHDOG=1 when asked for. */
  private startNotifications(): void {
    if (!this.cfg.notify) return;
    const status = setInterval(() => this.sendStatus(false), 1000);
    this.timers.push(status);
    const period = watchdogPeriodMs();
    if (period === undefined) return;
    const progress = new Progress();
    progress.moved(this.pool.beats());
    const watchdog = setInterval(() => {
      if (progress.moved(this.pool.beats())) this.notify("WATCHDOG=1");
    }, period);
    this.timers.push(watchdog);
  }

  private lastStatus = {
    text: "",
    at: 0,
    rx: 0,
    rxAt: undefined as number | undefined,
    pps: undefined as number | undefined,
  };

  /** Sends STATUS= if its text changed, or (always) when STATUS_EVERY_MS has passed. */
  private sendStatus(force = true): void {
    const now = performance.now();
    const last = this.lastStatus;
    const due = force || now - last.at >= STATUS_EVERY_MS;
    if (due) {
      // The rate over the time since the last sample, once a sample spans a second or more.
      const rx = this.pool.slots.reduce((n, s) => n + this.pool.counters(s.index).rxFrames, 0);
      if (last.rxAt === undefined || now - last.rxAt >= 1000) {
        if (last.rxAt !== undefined) last.pps = ((rx - last.rx) * 1000) / (now - last.rxAt);
        last.rx = rx;
        last.rxAt = now;
      }
    }
    const r = this.ready ? undefined : judgeReadiness(this.pool.views(), this.version);
    const text = statusText({
      rules: this.table.rules.length,
      workers: this.pool.views(),
      pps: last.pps,
      waiting: r?.state === "waiting" ? r.why : undefined,
    });
    if (!due && text.replace(/, [^,]* pkt\/s in/, "") === last.text.replace(/, [^,]* pkt\/s in/, "")) return;
    last.text = text;
    last.at = now;
    this.notify(`STATUS=${text}`);
  }

  private describeWorkers(): string {
    return this.pool
      .views()
      .map((w) => `worker ${w.index} ${w.state}${w.inputs.map((i) => ` ${i.interface} ${i.state}`).join(",")}`)
      .join("; ");
  }

  private notify(state: string): void {
    try {
      this.cfg.notify?.(state);
    } catch (e) {
      this.warnOnce("notify", `sd_notify ${state.split("\n")[0]}: ${(e as Error).message}`);
    }
  }

  /** A warning that may repeat (every scrape, every notification): once a minute, with a count. */
  private warnOnce(kind: string, message: string): void {
    const held = this.repeats.pass(kind);
    if (held !== undefined)
      this.log.warn(held > 0 ? `${message} (and ${held} more like it in the last minute)` : message);
  }
}

/** The arguments of the commands whose handlers do not check them all. */
const COMMAND_ARGS: Partial<Record<Request["cmd"], readonly string[]>> = {
  "rule.remove": ["id"],
  "rule.replace": ["id", "outputs", "dryRun"],
  "rule.apply": ["changes", "dryRun"],
  "rule.list": [],
  stats: [],
  status: [],
};

/** A rule's id or name as a request gives it. */
function checkRef(x: unknown, field: string): RuleRef {
  if (typeof x === "number" && Number.isInteger(x) && x >= 1) return x;
  if (typeof x === "string" && ruleNameProblem(x) === undefined) return x;
  throw controlError("bad_request", `${field} must be a rule id (a positive integer) or a rule name`, field);
}

function checkDryRun(x: unknown): boolean {
  if (x === undefined || typeof x === "boolean") return x === true;
  throw controlError("bad_request", "dryRun must be true or false", "dryRun");
}

/** Puts `at` in front of a refusal's field: "rule.outputs[0].port". */
function withField<T>(at: string, f: () => T): T {
  try {
    return f();
  } catch (e) {
    if (e instanceof McrError) throw new McrError(e.message, e.exitCode, e.field ? `${at}.${e.field}` : at, e.code);
    throw e;
  }
}

export const describeRule = (r: Rule) =>
  `${r.name ? `[${r.name}] ` : ""}${describeInputs(r)} -> ${r.outputs.map((o) => `${describeOutput(o)}${o.ttl !== 1 ? ` ttl ${o.ttl}` : ""}`).join(", ")}`;

const describeDiff = (d: ConfigDiff) =>
  d.added.length + d.removed.length + d.changed.length === 0
    ? `${d.unchanged.length} rule(s), none changed`
    : `${d.added.length} rule(s) added (${d.added.map((r) => r.id).join(", ") || "-"}), ${d.changed.length} changed in place (${d.changed.map((r) => r.id).join(", ") || "-"}), ${d.removed.length} removed (${d.removed.map((r) => r.id).join(", ") || "-"}), ${d.unchanged.length} unchanged`;
