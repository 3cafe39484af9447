// Loops across rules (issue 11, point 11): a rule whose output is another rule's input on a served
// interface is refused, whichever of the two is added first, at rule add and in a config file.
import { afterAll, afterEach, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { call } from "../../src/control/client.ts";
import { startControlServer } from "../../src/control/server.ts";
import { loadConfig } from "../../src/config/load.ts";
import { EX, type McrError } from "../../src/errors.ts";
import { log } from "../../src/log.ts";
import { Supervisor } from "../../src/supervisor/service.ts";

log.level = -999;
const dir = mkdtempSync(join(tmpdir(), "mcr-loops-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
const fresh = (name: string) => join(dir, `${++n}-${name}`);
const sups: Supervisor[] = [];
afterEach(async () => {
  await Promise.all(sups.splice(0).map((s) => s.stop()));
});

const SERVED = ["eth0", "eth1"];
async function start(config?: string) {
  const socket = fresh("mcr.sock");
  let cfg;
  if (config !== undefined) {
    const p = fresh("mcr.toml");
    writeFileSync(p, config);
    cfg = loadConfig(p, { interfaces: SERVED });
  }
  const sup = await Supervisor.start({
    interfaces: SERVED,
    socketPath: socket,
    stateFile: join(fresh("state"), "rules.json"),
    workers: 0,
    lookup: (name) => ({ name, ifindex: 5, ipv4: "10.0.0.2" }),
    joinGroups: false,
    controlServer: startControlServer,
    ...(cfg ? { config: cfg } : {}),
  });
  sups.push(sup);
  return socket;
}
const rule = (iface: string, group: string, port: number, out: [string, number, string]) => ({
  inputInterface: iface,
  inputGroup: group,
  inputPort: port,
  outputs: [{ group: out[0], port: out[1], interface: out[2] }],
});
const failure = (p: Promise<unknown>) =>
  p.then(
    () => undefined,
    (e) => e as McrError,
  );

describe("loops across rules", () => {
  // A: eth0 239.1.1.1:5000 -> 239.2.2.2:6000 on eth1; B: eth1 239.2.2.2:6000 -> 239.1.1.1:5000 on eth0.
  const A = rule("eth0", "239.1.1.1", 5000, ["239.2.2.2", 6000, "eth1"]);
  const B = rule("eth1", "239.2.2.2", 6000, ["239.1.1.1", 5000, "eth0"]);

  test("the second of two rules that map into each other is refused, in either order", async () => {
    for (const [first, second] of [
      [A, B],
      [B, A],
    ]) {
      const socket = await start();
      await call(socket, "rule.add", first as never);
      const e = await failure(call(socket, "rule.add", second as never));
      expect(e?.code).toBe("invalid_rule");
      expect(e?.exitCode).toBe(EX.DATAERR);
      expect(e?.field).toBe("outputs[0]");
      expect(e?.message).toContain("sends into the input of rule 1");
      expect((await call(socket, "rule.list", {})).rules).toHaveLength(1);
    }
  });

  test("an output into another rule's input on another served interface (a shared segment) is refused", async () => {
    const socket = await start();
    await call(socket, "rule.add", rule("eth1", "239.2.2.2", 6000, ["239.3.3.3", 7000, "eth2"]) as never);
    // Sent on eth0, taken on eth1: the same wire if the two are bridged.
    const e = await failure(call(socket, "rule.add", A as never));
    expect(e?.message).toContain("sends into the input of rule 1 (239.2.2.2:6000 on eth1)");
    // The other order: the existing rule's output into the new rule's input.
    const socket2 = await start();
    await call(socket2, "rule.add", rule("eth0", "239.5.5.5", 5000, ["239.2.2.2", 6000, "eth0"]) as never);
    const e2 = await failure(
      call(socket2, "rule.add", rule("eth1", "239.2.2.2", 6000, ["239.3.3.3", 7000, "eth2"]) as never),
    );
    expect(e2?.field).toBe("inputGroup");
    expect(e2?.message).toContain("rule 1's output 1 (239.2.2.2:6000:eth0) sends into this rule's input");
  });

  test("outputs on an interface not served, and chains that do not meet, are accepted", async () => {
    const socket = await start();
    await call(socket, "rule.add", rule("eth0", "239.1.1.1", 5000, ["239.2.2.2", 6000, "eth2"]) as never);
    await call(socket, "rule.add", rule("eth1", "239.2.2.2", 6000, ["239.1.1.1", 5000, "eth3"]) as never);
    expect((await call(socket, "rule.list", {})).rules).toHaveLength(2);
  });

  test("a config whose rules map into each other does not start, naming the line", async () => {
    const r = (iface: string, g: string, p: number, out: string) =>
      `[[rule]]\ninput_interface = "${iface}"\ninput_group = "${g}"\ninput_port = ${p}\noutputs = ["${out}"]\n`;
    const e = await failure(
      start(
        `interfaces = ["eth0", "eth1"]\n${r("eth0", "239.1.1.1", 5000, "239.2.2.2:6000:eth1")}${r("eth1", "239.2.2.2", 6000, "239.1.1.1:5000:eth0")}`,
      ),
    );
    expect(e?.exitCode).toBe(EX.CONFIG);
    expect(e?.message).toContain("sends into the input of rule");
  });
});
