// The supervisor for real, in a network namespace: group membership on the ingress, the control
// socket under abuse, and what survives a supervisor killed with SIGKILL. Needs root.
import { expect, test } from "bun:test";
import { describeNetns } from "../helpers/suite.ts";
import { alive, type Lab, until } from "../helpers/lab.ts";
import { startSupervisor } from "../helpers/supervisor.ts";
import { expectPayloads, receiveInSink, sendFromGen, sendInBackground } from "../helpers/traffic.ts";
import { LineFramer } from "../../src/control/framing.ts";
import { MAX_MESSAGE_BYTES } from "../../src/control/protocol.ts";
import type { Response } from "../../src/types/control.ts";

/** Groups joined on `ifname` in the relay namespace, from /proc/net/igmp (dotted). */
function joined(l: Lab, ifname: string): string[] {
  const text = l.exec("relay", ["cat", "/proc/net/igmp"]).stdout;
  const out: string[] = [];
  let dev = "";
  for (const line of text.split("\n").slice(1)) {
    const head = /^\d+\s+(\S+)\s*:/.exec(line);
    if (head) dev = head[1]!;
    const g = /^\s+([0-9A-F]{8})\s/.exec(line);
    // The kernel prints the group in host (little-endian) byte order.
    if (g && dev === ifname) out.push(Buffer.from(g[1]!, "hex").reverse().join("."));
  }
  return out;
}

describeNetns("control plane in a namespace", (labs) => {
  test("the input group is joined on the ingress when a rule needs it, and left with the last rule", async () => {
    const lab = labs.chain();
    const sup = await startSupervisor(lab);
    // 224.0.0.1 (all hosts) is joined by the kernel on every IPv4 interface; nothing else is before a rule.
    expect(joined(lab, "veth1").sort()).toEqual(["224.0.0.1"]);
    const a = sup.addRule("239.1.2.3", 5001, "239.10.10.10:6001:veth3");
    const b = sup.addRule("239.1.2.3", 5002, "239.10.10.11:6001:veth3");
    expect(joined(lab, "veth1").sort()).toEqual(["224.0.0.1", "239.1.2.3"]);
    expect(joined(lab, "veth3").sort()).toEqual(["224.0.0.1"]);
    expect(sup.mcr(["rule", "remove", String(a)]).code).toBe(0);
    expect(joined(lab, "veth1").sort()).toEqual(["224.0.0.1", "239.1.2.3"]); // rule b still needs it
    expect(sup.mcr(["rule", "remove", String(b)]).code).toBe(0);
    expect(joined(lab, "veth1").sort()).toEqual(["224.0.0.1"]);
  });

  test("an input without an IPv4 address is joined too (by interface index), and left with the last rule", async () => {
    const lab = labs.chain();
    lab.exec("relay", ["ip", "addr", "flush", "dev", "veth1"]);
    const sup = await startSupervisor(lab);
    const a = sup.addRule("239.1.2.4", 5001, "239.10.10.10:6001:veth3");
    expect(joined(lab, "veth1")).toContain("239.1.2.4");
    expect(sup.stderr).not.toContain("no IPv4 address");
    expect(sup.mcr(["rule", "remove", String(a)]).code).toBe(0);
    expect(joined(lab, "veth1")).not.toContain("239.1.2.4");
  });

  test("malformed control requests each get an error reply; the supervisor keeps serving", async () => {
    const lab = labs.chain();
    const sup = await startSupervisor(lab);
    const replies: Response[] = [];
    const framer = new LineFramer(
      1 << 24,
      (l) => replies.push(JSON.parse(l)),
      () => {},
    );
    const s = await Bun.connect({ unix: sup.socket, socket: { data: (_s, c) => framer.push(c) } });
    const ask = async (bytes: string, n = replies.length + 1) => {
      for (let i = 0; i < bytes.length; i += 16384) s.write(bytes.slice(i, i + 16384));
      await until(() => replies.length >= n, 3000, `reply to ${bytes.slice(0, 40)}`);
      return replies[n - 1]!;
    };
    expect(await ask("\x00\xff garbage\n")).toMatchObject({ ok: false, error: { code: "bad_request" } });
    expect(await ask('{"v":1,"id":1,"cmd":"rule.add","args":{"inputGroup":\n')).toMatchObject({
      ok: false,
      error: { code: "bad_request" },
    });
    expect(
      await ask(`{"v":1,"id":2,"cmd":"rule.list","args":{"x":"${"a".repeat(MAX_MESSAGE_BYTES)}"}}\n`),
    ).toMatchObject({ ok: false, error: { code: "too_large" } });
    expect(await ask('{"v":1,"id":3,"cmd":"reboot"}\n')).toMatchObject({
      id: 3,
      ok: false,
      error: { code: "unknown_command" },
    });
    expect(
      await ask('{"v":1,"id":4,"cmd":"rule.add","args":{"inputGroup":"239.1.1.1","inputPort":"5001","outputs":[]}}\n'),
    ).toMatchObject({
      id: 4,
      ok: false,
      error: { code: "invalid_rule", field: "inputPort" },
    });
    expect(await ask('{"v":1,"id":5,"cmd":"rule.remove","args":{"id":[1]}}\n')).toMatchObject({
      id: 5,
      ok: false,
      error: { code: "bad_request", field: "id" },
    });
    expect(await ask('{"v":9,"id":6,"cmd":"rule.list"}\n')).toMatchObject({
      id: 6,
      ok: false,
      error: { code: "unsupported_version" },
    });
    // Same connection, a good request.
    expect(await ask('{"v":1,"id":7,"cmd":"rule.list"}\n')).toMatchObject({ id: 7, ok: true, result: { rules: [] } });
    s.end();
    // And a fresh client.
    expect(sup.mcr(["rule", "list", "--json"]).code).toBe(0);
    expect(sup.proc.exitCode).toBeNull();
  });

  test("SIGKILL the supervisor: no worker outlives it; a new one replaces the stale socket and restores every rule", async () => {
    const lab = labs.chain();
    const sup = await startSupervisor(lab, ["--workers", "2"]);
    const id = sup.addRule("239.1.1.1", 5001, "239.10.10.10:6001:veth3");
    const id2 = sup.addRule("239.1.1.2", 5002, "239.10.10.11:6002:veth3:4");
    expect([id, id2]).toEqual([1, 2]); // a supervisor with an empty state file numbers from 1
    const before = JSON.parse(sup.mcr(["rule", "list", "--json"]).stdout);
    const pids: number[] = before.workers.map((w: { pid: number }) => w.pid);
    expect(pids.length).toBe(2);
    expect(pids.every(alive)).toBe(true);

    sup.proc.kill("SIGKILL");
    await sup.proc.exited;
    await until(() => !pids.some(alive), 2000, "workers to follow their supervisor");

    sup.start();
    await sup.ready();
    const after = JSON.parse(sup.mcr(["rule", "list", "--json"]).stdout);
    expect(after.rules).toEqual(before.rules);
    expect(after.rules.map((r: { id: number }) => r.id)).toEqual([id, id2]);
    // Forwarding resumes with the restored table.
    await until(
      () =>
        JSON.parse(sup.mcr(["rule", "list", "--json"]).stdout).workers.every(
          (w: { state: string }) => w.state === "ready",
        ),
      5000,
      "workers ready",
    );
    const rx = receiveInSink(lab, { group: "239.10.10.10", port: 6001, count: 300 });
    await rx.listening;
    sendFromGen(lab, { dest: "239.1.1.1", port: 5001, count: 300, size: 200, seed: 3 });
    expectPayloads((await rx.result).payloads, 3, 300, 200);
    const stats = sup.stats();
    expect(stats.rules.find((r: { id: number }) => r.id === id).packets).toBe(300);
  });

  test("SIGHUP after editing the config: the changed rule changes, an unchanged rule loses no packet", async () => {
    const lab = labs.chain();
    const path = `/tmp/${lab.id}-mcr.toml`;
    const rule = (group: string, port: number, out: string) =>
      `[[rule]]\ninput_group = "${group}"\ninput_port = ${port}\noutputs = ["${out}"]\n`;
    const steady = rule("239.1.1.1", 5001, "239.10.10.10:6001:veth3");
    await Bun.write(path, steady + rule("239.1.1.2", 5002, "239.10.10.11:6002:veth3"));
    try {
      const sup = await startSupervisor(lab, ["--config", path, "--workers", "2"]);
      const rules = () =>
        JSON.parse(sup.mcr(["rule", "list", "--json"]).stdout).rules as {
          id: number;
          inputPort: number;
          outputs: { group: string }[];
        }[];
      const before = rules();
      expect(before.map((r) => [r.inputPort, r.outputs[0]!.group])).toEqual([
        [5001, "239.10.10.10"],
        [5002, "239.10.10.11"],
      ]);
      const COUNT = 3000;
      const rxSteady = receiveInSink(lab, { group: "239.10.10.10", port: 6001, count: COUNT, idleMs: 3000 });
      const rxChanged = receiveInSink(lab, { group: "239.10.10.12", port: 6003, count: 200 });
      await Promise.all([rxSteady.listening, rxChanged.listening]);
      const flowing = sendInBackground(lab, {
        dest: "239.1.1.1",
        port: 5001,
        count: COUNT,
        size: 300,
        seed: 21,
        gapUs: 1000,
      });
      await Bun.sleep(700); // mid-stream
      await Bun.write(path, steady + rule("239.1.1.2", 5002, "239.10.10.12:6003:veth3"));
      sup.proc.kill("SIGHUP");
      await until(() => rules().some((r) => r.outputs[0]!.group === "239.10.10.12"), 3000, "the reload");
      const after = rules();
      expect(before.map((r) => r.id)).toEqual([1, 2]);
      // 5001 untouched keeps its id; 5002 replaced is a new rule with the next id.
      expect(after.map((r) => [r.inputPort, r.id]).sort((x, y) => x[0]! - y[0]!)).toEqual([
        [5001, 1],
        [5002, 3],
      ]);
      sendFromGen(lab, { dest: "239.1.1.2", port: 5002, count: 200, size: 100, seed: 22 });
      expectPayloads((await rxChanged.result).payloads, 22, 200, 100);
      await flowing;
      expectPayloads((await rxSteady.result).payloads, 21, COUNT, 300);
      expect(sup.proc.exitCode).toBeNull();
    } finally {
      await Bun.file(path).delete();
    }
  }, 30000); // 3 s of paced traffic: past bun's default 5 s on a loaded machine

  test("SIGTERM: workers stop, the socket file goes, exit 0", async () => {
    const lab = labs.chain();
    const sup = await startSupervisor(lab, ["--workers", "2"]);
    const pids: number[] = JSON.parse(sup.mcr(["rule", "list", "--json"]).stdout).workers.map(
      (w: { pid: number }) => w.pid,
    );
    sup.proc.kill("SIGTERM");
    expect(await sup.proc.exited).toBe(0);
    expect(await Bun.file(sup.socket).exists()).toBe(false);
    expect(pids.some(alive)).toBe(false);
  });
});
