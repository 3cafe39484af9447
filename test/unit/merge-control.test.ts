// Merge rules through the control socket, the state file, a restart, `rule apply` and the
// command line, against a supervisor with fake workers (test/fixtures/fake-worker.ts): what an
// operator adds is what the list shows, what the state file keeps, what a restarted supervisor
// lists, and what every worker is handed. No root needed.
import { afterAll, afterEach, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadBatch } from "../../src/config/batch.ts";
import { type Config, loadConfig } from "../../src/config/load.ts";
import { call } from "../../src/control/client.ts";
import { startControlServer } from "../../src/control/server.ts";
import { EX, McrError } from "../../src/errors.ts";
import { log } from "../../src/log.ts";
import type { LookupInterface } from "../../src/rules/validate.ts";
import { Supervisor } from "../../src/supervisor/service.ts";
import type { Rule } from "../../src/types/rules.ts";
import { bunArgv } from "../helpers/mcr.ts";

log.level = -999;

const dir = mkdtempSync(join(tmpdir(), "mcr-merge-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
const fresh = (name: string) => join(dir, `${++n}-${name}`);

const FAKE = join(import.meta.dir, "..", "fixtures", "fake-worker.ts");
const IFS = ["eth0", "eth1", "eth2"];
const lookup: LookupInterface = (name) =>
  IFS.includes(name) ? { name, ifindex: IFS.indexOf(name) + 10, ipv4: `10.0.${IFS.indexOf(name)}.1` } : undefined;

interface Harness {
  sup: Supervisor;
  socket: string;
  stateFile: string;
  workerLog: string;
}

const running: Supervisor[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((s) => s.stop()));
});

async function start(stateFile = join(fresh("state"), "rules.json"), config?: Config): Promise<Harness> {
  const socket = fresh("mcr.sock");
  const workerLog = fresh("workers.log");
  writeFileSync(workerLog, "");
  const sup = await Supervisor.start({
    interfaces: IFS,
    socketPath: socket,
    controlServer: startControlServer,
    stateFile,
    workers: 2,
    lookup,
    joinGroups: false, // real joins: test/netns
    ...(config ? { config } : {}),
    workerArgv: (a) => [
      process.execPath,
      FAKE,
      "worker",
      "--cpu",
      String(a.cpu),
      ...a.interfaces.flatMap((i) => ["--interface", i]),
      ...(a.countersFd !== undefined ? ["--counters-fd", String(a.countersFd)] : []),
      "--fake-log",
      workerLog,
    ],
  });
  running.push(sup);
  const deadline = Date.now() + 5000;
  for (;;) {
    const st = await call(socket, "status", {});
    if (st.workers.every((w) => w.state === "ready" && w.appliedVersion === st.tableVersion)) break;
    if (Date.now() > deadline) throw new Error("workers not ready");
    await Bun.sleep(20);
  }
  return { sup, socket, stateFile, workerLog };
}

/** The last table each fake worker applied, by pid. */
function lastTables(h: Harness): Rule[][] {
  const lines = readFileSync(h.workerLog, "utf8")
    .trim()
    .split("\n")
    .filter(Boolean)
    .map((l) => JSON.parse(l) as { pid: number; version: number; rules: Rule[] });
  const byPid = new Map<number, Rule[]>();
  for (const l of lines) byPid.set(l.pid, l.rules);
  return [...byPid.values()];
}

const OUTPUTS = [{ group: "239.10.10.10", port: 6001, interface: "eth2", ttl: 1 }];
const rtp = {
  name: "cam",
  inputInterface: "eth0",
  inputGroup: "239.1.1.1",
  inputPort: 5001,
  inputSources: ["10.0.0.7"],
  outputs: OUTPUTS,
  merge: {
    mode: "rtp" as const,
    legs: [{ interface: "eth1", group: "239.2.1.1", port: 5001, source: "10.0.1.7" }],
    windowMs: 10,
  },
};
const failover = {
  name: "ts",
  inputInterface: "eth0",
  inputGroup: "239.3.1.1",
  inputPort: 6000,
  outputs: [{ group: "239.10.10.11", port: 6001, interface: "eth2", ttl: 1 }],
  merge: {
    mode: "failover" as const,
    legs: [
      { interface: "eth1", group: "239.4.1.1", port: 6000 },
      { interface: "eth1", group: "239.5.1.1", port: 6000 },
    ],
    failoverAfterMs: 200,
  },
};

async function refusal(
  p: Promise<unknown>,
): Promise<{ code?: string; field?: string; message: string; exitCode: number }> {
  try {
    await p;
  } catch (e) {
    if (!(e instanceof McrError)) throw e;
    return { code: e.code, field: e.field, message: e.message, exitCode: e.exitCode };
  }
  throw new Error("expected a refusal");
}

describe("merge rules in the supervisor", () => {
  test("add -> list -> state file -> restart -> list: the same rules; every worker holds them whole", async () => {
    const h = await start();
    const a = await call(h.socket, "rule.add", rtp);
    expect(a).toEqual({ rule: { id: 1, ...rtp }, warnings: [] });
    const b = await call(h.socket, "rule.add", failover);
    expect(b.rule).toEqual({ id: 2, ...failover });
    const listed = (await call(h.socket, "rule.list", {})).rules;
    expect(listed).toEqual([
      { id: 1, ...rtp },
      { id: 2, ...failover },
    ]);
    const saved = JSON.parse(readFileSync(h.stateFile, "utf8"));
    expect(saved).toEqual({ format: "mcr-rules", version: 1, nextId: 3, rules: listed });
    // What the supervisor sends the workers: the rule as listed, its merge with it.
    const tables = lastTables(h);
    expect(tables).toHaveLength(2);
    for (const t of tables) expect(t).toEqual(listed);
    await h.sup.stop();

    const h2 = await start(h.stateFile);
    expect((await call(h2.socket, "rule.list", {})).rules).toEqual(listed);
    for (const t of lastTables(h2)) expect(t).toEqual(listed);
  });

  test("a leg that overlaps another rule, or a malformed merge, is refused with its field (65) and changes nothing", async () => {
    const h = await start();
    await call(h.socket, "rule.add", rtp);
    const plain = {
      inputInterface: "eth1",
      inputGroup: "239.2.1.1",
      inputPort: 5001,
      inputSources: ["10.0.1.7"],
      outputs: [{ group: "239.10.10.12", port: 6001, interface: "eth2", ttl: 1 }],
    };
    expect(await refusal(call(h.socket, "rule.add", plain))).toEqual({
      code: "duplicate",
      field: "inputGroup",
      message:
        "rule 1 already relays (10.0.1.7) 239.2.1.1:5001 on eth1 (its input 2): a datagram goes to one rule, or remove it first (mcr rule remove 1)",
      exitCode: EX.DATAERR,
    });
    const mixed = { ...failover, merge: { ...failover.merge, windowMs: 50 } };
    expect(await refusal(call(h.socket, "rule.add", mixed))).toEqual({
      code: "invalid_rule",
      field: "merge.windowMs",
      message:
        "windowMs is an rtp merge's setting, and this is a failover merge (it takes failoverAfterMs and revertAfterMs)",
      exitCode: EX.DATAERR,
    });
    const unserved = {
      ...failover,
      merge: { ...failover.merge, legs: [{ interface: "eth9", group: "239.4.1.1", port: 6000 }] },
    };
    expect(await refusal(call(h.socket, "rule.add", unserved))).toMatchObject({
      field: "merge.legs[0].interface",
      exitCode: EX.DATAERR,
    });
    expect((await call(h.socket, "rule.list", {})).rules.map((r) => r.id)).toEqual([1]);
  });

  test("rule apply: a TOML batch adds merge rules, and refuses a batch whose legs collide, whole", async () => {
    const h = await start();
    const good = fresh("batch.toml");
    writeFileSync(
      good,
      `[[change]]
op = "add"
name = "cam"
inputs = ["eth0:239.1.1.1:5001:10.0.0.7", "eth1:239.2.1.1:5001:10.0.1.7"]
merge = "rtp"
merge_window = "10ms"
outputs = ["239.10.10.10:6001:eth2"]

[[change]]
op = "add"
name = "ts"
inputs = ["eth0:239.3.1.1:6000", "eth1:239.4.1.1:6000", "eth1:239.5.1.1:6000"]
merge = "failover"
failover_after = "200ms"
outputs = ["239.10.10.11:6001:eth2"]
`,
    );
    const r = await call(h.socket, "rule.apply", { changes: loadBatch(good) });
    expect(r.added).toEqual([
      { id: 1, ...rtp },
      { id: 2, ...failover },
    ]);
    const bad = fresh("batch.toml");
    writeFileSync(
      bad,
      `[[change]]
op = "remove"
rule = "ts"

[[change]]
op = "add"
inputs = ["eth1:239.9.1.1:7000", "eth1:239.2.1.1:5001:10.0.1.7"]
merge = "rtp"
outputs = ["239.10.10.13:6001:eth2"]
`,
    );
    expect(await refusal(call(h.socket, "rule.apply", { changes: loadBatch(bad) }))).toMatchObject({
      code: "duplicate",
      field: "changes[1].rule.merge.legs[0]",
      exitCode: EX.DATAERR,
    });
    expect((await call(h.socket, "rule.list", {})).rules.map((x) => x.name)).toEqual(["cam", "ts"]);
  });

  test("the command line: --input legs and --merge; rule list --json shows what the socket does", {
    timeout: 30_000,
  }, async () => {
    const h = await start();
    // Asynchronous: the supervisor answering it runs in this process.
    const mcr = async (...args: string[]) => {
      const p = Bun.spawn([...bunArgv("src/main.ts"), ...args, "--socket-path", h.socket], {
        env: { ...process.env, NO_COLOR: "1" },
        stdout: "pipe",
        stderr: "pipe",
      });
      const [stdout, stderr, code] = await Promise.all([
        new Response(p.stdout).text(),
        new Response(p.stderr).text(),
        p.exited,
      ]);
      return { code, stdout, stderr };
    };
    const added = await mcr(
      "rule",
      "add",
      "--name",
      "cam",
      "--input",
      "eth0:239.1.1.1:5001:10.0.0.7",
      "--input",
      "eth1:239.2.1.1:5001:10.0.1.7",
      "--merge",
      "rtp",
      "--merge-window",
      "10ms",
      "--outputs",
      "239.10.10.10:6001:eth2",
    );
    expect(added).toEqual({ code: 0, stdout: "1\n", stderr: "" });
    const fo = await mcr(
      "rule",
      "add",
      "--name",
      "ts",
      "--input",
      "eth0:239.3.1.1:6000",
      "--input",
      "eth1:239.4.1.1:6000",
      "--input",
      "eth1:239.5.1.1:6000",
      "--merge",
      "failover",
      "--failover-after",
      "200ms",
      "--outputs",
      "239.10.10.11:6001:eth2",
    );
    expect(fo).toEqual({ code: 0, stdout: "2\n", stderr: "" });
    const listed = JSON.parse((await mcr("rule", "list", "--json")).stdout);
    expect(listed.rules).toEqual([
      { id: 1, ...rtp },
      { id: 2, ...failover },
    ]);
    expect((await mcr("rule", "list")).stdout).toContain("rtp 10ms");
    // A leg another rule has: the supervisor's refusal (65), naming the flag.
    const dup = await mcr(
      "rule",
      "add",
      "--input",
      "eth1:239.7.1.1:6000",
      "--input",
      "eth1:239.5.1.1:6000",
      "--merge",
      "rtp",
      "--outputs",
      "239.10.10.12:6001:eth2",
    );
    expect(dup).toEqual({
      code: EX.DATAERR,
      stdout: "",
      stderr:
        "mcr: --input: rule 2 already relays 239.5.1.1:6000 on eth1 (its input 3): a datagram goes to one rule, or remove it first (mcr rule remove 2)\n",
    });
    // Malformed flags never reach the supervisor (64).
    const usage = await mcr(
      "rule",
      "add",
      "--input",
      "eth0:239.7.1.1:6000",
      "--input",
      "eth1:239.8.1.1:6000",
      "--merge",
      "failover",
      "--failover-after",
      "200",
      "--outputs",
      "239.10.10.12:6001:eth2",
    );
    expect(usage).toEqual({
      code: EX.USAGE,
      stdout: "",
      stderr: 'mcr: --failover-after: "200" is not a duration (write a number and ms or s, e.g. 200ms or 5s)\n',
    });
  });

  test("rule replace gives a merge rule new outputs and keeps its legs; an output into a leg is a loop", async () => {
    const h = await start();
    await call(h.socket, "rule.add", rtp);
    const outputs = [{ group: "239.10.10.20", port: 6001, interface: "eth2", ttl: 3 }];
    const r = await call(h.socket, "rule.replace", { id: "cam", outputs });
    expect(r.rule).toEqual({ id: 1, ...rtp, outputs });
    expect(
      await refusal(
        call(h.socket, "rule.replace", {
          id: "cam",
          outputs: [{ group: "239.2.1.1", port: 5001, interface: "eth1", ttl: 1 }],
        }),
      ),
    ).toEqual({
      code: "invalid_rule",
      field: "outputs[0]",
      message: "output 1 (239.2.1.1:5001:eth1) sends back into the rule's own input 2",
      exitCode: EX.DATAERR,
    });
    expect((await call(h.socket, "rule.list", {})).rules).toEqual([{ id: 1, ...rtp, outputs }]);
  });

  test("a config file's merge rule: loaded, listed as config, and edited in place on reload", async () => {
    const path = fresh("mcr.toml");
    const text = (window: string) => `interfaces = ["eth0", "eth1", "eth2"]
[[rule]]
name = "cam"
inputs = ["eth0:239.1.1.1:5001:10.0.0.7", "eth1:239.2.1.1:5001:10.0.1.7"]
merge = "rtp"
merge_window = "${window}"
outputs = ["239.10.10.10:6001:eth2"]
`;
    writeFileSync(path, text("10ms"));
    const h = await start(undefined, loadConfig(path, { interfaces: IFS }));
    expect((await call(h.socket, "rule.list", {})).rules).toEqual([{ id: 1, ...rtp, origin: "config" }]);
    writeFileSync(path, text("450ms"));
    await h.sup.reload();
    const wider = { ...rtp, merge: { ...rtp.merge, windowMs: 450 } };
    expect((await call(h.socket, "rule.list", {})).rules).toEqual([{ id: 1, ...wider, origin: "config" }]);
    for (const t of lastTables(h)) expect(t).toEqual([{ id: 1, ...wider, origin: "config" }]);
  });
});
