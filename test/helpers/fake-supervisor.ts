// A supervisor in the test process whose workers are test/fixtures/fake-worker.ts: no root, no
// network, counters that are known. For client-side tests (`mcr stats --watch` under a terminal).
import { join } from "node:path";
import { call } from "../../src/control/client.ts";
import { startControlServer } from "../../src/control/server.ts";
import type { LookupInterface } from "../../src/rules/validate.ts";
import { Supervisor } from "../../src/supervisor/service.ts";
import type { WorkerArgs } from "../../src/types/worker.ts";
import { ROOT } from "./mcr.ts";

const FAKE = join(ROOT, "test", "fixtures", "fake-worker.ts");
const IFS: Record<string, string> = { eth0: "10.0.0.2", eth1: "10.0.1.1", eth2: "10.0.2.1" };
const lookup: LookupInterface = (name) => (name in IFS ? { name, ifindex: 5, ipv4: IFS[name] } : undefined);

/** The command line of a fake worker (test/fixtures/fake-worker.ts) on eth0, with `extra` flags. */
export function fakeWorkerArgv(extra: string[] = []) {
  return (a: WorkerArgs) => [
    process.execPath,
    FAKE,
    "worker",
    "--cpu",
    String(a.cpu),
    "--interface",
    "eth0",
    ...(a.countersFd !== undefined ? ["--counters-fd", String(a.countersFd)] : []),
    ...extra,
  ];
}

/** Starts one on `socket` and waits until every worker holds the table. */
export async function startFakeSupervisor(o: { socket: string; stateFile: string; workers?: number }) {
  const sup = await Supervisor.start({
    interfaces: ["eth0"],
    socketPath: o.socket,
    controlServer: startControlServer,
    stateFile: o.stateFile,
    workers: o.workers ?? 2,
    lookup,
    joinGroups: false,
    workerArgv: fakeWorkerArgv(),
  });
  for (const deadline = Date.now() + 5000; ; await Bun.sleep(20)) {
    const st = await call(o.socket, "status", {});
    if (st.workers.every((w) => w.state === "ready" && w.appliedVersion === st.tableVersion)) break;
    if (Date.now() > deadline) {
      await sup.stop();
      throw new Error("fake workers did not start");
    }
  }
  return sup;
}
