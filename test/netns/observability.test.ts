// Counters an operator can trust, against dist/mcr and real packets: after the traffic stops,
// every counter of `mcr stats --json` and GET /metrics equals what an independent UDP socket in
// the sink namespace counted, with 1 and 2 workers and across a SIGKILLed worker; each malformed
// kind moves its own drop reason; systemd's notifications come at the right moments; logs are
// JSON or carry journald priorities, the workers' too.
import { afterEach, expect, test } from "bun:test";
import { describeNetns } from "../helpers/suite.ts";
import { existsSync, rmSync, writeFileSync } from "node:fs";
import { type Lab, poll } from "../helpers/lab.ts";
import { ctl, startSupervisor, SupervisorDriver } from "../helpers/supervisor.ts";
import { notifyReceiver } from "../helpers/notify.ts";
import { receiveInSink, sendFromGen } from "../helpers/traffic.ts";
import { bunArgv, mcrArgv, ROOT } from "../helpers/mcr.ts";
import { buildFrame, toHex, type FrameSpec } from "../helpers/frames.ts";
import { parseExposition, valueOf } from "../helpers/exposition.ts";
import { checkSchema } from "../helpers/stats-schema.ts";
import { DROP_REASONS, type DropReason } from "../../src/stats/reasons.ts";

const cleanup: (() => void)[] = [];
afterEach(async () => {
  for (const c of cleanup.splice(0)) c();
}, 30000);

const SIZE = 300;
const FRAME = 14 + 20 + 8 + SIZE; // bytes of one relayed frame on the ingress

/** Every counter against what the sink's own sockets counted. */
function expectExact(s: any, sent: number, got: number[]) {
  expect(checkSchema(s)).toEqual([]);
  const rule = s.rules[0];
  const delivered = got.reduce((a, b) => a + b, 0);
  // In: every datagram the generator sent matched the rule, no more, no less.
  expect({ packets: rule.packets, bytes: rule.bytes }).toEqual({ packets: sent, bytes: sent * SIZE });
  // Out: each output sent exactly what its sink socket received.
  expect(rule.outputs.map((o: any) => [o.packets, o.bytes, o.errors])).toEqual(got.map((g) => [g, g * SIZE, 0]));
  expect({ txPackets: s.totals.txPackets, txBytes: s.totals.txBytes, txErrors: s.totals.txErrors }).toEqual({
    txPackets: delivered,
    txBytes: delivered * SIZE,
    txErrors: 0,
  });
  // Every frame taken off a ring either matched the rule or was dropped with a reason.
  const dropSum = DROP_REASONS.reduce((a, r) => a + s.drops[r], 0);
  expect(s.totals.drops).toBe(dropSum);
  expect(s.totals.rxFrames).toBe(sent + dropSum);
  if (dropSum === 0) expect(s.totals.rxBytes).toBe(sent * FRAME);
  // The kernel's view of the rings agrees: what it put there was taken, nothing was lost.
  expect(s.totals.ringDrops).toBe(0);
  expect(s.totals.ringPackets).toBe(s.totals.rxFrames);
  // Workers add up to the totals.
  for (const k of [
    "rxFrames",
    "rxBytes",
    "batches",
    "ringPackets",
    "ringDrops",
    "txPackets",
    "txBytes",
    "txErrors",
    "drops",
  ])
    expect({ k, sum: s.workers.reduce((a: number, w: any) => a + w[k], 0) }).toEqual({ k, sum: s.totals[k] });
  for (const w of s.workers)
    expect(w.averageBatch).toBe(w.batches > 0 ? Math.round((w.rxFrames / w.batches) * 100) / 100 : 0);
  expect(s.interfaces).toEqual([{ name: "veth1", up: true, workersUp: s.workers.length, workers: s.workers.length }]);
}

describeNetns("observability", (labs) => {
  for (const workers of [1, 2]) {
    test(`${workers} worker(s): after the traffic stops every counter equals what the sink counted`, async () => {
      const lab = labs.chain();
      const sup = await startSupervisor(lab, ["--workers", String(workers), "--metrics-listen", ":9464"]);
      sup.addRule("239.1.1.1", 5001, "239.10.10.10:6001:veth3,239.10.10.11:6002:veth3");
      const N = 2000;
      const a = receiveInSink(lab, { group: "239.10.10.10", port: 6001, count: N });
      const b = receiveInSink(lab, { group: "239.10.10.11", port: 6002, count: N });
      await Promise.all([a.listening, b.listening]);
      // 16 flows (source ports): the fanout hash spreads them over the workers. Paced, so that
      // nothing is lost on the way (a veth's backlog drops a burst): every difference is then a
      // counting error.
      sendFromGen(lab, { dest: "239.1.1.1", port: 5001, count: N, size: SIZE, seed: 40, flows: 16, gapUs: 200 });
      const got = [(await a.result).count, (await b.result).count];
      expect(got).toEqual([N, N]);
      const s = await poll(
        () => sup.stats(),
        (x) => x.totals.txPackets >= 2 * N,
      );
      expectExact(s, N, got);
      if (workers === 2) for (const w of s.workers) expect(w.rxFrames).toBeGreaterThan(0);

      // GET /metrics says the same, in valid exposition text.
      const m = scrape(lab);
      expect(m.status).toBe(200);
      expect(m.type).toBe("text/plain; version=0.0.4; charset=utf-8");
      const fams = parseExposition(m.body);
      for (const f of fams.values()) {
        expect(f.help?.length ?? 0).toBeGreaterThan(0);
        expect(["counter", "gauge"]).toContain(f.type!);
        if (f.type === "counter") expect(f.name).toEndWith("_total");
      }
      const v = (name: string, labels: Record<string, string> = {}) => valueOf(fams, name, labels);
      expect(
        v("mcr_rule_receive_packets_total", { rule: "1", interface: "veth1", group: "239.1.1.1", port: "5001" }),
      ).toBe(N);
      expect(v("mcr_rule_receive_bytes_total", { rule: "1" })).toBe(N * SIZE);
      expect(
        v("mcr_output_transmit_packets_total", { rule: "1", group: "239.10.10.10", port: "6001", interface: "veth3" }),
      ).toBe(got[0]!);
      expect(
        v("mcr_output_transmit_packets_total", { rule: "1", group: "239.10.10.11", port: "6002", interface: "veth3" }),
      ).toBe(got[1]!);
      expect(v("mcr_output_transmit_bytes_total", { rule: "1", output: "1" })).toBe(got[1]! * SIZE);
      expect(v("mcr_output_transmit_errors_total", { rule: "1", output: "0" })).toBe(0);
      for (const reason of DROP_REASONS) expect(v("mcr_drops_total", { reason })).toBe(s.drops[reason]);
      let ring = 0;
      for (const w of s.workers) {
        const cpu = String(w.cpu);
        const id = { worker: String(w.index), cpu };
        ring += v("mcr_worker_ring_packets_total", id);
        expect(v("mcr_worker_ring_drops_total", id)).toBe(0);
        expect(v("mcr_worker_restarts_total", id)).toBe(0);
        expect(v("mcr_worker_receive_frames_total", id)).toBe(w.rxFrames);
      }
      expect(ring).toBe(s.totals.ringPackets);
      expect(v("mcr_interface_up", { interface: "veth1" })).toBe(1);
      expect(v("mcr_rules")).toBe(1);
      expect(v("mcr_config_last_reload_successful")).toBe(1);
      expect(fams.get("mcr_build_info")!.samples[0]!.labels.version).toMatch(/^\d+\.\d+\.\d+/);
    }, 60000);
  }

  /** GET /metrics from inside the relay namespace (the endpoint listens on its loopback). */
  function scrape(l: Lab, url = "http://127.0.0.1:9464/metrics") {
    const js = `const r = await fetch(${JSON.stringify(url)}); console.log(JSON.stringify({ status: r.status, type: r.headers.get("content-type"), body: await r.text() }));`;
    const r = l.exec("relay", [process.execPath, "-e", js]);
    if (r.code !== 0) throw new Error(`scrape failed: ${r.stderr}`);
    return JSON.parse(r.stdout) as { status: number; type: string; body: string };
  }

  /** Two workers relaying `count` datagrams sent `gapUs` apart in 16 flows to one sink. */
  async function killableStream(count: number, gapUs: number, seed: number, extra: string[] = []) {
    const lab = labs.chain();
    const sup = await startSupervisor(lab, ["--workers", "2", ...extra]);
    sup.addRule("239.1.1.1", 5001, "239.10.10.10:6001:veth3");
    const rx = receiveInSink(lab, { group: "239.10.10.10", port: 6001, count, idleMs: 2500 });
    await rx.listening;
    const spec = { source: "10.0.0.1", dest: "239.1.1.1", port: 5001, count, size: SIZE, seed, flows: 16, gapUs };
    const sender = lab.spawn("gen", [...bunArgv("test/helpers/udp-send.ts"), JSON.stringify(spec)]);
    return { sup, rx, sender };
  }

  test("a worker SIGKILLed mid-stream: its counts stay in the totals, to the last packet", async () => {
    const N = 3000;
    // About 1000 pps: slow enough that nothing is lost on the way, so every difference would be
    // a counting error.
    const { sup, rx, sender } = await killableStream(N, 1000, 50);
    await Bun.sleep(1200);
    const before = sup.stats();
    const victim = before.workers[0];
    expect(victim.rxFrames).toBeGreaterThan(0);
    process.kill(victim.pid, "SIGKILL");
    expect(await sender.exited).toBe(0);
    const got = (await rx.result).count;

    const s = await poll(
      () => sup.stats(),
      (x) => x.workers[0].state === "ready" && x.totals.txPackets >= got,
    );
    expect(checkSchema(s)).toEqual([]);
    expect(s.workers[0].restarts).toBe(1);
    expect(s.workers[0].pid).not.toBe(victim.pid);
    // What the killed run counted is still in its slot (its successor only adds).
    expect(s.workers[0].rxFrames).toBeGreaterThanOrEqual(victim.rxFrames);
    // Relayed == what the sink's socket counted, the killed run's last packets too (its successor
    // counts the sends it had submitted from the journal); rule in is that and what the killed
    // run had queued but never submitted (worker_died), to the packet.
    const rule = s.rules[0];
    const died = s.drops.worker_died;
    expect({ in: rule.packets, out: rule.outputs[0].packets, tx: s.totals.txPackets }).toEqual({
      in: got + died,
      out: got,
      tx: got,
    });
    expect(rule.outputs[0].errors).toBe(died);
    expect(rule.bytes).toBe((got + died) * SIZE);
    // Only what was on the killed worker's ring while it died is lost: a few packets, no more.
    expect(got).toBeLessThanOrEqual(N);
    expect(got).toBeGreaterThan(N - 200);
    const dropSum = DROP_REASONS.reduce((a, r) => a + s.drops[r], 0);
    expect(s.totals.rxFrames).toBe(got + dropSum);
    expect(sup.stderr).toMatch(/worker 0 \(cpu \d+\) was killed by SIGKILL after [\d.]+ s; restart 1 in 100 ms/);
  }, 60000);

  // The transmit ring (the default) and gso's sends of runs, each with its journal entries.
  for (const egress of ["ring", "gso"] as const)
    test(`six SIGKILLs under 5,000 pps (--egress ${egress}): every datagram the sink got is counted as sent, once`, async () => {
      const N = 30000;
      // Fast enough that a kill often lands while a worker is inside its send (the window the
      // journal covers), slow enough that the sink's socket keeps up.
      const { sup, rx, sender } = await killableStream(N, 200, 51, ["--egress", egress]);
      await Bun.sleep(500);
      for (let k = 0; k < 6; k++) {
        const w = k % 2;
        const live = await poll(
          () => sup.stats(),
          (x) => x.workers[w].state === "ready" && x.workers[w].rxFrames > 0,
        );
        process.kill(live.workers[w].pid, "SIGKILL");
        await Bun.sleep(400);
      }
      expect(await sender.exited).toBe(0);
      const got = (await rx.result).count;
      const s = await poll(
        () => sup.stats(),
        (x) => x.workers.every((w: any) => w.state === "ready") && x.totals.txPackets >= got,
      );
      expect(s.workers.map((w: any) => w.restarts)).toEqual([3, 3]);
      const rule = s.rules[0];
      const died = s.drops.worker_died;
      const nonzero = Object.fromEntries(Object.entries(s.drops).filter(([, v]) => v !== 0));
      expect({
        out: rule.outputs[0].packets,
        tx: s.totals.txPackets,
        in: rule.packets,
        errors: rule.outputs[0].errors,
        drops: nonzero,
      }).toEqual({
        out: got,
        tx: got,
        in: got + died,
        errors: died,
        drops: died ? { worker_died: died } : {},
      });
      expect(rule.outputs[0].bytes).toBe(got * SIZE);
      // A killed worker's socket stays in the fanout group until its process is torn down (the
      // kernel frees its memory before its files), tens to hundreds of milliseconds on a loaded
      // machine: its share of that time is lost unseen, no counter can know it. Most still arrives.
      expect(got).toBeGreaterThan(N / 2);
    }, 90000);

  // Kinds that survive a veth (test/netns/malformed.test.ts explains those that do not).
  const KINDS: [DropReason, FrameSpec, number][] = [
    ["not_ipv4", { etherType: 0x0806 }, 3],
    ["ip_truncated", { truncateTo: 14 + 12 }, 4],
    ["ip_version", { ipVersion: 6 }, 5],
    ["ip_ihl", { ihlWords: 4 }, 6],
    ["ip_options", { ihlWords: 6 }, 7],
    ["ip_checksum", { badChecksum: true }, 8],
    ["ip_length", { totalLength: 1400 }, 9],
    ["ip_fragment", { fragment: { mf: true } }, 10],
    ["not_udp", { protocol: 6 }, 11],
    ["udp_truncated", { payload: new Uint8Array(0), totalLength: 24, truncateTo: 14 + 24 }, 12],
    ["udp_length", { udpLength: 300 }, 13],
    // The kernel takes the outer tag off; a priority tag (VLAN 0) is untagged, two remain.
    ["vlan_nested", { vlans: [0, 8, 9] }, 15],
  ];
  // No rule asks for these: the input's filter turns them away before the ring (no drop, no frame).
  const TURNED_AWAY: FrameSpec[] = Array.from({ length: 14 }, () => ({ dport: 5002 }));

  test("mcr stats --json: each malformed kind moves its own drop reason by exactly the number injected, and nothing is logged per packet", async () => {
    const lab = labs.chain();
    const sup = await startSupervisor(lab, ["--workers", "2"]);
    sup.addRule("239.1.1.1", 5001, "239.10.10.10:6001:veth3");
    const before = sup.stats();
    const logBefore = sup.stderr.split("\n").length;
    // A different count per kind, so that no reason can pass by counting another's frames.
    const bad = KINDS.flatMap(([, spec, n]) =>
      Array.from({ length: n }, (_, i) => toHex(buildFrame({ ...spec, sport: 40000 + i }))),
    );
    const lines = [...bad, ...TURNED_AWAY.map((spec) => toHex(buildFrame(spec)))];
    const inj = lab.exec("gen", [`${ROOT}/test/tools/build/inject`, "veth0"], { input: lines.join("\n") + "\n" });
    expect(inj.stderr).toBe("");
    expect(inj.stdout.trim()).toBe(String(lines.length));
    const after = await poll(
      () => sup.stats(),
      (x) => x.totals.rxFrames - before.totals.rxFrames >= bad.length,
    );
    expect(checkSchema(after)).toEqual([]);
    for (const reason of DROP_REASONS) {
      const want = KINDS.filter(([r]) => r === reason).reduce((a, [, , n]) => a + n, 0);
      expect({ reason, delta: after.drops[reason] - before.drops[reason] }).toEqual({ reason, delta: want });
    }
    expect(after.totals.drops - before.totals.drops).toBe(bad.length);
    expect(after.totals.rxFrames - before.totals.rxFrames).toBe(bad.length);
    expect(after.totals.rxForeign).toBe(0);
    expect(after.rules[0].packets).toBe(0);
    // The same through the table: the reasons are listed.
    const table = sup.mcr(["stats", "--interval", "0"]);
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(/ip_checksum\s+8\b/);
    // 103 bad frames and 14 turned away, not one log line for them.
    expect(sup.stderr.split("\n").length).toBe(logBefore);
  }, 60000);

  test("systemd: READY=1 once the workers forward, RELOADING=1 then READY=1 around SIGHUP, STOPPING=1 on SIGTERM", async () => {
    const lab = labs.chain();
    const notifyPath = `/tmp/${lab.id}-notify.sock`;
    const config = `/tmp/${lab.id}-mcr.toml`;
    cleanup.push(
      () => rmSync(notifyPath, { force: true }),
      () => rmSync(config, { force: true }),
    );
    const rule = (port: number, out: string) =>
      `[[rule]]\ninput_group = "239.1.1.1"\ninput_port = ${port}\noutputs = ["${out}"]\n`;
    writeFileSync(config, `interfaces = ["veth1"]\nworkers = 2\n${rule(5001, "239.10.10.10:6001:veth3")}`);

    // systemd's end: a unix datagram socket, every datagram it gets appended to our buffer.
    const socat = Bun.spawn(["socat", "-u", `UNIX-RECV:${notifyPath}`, "STDOUT"], { stdout: "pipe", stderr: "pipe" });
    cleanup.push(() => socat.kill("SIGKILL"));
    let said = "";
    void (async () => {
      for await (const c of socat.stdout) said += new TextDecoder().decode(c);
    })();
    expect(
      await poll(
        () => existsSync(notifyPath),
        (x) => x,
      ),
    ).toBe(true);
    const events = () => [...said.matchAll(/READY=1|RELOADING=1|STOPPING=1/g)].map((m) => m[0]);

    process.env.NOTIFY_SOCKET = notifyPath;
    let sup: SupervisorDriver;
    try {
      sup = new SupervisorDriver(lab, "relay", [], ["--config", config]);
    } finally {
      delete process.env.NOTIFY_SOCKET;
    }
    await poll(events, (e) => e.length > 0, 10000);
    expect(events()).toEqual(["READY=1"]);
    // READY=1 means forwarding: a stream sent the moment it arrives is relayed whole.
    let rx = receiveInSink(lab, { group: "239.10.10.10", port: 6001, count: 200 });
    await rx.listening;
    sendFromGen(lab, { dest: "239.1.1.1", port: 5001, count: 200, size: 100, seed: 1, flows: 8 });
    expect((await rx.result).count).toBe(200);

    // A reload that adds a rule: RELOADING=1 (with the monotonic time systemd asks for), then READY=1.
    writeFileSync(
      config,
      `interfaces = ["veth1"]\nworkers = 2\n${rule(5001, "239.10.10.10:6001:veth3")}${rule(5002, "239.10.10.12:6002:veth3")}`,
    );
    rx = receiveInSink(lab, { group: "239.10.10.12", port: 6002, count: 200 });
    await rx.listening;
    sup.proc.kill("SIGHUP");
    await poll(events, (e) => e.length >= 3, 10000);
    expect(events()).toEqual(["READY=1", "RELOADING=1", "READY=1"]);
    expect(said).toMatch(/RELOADING=1\nMONOTONIC_USEC=\d+/);
    // By READY=1 the new rule is live in every worker.
    sendFromGen(lab, { dest: "239.1.1.1", port: 5002, count: 200, size: 100, seed: 2, flows: 8 });
    expect((await rx.result).count).toBe(200);

    // Stop: STOPPING=1 is said before the workers go, and the process then leaves cleanly.
    sup.proc.kill("SIGTERM");
    expect(await sup.proc.exited).toBe(0);
    await poll(events, (e) => e.length >= 4, 3000);
    expect(events()).toEqual(["READY=1", "RELOADING=1", "READY=1", "STOPPING=1"]);
    const stopping = sup.stderr.indexOf("stopping");
    expect(stopping).toBeGreaterThan(0);
  }, 60000);

  test("systemd: STATUS= (rules, workers up, packet rate) on changes; WATCHDOG=1 at the asked interval, stopping while the only worker is stopped", async () => {
    const lab = labs.chain();
    const notifyPath = `/tmp/${lab.id}-wd-notify.sock`;
    const rx = notifyReceiver(notifyPath);
    cleanup.push(() => rx.stop());
    await poll(
      () => existsSync(notifyPath),
      (x) => x,
    );
    process.env.NOTIFY_SOCKET = notifyPath;
    process.env.WATCHDOG_USEC = "1000000"; // a ping every 500 ms
    let sup: SupervisorDriver;
    try {
      sup = new SupervisorDriver(lab, "relay", ["veth1"], ["--workers", "1"]);
    } finally {
      delete process.env.NOTIFY_SOCKET;
      delete process.env.WATCHDOG_USEC;
    }
    await sup.ready();
    await poll(rx.said, (d) => d.includes("READY=1"), 10000);
    sup.addRule("239.1.1.1", 5001, "239.10.10.10:6001:veth3");
    // The change is said within a second of the periodic look.
    const status = await poll(
      () => rx.said().filter((d) => d.startsWith("STATUS=1 rule(s), 1/1 workers up")),
      (x) => x.length > 0,
      3000,
    );
    expect(status.length).toBeGreaterThan(0);
    // The rate: 4000 packets over about two seconds shows as a rate above zero in a later line.
    const sink = receiveInSink(lab, { group: "239.10.10.10", port: 6001, count: 4000 });
    await sink.listening;
    sendFromGen(lab, { dest: "239.1.1.1", port: 5001, count: 4000, size: 100, seed: 3, flows: 4, gapUs: 500 });
    expect((await sink.result).count).toBe(4000);
    const rated = await poll(
      () => rx.said().filter((d) => /^STATUS=1 rule\(s\), 1\/1 workers up, ([1-9][0-9.]*k?) pkt\/s in$/.test(d)),
      (x) => x.length > 0,
      8000,
    );
    expect(rated.length).toBeGreaterThan(0);

    // Pings at the asked interval: half of WATCHDOG_USEC.
    const pings = () => rx.timed().filter((d) => d.text === "WATCHDOG=1");
    const from = pings().length;
    await Bun.sleep(3000);
    const window = pings().slice(from);
    const gaps = window.slice(1).map((p, i) => p.at - window[i]!.at);
    gaps.sort((a, b) => a - b);
    expect(window.length).toBeGreaterThanOrEqual(5);
    const median = gaps[Math.floor(gaps.length / 2)]!;
    expect(median).toBeGreaterThan(400);
    expect(median).toBeLessThan(650);

    // The only worker stopped: its heartbeat stands still, and the pings stop (one may still come
    // from the look just before the stop).
    const pid = (await ctl(sup.socket, "status")).workers[0]!.pid!;
    process.kill(pid, "SIGSTOP");
    try {
      await Bun.sleep(1200);
      const stopped = pings().length;
      await Bun.sleep(2500);
      expect(pings().length - stopped).toBe(0);
    } finally {
      process.kill(pid, "SIGCONT");
    }
    console.log(
      `watchdog: ${window.length} pings in 3 s (median gap ${median.toFixed(0)} ms); none while the worker stood still`,
    );
    sup.proc.kill("SIGTERM");
    expect(await sup.proc.exited).toBe(0);
  }, 60000);

  test("--log-format json: every line of the supervisor and of its workers is one JSON object", async () => {
    const lab = labs.chain();
    const sup = await startSupervisor(lab, ["--workers", "2", "--log-format", "json"]);
    sup.addRule("239.1.1.1", 5001, "239.10.10.10:6001:veth3");
    // The workers' lines come before the rule's (the supervisor is back once they are ready).
    const workerLine = await poll(
      () => sup.stderr,
      (e) => /"tag":"worker:\d+"/.test(e) && /"message":"rule 1 added/.test(e),
    );
    const lines = workerLine
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l));
    const FIELDS = ["rule", "name", "interface", "worker", "pid", "errno"];
    for (const l of lines) {
      // The four keys first, then only the known fields, each of its type; pid on every line.
      expect(Object.keys(l).slice(0, 4)).toEqual(["time", "level", "tag", "message"]);
      expect(
        Object.keys(l)
          .slice(4)
          .filter((k) => !FIELDS.includes(k)),
      ).toEqual([]);
      expect(Number.isInteger(l.pid)).toBe(true);
      for (const k of ["rule", "worker", "errno"]) if (k in l) expect(Number.isInteger(l[k])).toBe(true);
      expect(l.time).toMatch(/^\d{4}-\d\d-\d\dT/);
      expect(["error", "warn", "info", "debug", "trace", "fatal"]).toContain(l.level);
    }
    const tags = new Set(lines.map((l) => l.tag));
    expect(tags.has("supervisor")).toBe(true);
    expect([...tags].some((t) => /^worker:\d+$/.test(t))).toBe(true);
    // Lines about a worker carry its index and pid; the rule's line its id.
    const ready = lines.find((l) => /^worker 0 ready: pid (\d+)/.test(l.message));
    expect(ready).toMatchObject({ tag: "supervisor", worker: 0, pid: Number(/pid (\d+)/.exec(ready.message)![1]) });
    expect(lines.find((l) => /^rule 1 added/.test(l.message))).toMatchObject({ rule: 1 });
    const own = lines.find((l) => /^worker:1$/.test(l.tag));
    if (own) expect(own.worker).toBe(1);
  }, 60000);

  test("logfmt (the default when stderr is a pipe): every line parses strictly, with a timestamp and the fields", async () => {
    const lab = labs.chain();
    const sup = await startSupervisor(lab, ["--workers", "2"]);
    sup.addRule("239.1.1.1", 5001, "239.10.10.10:6001:veth3");
    const text = await poll(
      () => sup.stderr,
      (e) => /tag=worker:\d+/.test(e) && /rule 1 added/.test(e),
    );
    // key=value pairs: a bare value has no space, quote or equals sign; a quoted one escapes \ and ".
    const pair = /([a-z]+)=("(?:[^"\\]|\\.)*"|[^\s"=]+)(?: |$)/y;
    const parse = (line: string) => {
      const out: Record<string, string> = {};
      pair.lastIndex = 0;
      while (pair.lastIndex < line.length) {
        const m = pair.exec(line);
        if (!m) throw new Error(`not logfmt at ${pair.lastIndex}: ${line}`);
        out[m[1]!] = m[2]!.startsWith('"') ? JSON.parse(m[2]!) : m[2]!;
      }
      return out;
    };
    const lines = text.trim().split("\n").map(parse);
    for (const l of lines) {
      expect(Object.keys(l).slice(0, 3)).toEqual(["time", "level", "tag"]);
      expect(l.time).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
      expect(["error", "warn", "info", "debug", "trace", "fatal"]).toContain(l.level ?? "");
      expect(l.pid).toMatch(/^\d+$/);
    }
    expect(lines.find((l) => /^rule 1 added/.test(l.msg!))).toMatchObject({ tag: "supervisor", rule: "1" });
    expect(lines.find((l) => /^worker 1 ready/.test(l.msg!))).toMatchObject({ worker: "1" });
    expect(lines.some((l) => /^worker:\d+$/.test(l.tag!) && l.worker === l.tag!.slice(7))).toBe(true);
  }, 60000);

  test("under systemd (JOURNAL_STREAM names stderr) every line, the workers' too, starts with its priority", async () => {
    const lab = labs.chain();
    const socket = `/tmp/${lab.id}-j.sock`;
    const state = `/tmp/${lab.id}-j.state.json`;
    cleanup.push(() => rmSync(state, { force: true }));
    const argv = [
      ...mcrArgv(),
      "supervisor",
      "--interface",
      "veth1",
      "--workers",
      "2",
      "--control-socket-path",
      socket,
      "--state-file",
      state,
      "--ring-mb",
      "8",
    ];
    // As systemd does: the variable names the stream that stderr is.
    const p = lab.spawn("relay", [
      "bash",
      "-c",
      'JOURNAL_STREAM=$(stat -L -c %d:%i /proc/self/fd/2) exec "$@"',
      "mcr",
      ...argv,
    ]);
    let err = "";
    void (async () => {
      for await (const c of p.stderr) err += new TextDecoder().decode(c);
    })();
    await poll(
      () => err,
      (e) => /ring of/.test(e) || /all workers ready/.test(e),
      10000,
    );
    // A rule makes the workers open their rings and log it.
    const add = lab.exec("relay", [
      ...mcrArgv(),
      "rule",
      "add",
      "--input-group",
      "239.1.1.1",
      "--input-port",
      "5001",
      "--outputs",
      "239.10.10.10:6001:veth3",
      "--socket-path",
      socket,
    ]);
    expect(add.code).toBe(0);
    await poll(
      () => err,
      (e) => /\[worker:\d+\] veth1: ring of/.test(e),
    );
    p.kill("SIGTERM");
    await p.exited;
    const lines = err.trim().split("\n");
    for (const l of lines) expect(l).toMatch(/^<[2-7]>\[(supervisor|worker:\d+|control)\] \S/);
    expect(lines.some((l) => /^<6>\[worker:\d+\] veth1: ring of/.test(l))).toBe(true);
    expect(lines.some((l) => l.startsWith("<6>[supervisor] "))).toBe(true);
    expect(err).not.toContain("ℹ");
  }, 60000);
});
