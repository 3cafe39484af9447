// Faults under traffic (issue 6, item 1): workers and the supervisor killed, a worker frozen, the
// input interface taken down and away, rule churn and idle control connections, each while
// mcr gen -> mcr -> mcr sink runs at a real rate. Every test prints the loss and the recovery
// time it saw. Recovery times are measured from the control socket: the moment the rule's packet
// counter moves again (polled every 10 ms, so they are at most ~15 ms late). Needs root.
import { expect, test } from "bun:test";
import { describeNetns, type Labs } from "../helpers/suite.ts";
import { alive, must, until } from "../helpers/lab.ts";
import { rssKb } from "../helpers/proc.ts";
import { ctl, startSupervisor } from "../helpers/supervisor.ts";
import { gen, sink } from "../helpers/tools.ts";

const IN = "239.1.1.1:5001";
const OUT = "239.9.9.9:5099";

async function relay(labs: Labs, workers = 1, extra: string[] = []) {
  const lab = labs.chain();
  const sup = await startSupervisor(lab, ["--workers", String(workers), ...extra]);
  const id = sup.addRule("239.1.1.1", 5001, `${OUT}:veth3`);
  return { lab, sup, id };
}

const packets = async (socket: string, id: number) =>
  ((await ctl(socket, "stats")).rules.find((r) => r.id === id)?.packets ?? 0) as number;

/** Milliseconds from t0 until the rule's packet counter moves past `from` (sampled now if absent). */
async function forwardingAgain(
  socket: string,
  id: number,
  t0: number,
  timeoutMs: number,
  from?: number,
): Promise<number> {
  const n0 = from ?? (await packets(socket, id));
  await until(async () => (await packets(socket, id)) > n0, timeoutMs, `rule ${id} forwarding again`);
  return performance.now() - t0;
}

const workerPids = async (socket: string) => (await ctl(socket, "rule.list")).workers.map((w) => w.pid);

/** Stops a paced gen (SIGINT: it prints its summary), lets the last packets through, stops the sink. */
async function finish(tx: ReturnType<typeof gen>, rx: ReturnType<typeof sink>) {
  tx.proc.kill("SIGINT");
  const g = await tx.result;
  await Bun.sleep(300);
  rx.proc.kill("SIGINT");
  return { g, s: await rx.result };
}

const ms = (lost: number, rate: number) => `${((lost / rate) * 1000).toFixed(0)} ms of traffic`;

describeNetns("faults under traffic", (labs) => {
  test("a worker SIGKILLed 20 times in a row: forwarding comes back after each, the rule stays, loss bounded", async () => {
    const { lab, sup, id } = await relay(labs, 1);
    const RATE = 50_000;
    const rx = sink(lab, { group: OUT });
    await Bun.sleep(300);
    const tx = gen(lab, { dest: IN, rate: RATE, durationS: 120 });
    await until(async () => (await packets(sup.socket, id)) > 1000, 5000, "traffic through the relay");

    const recoveries: number[] = [];
    for (let k = 0; k < 20; k++) {
      const [pid] = await workerPids(sup.socket);
      const t0 = performance.now();
      process.kill(pid!, "SIGKILL");
      const n0 = await packets(sup.socket, id); // the killed run's final count: frozen until the next run forwards
      recoveries.push(await forwardingAgain(sup.socket, id, t0, 5000, n0));
      expect((await workerPids(sup.socket))[0]).not.toBe(pid);
      expect(alive(pid!)).toBe(false);
      // Let the new run forward a while, as a worker killed now and then would.
      await Bun.sleep(1200);
    }
    const { g, s } = await finish(tx, rx);
    const list = await ctl(sup.socket, "rule.list");
    expect(list.rules.map((r) => r.id)).toEqual([id]);
    expect(list.workers[0]!.restarts).toBe(20);
    expect(list.workers[0]!.state).toBe("ready");

    const total = recoveries.reduce((a, b) => a + b, 0);
    console.log(
      `worker SIGKILL x20 at ${RATE} pps: recovery ms ${recoveries.map((r) => r.toFixed(0)).join(" ")} (max ${Math.max(...recoveries).toFixed(0)}, sum ${total.toFixed(0)}); ` +
        `sent ${g.packets}, received ${s.unique}, lost ${s.lost} (${ms(s.lost, RATE)}, ${(s.lost / 20).toFixed(0)} per kill)`,
    );
    expect(g.sendErrors).toBe(0);
    // Every restart is the quick one: none waited out a grown backoff.
    for (const r of recoveries) expect(r).toBeLessThan(1000);
    // What was lost is what flowed while no worker ran, plus a ring's worth per kill: bounded by the outages measured.
    expect(s.lost).toBeLessThan(((total + 20 * 60) / 1000) * RATE);
    expect(s.lost).toBeLessThan(20 * 0.5 * RATE);
    expect(s.duplicates).toBe(0);
    expect(s.integrityFailures).toBe(0);
  }, 90_000);

  test("the supervisor SIGKILLed and restarted under traffic: rules back from the state file, no orphan worker", async () => {
    const { lab, sup, id } = await relay(labs, 2);
    const id2 = sup.addRule("239.1.1.2", 5002, "239.9.9.8:5098:veth3:4");
    const before = await ctl(sup.socket, "rule.list");
    const RATE = 50_000;
    const rx = sink(lab, { group: OUT });
    await Bun.sleep(300);
    const tx = gen(lab, { dest: IN, rate: RATE, durationS: 60 });
    await until(async () => (await packets(sup.socket, id)) > 1000, 5000, "traffic through the relay");
    const pids = before.workers.map((w) => w.pid!);

    const t0 = performance.now();
    sup.proc.kill("SIGKILL");
    await sup.proc.exited;
    const orphansGoneMs = await until(() => !pids.some(alive), 3000, "workers to follow their supervisor");
    sup.start();
    await sup.ready();
    const restartedMs = performance.now() - t0;
    const recovered = await forwardingAgain(sup.socket, id, t0, 10000, 0);
    const after = await ctl(sup.socket, "rule.list");
    expect(after.rules).toEqual(before.rules);
    expect(after.rules.map((r) => r.id)).toEqual([id, id2]);
    expect(after.workers.every((w) => w.pid !== null && !pids.includes(w.pid))).toBe(true);
    await Bun.sleep(500);
    const { g, s } = await finish(tx, rx);
    console.log(
      `supervisor SIGKILL at ${RATE} pps: workers gone after ${orphansGoneMs.toFixed(0)} ms, control socket back after ${restartedMs.toFixed(0)} ms, ` +
        `forwarding after ${recovered.toFixed(0)} ms; sent ${g.packets}, lost ${s.lost} (${ms(s.lost, RATE)})`,
    );
    expect(orphansGoneMs).toBeLessThan(500);
    expect(recovered).toBeLessThan(3000);
    expect(s.lost).toBeLessThan(((recovered + 100) / 1000) * RATE);
    // A relay that duplicates is wrong: exactly 0. (It once saw 12 twice, 1 run in 5: a new ring
    // took frames between its bind and its fanout join; rings now take nothing until they joined.)
    expect(s.duplicates).toBe(0);
  }, 60_000);

  test("a worker stopped (SIGSTOP) for 2 s: its ring overflows, the drops show in ringDrops, then it recovers", async () => {
    const { lab, sup, id } = await relay(labs, 1);
    const RATE = 50_000;
    const rx = sink(lab, { group: OUT });
    await Bun.sleep(300);
    const tx = gen(lab, { dest: IN, rate: RATE, durationS: 60 });
    await until(async () => (await packets(sup.socket, id)) > 1000, 5000, "traffic through the relay");
    const s0 = await ctl(sup.socket, "stats");
    const pid = s0.workers[0]!.pid!;

    const tStop = performance.now();
    process.kill(pid, "SIGSTOP");
    await Bun.sleep(500);
    // Its counters are frozen; the stats call waits 1 s for the stopped worker and marks it stale.
    const during = await ctl(sup.socket, "stats");
    const frozen = during.rules.find((r) => r.id === id)!.packets;
    await Bun.sleep(Math.max(0, 2000 - (performance.now() - tStop)));
    const t0 = performance.now();
    process.kill(pid, "SIGCONT");
    const stoppedMs = t0 - tStop;
    const recovered = await forwardingAgain(sup.socket, id, t0, 5000, frozen);
    await Bun.sleep(1500); // ring statistics are read every second
    const { g, s } = await finish(tx, rx);
    const s1 = await ctl(sup.socket, "stats");
    const ringDrops = s1.totals.ringDrops - s0.totals.ringDrops;
    console.log(
      `worker SIGSTOP ${stoppedMs.toFixed(0)} ms at ${RATE} pps: forwarding ${recovered.toFixed(0)} ms after SIGCONT; lost ${s.lost} (${ms(s.lost, RATE)}), ` +
        `ringDrops +${ringDrops}, stats while stopped: stale ${JSON.stringify(during.stale)}; sent ${g.packets}, received ${s.unique}`,
    );
    expect(during.stale).toEqual([0]);
    expect(s1.workers[0]!.pid).toBe(pid); // not restarted: it was only stopped
    expect(s1.workers[0]!.restarts).toBe(0);
    expect(s1.stale).toEqual([]);
    expect(recovered).toBeLessThan(500);
    // The ring holds 4096 frames (8 MiB): the rest of 2 s of traffic is lost, no more...
    expect(s.lost).toBeGreaterThan(((stoppedMs - 200) / 1000) * RATE);
    // (+50 ms: when the stop takes effect and when the clock was read around it differ by a few
    // milliseconds on a busy machine; the down/up test allows the same kind of margin.)
    expect(s.lost).toBeLessThan(((stoppedMs + recovered + 50) / 1000) * RATE);
    // ...and every lost packet is a counted ring drop.
    expect(ringDrops).toBe(s.lost);
    expect(s.duplicates).toBe(0);
  }, 60_000);

  test("the input interface set down and up: forwarding resumes", async () => {
    const { lab, sup, id } = await relay(labs, 2);
    const RATE = 50_000;
    const rx = sink(lab, { group: OUT });
    await Bun.sleep(300);
    const tx = gen(lab, { dest: IN, rate: RATE, durationS: 60 });
    await until(async () => (await packets(sup.socket, id)) > 1000, 5000, "traffic through the relay");

    const down = performance.now();
    must(["ip", "-n", lab.ns("relay"), "link", "set", "veth1", "down"]);
    await Bun.sleep(1000);
    const n0 = await packets(sup.socket, id);
    const t0 = performance.now();
    must(["ip", "-n", lab.ns("relay"), "link", "set", "veth1", "up"]);
    const recovered = await forwardingAgain(sup.socket, id, t0, 5000, n0);
    const downMs = t0 - down;
    await Bun.sleep(1500);
    const { g, s } = await finish(tx, rx);
    const list = await ctl(sup.socket, "rule.list");
    console.log(
      `veth1 down ${downMs.toFixed(0)} ms at ${RATE} pps: forwarding ${recovered.toFixed(0)} ms after up; lost ${s.lost} (${ms(s.lost, RATE)}), sent ${g.packets}`,
    );
    expect(list.workers.every((w) => w.restarts === 0 && w.inputs.every((i) => i.state === "up"))).toBe(true);
    expect(recovered).toBeLessThan(1500);
    // What was sent while the link was down is lost, and about nothing more.
    expect(s.lost).toBeLessThan(((downMs + recovered + 100) / 1000) * RATE);
    expect(s.duplicates).toBe(0);
  }, 60_000);

  test("the input interface deleted and re-created: the workers reopen their rings on the new one", async () => {
    const { lab, sup, id } = await relay(labs, 2);
    const RATE = 50_000;
    const COUNT = 100_000;
    const rx = sink(lab, { group: OUT, expect: COUNT });
    await Bun.sleep(300);
    const first = await gen(lab, { dest: IN, rate: RATE, count: COUNT }).result;
    // The generator is done when it has sent; the worker may still be taking the last frames
    // off its ring. Wait (bounded) for the count to reach what was sent, then check it.
    await until(async () => (await packets(sup.socket, id)) >= COUNT, 3000, "the relay's count").catch(() => {});
    const n1 = await packets(sup.socket, id);
    expect(n1).toBe(COUNT);

    must(["ip", "-n", lab.ns("relay"), "link", "del", "veth1"]); // its peer veth0 goes too
    await until(
      async () => (await ctl(sup.socket, "rule.list")).workers.every((w) => w.inputs[0]?.state === "missing"),
      3000,
      "inputs missing",
    );
    const t0 = performance.now();
    lab.veth("gen", "veth0", "relay", "veth1");
    lab.addr("gen", "veth0", "10.0.0.1/24");
    lab.addr("relay", "veth1", "10.0.0.2/24");
    must(["ip", "-n", lab.ns("gen"), "route", "add", "224.0.0.0/4", "dev", "veth0"]);
    await until(
      async () => (await ctl(sup.socket, "rule.list")).workers.every((w) => w.inputs[0]?.state === "up"),
      3000,
      "inputs up again",
    );
    const upMs = performance.now() - t0;
    const second = await gen(lab, { dest: IN, rate: RATE, count: COUNT }).result;
    await Bun.sleep(300);
    rx.proc.kill("SIGINT");
    const s = await rx.result;
    const n2 = await packets(sup.socket, id);
    const list = await ctl(sup.socket, "rule.list");
    console.log(
      `veth1 deleted and re-created: rings open on the new interface ${upMs.toFixed(0)} ms after it appeared; ` +
        `second run lost ${s.lost} of ${second.packets}; relay counted ${n2 - n1}`,
    );
    expect(first.packets + second.packets).toBe(2 * COUNT);
    expect(list.workers.every((w) => w.restarts === 0)).toBe(true);
    expect(upMs).toBeLessThan(2000);
    expect(n2 - n1).toBe(COUNT);
    expect(s.unique).toBe(2 * COUNT);
    expect(s.lost).toBe(0);
  }, 60_000);

  // 10,000 cycles are 20,000 changes; each waits for the worker's confirmation, about 11 ms while
  // traffic flows (the worker reads its control pipe between 10 ms receive budgets): 220 s. CI
  // runs 2,000 (45 s); MCR_CHURN_CYCLES=10000 runs the figure, and scripts/soak.ts churns too.
  const CYCLES = Number(process.env.MCR_CHURN_CYCLES ?? 2000);
  test(
    `${CYCLES.toLocaleString("en")} rule add/remove cycles over a table of 200 rules, 50k pps on another rule: no loss, memory bounded`,
    async () => {
      // The default ring (64 MiB: 330 ms at 100k pps), as deployed: with the tests' 8 MiB one a
      // process of someone else's at nice -10 on the worker's CPU (a benchmark) drops frames, churn
      // or not. (Before each compile looked every interface up once per rule, a change over 500
      // rules held the worker 80 ms; scripts/soak.ts and the probe in the commit that fixed it show it.)
      const { lab, sup, id } = await relay(labs, 1, ["--ring-mb", "64"]);
      // A table of some size: every change recompiles all of it in the worker, which reads no ring meanwhile.
      for (let i = 0; i < 200; i++)
        await ctl(sup.socket, "rule.add", {
          inputGroup: `239.3.0.${i}`,
          inputPort: 7000,
          outputs: [{ group: "239.9.9.6", port: 5096, interface: "veth3", ttl: 1 }],
        });
      // 50k pps: on two CPUs the generator, the supervisor's and the client's work for a change
      // every 25 ms and the worker share the machine; at 100k pps the worker, starved of CPU
      // while it also recompiles the table (about 5 ms a change), fell behind its ring (seen at
      // this session's start too, so the machine's, not a change's). The claim is the same:
      // the rule nobody touches loses nothing while the table changes under it.
      const RATE = 50_000;
      const rx = sink(lab, { group: OUT });
      await Bun.sleep(300);
      const tx = gen(lab, { dest: IN, rate: RATE, durationS: 600 });
      await until(async () => (await packets(sup.socket, id)) > 1000, 5000, "traffic through the relay");
      const status = await ctl(sup.socket, "status");
      const pids = [status.pid, ...status.workers.map((w) => w.pid!)];
      const cycle = async (i: number) => {
        const { rule } = await ctl(sup.socket, "rule.add", {
          inputGroup: `239.2.${(i >> 8) & 0xff}.${i & 0xff}`,
          inputPort: 6000 + (i % 1000),
          outputs: [{ group: "239.9.9.7", port: 5097, interface: "veth3", ttl: 1 }],
        });
        await ctl(sup.socket, "rule.remove", { id: rule.id });
      };
      // Warm up (JIT, heap), then measure.
      for (let i = 0; i < 200; i++) await cycle(i);
      const s0 = await ctl(sup.socket, "stats");
      const rss0 = pids.map(rssKb);
      const t0 = performance.now();
      const mid: number[][] = [];
      for (let i = 0; i < CYCLES; i++) {
        await cycle(i);
        if ((i + 1) % Math.max(1, Math.floor(CYCLES / 4)) === 0) mid.push(pids.map(rssKb));
      }
      const elapsed = performance.now() - t0;
      await Bun.sleep(1200); // ring statistics are read every second
      const rss1 = pids.map(rssKb);
      const { g, s } = await finish(tx, rx);
      const s1 = await ctl(sup.socket, "stats");
      const after = await ctl(sup.socket, "status");
      const growth = rss1.map((r, i) => r - rss0[i]!);
      console.log(
        `${CYCLES} add/remove cycles in ${(elapsed / 1000).toFixed(1)} s (${(elapsed / CYCLES / 2).toFixed(1)} ms per change) over 200 rules; ` +
          `RSS KiB supervisor ${rss0[0]} -> ${mid.map((m) => m[0]).join(" -> ")}, worker ${rss0[1]} -> ${mid.map((m) => m[1]).join(" -> ")}; ` +
          `other rule at ${RATE} pps: sent ${g.packets}, lost ${s.lost}, ringDrops +${s1.totals.ringDrops - s0.totals.ringDrops}`,
      );
      expect(after.pid).toBe(status.pid);
      expect(after.workers.map((w) => w.pid)).toEqual(status.workers.map((w) => w.pid));
      expect(after.rules).toBe(201);
      expect(after.tableVersion).toBeGreaterThan(2 * CYCLES);
      // The rule that was not touched lost nothing while the table changed under it.
      expect(s1.totals.ringDrops - s0.totals.ringDrops).toBe(0);
      expect(s.lost).toBe(0);
      expect(s.unique).toBe(g.packets);
      expect(s.duplicates).toBe(0);
      // Memory: bounded growth, not one that follows the number of changes.
      expect(growth[0]!).toBeLessThan(32 * 1024);
      expect(growth[1]!).toBeLessThan(16 * 1024);
    },
    60_000 + CYCLES * 60,
  );

  test("1,000 concurrent idle control connections: a new client is still answered at once", async () => {
    const { lab, sup, id } = await relay(labs, 1);
    const RATE = 20_000;
    const COUNT = 60_000;
    const rx = sink(lab, { group: OUT, expect: COUNT });
    await Bun.sleep(300);
    const tx = gen(lab, { dest: IN, rate: RATE, count: COUNT });
    const N = 1000;
    const idle: { end(): void }[] = [];
    const t0 = performance.now();
    // A Unix connect completes once it is queued on the listener, before the supervisor accepts
    // it: a loop faster than its accepts fills the listen queue (Bun's listen() takes no backlog)
    // and the next connect is refused. Held open is what this test is about, so the client lets
    // the supervisor accept every hundred.
    for (let i = 0; i < N; i++) {
      idle.push(await Bun.connect({ unix: sup.socket, socket: { data() {}, error() {} } }));
      if (i % 100 === 99) await Bun.sleep(20);
    }
    const openMs = performance.now() - t0;
    await Bun.sleep(200);
    const t1 = performance.now();
    const list = await ctl(sup.socket, "rule.list", {}, 1000);
    const answerMs = performance.now() - t1;
    // And the command line too, a process of its own.
    const t2 = performance.now();
    const r = sup.mcr(["rule", "list", "--json"]);
    const cliMs = performance.now() - t2;
    const g = await tx.result;
    await Bun.sleep(300);
    rx.proc.kill("SIGINT");
    const s = await rx.result;
    console.log(
      `${N} idle connections opened in ${openMs.toFixed(0)} ms; a new request answered in ${answerMs.toFixed(1)} ms, ` +
        `mcr rule list (a new process) in ${cliMs.toFixed(0)} ms; traffic meanwhile: sent ${g.packets}, lost ${s.lost}`,
    );
    expect(list.rules.map((x) => x.id)).toEqual([id]);
    expect(answerMs).toBeLessThan(1000);
    expect(r.code).toBe(0);
    expect(cliMs).toBeLessThan(3000);
    expect(sup.proc.exitCode).toBeNull();
    expect(s.lost).toBe(0);
    for (const c of idle) c.end();
  }, 60_000);
});
