// The state file against a hostile or failing file system (issue 11, point 7): symbolic links and
// planted temporaries, a failed write, a damaged file with a previous copy, a directory others can
// write to, and two supervisors on one state. (ENOSPC and read-only mounts: test/netns/state.test.ts.)
import { afterAll, afterEach, describe, expect, test } from "bun:test";
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { call } from "../../src/control/client.ts";
import { startControlServer } from "../../src/control/server.ts";
import { EX, McrError } from "../../src/errors.ts";
import { log } from "../../src/log.ts";
import type { Rule } from "../../src/types/rules.ts";
import { Supervisor } from "../../src/supervisor/service.ts";
import { loadState, prevPath, saveState, unusedPath } from "../../src/supervisor/state.ts";

log.level = -999;

const dir = mkdtempSync(join(tmpdir(), "mcr-state-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
/** A fresh private directory (0700, ours). */
const freshDir = () => {
  const d = join(dir, String(++n));
  mkdirSync(d, { mode: 0o700 });
  return d;
};

const rule = (id: number, port = 5000 + id): Rule => ({
  id,
  inputInterface: "eth0",
  inputGroup: "239.1.1.1",
  inputPort: port,
  outputs: [{ group: "239.10.10.10", port: 6000, interface: "eth1", ttl: 1 }],
});
const table = (...ids: number[]) => ({ nextId: Math.max(0, ...ids) + 1, rules: ids.map((i) => rule(i)) });
const thrown = (f: () => unknown) => {
  try {
    f();
  } catch (e) {
    return e as McrError;
  }
  return undefined;
};

describe("state file", () => {
  test("a state file that is a symbolic link is refused, not followed", () => {
    const d = freshDir();
    const elsewhere = join(freshDir(), "theirs.json");
    saveState(elsewhere, table(1, 2));
    symlinkSync(elsewhere, join(d, "rules.json"));
    const e = thrown(() => loadState(join(d, "rules.json")));
    expect(e).toBeInstanceOf(McrError);
    expect(e?.exitCode).toBe(EX.NOPERM);
    expect(e?.message).toContain("symbolic link");
  });

  test("a planted temporary (a symbolic link at any predictable name) is never written through", () => {
    const d = freshDir();
    const path = join(d, "rules.json");
    const victim = join(freshDir(), "victim");
    writeFileSync(victim, "untouched\n");
    // Every name a pid-based temporary could have, for this process and its neighbours.
    for (let p = Math.max(1, process.pid - 50); p <= process.pid + 50; p++)
      symlinkSync(victim, join(d, `.rules.json.${p}.tmp`));
    saveState(path, table(1));
    expect(readFileSync(victim, "utf8")).toBe("untouched\n");
    expect(loadState(path).rules.map((r) => r.id)).toEqual([1]);
  });

  test("a failed write leaves no temporary behind", () => {
    const d = freshDir();
    const path = join(d, "rules.json");
    mkdirSync(path); // a directory where the file should be: the rename fails
    writeFileSync(join(path, "x"), "");
    const e = thrown(() => saveState(path, table(1)));
    expect(e?.code).toBe("state_write");
    expect(readdirSync(d).sort()).toEqual(["rules.json"]);
  });

  test("each save keeps the table it replaces in PATH.prev", () => {
    const d = freshDir();
    const path = join(d, "rules.json");
    saveState(path, table(1));
    expect(existsSync(prevPath(path))).toBe(false);
    saveState(path, table(1, 2));
    expect(loadState(prevPath(path)).rules.map((r) => r.id)).toEqual([1]);
    expect(loadState(path).rules.map((r) => r.id)).toEqual([1, 2]);
  });

  test("a state file removed on purpose: the start has no rules, and its previous table is set aside", () => {
    const d = freshDir();
    const path = join(d, "rules.json");
    saveState(path, table(1));
    saveState(path, table(1, 2));
    rmSync(path);
    const warned: string[] = [];
    expect(loadState(path, (m) => warned.push(m)).rules).toEqual([]);
    expect(warned).toEqual([
      `the state file ${path} is missing: starting with no rules; its previous table is now ${unusedPath(path)}`,
    ]);
    expect(existsSync(prevPath(path))).toBe(false);
    expect(loadState(unusedPath(path)).rules.map((r) => r.id)).toEqual([1]);
    // The old table never comes back later: a damaged file after one save has no previous copy.
    saveState(path, table(3));
    writeFileSync(path, "{");
    expect(thrown(() => loadState(path))?.exitCode).toBe(EX.CONFIG);
  });

  for (const [what, damage] of [
    ["truncated", (t: string) => t.slice(0, Math.floor(t.length / 2))],
    ["corrupt", (t: string) => t.replace('"inputPort": 5002', '"inputPort": "x"')],
    ["empty", () => ""],
  ] as const)
    test(`a ${what} state file: the start uses the previous table, says so, and keeps the damaged one`, () => {
      const d = freshDir();
      const path = join(d, "rules.json");
      saveState(path, table(1));
      saveState(path, table(1, 2));
      const bad = damage(readFileSync(path, "utf8"));
      writeFileSync(path, bad);
      const warned: string[] = [];
      const t = loadState(path, (m) => warned.push(m));
      expect(t.rules.map((r) => r.id)).toEqual([1]);
      expect(warned).toHaveLength(1);
      expect(warned[0]).toContain(`the state file ${path} is damaged`);
      expect(warned[0]).toContain(prevPath(path));
      expect(readFileSync(`${path}.damaged`, "utf8")).toBe(bad);
      // A start that changes nothing saves nothing: the next one finds the same table.
      expect(loadState(path).rules.map((r) => r.id)).toEqual([1]);
      // The next save does not put the damaged table into PATH.prev.
      saveState(path, table(1, 3));
      expect(loadState(prevPath(path)).rules.map((r) => r.id)).toEqual([1]);
    });

  test("a damaged state file with no previous copy stops the start", () => {
    const d = freshDir();
    const path = join(d, "rules.json");
    writeFileSync(path, '{"format": "mcr-rules", "vers');
    const e = thrown(() => loadState(path));
    expect(e?.exitCode).toBe(EX.CONFIG);
    expect(e?.message).toContain(`the state file ${path} is damaged`);
    expect(readFileSync(path, "utf8")).toBe('{"format": "mcr-rules", "vers'); // left as it was
  });
});

describe("state directory and instance", () => {
  const running: Supervisor[] = [];
  afterEach(async () => {
    await Promise.all(running.splice(0).map((s) => s.stop()));
  });
  const start = async (stateFile: string, socket = join(freshDir(), "mcr.sock")) => {
    const sup = await Supervisor.start({
      interfaces: ["eth0"],
      socketPath: socket,
      stateFile,
      workers: 0,
      lookup: (name) => ({ name, ifindex: 10, ipv4: "192.0.2.1" }),
      joinGroups: false,
      controlServer: startControlServer,
    });
    running.push(sup);
    return { sup, socket };
  };

  test("a state directory other users can write to is refused", async () => {
    const d = freshDir();
    chmodSync(d, 0o777);
    const e = await start(join(d, "rules.json")).then(
      () => undefined,
      (x) => x as McrError,
    );
    expect(e?.exitCode).toBe(EX.NOPERM);
    expect(e?.message).toContain(`the directory ${d} is writable by other users`);
    chmodSync(d, 0o1777); // sticky, as /tmp: others cannot replace our files
    await start(join(d, "rules.json"));
  });

  test("a control socket directory other users can write to is refused (its socket could be swapped before the chown)", async () => {
    const d = freshDir();
    chmodSync(d, 0o777);
    const e = await start(join(freshDir(), "rules.json"), join(d, "mcr.sock")).then(
      () => undefined,
      (x) => x as McrError,
    );
    expect(e?.exitCode).toBe(EX.NOPERM);
    expect(e?.message).toContain(`the directory ${d} is writable by other users`);
    expect(e?.field).toBe("control-socket-path");
  });

  test("a second supervisor on the same state file leaves with a clear message; after the first stops it may start", async () => {
    const path = join(freshDir(), "rules.json");
    const first = await start(path);
    await call(first.socket, "rule.add", {
      inputGroup: "239.1.1.1",
      inputPort: 5001,
      outputs: [{ group: "239.10.10.10", port: 6000, interface: "eth1", ttl: 1 }],
    });
    const e = await start(path).then(
      () => undefined,
      (x) => x as McrError,
    );
    expect(e?.exitCode).toBe(EX.UNAVAILABLE);
    expect(e?.message).toBe(
      `another supervisor (pid ${process.pid}) uses the state file ${path}: stop it first, or give this one another --state-file`,
    );
    await first.sup.stop();
    running.splice(0);
    const second = await start(path);
    expect((await call(second.socket, "status", {})).rules).toBe(1);
  });
});
