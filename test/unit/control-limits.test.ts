// Limits of the control socket and the table (issue 11, point 9): a cap on connections (one more
// is told "busy", and a client is answered again once one closes), an idle timeout for a client
// that sends a partial line and nothing more, replies of any size, and no rule beyond the
// workers' counter slots. No root needed (fake workers: test/fixtures/fake-worker.ts).
import { afterAll, afterEach, describe, expect, test } from "bun:test";
import type { Socket } from "bun";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { call } from "../../src/control/client.ts";
import { LineFramer } from "../../src/control/framing.ts";
import type { Response } from "../../src/types/control.ts";
import { startControlServer } from "../../src/control/server.ts";
import type { ControlServer } from "../../src/types/control.ts";
import { EX, type McrError } from "../../src/errors.ts";
import { log } from "../../src/log.ts";
import { Supervisor } from "../../src/supervisor/service.ts";
import { fakeWorkerArgv } from "../helpers/fake-supervisor.ts";

log.level = -999;
const dir = mkdtempSync(join(tmpdir(), "mcr-limits-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
const fresh = (name: string) => join(dir, `${++n}-${name}`);

const servers: ControlServer[] = [];
const sockets: Socket<unknown>[] = [];
const sups: Supervisor[] = [];
afterEach(async () => {
  for (const s of sockets.splice(0)) s.end();
  for (const s of servers.splice(0)) s.close();
  await Promise.all(sups.splice(0).map((s) => s.stop()));
});

/** A raw connection: the lines it got, and whether the server closed it. */
async function connect(path: string) {
  const got: Response[] = [];
  const state = { closed: false };
  const framer = new LineFramer(
    1 << 24,
    (l) => got.push(JSON.parse(l)),
    () => {},
  );
  const s = await Bun.connect({
    unix: path,
    socket: {
      data: (_s, c) => framer.push(c),
      close: () => void (state.closed = true),
      error: () => void (state.closed = true),
    },
  });
  sockets.push(s as Socket<unknown>);
  return { s, got, state };
}

async function until(cond: () => boolean, ms = 3000): Promise<boolean> {
  for (const end = Date.now() + ms; Date.now() < end; await Bun.sleep(10)) if (cond()) return true;
  return cond();
}

const failure = (p: Promise<unknown>) =>
  p.then(
    () => undefined,
    (e) => e as McrError,
  );

describe("control socket limits", () => {
  test("at maxConnections a new client takes the longest-idle connection's place; the others stay", async () => {
    const path = fresh("mcr.sock");
    servers.push(await startControlServer(path, () => "pong", { maxConnections: 4 }));
    const held: Awaited<ReturnType<typeof connect>>[] = [];
    for (let i = 0; i < 4; i++) {
      held.push(await connect(path));
      await Bun.sleep(5); // an order of age
    }
    expect(await call(path, "status", {})).toBe("pong" as never);
    // The oldest was closed for it, told why; the three younger are open.
    expect(await until(() => held[0]!.state.closed)).toBe(true);
    expect(held[0]!.got).toEqual([
      {
        v: 1,
        id: null,
        ok: false,
        error: {
          code: "busy",
          message: "closed: the supervisor has 4 control connections open and this one was the longest idle",
        },
      },
    ] as never);
    expect(held.slice(1).map((h) => h.state.closed)).toEqual([false, false, false]);
  });

  test("at maxConnections with a request in flight on every one, a new client is told busy (75)", async () => {
    const path = fresh("mcr.sock");
    let release = () => {};
    const gate = new Promise<void>((r) => (release = r));
    servers.push(
      await startControlServer(
        path,
        async () => {
          await gate;
          return "pong";
        },
        { maxConnections: 4 },
      ),
    );
    const pending = [0, 1, 2, 3].map(() => call(path, "status", {}));
    await Bun.sleep(50);
    const e = await failure(call(path, "status", {}));
    expect(e?.code).toBe("busy");
    expect(e?.message).toBe("the supervisor has 4 control connections open, each with a request in flight: try again");
    expect(e?.exitCode).toBe(EX.TEMPFAIL);
    release();
    expect(await Promise.all(pending)).toEqual(["pong", "pong", "pong", "pong"] as never);
    expect(await call(path, "status", {})).toBe("pong" as never);
  });

  test("slow loris: 16 clients each holding a 64 KiB partial line are closed after idleMs; others are answered meanwhile", async () => {
    const path = fresh("mcr.sock");
    servers.push(await startControlServer(path, () => "pong", { idleMs: 300 }));
    const loris = await Promise.all(Array.from({ length: 16 }, () => connect(path)));
    const partial = Buffer.alloc(64 * 1024 - 1, 0x61); // no newline: the line never ends
    for (const l of loris) l.s.write(partial);
    const t0 = Date.now();
    expect(await call(path, "status", {})).toBe("pong" as never);
    expect(await until(() => loris.every((l) => l.state.closed), 3000)).toBe(true);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(250);
    expect(loris.every((l) => l.got.length === 0)).toBe(true);
  });

  test("a connection waiting on a slow reply is not idle", async () => {
    const path = fresh("mcr.sock");
    servers.push(await startControlServer(path, () => Bun.sleep(600).then(() => "late"), { idleMs: 200 }));
    expect(await call(path, "status", {})).toBe("late" as never);
  });

  test("a reply of 8 MiB reaches the client whole", async () => {
    const path = fresh("mcr.sock");
    const big = "x".repeat(8 << 20);
    servers.push(await startControlServer(path, () => big));
    expect(((await call(path, "status", {})) as unknown as string).length).toBe(big.length);
  });
});

describe("counter slots", () => {
  const start = async () => {
    const socket = fresh("mcr.sock");
    const sup = await Supervisor.start({
      interfaces: ["eth0"],
      socketPath: socket,
      stateFile: join(fresh("state"), "rules.json"),
      workers: 1,
      lookup: (name) => ({ name, ifindex: 5, ipv4: "10.0.0.2" }),
      joinGroups: false,
      controlServer: startControlServer,
      counterSlots: { rules: 3, outputs: 5 },
      workerArgv: fakeWorkerArgv(),
    });
    sups.push(sup);
    return socket;
  };
  const spec = (port: number, outputs: number) => ({
    inputGroup: "239.1.1.1",
    inputPort: port,
    outputs: Array.from({ length: outputs }, (_, i) => ({ group: "239.10.10.10", port: 6000 + i, interface: "eth1" })),
  });

  test("a rule beyond the rule slots, or with outputs beyond the output slots, is refused at add with the reason", async () => {
    const socket = await start();
    await call(socket, "rule.add", spec(5001, 3) as never);
    const tooMany = await failure(call(socket, "rule.add", spec(5002, 3) as never));
    expect(tooMany?.code).toBe("invalid_rule");
    expect(tooMany?.exitCode).toBe(EX.DATAERR);
    expect(tooMany?.field).toBe("outputs");
    expect(tooMany?.message).toBe("the table holds at most 5 outputs (counter slots): it has 3, and this rule adds 3");
    await call(socket, "rule.add", spec(5002, 1) as never);
    await call(socket, "rule.add", spec(5003, 1) as never);
    const full = await failure(call(socket, "rule.add", spec(5004, 1) as never));
    expect(full?.message).toBe("the table is full: it holds at most 3 rules (counter slots), and has 3");
    expect((await call(socket, "rule.list", {})).rules.map((r) => r.inputPort)).toEqual([5001, 5002, 5003]);
  });
});
