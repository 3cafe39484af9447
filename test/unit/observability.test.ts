// Observability without root: the Prometheus text, rates, the log formats, and a supervisor with
// fake workers (test/fixtures/fake-worker.ts, counting into the shared regions it hands them)
// seen through GET /metrics, `mcr stats --json` (its schema) and `mcr stats --watch`.
import { afterAll, afterEach, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { call } from "../../src/control/client.ts";
import type { McrError } from "../../src/errors.ts";
import {
  fields,
  journalLines,
  journalPriority,
  jsonLine,
  log,
  logfmtLine,
  logfmtValue,
  Repeats,
  underJournald,
} from "../../src/log.ts";
import type { LookupInterface } from "../../src/rules/validate.ts";
import { buildReport, emptyCounters } from "../../src/stats/aggregate.ts";
import type { StatsReport } from "../../src/types/stats.ts";
import { escapeLabel, renderFamilies, renderMetrics } from "../../src/stats/prometheus.ts";
import { withRates } from "../../src/stats/rates.ts";
import { DROP_REASONS } from "../../src/stats/reasons.ts";
import { ANSI, renderStats, watchFrame } from "../../src/stats/render.ts";
import { parseListen } from "../../src/values/listen.ts";
import { startControlServer } from "../../src/control/server.ts";
import { Supervisor } from "../../src/supervisor/service.ts";
import { parseExposition, valueOf } from "../helpers/exposition.ts";
import { checkSchema, schemaKeys } from "../helpers/stats-schema.ts";
import { fakeWorkerArgv } from "../helpers/fake-supervisor.ts";

log.level = -999;
const ROOT = join(import.meta.dir, "..", "..");
const MAIN = join(ROOT, "src", "main.ts");
const dir = mkdtempSync(join(tmpdir(), "mcr-obs-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
const fresh = (name: string) => join(dir, `${++n}-${name}`);

// ---- a report to render, by hand ----

function sampleReport(over: Partial<StatsReport> = {}): StatsReport {
  const c = emptyCounters();
  Object.assign(c, {
    rxFrames: 120,
    rxBytes: 12000,
    batches: 10,
    ringPackets: 125,
    ringDrops: 5,
    txPackets: 200,
    txBytes: 20000,
    txErrors: 2,
  });
  c.drops.no_rule = 20;
  c.drops.send_error = 2;
  c.rules["7"] = { packets: 100, bytes: 10000 };
  c.outputs["7:0"] = { packets: 100, bytes: 10000, errors: 0 };
  c.outputs["7:1"] = { packets: 98, bytes: 9800, errors: 2 };
  return {
    ...buildReport({
      rules: [
        {
          id: 7,
          inputInterface: "eth0",
          inputGroup: "239.1.1.1",
          inputPort: 5001,
          outputs: [
            { group: "239.10.10.10", port: 6001, interface: "eth1", ttl: 1 },
            { group: "10.0.2.7", port: 7000, interface: "eth2", ttl: 4 },
          ],
        },
      ],
      workers: [
        {
          index: 0,
          cpu: 2,
          pid: 42,
          state: "ready",
          restarts: 3,
          appliedVersion: 1,
          inputs: [{ interface: "eth0", state: "up" }],
          counters: c,
        },
        {
          index: 1,
          cpu: 3,
          pid: null,
          state: "restarting",
          restarts: 1,
          appliedVersion: 0,
          inputs: [],
          counters: emptyCounters(),
        },
      ],
      interfaces: ["eth0"],
      startedAt: Date.parse("2025-01-01T00:00:00Z"),
      now: Date.parse("2025-01-01T01:00:00Z"),
      stale: [],
      version: "9.9.9",
    }),
    ...over,
  };
}

describe("Prometheus text", () => {
  test("label values are escaped and parse back to themselves", () => {
    const nasty = 'a\\b"c\nd';
    expect(escapeLabel(nasty)).toBe('a\\\\b\\"c\\nd');
    const text = renderFamilies([
      {
        name: "mcr_x_total",
        type: "counter",
        help: "back\\slash and\nnewline",
        samples: [{ labels: { v: nasty, w: "plain" }, value: 3 }],
      },
    ]);
    expect(text).toBe(
      '# HELP mcr_x_total back\\\\slash and\\nnewline\n# TYPE mcr_x_total counter\nmcr_x_total{v="a\\\\b\\"c\\nd",w="plain"} 3\n',
    );
    const f = parseExposition(text).get("mcr_x_total")!;
    expect(f.help).toBe("back\\slash and\nnewline");
    expect(f.samples).toEqual([{ name: "mcr_x_total", labels: { v: nasty, w: "plain" }, value: 3 }]);
  });

  test("the parser is strict: it refuses what Prometheus would", () => {
    const bad = [
      'a{l="x\\q"} 1\n', // unknown escape
      'a{l="x} 1\n', // unterminated
      'a{1l="x"} 1\n', // bad label name
      "a 1\na 2\n", // a series twice
      "# TYPE a counter\n# TYPE a counter\na 1\n", // TYPE twice
      "a 1\n# TYPE a counter\n", // TYPE after samples
      'a 1\nb 1\na{x="1"} 1\n', // a family split
      "a one\n", // not a number
      "a 1", // no final newline
    ];
    for (const t of bad) expect(() => parseExposition(t)).toThrow();
  });

  test("every family has HELP and TYPE, counters end in _total, values match the report", () => {
    const r = sampleReport({
      config: { path: "/etc/mcr.toml", lastReload: { at: "2025-01-01T00:30:00.000Z", ok: false, error: "x" } },
    });
    const text = renderMetrics(r, { startedAt: Date.parse("2025-01-01T00:00:00Z") });
    const fams = parseExposition(text);
    for (const f of fams.values()) {
      expect({ name: f.name, help: typeof f.help, type: f.type !== undefined }).toEqual({
        name: f.name,
        help: "string",
        type: true,
      });
      if (f.type === "counter") expect(f.name).toEndWith("_total");
      expect(f.name).toStartWith("mcr_");
    }
    const v = (name: string, labels: Record<string, string> = {}) => valueOf(fams, name, labels);
    expect(v("mcr_build_info", { version: "9.9.9" })).toBe(1);
    expect(v("mcr_rules")).toBe(1);
    expect(v("mcr_config_last_reload_successful")).toBe(0);
    expect(v("mcr_start_time_seconds")).toBe(Date.parse("2025-01-01T00:00:00Z") / 1000);
    expect(
      v("mcr_rule_receive_packets_total", { rule: "7", interface: "eth0", group: "239.1.1.1", port: "5001" }),
    ).toBe(100);
    expect(v("mcr_rule_receive_bytes_total", { rule: "7" })).toBe(10000);
    expect(
      v("mcr_output_transmit_packets_total", { rule: "7", group: "10.0.2.7", port: "7000", interface: "eth2" }),
    ).toBe(98);
    expect(v("mcr_output_transmit_bytes_total", { rule: "7", output: "0" })).toBe(10000);
    expect(v("mcr_output_transmit_errors_total", { rule: "7", output: "1" })).toBe(2);
    for (const reason of DROP_REASONS)
      expect(v("mcr_drops_total", { reason })).toBe(reason === "no_rule" ? 20 : reason === "send_error" ? 2 : 0);
    expect(v("mcr_worker_ring_packets_total", { cpu: "2" })).toBe(125);
    expect(v("mcr_worker_ring_drops_total", { cpu: "2", worker: "0" })).toBe(5);
    expect(v("mcr_worker_restarts_total", { cpu: "2" })).toBe(3);
    expect(v("mcr_worker_restarts_total", { cpu: "3" })).toBe(1);
    expect(v("mcr_worker_batches_total", { cpu: "2" })).toBe(10);
    expect(v("mcr_worker_up", { worker: "0" })).toBe(1);
    expect(v("mcr_worker_up", { worker: "1" })).toBe(0);
    // Only worker 0 runs, and it receives on eth0: the interface is up.
    expect(v("mcr_interface_up", { interface: "eth0" })).toBe(1);
  });
});

test("parseListen: host:port, [v6]:port, a bare port or :port is loopback, a bare host takes 9464", () => {
  expect(parseListen("127.0.0.1:9464")).toEqual({ hostname: "127.0.0.1", port: 9464 });
  expect(parseListen("0.0.0.0:9100")).toEqual({ hostname: "0.0.0.0", port: 9100 });
  expect(parseListen(":9464")).toEqual({ hostname: "127.0.0.1", port: 9464 });
  expect(parseListen("9464")).toEqual({ hostname: "127.0.0.1", port: 9464 });
  expect(parseListen("[::1]:9464")).toEqual({ hostname: "::1", port: 9464 });
  expect(parseListen("localhost")).toEqual({ hostname: "localhost", port: 9464 });
  for (const bad of ["", "1.2.3.4:0", "1.2.3.4:70000", "a b:1", "http://x:1"]) expect(() => parseListen(bad)).toThrow();
});

describe("command line", () => {
  const run = async (args: string[]) => {
    const p = Bun.spawn([process.execPath, MAIN, ...args], {
      stdout: "pipe",
      stderr: "pipe",
      env: { ...process.env, NO_COLOR: "1" },
    });
    const [stderr, code] = await Promise.all([new Response(p.stderr).text(), p.exited]);
    return { code, stderr };
  };
  const sup = [
    "supervisor",
    "--interface",
    "lo",
    "--control-socket-path",
    join(dir, "never.sock"),
    "--state-file",
    join(dir, "never.json"),
  ];

  test("a bad --log-format or --metrics-listen is a usage error (64), before anything starts", async () => {
    let r = await run([...sup, "--log-format", "xml"]);
    expect(r).toMatchObject({
      code: 64,
      stderr: expect.stringContaining('--log-format: unknown log format "xml" (use text, logfmt or json)'),
    });
    r = await run([...sup, "--metrics-listen", "127.0.0.1:99999"]);
    expect(r).toMatchObject({ code: 64, stderr: expect.stringContaining("--metrics-listen: ") });
    r = await run(["stats", "--interval", "soon", "--socket-path", join(dir, "never.sock")]);
    expect(r).toMatchObject({
      code: 64,
      stderr: expect.stringContaining('--interval: "soon" is not a number of seconds'),
    });
  });

  test("config: metrics_listen and log_format are checked like the flags (78 with the line)", async () => {
    const path = fresh("bad.toml");
    writeFileSync(path, 'interfaces = ["lo"]\nlog_format = "json"\nmetrics_listen = "0.0.0.0:0"\n');
    const r = await run(["config", "check", path]);
    expect(r.code).toBe(78);
    expect(r.stderr).toContain(`${path}:3: metrics_listen: "0.0.0.0:0": the port must be 1 to 65535`);
  });
});

test("a metrics port that is taken stops the start (69) and frees the control socket", async () => {
  const squatter = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response("") });
  try {
    const socket = fresh("mcr.sock");
    const e = await Supervisor.start({
      interfaces: ["eth0"],
      socketPath: socket,
      controlServer: startControlServer,
      stateFile: join(fresh("state"), "rules.json"),
      workers: 1,
      lookup,
      joinGroups: false,
      metricsListen: { hostname: "127.0.0.1", port: squatter.port! },
      workerArgv: () => ["false"],
    }).then(
      (s) => (running.push(s), undefined),
      (x) => x as McrError,
    );
    expect(e).toMatchObject({
      exitCode: 69,
      message: expect.stringContaining(`--metrics-listen 127.0.0.1:${squatter.port}: cannot listen`),
    });
    expect(existsSync(socket)).toBe(false);
  } finally {
    squatter.stop(true);
  }
});

test("rates: differences over the time between two reports; a new rule counts from zero", () => {
  const a = sampleReport();
  const later = structuredClone(a);
  later.at = new Date(Date.parse(a.at) + 2000).toISOString();
  later.rules[0]!.packets += 200;
  later.rules[0]!.bytes += 200 * 1000;
  later.rules[0]!.outputs[1]!.errors += 4;
  later.totals.rxFrames += 300;
  later.totals.drops += 10;
  later.drops.no_rule += 10;
  later.workers[0]!.ringDrops += 6;
  later.rules.push({ ...later.rules[0]!, id: 8, packets: 50, bytes: 100, outputs: [] });
  const r = withRates(a, later);
  expect(r.intervalSeconds).toBe(2);
  expect(r.rules[0]!.rate).toEqual({ packetsPerSecond: 100, bitsPerSecond: 800_000 });
  expect(r.rules[0]!.outputs[1]!.rate).toEqual({ packetsPerSecond: 0, bitsPerSecond: 0, errorsPerSecond: 2 });
  expect(r.rules[1]!.rate).toEqual({ packetsPerSecond: 25, bitsPerSecond: 400 });
  expect(r.totals.rate).toMatchObject({ rxFramesPerSecond: 150, dropsPerSecond: 5 });
  expect(r.dropRates!.no_rule).toBe(5);
  expect(r.workers[0]!.rate!.ringDropsPerSecond).toBe(3);
  // The table shows them; drops that grow are marked red only with colour on.
  const plain = renderStats(r);
  expect(plain).toContain("PKT/S");
  expect(plain).toMatch(/7\s+eth0 239\.1\.1\.1:5001\s+300\s+100\s+0\.80/);
  expect(plain).not.toContain("\x1b[");
  const coloured = renderStats(r, { color: true });
  expect(coloured).toMatch(/\x1b\[1;31m\s*30\x1b\[0m/); // no_rule: 30 and growing
});

test("a watch frame redraws in place: home, each line cleared to its end, the rest cleared", () => {
  const f = watchFrame(sampleReport(), { socketPath: "/run/x.sock", everySeconds: 1, color: true, now: new Date() });
  expect(f.startsWith(ANSI.home)).toBe(true);
  expect(f.endsWith(ANSI.clearBelow)).toBe(true);
  for (const line of f.slice(ANSI.home.length).split("\n").slice(0, -1))
    expect(line.endsWith(ANSI.clearLine)).toBe(true);
  expect(f).toContain("q or Ctrl-C quits");
  expect(f).toContain("\x1b[1;31mrestarting"); // a worker not running stands out
});

describe("logs", () => {
  const obj = (level: number, type: string, tag: string, ...args: unknown[]) =>
    ({ level, type, tag, args, date: new Date("2025-01-01T00:00:00.000Z") }) as never;

  test("json: one object per line with time, level, tag, message", () => {
    expect(JSON.parse(jsonLine(obj(1, "warn", "worker:3", "ring", 5, "full")))).toEqual({
      time: "2025-01-01T00:00:00.000Z",
      level: "warn",
      tag: "worker:3",
      message: "ring 5 full",
      worker: 3, // from the tag
      pid: process.pid,
    });
    expect(jsonLine(obj(0, "error", "supervisor", "two\nlines"))).not.toContain("\n");
    expect(
      JSON.parse(jsonLine(obj(1, "warn", "supervisor", "x", fields({ interface: "eth0", errno: 1, pid: 7 })))),
    ).toEqual({
      time: "2025-01-01T00:00:00.000Z",
      level: "warn",
      tag: "supervisor",
      message: "x",
      interface: "eth0",
      pid: 7,
      errno: 1,
    });
  });

  test("logfmt: a timestamp, bare values where they can be, quoted and escaped where not", () => {
    expect(logfmtLine(obj(3, "info", "supervisor", 'rule 1 "a"\\b\nc', fields({ rule: 1 })))).toBe(
      `time=2025-01-01T00:00:00.000Z level=info tag=supervisor msg="rule 1 \\"a\\"\\\\b\\nc" rule=1 pid=${process.pid}`,
    );
    expect(logfmtValue("")).toBe('""');
    expect(logfmtValue("a=b")).toBe('"a=b"');
    expect(logfmtValue("veth1")).toBe("veth1");
  });

  test("journald: <priority> on every line; 3 error, 4 warn, 6 info, 7 debug", () => {
    expect([
      journalPriority(0, "error"),
      journalPriority(1, "warn"),
      journalPriority(3, "info"),
      journalPriority(4, "debug"),
      journalPriority(5, "trace"),
    ]).toEqual([3, 4, 6, 7, 7]);
    expect(journalLines(obj(1, "warn", "supervisor", "a\nb"))).toBe("<4>[supervisor] a\n<4>[supervisor] b\n");
    expect(underJournald(undefined)).toBe(false);
    expect(underJournald("1:2")).toBe(false); // not our stderr
  });

  const child = async (env: Record<string, string>, script: string) => {
    const p = Bun.spawn([process.execPath, "-e", script], {
      cwd: ROOT,
      stdout: "pipe",
      stderr: "pipe",
      env: { ...process.env, ...env },
    });
    const [, stderr] = await Promise.all([p.exited, new Response(p.stderr).text()]);
    return stderr;
  };
  const SCRIPT = `import { log, setLogLevel } from "./src/log.ts";
const early = log.withTag("early"); // made before the level is set: it must still obey it
setLogLevel("warn");
early.info("hidden"); early.warn("shown");
log.withTag("worker:1").error("bad", 1);`;

  test("a level set later reaches loggers made earlier; MCR_LOG_FORMAT=json is inherited", async () => {
    const out = await child({ MCR_LOG_FORMAT: "json", MCR_LOG_LEVEL: "info" }, SCRIPT);
    const lines = out
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l));
    expect(lines.map(({ level, tag, message }) => ({ level, tag, message }))).toEqual([
      { level: "warn", tag: "early", message: "shown" },
      { level: "error", tag: "worker:1", message: "bad 1" },
    ]);
  });

  test("JOURNAL_STREAM naming our stderr: priority prefixes; naming something else: plain", async () => {
    const wrap = (stream: string) =>
      Bun.spawn(["bash", "-c", `JOURNAL_STREAM=${stream} exec "$0" -e "$1"`, process.execPath, SCRIPT], {
        cwd: ROOT,
        stdout: "pipe",
        stderr: "pipe",
        env: { ...process.env, MCR_LOG_FORMAT: "" },
      });
    let p = wrap("$(stat -L -c %d:%i /proc/self/fd/2)");
    expect(await new Response(p.stderr).text()).toBe("<4>[early] shown\n<3>[worker:1] bad 1\n");
    p = wrap("1:1");
    const plain = await new Response(p.stderr).text();
    expect(plain).not.toContain("<4>");
    expect(plain).toContain("shown");
  });

  test("Repeats: the first goes out, then one a window, counting what it held back", () => {
    const r = new Repeats(1000);
    expect(r.pass("x", 0)).toBe(0);
    expect(r.pass("x", 10)).toBeUndefined();
    expect(r.pass("x", 20)).toBeUndefined();
    expect(r.pass("y", 30)).toBe(0); // another kind is not held back
    expect(r.pass("x", 1001)).toBe(2);
    expect(r.reset("x")).toBe(0);
    expect(r.pass("x", 1002)).toBe(0);
  });
});

// ---- a supervisor with fake workers ----

const IFS: Record<string, string> = { eth0: "10.0.0.2", eth1: "10.0.1.1", eth2: "10.0.2.1" };
const lookup: LookupInterface = (name) => (name in IFS ? { name, ifindex: 5, ipv4: IFS[name] } : undefined);
const running: Supervisor[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((s) => s.stop()));
});

async function start(o: { mode?: string; config?: string; workers?: number } = {}) {
  const socket = fresh("mcr.sock");
  const { loadConfig } = await import("../../src/config/load.ts");
  const sup = await Supervisor.start({
    interfaces: ["eth0"],
    socketPath: socket,
    controlServer: startControlServer,
    stateFile: join(fresh("state"), "rules.json"),
    workers: o.workers ?? 2,
    lookup,
    joinGroups: false,
    metricsListen: { hostname: "127.0.0.1", port: 0 },
    ...(o.config ? { config: loadConfig(o.config, { interfaces: ["eth0"] }) } : {}),
    workerArgv: fakeWorkerArgv(["--fake-mode", o.mode ?? "normal"]),
  });
  running.push(sup);
  const deadline = Date.now() + 5000;
  for (;;) {
    const st = await call(socket, "status", {});
    if (st.workers.every((w) => w.state === "ready" && w.appliedVersion === st.tableVersion)) break;
    if (Date.now() > deadline) throw new Error("fake workers did not start");
    await Bun.sleep(20);
  }
  return { sup, socket };
}

const rule = (port: number) => ({
  inputGroup: "239.1.1.1",
  inputPort: port,
  outputs: [{ group: "239.10.10.10", port: 6001, interface: "eth1", ttl: 1 }],
});

async function mcr(args: string[], o: { stdin?: string; timeoutMs?: number } = {}) {
  const p = Bun.spawn([process.execPath, MAIN, ...args], {
    stdin: "pipe",
    stdout: "pipe",
    stderr: "pipe",
    env: { ...process.env, NO_COLOR: "1" },
  });
  const timer = setTimeout(() => p.kill("SIGKILL"), o.timeoutMs ?? 10_000);
  const [stdout, stderr, code] = await Promise.all([
    new Response(p.stdout).text(),
    new Response(p.stderr).text(),
    p.exited,
  ]);
  clearTimeout(timer);
  return { code, stdout, stderr };
}

describe("supervisor (fake workers)", () => {
  test("GET /metrics: text 0.0.4, the counters the workers wrote into their regions", async () => {
    const { sup, socket } = await start();
    await call(socket, "rule.add", rule(5001));
    const url = sup.metricsUrl!;
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
    const res = await fetch(url);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("text/plain; version=0.0.4; charset=utf-8");
    const fams = parseExposition(await res.text());
    expect(valueOf(fams, "mcr_rules")).toBe(1);
    expect(valueOf(fams, "mcr_rule_receive_packets_total", { rule: "1" })).toBe(20); // 2 workers x 10
    expect(valueOf(fams, "mcr_output_transmit_bytes_total", { rule: "1", output: "0" })).toBe(2000);
    expect(valueOf(fams, "mcr_drops_total", { reason: "no_rule" })).toBe(10);
    expect(valueOf(fams, "mcr_worker_ring_drops_total", { worker: "0" })).toBe(1);
    expect(valueOf(fams, "mcr_interface_up", { interface: "eth0" })).toBe(1);
    expect(valueOf(fams, "mcr_config_last_reload_successful")).toBe(1);
    expect((await fetch(url.replace("/metrics", "/"))).status).toBe(404);
    expect((await fetch(url, { method: "POST" })).status).toBe(405);
    // A killed worker: its counts stay, its successor's join them, restarts counted.
    const pid = (await call(socket, "status", {})).workers[0]!.pid!;
    process.kill(pid, "SIGKILL");
    for (const deadline = Date.now() + 5000; ; await Bun.sleep(20)) {
      const w = (await call(socket, "status", {})).workers[0]!;
      if (w.state === "ready" && w.pid !== pid && w.appliedVersion > 0) break;
      if (Date.now() > deadline) throw new Error("no restart");
    }
    const after = parseExposition(await (await fetch(url)).text());
    expect(valueOf(after, "mcr_rule_receive_packets_total", { rule: "1" })).toBe(30);
    expect(valueOf(after, "mcr_worker_receive_frames_total", { worker: "0" })).toBe(200);
    expect(valueOf(after, "mcr_worker_restarts_total", { worker: "0" })).toBe(1);
  });

  test("a failed reload turns mcr_config_last_reload_successful to 0, a good one back to 1", async () => {
    const path = fresh("mcr.toml");
    const good = `interfaces = ["eth0"]\n[[rule]]\ninput_group = "239.1.1.1"\ninput_port = 5001\noutputs = ["239.10.10.10:6001:eth1"]\n`;
    writeFileSync(path, good);
    const { sup } = await start({ config: path, workers: 1 });
    const ok = async () =>
      valueOf(parseExposition(await (await fetch(sup.metricsUrl!)).text()), "mcr_config_last_reload_successful");
    expect(await ok()).toBe(1);
    writeFileSync(path, good + "input_port = 0\n");
    await sup.reload();
    expect(await ok()).toBe(0);
    writeFileSync(path, good);
    await sup.reload();
    expect(await ok()).toBe(1);
  });

  test("mcr stats --json follows the documented schema, with and without rates", async () => {
    const path = fresh("mcr.toml");
    writeFileSync(
      path,
      `interfaces = ["eth0"]\n[[rule]]\ninput_group = "239.1.1.1"\ninput_port = 5001\noutputs = ["239.10.10.10:6001:eth1", "10.0.2.7:7000:eth2:9"]\n`,
    );
    const { socket } = await start({ config: path });
    await call(socket, "rule.add", rule(5002));
    let r = await mcr(["stats", "--json", "--socket-path", socket]);
    expect(r.code).toBe(0);
    const plain = JSON.parse(r.stdout);
    expect(checkSchema(plain)).toEqual([]);
    expect(plain.intervalSeconds).toBeUndefined();
    expect(plain.rules.map((x: { id: number; packets: number }) => [x.id, x.packets])).toEqual([
      [1, 20],
      [2, 20],
    ]);
    expect(plain.workers[0]).toMatchObject({
      rxFrames: 100,
      batches: 7,
      averageBatch: 14.29,
      ringPackets: 100,
      ringDrops: 1,
      inputs: [{ interface: "eth0", state: "up" }],
    });
    expect(plain.interfaces).toEqual([{ name: "eth0", up: true, workersUp: 2, workers: 2 }]);
    expect(plain.config).toEqual({ path });

    r = await mcr(["stats", "--json", "--interval", "0.3", "--socket-path", socket]);
    const rated = JSON.parse(r.stdout);
    expect(checkSchema(rated)).toEqual([]);
    expect(rated.intervalSeconds).toBeGreaterThanOrEqual(0.3);
    expect(rated.rules[1].rate).toEqual({ packetsPerSecond: 0, bitsPerSecond: 0 });
    expect(Object.keys(rated.dropRates)).toEqual([...DROP_REASONS]);

    // The checker itself bites: an unknown key, a missing one, a wrong type.
    expect(checkSchema({ ...plain, extra: 1 })).toEqual(["$.extra: not in the schema"]);
    const { stale: _, ...missing } = plain;
    expect(checkSchema(missing)).toEqual(["$.stale: missing"]);
    expect(checkSchema({ ...plain, totals: { ...plain.totals, rxFrames: -1 } })[0]).toStartWith(
      "$.totals.rxFrames: not a non-negative integer",
    );
  });

  test("the schema document names every field", () => {
    const doc = readFileSync(join(ROOT, "docs", "stats-schema.md"), "utf8");
    const reasons = new Set<string>(DROP_REASONS);
    const missing = [...schemaKeys()].filter((k) => !reasons.has(k) && !doc.includes("`" + k + "`"));
    expect(missing).toEqual([]);
  });

  test("a worker that does not refresh its ring statistics is listed as stale; the rest is current", async () => {
    const { socket } = await start({ mode: "mute-stats", workers: 1 });
    const t0 = Date.now();
    const s = await call(socket, "stats", {});
    expect(Date.now() - t0).toBeGreaterThanOrEqual(900);
    expect(s.stale).toEqual([0]);
    expect(s.totals.rxFrames).toBe(100); // read from the region all the same
  });

  test("mcr stats --watch redraws in place every interval and leaves on q", async () => {
    const { socket } = await start();
    await call(socket, "rule.add", rule(5001));
    const p = Bun.spawn([process.execPath, MAIN, "stats", "--watch", "--interval", "0.2", "--socket-path", socket], {
      stdin: "pipe",
      stdout: "pipe",
      stderr: "pipe",
    });
    const timer = setTimeout(() => p.kill("SIGKILL"), 10_000);
    let out = "";
    const reader = p.stdout.getReader();
    while ((out.match(/\x1b\[H/g) ?? []).length < 3) {
      const { value, done } = await reader.read();
      if (done) break;
      out += new TextDecoder().decode(value);
    }
    p.stdin.write("q");
    p.stdin.flush();
    const code = await p.exited;
    clearTimeout(timer);
    expect(code).toBe(0);
    const frames = out.split(ANSI.home).slice(1);
    expect(frames.length).toBeGreaterThanOrEqual(3);
    expect(frames[0]).not.toContain("PKT/S"); // the first comes at once, without rates
    expect(frames[1]).toContain("PKT/S");
    for (const f of frames.slice(0, 3)) {
      expect(f).toContain("239.1.1.1:5001");
      expect(f).toContain(ANSI.clearBelow);
    }
    // Five no_rule drops per worker, not growing: shown, and not red.
    expect(frames[1]).toMatch(/no_rule\s+10\s+0\.0/);
  });

  test("mcr stats --watch leaves cleanly on SIGINT (Ctrl-C without a terminal)", async () => {
    const { socket } = await start({ workers: 1 });
    const p = Bun.spawn([process.execPath, MAIN, "stats", "--watch", "--interval", "0.2", "--socket-path", socket], {
      stdin: "pipe",
      stdout: "pipe",
      stderr: "pipe",
    });
    const reader = p.stdout.getReader();
    await reader.read(); // the first frame
    p.kill("SIGINT");
    expect(await Promise.race([p.exited, Bun.sleep(5000).then(() => "hung")])).toBe(0);
  });
});
