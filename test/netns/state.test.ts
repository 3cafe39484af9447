// The state file on a file system that fails (issue 11, point 7): a full disk (a 16 KiB tmpfs) on
// rule add and at a start whose config differs from the state, and a read-only state directory.
// The supervisor runs in this process with no workers; needs root (mount).
import { afterEach, beforeAll, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { call } from "../../src/control/client.ts";
import { startControlServer } from "../../src/control/server.ts";
import { loadConfig } from "../../src/config/load.ts";
import { EX, type McrError } from "../../src/errors.ts";
import { log } from "../../src/log.ts";
import { Supervisor } from "../../src/supervisor/service.ts";
import { saveState } from "../../src/supervisor/state.ts";
import { sh } from "../helpers/lab.ts";
import { describeNetns } from "../helpers/suite.ts";

const said: string[] = [];
beforeAll(() => {
  log.level = 3; // warnings and info, whatever another test file set
  log.setReporters([{ log: (o) => said.push(`${o.type}: ${o.args.map(String).join(" ")}`) }]);
});

let base: string | undefined;
const running: Supervisor[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((s) => s.stop()));
  if (base) {
    sh(["umount", "-l", join(base, "state")]);
    rmSync(base, { recursive: true, force: true });
  }
  base = undefined;
  said.length = 0;
});

/** A private directory with a tmpfs of `size` bytes at base/state. */
function tinyDisk(size: string): string {
  base = mkdtempSync(join(tmpdir(), "mcrt-state-"));
  const d = join(base, "state");
  mkdirSync(d, { mode: 0o755 });
  const r = sh(["mount", "-t", "tmpfs", "-o", `size=${size},mode=0755`, "tmpfs", d]);
  if (r.code !== 0) throw new Error(`mount: ${r.stderr}`);
  return d;
}

/** Fills the file system at d to the last block. */
function fill(d: string): void {
  sh(["sh", "-c", `dd if=/dev/zero of=${d}/filler bs=1k 2>/dev/null; sync`]);
}

const lookup = (name: string) => ({ name, ifindex: 10, ipv4: "192.0.2.1" });
async function start(stateFile: string, configText?: string) {
  const socket = join(base!, `${running.length}.sock`);
  let config;
  if (configText !== undefined) {
    const p = join(base!, "mcr.toml");
    writeFileSync(p, configText);
    config = loadConfig(p, { interfaces: ["eth0"] });
  }
  const sup = await Supervisor.start({
    interfaces: ["eth0"],
    socketPath: socket,
    stateFile,
    workers: 0,
    lookup,
    joinGroups: false,
    controlServer: startControlServer,
    ...(config ? { config } : {}),
  });
  running.push(sup);
  return socket;
}

const outputs = (n: number) =>
  Array.from({ length: n }, (_, i) => ({ group: "239.10.10.10", port: 6000 + i, interface: "eth1", ttl: 1 }));
const spec = (port: number, n = 1) => ({ inputGroup: "239.1.1.1", inputPort: port, outputs: outputs(n) });
const failure = (p: Promise<unknown>) =>
  p.then(
    () => undefined,
    (e) => e as McrError,
  );
/** What the directory holds apart from the lock and the filler. */
const files = (d: string) =>
  readdirSync(d)
    .filter((f) => f !== "filler" && f !== "rules.json.lock")
    .sort();

describeNetns("state file on a failing file system", () => {
  test("ENOSPC on rule add: refused as state_write, no temporary left, table and file unchanged", async () => {
    const d = tinyDisk("16k");
    const path = join(d, "rules.json");
    const socket = await start(path);
    await call(socket, "rule.add", spec(5001));
    const before = readFileSync(path, "utf8");
    // 256 outputs are ~25 KiB of JSON: more than the disk holds.
    const e = await failure(call(socket, "rule.add", spec(5002, 256)));
    expect(e?.code).toBe("state_write");
    expect(e?.exitCode).toBe(EX.CANTCREAT);
    expect(e?.message).toContain("ENOSPC");
    expect(files(d)).toEqual(["rules.json"]);
    expect(readFileSync(path, "utf8")).toBe(before);
    expect((await call(socket, "rule.list", {})).rules.map((r) => r.inputPort)).toEqual([5001]);
    // Space again: the next change succeeds.
    await call(socket, "rule.add", spec(5003));
    expect((await call(socket, "rule.list", {})).rules.map((r) => r.inputPort)).toEqual([5001, 5003]);
  });

  test("ENOSPC at a start whose config differs from the state: it starts with the config's rules, and warns", async () => {
    const d = tinyDisk("16k");
    const path = join(d, "rules.json");
    saveState(path, { nextId: 1, rules: [] });
    fill(d);
    const socket = await start(
      path,
      `interfaces = ["eth0"]\n[[rule]]\ninput_group = "239.1.1.1"\ninput_port = 5001\noutputs = ["239.10.10.10:6001:eth1"]\n`,
    );
    expect((await call(socket, "rule.list", {})).rules.map((r) => [r.inputPort, r.origin])).toEqual([[5001, "config"]]);
    expect(said.filter((l) => l.startsWith("warn") && l.includes("starting with the table in memory"))).toHaveLength(1);
    expect(files(d)).toEqual(["rules.json"]);
    expect(JSON.parse(readFileSync(path, "utf8")).rules).toEqual([]);
  });

  test("a read-only state directory: the start restores the rules, a change is refused, a second supervisor is kept off", async () => {
    const d = tinyDisk("64k");
    const path = join(d, "rules.json");
    saveState(path, { nextId: 2, rules: [{ id: 1, inputInterface: "eth0", ...spec(5001) }] });
    rmSync(join(d, "rules.json.lock"), { force: true });
    expect(sh(["mount", "-o", "remount,ro", d]).code).toBe(0);
    const socket = await start(path);
    expect((await call(socket, "rule.list", {})).rules.map((r) => r.id)).toEqual([1]);
    const e = await failure(call(socket, "rule.add", spec(5002)));
    expect(e?.code).toBe("state_write");
    expect(e?.message).toContain("EROFS");
    expect((await call(socket, "rule.list", {})).rules.map((r) => r.id)).toEqual([1]);
    const second = await failure(start(path));
    expect(second?.exitCode).toBe(EX.UNAVAILABLE);
    expect(second?.message).toContain(`uses the state file ${path}`);
  });
});
