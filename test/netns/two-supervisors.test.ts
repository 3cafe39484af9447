// Two supervisors on one host (one network namespace) relaying the same input interface, with
// pids that the old fanout scheme (pid & 0xffff, plus the input's index) mapped onto one group:
// each must still receive everything. The pids are made adjacent in pid namespaces of their own.
// Needs root.
import { expect, test } from "bun:test";
import { describeNetns } from "../helpers/suite.ts";
import type { Lab } from "../helpers/lab.ts";
import { existsSync } from "node:fs";
import { must } from "../helpers/lab.ts";
import { mcrArgv } from "../helpers/mcr.ts";
import { ctl } from "../helpers/supervisor.ts";
import { gen, sink } from "../helpers/tools.ts";
import { until } from "../helpers/lab.ts";

/** A supervisor whose pid is `pid`, in a pid namespace of its own (a shell is its pid 1). */
function supervisorWithPid(lab: Lab, name: string, pid: number, interfaces: string[]) {
  const socket = `/tmp/${lab.id}-${name}.sock`;
  const argv = [
    ...mcrArgv(),
    "supervisor",
    ...interfaces.flatMap((i) => ["--interface", i]),
    "--control-socket-path",
    socket,
    "--state-file",
    `/tmp/${lab.id}-${name}.state.json`,
    "--ring-mb",
    "8",
    "--workers",
    "2",
  ];
  const script = `echo ${pid - 1} > /proc/sys/kernel/ns_last_pid && "$@"`;
  const proc = lab.spawn("relay", ["unshare", "--pid", "--fork", "--kill-child", "sh", "-c", script, "sh", ...argv]);
  return { socket, proc };
}

describeNetns("two supervisors on one host", (labs) => {
  test("adjacent pids, the same input interface: both receive everything", async () => {
    const lab = labs.chain();
    // A serves veth9 first: under the old scheme its veth1 group was pid + 1, B's veth1 group B's pid.
    must(["ip", "-n", lab.ns("relay"), "link", "add", "veth9", "type", "veth", "peer", "name", "veth8"]);
    must(["ip", "-n", lab.ns("relay"), "link", "set", "veth9", "up"]);
    const a = supervisorWithPid(lab, "a", 100, ["veth9", "veth1"]);
    const b = supervisorWithPid(lab, "b", 101, ["veth1"]);
    for (const s of [a, b])
      await until(
        async () => existsSync(s.socket) && (await ctl(s.socket, "status").catch(() => undefined)) !== undefined,
        10_000,
        "supervisor up",
        50,
      );
    expect((await ctl(a.socket, "status")).pid).toBe(100);
    expect((await ctl(b.socket, "status")).pid).toBe(101);
    const spec = (port: number) => ({
      inputInterface: "veth1",
      inputGroup: "239.1.1.1",
      inputPort: 5001,
      outputs: [{ group: "239.9.9.9", port, interface: "veth3", ttl: 1 }],
    });
    await ctl(a.socket, "rule.add", spec(5091));
    await ctl(b.socket, "rule.add", spec(5092));
    // Every worker of both has its ring open (the fanout groups named and joined).
    for (const s of [a, b])
      await until(
        async () =>
          (await ctl(s.socket, "rule.list")).workers.every(
            (w) => w.inputs.find((i) => i.interface === "veth1")?.state === "up",
          ),
        5000,
        "rings open",
      );
    const COUNT = 20_000;
    const rxA = sink(lab, { group: "239.9.9.9:5091", expect: COUNT, timeoutS: 3 });
    const rxB = sink(lab, { group: "239.9.9.9:5092", expect: COUNT, timeoutS: 3 });
    await Bun.sleep(300);
    const g = await gen(lab, { dest: "239.1.1.1:5001", rate: 20_000, count: COUNT }).result;
    const [sa, sb] = await Promise.all([rxA.result, rxB.result]);
    console.log(`two supervisors (pids 100, 101): sent ${g.packets}, A received ${sa.unique}, B received ${sb.unique}`);
    expect(g.packets).toBe(COUNT);
    expect(sa.unique).toBe(COUNT);
    expect(sb.unique).toBe(COUNT);
    expect(sa.duplicates + sb.duplicates).toBe(0);
  }, 60_000);
});
