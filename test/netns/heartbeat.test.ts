// A worker that stops making progress (here: SIGSTOP, as a worker stuck in the shim would look)
// is seen by its heartbeat standing still and restarted; a short stop is left alone (the SIGSTOP
// fault test). Needs root.
import { expect, test } from "bun:test";
import { describeNetns } from "../helpers/suite.ts";
import { HEARTBEAT_TIMEOUT_MS } from "../../src/supervisor/worker.ts";
import { SupervisorDriver } from "../helpers/supervisor.ts";
import { ctl } from "../helpers/supervisor.ts";
import { gen, sink } from "../helpers/tools.ts";
import { alive, until } from "../helpers/lab.ts";

const packets = async (socket: string, id: number) =>
  ((await ctl(socket, "stats")).rules.find((r) => r.id === id)?.packets ?? 0) as number;

describeNetns("worker heartbeat", (labs) => {
  test("a worker stopped for longer than the heartbeat timeout is killed and restarted, and forwards again", async () => {
    const lab = labs.chain();
    const sup = new SupervisorDriver(lab, "relay", ["veth1"], ["--workers", "1"]);
    await sup.ready();
    const id = sup.addRule("239.1.1.1", 5001, "239.9.9.9:5099:veth3");
    const rx = sink(lab, { group: "239.9.9.9:5099", durationS: 30 });
    await Bun.sleep(300);
    const tx = gen(lab, { dest: "239.1.1.1:5001", rate: 5000, durationS: 30 });
    await until(async () => (await packets(sup.socket, id)) > 1000, 5000, "traffic through the relay");
    const pid = (await ctl(sup.socket, "rule.list")).workers[0]!.pid!;

    const t0 = performance.now();
    process.kill(pid, "SIGSTOP");
    await until(
      async () => {
        const w = (await ctl(sup.socket, "rule.list")).workers[0]!;
        return w.restarts === 1 && w.state === "ready" && w.pid !== pid;
      },
      HEARTBEAT_TIMEOUT_MS + 5000,
      "the stopped worker replaced",
      100,
    );
    const replacedMs = performance.now() - t0;
    const n0 = await packets(sup.socket, id);
    await until(async () => (await packets(sup.socket, id)) > n0 + 100, 5000, "forwarding again");
    console.log(`worker SIGSTOPped: replaced after ${replacedMs.toFixed(0)} ms (timeout ${HEARTBEAT_TIMEOUT_MS} ms)`);
    expect(alive(pid)).toBe(false);
    expect(replacedMs).toBeGreaterThanOrEqual(HEARTBEAT_TIMEOUT_MS);
    expect(replacedMs).toBeLessThan(HEARTBEAT_TIMEOUT_MS + 3000);
    expect(sup.stderr).toContain(`worker 0 (pid ${pid}) made no progress for`);
    tx.proc.kill("SIGINT");
    rx.proc.kill("SIGINT");
  }, 60_000);
});
