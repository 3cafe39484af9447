// `stats` and GET /metrics do not cost the workers a message each (issue 11, point 6): counters
// are read from the shared regions in place, and the ring statistics rounds that a request asks
// for come at most every RING_ROUND_MS, shared by every request waiting. Fake workers
// (test/fixtures/fake-worker.ts) log every stats request they receive.
import { afterAll, afterEach, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { call } from "../../src/control/client.ts";
import { startControlServer } from "../../src/control/server.ts";
import { log } from "../../src/log.ts";
import { RING_ROUND_MS } from "../../src/supervisor/pool.ts";
import { Supervisor } from "../../src/supervisor/service.ts";
import { fakeWorkerArgv } from "../helpers/fake-supervisor.ts";

log.level = -999;
const dir = mkdtempSync(join(tmpdir(), "mcr-flood-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const running: Supervisor[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((s) => s.stop()));
});

test("a flood of stats and /metrics requests: each worker gets at most one ring round per RING_ROUND_MS", async () => {
  const socket = join(dir, "mcr.sock");
  const statsLog = join(dir, "stats.log");
  writeFileSync(statsLog, "");
  const WORKERS = 2;
  const sup = await Supervisor.start({
    interfaces: ["eth0"],
    socketPath: socket,
    stateFile: join(dir, "state", "rules.json"),
    workers: WORKERS,
    lookup: (name) => ({ name, ifindex: 5, ipv4: "10.0.0.2" }),
    joinGroups: false,
    controlServer: startControlServer,
    metricsListen: { hostname: "127.0.0.1", port: 0 },
    workerArgv: fakeWorkerArgv(["--fake-stats-log", statsLog]),
  });
  running.push(sup);
  for (const deadline = Date.now() + 5000; ; await Bun.sleep(20)) {
    const st = await call(socket, "status", {});
    if (st.workers.every((w) => w.state === "ready")) break;
    if (Date.now() > deadline) throw new Error("fake workers did not start");
  }
  // Rounds before the flood (the supervisor's own STATUS= rate, readiness) are not the flood's.
  const before = readFileSync(statsLog, "utf8").split("\n").filter(Boolean).length;
  const t0 = performance.now();
  const REQUESTS = 200;
  const rx: number[] = [];
  // 8 clients of each kind, each asking again as soon as it has its answer.
  const client = async (kind: "stats" | "metrics") => {
    for (let i = 0; i < REQUESTS / 8; i++) {
      if (kind === "stats") rx.push((await call(socket, "stats", {})).totals.rxFrames);
      else {
        const body = await (await fetch(sup.metricsUrl!)).text();
        const each = [...body.matchAll(/^mcr_worker_receive_frames_total\{[^}]*\} (\d+)$/gm)];
        rx.push(each.length === WORKERS ? each.reduce((a, m) => a + Number(m[1]), 0) : -1);
      }
    }
  };
  await Promise.all(Array.from({ length: 16 }, (_, i) => client(i % 2 ? "stats" : "metrics")));
  const elapsed = performance.now() - t0;
  const received = readFileSync(statsLog, "utf8").split("\n").filter(Boolean).length - before;
  // Every answer read the regions: 100 frames per fake worker.
  expect(rx).toHaveLength(2 * REQUESTS);
  expect(new Set(rx)).toEqual(new Set([100 * WORKERS]));
  // One message per worker and round, rounds at most every RING_ROUND_MS (plus the one at t0).
  const rounds = Math.floor(elapsed / RING_ROUND_MS) + 1;
  expect(received).toBeLessThanOrEqual(WORKERS * rounds);
  expect(received).toBeLessThan(2 * REQUESTS);
});
