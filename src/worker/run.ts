// The worker process: one per core, pinned. It owns a DataPlane (the shim's rings, rule table
// and io_uring) and feeds it from the event loop: one FFI call per batch, then back to the loop
// so that messages from the supervisor get read between batches.
import {
  dieWithParent,
  errnoName,
  mapShared,
  openDataPlane,
  pinToCpu,
  sharedMemory,
  ShimError,
} from "../native/shim.ts";
import { FANOUT_NEW, INPUT_MERGE, INPUT_MERGE_MODE } from "../native/abi.ts";
import { lookupInterface, ownAddresses, type InterfaceInfo } from "../net/interfaces.ts";
import { log as rootLog } from "../log.ts";
import {
  DEFAULT_OUTPUT_SLOTS,
  DEFAULT_RULE_SLOTS,
  initRegion,
  openRegion,
  readCounters,
  readMerge,
  regionBytes,
  zeroSlot,
  type Region,
} from "../stats/shared.ts";
import type { SlotMap } from "../types/counters.ts";
import { encode, lineReader } from "./protocol.ts";
import type { FailedOutput, FromWorker, InputState, ToWorker, WorkerArgs, WorkerPlace } from "../types/worker.ts";
import { resolution, SlotAllocator, TableCompiler } from "./table.ts";
import type { MergeMode, Rule } from "../types/rules.ts";
import { openBuckets, type BucketRegion } from "./buckets.ts";
import { address16, addressPort } from "../values/ipv6.ts";

const BATCH_MAX = 256;
// How long one call stays in C, waiting or (poll mode busy) spinning: bounds how late a control
// message is read, in every poll mode.
const IDLE_WAIT_MS = 10;
const HOUSEKEEPING_MS = 1000; // ring statistics (32-bit in the kernel), egress MTUs and interface checks
const ENETDOWN = 100; // mcr_worker_poll: an input reported an error (its interface went down or away)

interface Input {
  name: string;
  ifindex: number;
  slot: number; // -1 while the interface is missing or the ring could not be opened
  state: InputState["state"];
  error?: string;
  errno?: number;
  fanoutId?: number;
}

const WAITING_FOR_GROUP = "waiting for the supervisor to name its fanout group";

/**
 * What a worker takes from the host: the data plane, the system calls around it and the pipe to
 * the supervisor. processHost is the real one; a unit test brings fakes (no root, no packets).
 */
export interface WorkerHost {
  openDataPlane: typeof openDataPlane;
  lookupInterface: (name: string) => InterfaceInfo | undefined;
  /** The namespace's own MACs and IPv4 addresses (the data plane's loop guard). */
  ownAddresses: () => { macs: string[]; ipv4: string[]; ipv6: string[] };
  pinToCpu: (cpu: number) => void;
  dieWithParent: (signo: number) => void;
  /** The counter region: the supervisor's (by fd) or a private one. */
  counterRegion: (fd: number | undefined) => Region;
  /** The supervisor's rate-limit buckets (by fd); without them each worker limits on its own. */
  bucketRegion?: (fd: number) => BucketRegion;
  send: (m: FromWorker) => void;
  /** Hands over the supervisor's bytes as they come, and calls stop when it is time to leave. */
  listen: (onData: (chunk: Uint8Array | string) => void, stop: () => void) => void;
}

export const processHost: WorkerHost = {
  openDataPlane,
  lookupInterface,
  ownAddresses,
  pinToCpu,
  dieWithParent,
  counterRegion,
  bucketRegion: (fd) => openBuckets(mapShared(fd)),
  send: (m) => process.stdout.write(encode(m)),
  listen: (onData, stop) => {
    process.stdin.on("data", onData);
    // The supervisor closing our stdin means it is gone: leave (PDEATHSIG covers a crash).
    process.stdin.on("end", stop);
    process.on("SIGTERM", stop);
    process.on("SIGINT", stop);
  },
};

export async function runWorker(args: WorkerArgs, host: WorkerHost = processHost): Promise<number> {
  const { openDataPlane, lookupInterface, counterRegion, send } = host;
  const log = rootLog.withTag(`worker:${args.cpu}`);
  try {
    host.dieWithParent(9);
  } catch (e) {
    if (!(e instanceof ShimError) || e.errno !== 3) throw e;
    log.error("the supervisor is already gone; exiting");
    return 69;
  }
  if (args.cpu >= 0) host.pinToCpu(args.cpu);

  const region = counterRegion(args.countersFd);
  const dp = openDataPlane({
    ruleSlots: region.ruleSlots,
    outputSlots: region.outputSlots,
    ringBytes: (args.ringMb ?? 64) * 1024 * 1024,
    counters: region.words,
    merge: { counters: region.merge, slots: region.mergeSlots },
  });
  dp.setPollMode(args.poll ?? "sleep");
  dp.setIngressMode(args.ingress ?? "frames");
  // Mapped for the worker's life: the shim's outputs point into it.
  const bucketRegion =
    args.bucketsFd !== undefined && args.bucketsFd >= 0 ? host.bucketRegion?.(args.bucketsFd) : undefined;
  if (bucketRegion) dp.setBuckets(bucketRegion.words);
  dp.setEgressMode(args.egress ?? "ring");
  const compiler = new TableCompiler(
    new SlotAllocator(region.ruleSlots),
    new SlotAllocator(region.outputSlots),
    (kind, slot) => zeroSlot(region, kind, slot),
    new SlotAllocator(region.mergeSlots),
  );
  // Every leg of a merge rule meets in one worker: worker `id % count` (docs/merge.md).
  let place: WorkerPlace = { index: 0, count: 1 };
  const owns = (ruleId: number) => ruleId % place.count === place.index;
  // The rings of this worker's own that read its merge legs, by interface and merge mode (not in
  // any fanout group: the kernel picks a fanout member before that member's filter runs). An
  // rtp merge's ring is of the worker's ingress mode; a failover's a ring of frames, whose
  // arrival order across rings it needs (docs/merge.md).
  const mergeRings = new Map<string, { name: string; mode: MergeMode; slot: number; ifindex: number }>();
  // Failover switches seen, per merge rule, to log each one.
  let switchWatch: { ruleId: number; slot: number; seen: number }[] = [];
  let slots: SlotMap = { rules: {}, outputs: {} };
  let rules: Rule[] = [];
  let buckets: Record<string, number> = {};
  let resolved = new Map<string, string>();
  let lastErrors = "";

  const inputs: Input[] = args.interfaces.map((name) => ({ name, ifindex: 0, slot: -1, state: "missing" }));
  // The kernel lets only sockets on one device share a fanout group: each input gets its own.
  // The supervisor names them (a `fanout` message): one worker makes each group, with an id the
  // kernel picks, and the others join it by that id. Run alone, a worker takes fanoutId + index.
  let groups: Record<string, number | "new"> | undefined;
  const fanoutFor = (index: number, name: string): number | undefined => {
    if (!groups) return args.fanoutId < 0 ? -1 : (args.fanoutId + index) & 0xffff;
    const g = groups[name];
    return g === "new" ? FANOUT_NEW : g;
  };

  /** Opens rings on inputs that lack one; closes those whose interface went away. */
  const reconcileInputs = (): boolean => {
    let changed = false;
    for (const [index, inp] of inputs.entries()) {
      const info = lookupInterface(inp.name);
      if (inp.slot >= 0 && (!info || info.ifindex !== inp.ifindex)) {
        dp.removeInput(inp.slot);
        Object.assign(inp, { slot: -1, state: "missing", error: undefined });
        changed = true;
      }
      // Not there (the first table found it missing, or a ring never opened on it): say so.
      if (inp.slot < 0 && !info && inp.state !== "missing") {
        Object.assign(inp, { state: "missing", error: undefined });
        changed = true;
      }
      const fanout = fanoutFor(index, inp.name);
      if (inp.slot < 0 && info && fanout === undefined) {
        // Not worth a message: the group's maker is opening its ring, and this one follows it.
        Object.assign(inp, { state: "down", error: WAITING_FOR_GROUP, errno: undefined });
      } else if (inp.slot < 0 && info && fanout !== undefined) {
        try {
          inp.slot = dp.addInput(info.ifindex, fanout);
          inp.ifindex = info.ifindex;
          inp.fanoutId = fanout === -1 ? undefined : dp.inputFanout(inp.slot);
          // Made here: a reopen (the interface re-created) joins it again, as the others do.
          if (groups && inp.fanoutId !== undefined) groups[inp.name] = inp.fanoutId;
          const ring = dp.inputInfo(inp.slot);
          const blocks = ring.blockBytes ? ` in blocks of ${ring.blockBytes / 1024} KiB` : "";
          log.info(
            `${inp.name}: ring of ${Math.floor(ring.ringBytes / 2 ** 20)} MiB, ${ring.frameSize}-byte frames${blocks}`,
          );
          Object.assign(inp, { state: "up", error: undefined, errno: undefined });
          changed = true;
        } catch (e) {
          const error = e instanceof ShimError ? e.message : String(e);
          if (inp.error !== error) changed = true;
          Object.assign(inp, { state: "down", error, errno: e instanceof ShimError ? e.errno : undefined });
        }
      }
    }
    return changed;
  };
  const inputStates = (): InputState[] =>
    inputs.map(({ name, state, error, errno, fanoutId }) => ({
      interface: name,
      state,
      ...(error ? { error } : {}),
      ...(state === "down" && errno !== undefined ? { errno } : {}),
      ...(state === "up" && fanoutId !== undefined ? { fanoutId } : {}),
    }));

  /** Opens a merge ring for each interface and mode of the table's merge legs; closes the rest. */
  const reconcileMergeRings = (wanted: Map<string, Set<MergeMode>>, errors: { ruleId: number; message: string }[]) => {
    for (const [key, ring] of mergeRings) {
      const info = wanted.get(ring.name)?.has(ring.mode) ? lookupInterface(ring.name) : undefined;
      if (info?.ifindex === ring.ifindex) continue;
      dp.removeInput(ring.slot);
      mergeRings.delete(key);
    }
    for (const [name, modes] of wanted)
      for (const mode of modes) {
        const key = `${name} ${mode}`;
        const info = lookupInterface(name);
        if (mergeRings.has(key) || !info) continue;
        try {
          const slot = dp.addInput(info.ifindex, INPUT_MERGE | INPUT_MERGE_MODE[mode]);
          mergeRings.set(key, { name, mode, slot, ifindex: info.ifindex });
          const { blockBytes } = dp.inputInfo(slot);
          log.info(
            `${name}: merge ring open (${mode}): ${blockBytes ? `blocks of ${blockBytes / 1024} KiB` : "frames"}`,
          );
        } catch (e) {
          errors.push({ ruleId: 0, message: `merge ring on ${name} (${mode}): ${(e as Error).message}` });
        }
      }
  };

  /** Logs each failover switch since the last look: one load per merge rule, once per poll. */
  const watchSwitches = () => {
    for (const w of switchWatch) {
      const m = readMerge(region, w.slot);
      if (m.switches === w.seen) continue;
      w.seen = m.switches;
      const rule = rules.find((r) => r.id === w.ruleId);
      const legs = rule ? [{ interface: rule.inputInterface, group: rule.inputGroup, port: rule.inputPort }] : [];
      legs.push(...(rule?.merge?.legs ?? []));
      const leg = legs[m.active];
      const where = leg ? ` (${leg.interface} ${addressPort(leg.group, leg.port)})` : "";
      log.info(`rule ${rule?.name ?? w.ruleId}: input ${m.active}${where} forwarded now (switch ${m.switches})`);
    }
  };

  // Rings open only once the first table is in: a ring joins its fanout group at once and takes
  // its share of the flows, which would otherwise meet an empty table and be dropped.
  let haveTable = false;
  const applyRules = (version: number, next: Rule[], nextBuckets = buckets) => {
    rules = next;
    buckets = nextBuckets;
    const first = !haveTable;
    haveTable = true;
    const t = compiler.compile(rules, lookupInterface, {
      ...(bucketRegion ? { buckets: { of: buckets, count: bucketRegion.count } } : {}),
      owns,
    });
    resolved = t.resolved;
    const errors = [...t.errors];
    let failedOutputs: FailedOutput[] = [];
    try {
      // With each table (every interface change recompiles it): what the relay's frames come from.
      const own = host.ownAddresses();
      dp.setOwn(own.macs, own.ipv4, own.ipv6.map(address16));
      dp.setMerges(t.merges, t.nMerges);
      const errnos = dp.setRules(t.rules, t.nRules, t.outputs, t.nOutputs);
      slots = {
        rules: Object.fromEntries(t.ruleSlots),
        outputs: Object.fromEntries(t.outputSlots),
        ...(t.mergeSlots.size > 0 ? { merges: Object.fromEntries(t.mergeSlots) } : {}),
      };
      reconcileMergeRings(t.mergeInterfaces, errors);
      switchWatch = [...t.mergeSlots].map(([ruleId, slot]) => ({
        ruleId,
        slot,
        seen: switchWatch.find((w) => w.ruleId === ruleId && w.slot === slot)?.seen ?? readMerge(region, slot).switches,
      }));
      failedOutputs = [...errnos].flatMap((errno, i) => {
        const output = t.outputKeys[i]!;
        return errno === 0 ? [] : [{ output, errno, error: errnoName(errno) }];
      });
      for (const f of failedOutputs) {
        const [ruleId, index] = f.output.split(":").map(Number) as [number, number];
        const o = rules.find((r) => r.id === ruleId)?.outputs[index];
        const what = o ? ` (${addressPort(o.group, o.port)}:${o.interface})` : "";
        errors.push({ ruleId, message: `output ${index}${what} is out of service: ${f.error}` });
      }
    } catch (e) {
      errors.push({ ruleId: 0, message: (e as Error).message });
    }
    // Said once, not at every recompile while an interface stays missing.
    const said = JSON.stringify(errors);
    if (said !== lastErrors) for (const err of errors) log.warn(`rule ${err.ruleId}: ${err.message}`);
    lastErrors = said;
    if (first && reconcileInputs()) {
      // Compiled before the rings existed, the table named the interfaces already: no recompile.
      send({ type: "inputs", inputs: inputStates() });
    }
    send({ type: "applied", version, errors, slots, failedOutputs });
  };

  const snapshot = () => {
    dp.ringStats();
    return readCounters(region, slots);
  };

  let stopping = false;
  let resolveDone!: (code: number) => void;
  const done = new Promise<number>((r) => (resolveDone = r));

  const onMessage = (m: ToWorker) => {
    switch (m?.type) {
      case "rules":
        if (typeof m.version !== "number" || !Array.isArray(m.rules))
          return log.warn("malformed rules message ignored");
        if (m.worker !== undefined) {
          const { index, count } = m.worker ?? {};
          if (!Number.isInteger(count) || count < 1 || !Number.isInteger(index) || index < 0 || index >= count)
            return log.warn("malformed rules message ignored (worker)");
          place = { index, count };
        }
        return applyRules(m.version, m.rules, typeof m.buckets === "object" && m.buckets !== null ? m.buckets : {});
      case "stats":
        return send({ type: "stats", seq: m.seq, counters: snapshot() });
      case "fanout":
        if (typeof m.groups !== "object" || m.groups === null) return log.warn("malformed fanout message ignored");
        groups = { ...m.groups };
        // Rings open with the first table; one waiting for its group opens now.
        if (haveTable && reconcileInputs()) send({ type: "inputs", inputs: inputStates() });
        return;
      case "stop":
        stopping = true;
        return;
      default:
        log.warn(`unknown message from the supervisor: ${JSON.stringify(m).slice(0, 200)}`);
    }
  };
  const feed = lineReader<ToWorker>(onMessage, (line) =>
    log.warn(`unparsable line from the supervisor: ${line.slice(0, 200)}`),
  );
  host.listen(feed, () => {
    stopping = true;
  });

  for (const inp of inputs) Object.assign(inp, { state: "down", error: "waiting for the rule table" });
  send({ type: "ready", pid: process.pid, cpu: args.cpu, inputs: inputStates() });

  let lastHousekeeping = performance.now();
  const tick = () => {
    if (stopping) {
      dp.close();
      resolveDone(0);
      return;
    }
    let interfacesSuspect = false;
    try {
      dp.poll(IDLE_WAIT_MS, BATCH_MAX);
    } catch (e) {
      if (!(e instanceof ShimError)) throw e;
      if (e.errno !== ENETDOWN) {
        // io_uring failed with sends in flight: the frames they read are held, and this worker
        // cannot go on. Its supervisor starts a fresh one.
        log.error(`the data plane failed: ${e.message}; exiting`);
        resolveDone(70);
        return;
      }
      interfacesSuspect = true;
    }
    if (switchWatch.length > 0) watchSwitches();
    const now = performance.now();
    if (haveTable && (interfacesSuspect || now - lastHousekeeping >= HOUSEKEEPING_MS)) {
      lastHousekeeping = now;
      dp.ringStats();
      dp.egressCheck();
      const inputsChanged = reconcileInputs();
      // An interface the rules name appeared, went, was re-created (a new index) or got an
      // address: the table must say so.
      const stale = [...resolved].some(([name, was]) => resolution(lookupInterface(name)) !== was);
      if (inputsChanged || stale) applyRules(-1, rules);
      if (inputsChanged) send({ type: "inputs", inputs: inputStates() });
      if (interfacesSuspect && inputs.every((i) => i.slot < 0)) {
        // Nothing to poll: wait for the interfaces without spinning.
        setTimeout(tick, IDLE_WAIT_MS);
        return;
      }
    }
    setImmediate(tick);
  };
  setImmediate(tick);
  return done;
}

/** The supervisor's shared counter region, or a private one when run alone. */
function counterRegion(fd: number | undefined): Region {
  if (fd !== undefined && fd >= 0) return openRegion(mapShared(fd));
  const { map } = sharedMemory(regionBytes(DEFAULT_RULE_SLOTS, DEFAULT_OUTPUT_SLOTS));
  return initRegion(map, DEFAULT_RULE_SLOTS, DEFAULT_OUTPUT_SLOTS);
}
