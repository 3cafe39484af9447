// The CLI as an operator meets it: exit codes and messages of `mcr rule`, `mcr stats` and
// `mcr supervisor`, run as processes (the sources, so that no build is needed).
import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { call } from "../../src/control/client.ts";
import { log } from "../../src/log.ts";
import type { LookupInterface } from "../../src/rules/validate.ts";
import { startControlServer } from "../../src/control/server.ts";
import { Supervisor } from "../../src/supervisor/service.ts";
import { add, withArg, wrongInvocations } from "./cli-cases.ts";
import { fakeWorkerArgv } from "../helpers/fake-supervisor.ts";

log.level = -999;
const MAIN = join(import.meta.dir, "..", "..", "src", "main.ts");
const dir = mkdtempSync(join(tmpdir(), "mcr-cli-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function mcr(args: string[], timeoutMs = 10_000, env: Record<string, string | undefined> = { NO_COLOR: "1" }) {
  const p = Bun.spawn([process.execPath, MAIN, ...args], {
    stdout: "pipe",
    stderr: "pipe",
    env: { ...process.env, MCR_SOCKET: undefined, ...env },
  });
  const timer = setTimeout(() => p.kill("SIGKILL"), timeoutMs);
  const [stdout, stderr, code] = await Promise.all([
    new Response(p.stdout).text(),
    new Response(p.stderr).text(),
    p.exited,
  ]);
  clearTimeout(timer);
  return { code, stdout, stderr };
}

const nobody = join(dir, "nobody.sock");

describe("without a supervisor", () => {
  test("rule add says so plainly and exits 69", async () => {
    const r = await mcr([...add, "--socket-path", nobody]);
    expect(r.code).toBe(69);
    expect(r.stderr.trim()).toBe(
      `mcr: no supervisor is listening on ${nobody}: start one with \`mcr supervisor --interface IF --control-socket-path ${nobody}\``,
    );
    expect(r.stdout).toBe("");
  });
  test("rule list and stats too", async () => {
    for (const cmd of [
      ["rule", "list"],
      ["stats", "--json"],
    ]) {
      const r = await mcr([...cmd, "--socket-path", nobody]);
      expect(r.code).toBe(69);
      expect(r.stderr).toContain("no supervisor is listening on");
    }
  });
  test("the default socket path is /run/mcr/mcr.sock", async () => {
    const r = await mcr(["rule", "list"]);
    if (existsSync("/run/mcr/mcr.sock")) return; // a real supervisor on this host: nothing to learn
    expect(r.code).toBe(69);
    expect(r.stderr).toContain("no supervisor is listening on /run/mcr/mcr.sock");
  });
  test("a malformed rule is refused before connecting, naming the flag (65)", async () => {
    const cases: [string[], string][] = [
      [withArg("--input-port", "0"), "mcr: --input-port: 0 is not a port (use an integer from 1 to 65535)"],
      [withArg("--input-port", "65536"), "mcr: --input-port: 65536 is not a port (use an integer from 1 to 65535)"],
      [
        withArg("--input-group", "127.0.0.1"),
        "mcr: --input-group: 127.0.0.1 is a loopback address, which no interface can send to: an input is a multicast group (224.0.0.0/4) or an address of the input interface",
      ],
      [
        withArg("--input-group", "224.0.0.1"),
        "mcr: --input-group: 224.0.0.1 is a link-local group (224.0.0.0/24), relayed only by a rule with --allow-link-local (config: allow_link_local = true)",
      ],
      [
        withArg("--outputs", "239.10.10.10:6001"),
        'mcr: --outputs: output 1 "239.10.10.10:6001" is not group:port:interface or group:port:interface:ttl',
      ],
      [
        withArg("--outputs", "239.10.10.10:6001:eth1:300"),
        "mcr: --outputs: output 1: 300 is not a TTL (use an integer from 1 to 255)",
      ],
      [[...add, "--ttl", "0"], "mcr: --ttl: 0 is not a TTL (use an integer from 1 to 255)"],
      [
        [...withArg("--outputs", "239.1.1.1:5001:eth0"), "--input-interface", "eth0"],
        "mcr: --outputs: output 1 (239.1.1.1:5001:eth0) sends back into the rule's own input",
      ],
    ];
    for (const [args, message] of cases) {
      const r = await mcr([...args, "--socket-path", nobody]);
      expect({ args, code: r.code, stderr: r.stderr.trim() }).toEqual({ args, code: 65, stderr: message });
    }
  });
  test("a port that is not a number is a malformed command line (64), not a refused rule", async () => {
    const r = await mcr([...withArg("--input-port", "http"), "--socket-path", nobody]);
    expect({ code: r.code, stderr: r.stderr.trim() }).toEqual({
      code: 64,
      stderr: 'mcr: --input-port: "http" is not a port (use an integer from 1 to 65535)',
    });
  });
  test("a missing flag is a usage error (64)", async () => {
    const r = await mcr(["rule", "add", "--input-group", "239.1.1.1", "--input-port", "5001", "--socket-path", nobody]);
    expect(r.code).toBe(64);
    expect(r.stderr).toContain("--outputs");
  });
  test("rule remove needs a name or an id (64)", async () => {
    const r = await mcr(["rule", "remove", "cam/1", "--socket-path", nobody]);
    expect(r.code).toBe(64);
    expect(r.stderr.trim()).toBe(
      'mcr: NAME|ID: "cam/1" is neither a rule id (a positive integer) nor a rule name (see mcr rule list)',
    );
  });
  test("supervisor: a missing --interface or a bad number is a usage error (64)", async () => {
    let r = await mcr(["supervisor", "--control-socket-path", join(dir, "x.sock")]);
    expect(r.code).toBe(64);
    expect(r.stderr).toContain("--interface");
    r = await mcr(["supervisor", "--interface", "lo", "--workers", "0", "--control-socket-path", join(dir, "x.sock")]);
    expect(r.code).toBe(64);
    expect(r.stderr.trim()).toBe('mcr: --workers: "0" is not an integer from 1 to 1024');
    r = await mcr([
      "supervisor",
      "--interface",
      "lo",
      "--log-level",
      "loud",
      "--control-socket-path",
      join(dir, "x.sock"),
    ]);
    expect(r.code).toBe(64);
    expect(r.stderr).toContain("--log-level");
    expect(existsSync(join(dir, "x.sock"))).toBe(false);
  });
});

describe("wrong invocations: exit 64, naming the flag", () => {
  const cases = wrongInvocations(nobody, join(dir, "never.sock"));
  test.each(cases)("mcr %p", async (args, message) => {
    const r = await mcr(args);
    if (message === "") {
      // a command group without its command: the group's help on stderr, nothing on stdout
      expect({ code: r.code, stdout: r.stdout }).toEqual({ code: 64, stdout: "" });
      expect(r.stderr).toContain("Commands:");
      return;
    }
    expect({ code: r.code, stdout: r.stdout, stderr: r.stderr.trim() }).toEqual({
      code: 64,
      stdout: "",
      stderr: message,
    });
  });
});

describe("the command line's conveniences", () => {
  test("-j is --json", async () => {
    const [j, json] = await Promise.all([mcr(["version", "-j"]), mcr(["version", "--json"])]);
    expect(j).toEqual(json);
    expect(JSON.parse(j.stdout)).toMatchObject({ version: expect.stringMatching(/^\d+\.\d+\.\d+$/), bun: Bun.version });
  });
  test("-V, --version and mcr version print the version, the commit and Bun's", async () => {
    const out = await Promise.all([mcr(["-V"]), mcr(["--version"]), mcr(["version"])]);
    for (const r of out) {
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(
        new RegExp(`^\\d+\\.\\d+\\.\\d+ \\((commit [0-9a-f]{7,40}, )?bun ${Bun.version.replaceAll(".", "\\.")}\\)\n$`),
      );
      expect(r.stdout).toBe(out[0]?.stdout ?? "");
    }
  });
  test("--help into a pipe has no escape codes, colour or not asked", async () => {
    for (const args of [["--help"], ["rule", "add", "--help"], ["supervisor", "-h"], ["rule", "--help"]]) {
      const r = await mcr(args, 10_000, { NO_COLOR: undefined, FORCE_COLOR: "1" });
      expect({ args, code: r.code, escapes: r.stdout.includes("\x1b") }).toEqual({ args, code: 0, escapes: false });
      expect(r.stdout).toContain("Usage: mcr");
    }
  });
  test("help lists every flag with both socket names, repeatable flags and MCR_SOCKET", async () => {
    const sup = (await mcr(["supervisor", "--help"])).stdout;
    expect(sup).toContain("--control-socket-path, --socket-path PATH");
    expect(sup).toMatch(/--interface IF .*\(repeatable\)/);
    expect(sup).toContain("env MCR_SOCKET");
    const list = (await mcr(["rule", "list", "--help"])).stdout;
    expect(list).toContain("-j, --json");
    expect(list).toContain("--socket-path, --control-socket-path PATH");
  });
  test("both socket flag names and MCR_SOCKET reach the same socket; the flag wins", async () => {
    const other = join(dir, "other.sock");
    const results = await Promise.all([
      mcr(["rule", "list", "--socket-path", nobody]),
      mcr(["rule", "list", "--control-socket-path", nobody]),
      mcr(["stats", "--json", "--control-socket-path", nobody]),
      mcr(["rule", "list"], 10_000, { NO_COLOR: "1", MCR_SOCKET: nobody }),
      mcr(["rule", "list", "--socket-path", nobody], 10_000, { NO_COLOR: "1", MCR_SOCKET: other }),
    ]);
    for (const r of results) {
      expect(r.code).toBe(69);
      expect(r.stderr).toContain(`no supervisor is listening on ${nobody}:`);
    }
    // the supervisor takes --socket-path too: here it gets as far as the next flag's check
    const s = await mcr(["supervisor", "--interface", "lo", "--socket-path", join(dir, "y.sock"), "--workers", "0"]);
    expect({ code: s.code, stderr: s.stderr.trim() }).toEqual({
      code: 64,
      stderr: 'mcr: --workers: "0" is not an integer from 1 to 1024',
    });
  });
  test("-- ends the options: what follows is an argument", async () => {
    const r = await mcr(["config", "check", "--", "--none.toml"]);
    expect(r.code).toBe(66);
    expect(r.stderr).toContain("cannot read the config file --none.toml");
  });
});

describe("mcr config check", () => {
  test("a good file: exit 0 and a summary", async () => {
    const path = join(dir, "good.toml");
    await Bun.write(
      path,
      'interfaces = ["lo"]\n[[rule]]\ninput_group = "239.1.1.1"\ninput_port = 5001\noutputs = ["239.10.10.10:6001:lo"]\n',
    );
    const r = await mcr(["config", "check", path]);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(`${path}: ok, 1 rule(s), interfaces lo\n`);
  });
  test("a bad file: exit 78 with file, line and key", async () => {
    const path = join(dir, "bad.toml");
    await Bun.write(
      path,
      'interfaces = ["lo"]\n\n[[rule]]\ninput_group = "239.1.1.1"\ninput_port = 5001\noutputs = ["239.10.10.10:6001"]\n',
    );
    const r = await mcr(["config", "check", path]);
    expect(r.code).toBe(78);
    expect(r.stderr.trim()).toBe(
      `mcr: ${path}:6: outputs: output 1 "239.10.10.10:6001" is not group:port:interface or group:port:interface:ttl`,
    );
  });
  test("a missing file: exit 66", async () => {
    const r = await mcr(["config", "check", join(dir, "none.toml")]);
    expect(r.code).toBe(66);
    expect(r.stderr).toContain("cannot read the config file");
  });
});

describe("against a supervisor (fake workers)", () => {
  const IFS: Record<string, string> = { eth0: "10.0.0.2", eth1: "10.0.1.1", eth2: "10.0.2.1" };
  const lookup: LookupInterface = (n) => (n in IFS ? { name: n, ifindex: 5, ipv4: IFS[n] } : undefined);
  const socket = join(dir, "mcr.sock");
  let sup: Supervisor;
  beforeAll(async () => {
    sup = await Supervisor.start({
      interfaces: ["eth0"],
      socketPath: socket,
      controlServer: startControlServer,
      stateFile: join(dir, "state", "rules.json"),
      workers: 2,
      lookup,
      joinGroups: false,
      workerArgv: fakeWorkerArgv(),
    });
    const deadline = Date.now() + 5000;
    while (!(await call(socket, "status", {})).workers.every((w) => w.state === "ready")) {
      if (Date.now() > deadline) throw new Error("fake workers did not start");
      await Bun.sleep(20);
    }
  });
  afterAll(() => sup.stop());
  const s = ["--socket-path", socket];

  test("rule add prints the id; list shows the rule; remove takes it away", async () => {
    let r = await mcr([...add, "--outputs", "239.10.10.10:6001:eth1,10.0.2.7:7000:eth2:16", ...s]);
    expect(r).toEqual({ code: 0, stdout: "1\n", stderr: "" });
    r = await mcr(["rule", "list", ...s]);
    expect(r.code).toBe(0);
    expect(r.stdout.split("\n").slice(0, 3)).toEqual([
      "ID  INTERFACE  INPUT           OUTPUT                  TTL",
      "1   eth0       239.1.1.1:5001  239.10.10.10:6001:eth1  1",
      "                               10.0.2.7:7000:eth2      16",
    ]);
    r = await mcr(["rule", "list", "--json", ...s]);
    const list = JSON.parse(r.stdout);
    expect(list.rules).toEqual([
      {
        id: 1,
        inputInterface: "eth0",
        inputGroup: "239.1.1.1",
        inputPort: 5001,
        outputs: [
          { group: "239.10.10.10", port: 6001, interface: "eth1", ttl: 1 },
          { group: "10.0.2.7", port: 7000, interface: "eth2", ttl: 16 },
        ],
      },
    ]);
    expect(list.workers.length).toBe(2);
    r = await mcr(["rule", "remove", "1", ...s]);
    expect(r).toEqual({ code: 0, stdout: "removed rule 1\n", stderr: "" });
    r = await mcr(["rule", "remove", "1", ...s]);
    expect(r.code).toBe(65);
    expect(r.stderr.trim()).toBe("mcr: ID: no rule 1 (see mcr rule list)");
  });

  test("refusals the supervisor makes come back with the flag and 65", async () => {
    expect((await mcr([...withArg("--input-port", "5100"), ...s])).code).toBe(0);
    let r = await mcr([...withArg("--input-port", "5100"), ...s]);
    expect(r.code).toBe(65);
    expect(r.stderr).toMatch(/^mcr: --input-group: rule \d+ already relays 239\.1\.1\.1:5100 on eth0/);
    r = await mcr([...withArg("--outputs", "239.10.10.10:6001:eth7"), "--input-port", "5200", ...s]);
    expect(r.code).toBe(65);
    expect(r.stderr.trim()).toBe(
      "mcr: --outputs: output 1 (239.10.10.10:6001:eth7): no interface named eth7 on this host",
    );
    r = await mcr([...add, "--input-interface", "eth1", ...s]);
    expect(r.code).toBe(65);
    expect(r.stderr).toContain("mcr: --input-interface: the supervisor does not serve eth1 (it serves eth0)");
  });

  test("stats: the JSON report and the table", async () => {
    const id = Number((await mcr([...withArg("--input-port", "5300"), ...s])).stdout);
    let r = await mcr(["stats", "--json", ...s]);
    expect(r.code).toBe(0);
    const rep = JSON.parse(r.stdout);
    expect(rep.schema).toBe(1);
    expect(rep.totals.rxFrames).toBe(200);
    expect(rep.rules.find((x: { id: number }) => x.id === id)).toMatchObject({
      packets: 20,
      bytes: 2000,
      inputPort: 5300,
    });
    r = await mcr(["stats", "--interval", "0", ...s]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("drops\n  REASON   PACKETS\n  no_rule       10");
    expect(r.stdout).toMatch(/total: 200 frames in/);
    // By default the table measures rates over a second: nothing moves in the fake workers.
    r = await mcr(["stats", "--interval", "0.2", ...s]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("drops\n  REASON   PACKETS  PKT/S\n  no_rule       10    0.0");
    expect(r.stdout).toMatch(/rates over 0\.2 s: 0\.0 frames\/s in \(0\.00 Mbit\/s\)/);
  });
});

describe("the supervisor process", () => {
  const procs: ReturnType<typeof Bun.spawn>[] = [];
  afterEach(() => procs.splice(0).forEach((p) => p.kill("SIGKILL")));

  test("takes the socket (0660), refuses a second supervisor (69), leaves cleanly on SIGTERM", async () => {
    const socket = join(dir, "run", "sup.sock");
    const args = [
      "supervisor",
      "--interface",
      "lo",
      "--workers",
      "1",
      "--control-socket-path",
      socket,
      "--state-file",
      join(dir, "sup-state.json"),
      "--log-level",
      "warn",
    ];
    const p = Bun.spawn([process.execPath, MAIN, ...args], { stdout: "ignore", stderr: "pipe" });
    procs.push(p);
    const deadline = Date.now() + 10_000;
    while ((await mcr(["rule", "list", "--socket-path", socket])).code !== 0) {
      if (Date.now() > deadline || p.exitCode !== null)
        throw new Error(`supervisor did not come up: ${await new Response(p.stderr).text()}`);
      await Bun.sleep(100);
    }
    expect(statSync(socket).mode & 0o777).toBe(0o660);
    const second = await mcr(args);
    expect(second.code).toBe(69);
    expect(second.stderr.trim()).toBe(
      `mcr: a supervisor is already listening on ${socket}: stop it first, or give this one another --control-socket-path`,
    );
    p.kill("SIGTERM");
    expect(await p.exited).toBe(0);
    expect(existsSync(socket)).toBe(false);
  });
});
