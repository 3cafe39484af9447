// runWorker (src/worker/run.ts) against a fake data plane and fake interfaces: no root, no packets.
import { afterEach, describe, expect, test } from "bun:test";
import { log } from "../../src/log.ts";
import type { EgressMode, IngressMode, PollMode } from "../../src/native/abi.ts";
import { type DataPlane, ShimError } from "../../src/native/shim.ts";
import type { InterfaceInfo } from "../../src/net/interfaces.ts";
import { initRegion, regionBytes } from "../../src/stats/shared.ts";
import type { Rule } from "../../src/types/rules.ts";
import type { FromWorker, ToWorker } from "../../src/types/worker.ts";
import { encode } from "../../src/worker/protocol.ts";
import { runWorker, type WorkerHost } from "../../src/worker/run.ts";

log.level = -999;

type Call =
  | { op: "addInput"; ifindex: number; fanoutId: number; slot: number }
  | { op: "removeInput"; slot: number }
  | { op: "setRules"; nRules: number; nOutputs: number }
  | { op: "close" };

/** Records what the worker asks of it; poll() fails once when told to, as a vanished interface makes it. */
class FakeDataPlane implements DataPlane {
  calls: Call[] = [];
  failNextPoll = false;
  private nextSlot = 0;
  addInput(ifindex: number, fanoutId: number): number {
    const slot = this.nextSlot++;
    this.calls.push({ op: "addInput", ifindex, fanoutId, slot });
    return slot;
  }
  removeInput(slot: number): void {
    this.calls.push({ op: "removeInput", slot });
  }
  inputInfo() {
    return { ringBytes: 4 << 20, frameSize: 2048, blockBytes: 0 };
  }
  /** The mode set, and how many polls ran before it was. */
  pollMode?: { mode: PollMode; pollsBefore: number };
  polls = 0;
  setPollMode(mode: PollMode): void {
    this.pollMode = { mode, pollsBefore: this.polls };
  }
  /** The egress mode set, and how many tables were installed before it was. */
  egressMode?: { mode: EgressMode; tablesBefore: number };
  setEgressMode(mode: EgressMode): void {
    this.egressMode = { mode, tablesBefore: this.calls.filter((c) => c.op === "setRules").length };
  }
  /** The ingress mode set, and how many inputs were added before it was. */
  ingressMode?: { mode: IngressMode; inputsBefore: number };
  setIngressMode(mode: IngressMode): void {
    this.ingressMode = { mode, inputsBefore: this.calls.filter((c) => c.op === "addInput").length };
  }
  own: { macs: readonly string[]; addrs: readonly string[] }[] = []; // each setOwn, apart from calls
  setOwn(macs: readonly string[], addrs: readonly string[]): void {
    this.own.push({ macs, addrs });
  }
  buckets?: BigUint64Array;
  setBuckets(words: BigUint64Array): void {
    this.buckets = words;
  }
  setRules(_r: Uint8Array, nRules: number, _o: Uint8Array, nOutputs: number): Int32Array {
    this.calls.push({ op: "setRules", nRules, nOutputs });
    return new Int32Array(nOutputs); // every output in service
  }
  merges: number[] = []; // each setMerges' count
  setMerges(_m: Uint8Array, n: number): void {
    this.merges.push(n);
  }
  inputFanout(_slot: number): number {
    return 100;
  }
  egressCheck(): void {}
  poll(budgetMs: number): number {
    this.polls++;
    if (this.failNextPoll) {
      this.failNextPoll = false;
      throw new ShimError("mcr_worker_poll", 100); // ENETDOWN: an input reported an error
    }
    Bun.sleepSync(Math.min(budgetMs, 1)); // the real one blocks up to budgetMs
    return 0;
  }
  ringStats(): void {}
  close(): void {
    this.calls.push({ op: "close" });
  }
}

interface Harness {
  dp: FakeDataPlane;
  ifaces: Map<string, InterfaceInfo>;
  sent: FromWorker[];
  tell: (m: ToWorker) => void;
  stop: () => void;
  exit: Promise<number>;
}

function start(
  interfaces: string[],
  fanoutId = 100,
  poll?: PollMode,
  egress?: EgressMode,
  ingress?: IngressMode,
): Harness {
  const dp = new FakeDataPlane();
  const ifaces = new Map<string, InterfaceInfo>();
  const sent: FromWorker[] = [];
  let onData: (c: string) => void = () => {};
  let stop = () => {};
  const host: WorkerHost = {
    openDataPlane: () => dp,
    lookupInterface: (name) => ifaces.get(name),
    ownAddresses: () => ({ macs: ["02:00:00:00:00:01"], ipv4: ["10.0.0.2"], ipv6: [] }),
    pinToCpu: () => {},
    dieWithParent: () => {},
    counterRegion: () => initRegion(new Uint8Array(regionBytes(8, 8)), 8, 8),
    send: (m) => sent.push(m),
    listen: (d, s) => {
      onData = d;
      stop = s;
    },
  };
  const exit = runWorker(
    {
      cpu: -1,
      interfaces,
      fanoutId,
      ...(poll ? { poll } : {}),
      ...(egress ? { egress } : {}),
      ...(ingress ? { ingress } : {}),
    },
    host,
  );
  return { dp, ifaces, sent, tell: (m) => onData(encode(m)), stop: () => stop(), exit };
}

async function until(what: string, ok: () => boolean, ms = 2000): Promise<void> {
  const end = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await Bun.sleep(2);
  }
}

const eth = (name: string, ifindex: number): InterfaceInfo => ({
  name,
  ifindex,
  ipv4: `10.0.${ifindex}.1`,
  mac: "02:00:00:00:00:01",
});

const rule: Rule = {
  id: 1,
  inputInterface: "in0",
  inputGroup: "239.1.1.1",
  inputPort: 5000,
  outputs: [{ group: "239.2.2.2", port: 6000, interface: "out0", ttl: 1 }],
};

let running: Harness | undefined;
afterEach(async () => {
  running?.stop();
  await running?.exit;
  running = undefined;
});

describe("runWorker with a fake data plane", () => {
  // It used to keep saying "waiting for the rule table".
  test("an input missing when the table arrives says missing", async () => {
    const h = (running = start(["in0"]));
    h.tell({ type: "rules", version: 1, rules: [] });
    await until("applied 1", () => h.sent.some((m) => m.type === "applied"));
    h.tell({ type: "stop" });
    await h.exit;
    running = undefined;
    const last = h.sent.filter((m) => m.type === "inputs" || m.type === "ready").at(-1);
    expect(last && "inputs" in last ? last.inputs : []).toEqual([{ interface: "in0", state: "missing" }]);
  });

  test("rings open only after the first table; an interface that goes and comes back gets a new ring and a re-applied table", async () => {
    const h = (running = start(["in0", "in1"]));
    h.ifaces.set("in0", eth("in0", 7));
    h.ifaces.set("out0", eth("out0", 9));
    await until("ready", () => h.sent.length === 1);
    expect(h.sent[0]).toEqual({
      type: "ready",
      pid: process.pid,
      cpu: -1,
      inputs: [
        { interface: "in0", state: "down", error: "waiting for the rule table" },
        { interface: "in1", state: "down", error: "waiting for the rule table" },
      ],
    });
    await Bun.sleep(20); // loop turns: still no ring without a table
    expect(h.dp.calls).toEqual([]);

    h.tell({ type: "rules", version: 3, rules: [rule] });
    await until("applied 3", () => h.sent.some((m) => m.type === "applied"));
    // The table first, then the ring on the input that exists (in1 does not); fanout ids by position.
    expect(h.dp.calls).toEqual([
      { op: "setRules", nRules: 1, nOutputs: 1 },
      { op: "addInput", ifindex: 7, fanoutId: 100, slot: 0 },
    ]);
    expect(h.sent.map((m) => m.type)).toEqual(["ready", "inputs", "applied"]);
    expect(h.sent[1]).toMatchObject({
      type: "inputs",
      inputs: [{ interface: "in0", state: "up" }, { interface: "in1" }],
    });
    expect(h.sent[2]).toEqual({
      type: "applied",
      failedOutputs: [],
      version: 3,
      errors: [],
      slots: { rules: { "1": 0 }, outputs: { "1:0": 0 } },
    });

    // in0 goes away: the failed poll makes the worker look at once, not at the next second.
    h.dp.calls = [];
    h.sent.length = 0;
    h.ifaces.delete("in0");
    h.dp.failNextPoll = true;
    await until("in0 missing", () => h.sent.some((m) => m.type === "inputs"));
    // Its ring closes, and the rule on it leaves the table with a reason until it is back.
    expect(h.dp.calls).toEqual([
      { op: "removeInput", slot: 0 },
      { op: "setRules", nRules: 0, nOutputs: 0 },
    ]);
    expect(h.sent.map((m) => m.type)).toEqual(["applied", "inputs"]);
    expect(h.sent[0]).toEqual({
      type: "applied",
      failedOutputs: [],
      version: -1,
      errors: [{ ruleId: 1, message: "input interface in0 does not exist" }],
      slots: { rules: { "1": 0 }, outputs: { "1:0": 0 } },
    });
    expect(h.sent[1]).toMatchObject({
      type: "inputs",
      inputs: [{ interface: "in0", state: "missing" }, { interface: "in1" }],
    });

    // Re-created with a new index: a new ring on it, the table applied again (version -1).
    h.dp.calls = [];
    h.sent.length = 0;
    h.ifaces.set("in0", eth("in0", 11));
    h.dp.failNextPoll = true;
    await until("in0 up again", () => h.sent.some((m) => m.type === "inputs"));
    expect(h.dp.calls).toEqual([
      { op: "addInput", ifindex: 11, fanoutId: 100, slot: 1 },
      { op: "setRules", nRules: 1, nOutputs: 1 },
    ]);
    expect(h.sent.map((m) => m.type)).toEqual(["applied", "inputs"]);
    expect(h.sent[0]).toMatchObject({ type: "applied", version: -1, errors: [] });
    expect(h.sent[1]).toMatchObject({
      type: "inputs",
      inputs: [{ interface: "in0", state: "up" }, { interface: "in1" }],
    });
  });

  test("the poll mode asked for is set before the first poll; sleep when none is asked for", async () => {
    for (const [asked, want] of [
      ["busy", "busy"],
      ["adaptive", "adaptive"],
      [undefined, "sleep"],
    ] as const) {
      const h = (running = start(["in0"], 100, asked));
      await until("a poll", () => h.dp.polls > 0);
      expect(h.dp.pollMode).toEqual({ mode: want, pollsBefore: 0 });
      h.stop();
      await h.exit;
      running = undefined;
    }
  });

  test("the egress mode asked for is set before the first table; ring when none is asked for", async () => {
    for (const [asked, want] of [
      ["sendmsg", "sendmsg"],
      ["zc", "zc"],
      [undefined, "ring"],
    ] as const) {
      const h = (running = start(["in0"], 100, undefined, asked));
      await until("a poll", () => h.dp.polls > 0);
      expect(h.dp.egressMode).toEqual({ mode: want, tablesBefore: 0 });
      h.stop();
      await h.exit;
      running = undefined;
    }
  });

  test("the ingress mode asked for is set before the first input; frames when none is asked for", async () => {
    for (const [asked, want] of [
      ["blocks", "blocks"],
      [undefined, "frames"],
    ] as const) {
      const h = (running = start(["in0"], 100, undefined, undefined, asked));
      h.ifaces.set("in0", eth("in0", 7));
      h.ifaces.set("out0", eth("out0", 9));
      await until("ready", () => h.sent.length === 1);
      h.tell({ type: "rules", version: 1, rules: [rule] }); // inputs open once a table came
      await until("the input", () => h.dp.calls.some((c) => c.op === "addInput"));
      expect(h.dp.ingressMode).toEqual({ mode: want, inputsBefore: 0 });
      h.stop();
      await h.exit;
      running = undefined;
    }
  });

  test("a new table is applied as sent, stats answer from the region, and stop closes the data plane", async () => {
    const h = (running = start(["in0"], -1));
    h.ifaces.set("in0", eth("in0", 7));
    h.ifaces.set("out0", eth("out0", 9));
    h.tell({ type: "rules", version: 2, rules: [rule] });
    await until("applied 2", () => h.sent.some((m) => m.type === "applied"));
    h.tell({ type: "rules", version: 3, rules: [] });
    await until("applied 3", () => h.sent.filter((m) => m.type === "applied").length === 2);
    expect(h.sent.filter((m) => m.type === "applied").at(-1)).toEqual({
      type: "applied",
      failedOutputs: [],
      version: 3,
      errors: [],
      slots: { rules: {}, outputs: {} },
    });
    expect(h.dp.calls).toEqual([
      { op: "setRules", nRules: 1, nOutputs: 1 },
      { op: "addInput", ifindex: 7, fanoutId: -1, slot: 0 }, // no fanout group asked for
      { op: "setRules", nRules: 0, nOutputs: 0 },
    ]);
    h.tell({ type: "stats", seq: 5 });
    await until("stats 5", () => h.sent.some((m) => m.type === "stats"));
    expect(h.sent.find((m) => m.type === "stats")).toMatchObject({ type: "stats", seq: 5, counters: { rxFrames: 0 } });
    h.tell({ type: "stop" });
    expect(await h.exit).toBe(0);
    expect(h.dp.calls.at(-1)).toEqual({ op: "close" });
    running = undefined;
  });
});
