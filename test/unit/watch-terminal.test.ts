// `mcr stats --watch` (dist/mcr) under a pseudo-terminal of a known size (tmux): no supervisor at
// the start (exit 69, the terminal untouched), a view that fits 80x24 and follows a resize, a
// supervisor that goes away and comes back, and q, Ctrl-C and SIGTERM leaving the terminal as it
// was. The supervisor runs in this process with fake workers (test/helpers/fake-supervisor.ts).
import { afterAll, afterEach, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { call } from "../../src/control/client.ts";
import { log } from "../../src/log.ts";
import { sameSupervisor, withRates } from "../../src/stats/rates.ts";
import { ANSI, truncate, waitFrame, watchFrame } from "../../src/stats/render.ts";
import type { Supervisor } from "../../src/supervisor/service.ts";
import { startFakeSupervisor } from "../helpers/fake-supervisor.ts";
import { mcrArgv } from "../helpers/mcr.ts";
import { hasTmux, Terminal } from "../helpers/terminal.ts";

log.level = -999;
const dir = mkdtempSync(join(tmpdir(), "mcr-watch-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
const fresh = (name: string) => join(dir, `${++n}-${name}`);

const running: Supervisor[] = [];
const terminals: Terminal[] = [];
afterEach(async () => {
  await Promise.all(terminals.splice(0).map((t) => t.close()));
  await Promise.all(running.splice(0).map((s) => s.stop()));
});

async function supervisor(socket = fresh("mcr.sock"), rules = 0, firstPort = 5001) {
  const sup = await startFakeSupervisor({ socket, stateFile: join(fresh("state"), "rules.json") });
  running.push(sup);
  for (let i = 0; i < rules; i++)
    await call(socket, "rule.add", {
      inputGroup: "239.1.1.1",
      inputPort: firstPort + i,
      outputs: [{ group: "239.10.10.10", port: 6001 + i, interface: "eth1", ttl: 1 }],
    });
  return { sup, socket };
}

const strip = (s: string) => s.replace(/\x1b\[[0-?]*[ -/]*[@-~]/g, "");

/** The frames drawn whole (home ... clear below), as the lines a terminal shows, escapes removed. */
function frames(raw: string): string[][] {
  return raw
    .split(ANSI.home)
    .slice(1)
    .filter((f) => f.includes(ANSI.clearBelow))
    .map((f) => strip(f.slice(0, f.indexOf(ANSI.clearBelow))).split("\n"));
}

const fits = (lines: string[], columns: number, rows: number) =>
  lines.length <= rows && lines.every((l) => Bun.stringWidth(l) <= columns);

/** The terminal after the command: main screen, cursor shown, line mode and echo back. */
async function expectRestored(t: Terminal) {
  expect(await t.format("#{alternate_on} #{cursor_flag}")).toBe("0 1");
  const modes = t.file("stty").split(/[\s;]+/);
  expect(modes).toContain("icanon");
  expect(modes).toContain("echo");
}

async function watchIn(socket: string, columns: number, rows: number) {
  const t = new Terminal();
  terminals.push(t);
  await t.start([...mcrArgv(), "stats", "--watch", "--interval", "0.2", "--socket-path", socket], columns, rows);
  return t;
}

describe("the live view's frame, at a size", () => {
  test("fits any size: no line wider than the screen less one column, no more lines than rows", async () => {
    const { socket } = await supervisor(undefined, 12);
    const a = await call(socket, "stats", {});
    for (const [columns, rows] of [
      [80, 24],
      [120, 40],
      [60, 15],
      [20, 5],
      [200, 200],
    ] as const) {
      const f = watchFrame(a, { socketPath: socket, everySeconds: 1, color: true, columns, rows });
      const lines = strip(f.slice(ANSI.home.length, f.indexOf(ANSI.clearBelow))).split("\n");
      expect(lines.length).toBeLessThanOrEqual(rows);
      for (const l of lines) expect(Bun.stringWidth(l)).toBeLessThanOrEqual(columns - 1);
      expect(f).not.toContain("\n" + ANSI.clearBelow); // nothing after the last line to scroll
    }
    // 80x24: 12 rules and 12 outputs do not fit; the rows shown and the "… N more" add up to them.
    const f = strip(watchFrame(a, { socketPath: socket, everySeconds: 1, color: false, columns: 80, rows: 24 }));
    const lines = f.split("\n");
    expect(lines.length).toBe(24);
    const ruleRows = lines.filter((l) => /^ {2}\d+\s+eth0 239\.1\.1\.1:50\d\d/.test(l)).length;
    const moreRules = Number(/… (\d+) more rules/.exec(f)?.[1]);
    expect(ruleRows + moreRules).toBe(12);
    expect(ruleRows).toBeGreaterThan(0); // the blanks between sections give way before the rows do
    expect(f).not.toContain("\n\n");
    const outputRows = lines.filter((l) => /^ {2}\d+\s+239\.10\.10\.10:60\d\d:eth1/.test(l)).length;
    expect(outputRows + Number(/… (\d+) more outputs/.exec(f)?.[1])).toBe(12);
    expect(lines.at(-1)).toStartWith("total:"); // the totals stay in view
    // Room enough: the whole report, nothing cut.
    const whole = strip(watchFrame(a, { socketPath: socket, everySeconds: 1, color: false, columns: 300, rows: 100 }));
    expect(whole).not.toContain("more");
    expect(whole).not.toContain("…");
  });

  test("no rates across a restart: a successor's report starts a new count", async () => {
    const { socket } = await supervisor(undefined, 1);
    const a = await call(socket, "stats", {});
    const later = structuredClone(a);
    later.at = new Date(Date.parse(a.at) + 2000).toISOString();
    later.uptimeSeconds = a.uptimeSeconds + 2;
    later.totals.rxFrames += 100;
    expect(sameSupervisor(a, later)).toBe(true);
    expect(withRates(a, later).intervalSeconds).toBe(2);
    const successor = { ...structuredClone(later), uptimeSeconds: 0 };
    successor.totals.rxFrames = 10;
    expect(sameSupervisor(a, successor)).toBe(false);
    expect(withRates(a, successor).intervalSeconds).toBeUndefined();
    // Counters lower with the uptime still higher (a restart between two reports a second apart).
    const quick = structuredClone(later);
    quick.totals.rxFrames = a.totals.rxFrames - 1;
    expect(withRates(a, quick).intervalSeconds).toBeUndefined();
  });

  test("a cut line ends in …, colour closed; wide characters count two columns", () => {
    expect(truncate("abcdef", 6)).toBe("abcdef");
    expect(truncate("abcdefg", 6)).toBe("abcde…");
    expect(truncate("\x1b[1;31mabcdefg\x1b[0m", 4)).toBe("\x1b[1;31mabc…\x1b[0m");
    expect(truncate("日本語です", 5)).toBe("日本…");
    expect(Bun.stringWidth(truncate("日本語です", 5))).toBe(5);
  });

  test("the waiting frame says the supervisor is gone, since when, and fits", () => {
    const since = new Date("2025-01-01T10:00:00");
    const f = waitFrame({
      socketPath: "/run/mcr/control.sock",
      everySeconds: 1,
      error: "no supervisor is listening on /run/mcr/control.sock",
      since,
      tries: 3,
      columns: 40,
      rows: 3,
    });
    const lines = strip(f).split("\n");
    expect(lines.length).toBe(3);
    for (const l of lines) expect(Bun.stringWidth(l)).toBeLessThanOrEqual(39);
    const full = strip(waitFrame({ socketPath: "/s", everySeconds: 1, error: "gone", since, tries: 3 }));
    expect(full).toContain("the supervisor is gone: gone");
    expect(full).toContain(`asked 3 time(s) since ${since.toTimeString().slice(0, 8)}`);
  });
});

describe.skipIf(!hasTmux)(hasTmux ? "mcr stats --watch in a terminal" : "mcr stats --watch [skipped: no tmux]", () => {
  test("no supervisor at the start: exit 69, the reason on stderr, the terminal untouched", async () => {
    const t = await watchIn(fresh("none.sock"), 80, 24);
    const code = await t.until("the exit", () => t.exitCode(), 5000);
    expect(code).toBe(69);
    expect(t.file("stderr")).toContain("mcr: no supervisor is listening on");
    expect(t.raw()).not.toContain(ANSI.altScreen);
    await expectRestored(t);
  }, 30_000);

  test("80x24: no line wraps, nothing scrolls, cut tables say how many more; follows a resize; q leaves", async () => {
    const { socket } = await supervisor(undefined, 12);
    const t = await watchIn(socket, 80, 24);
    await t.until("three frames", () => frames(t.raw()).length >= 3);
    for (const f of frames(t.raw())) expect(fits(f, 80, 24)).toBe(true);
    const screen = await t.screen();
    expect(screen.length).toBe(24);
    for (const l of screen) expect(Bun.stringWidth(l)).toBeLessThanOrEqual(80);
    expect(screen[0]).toStartWith(`mcr `); // the head is still on top: nothing scrolled
    expect(screen.join("\n")).toMatch(/… \d+ more rules/);
    expect(screen.join("\n")).toContain("PKT/S");
    expect(screen.some((l) => l.startsWith("total:"))).toBe(true);

    await t.resize(60, 15);
    const seen = frames(t.raw()).length;
    await t.until("a frame at 60x15", () => {
      const f = frames(t.raw()).slice(seen);
      return f.length >= 2 && fits(f.at(-1)!, 60, 15);
    });
    const small = await t.screen();
    expect(small.length).toBe(15);
    expect(small[0]).toStartWith("mcr ");
    for (const l of small) expect(Bun.stringWidth(l)).toBeLessThanOrEqual(60);

    await t.keys("q");
    expect(await t.until("the exit", () => t.exitCode(), 5000)).toBe(0);
    await expectRestored(t);
  }, 30_000);

  test("the supervisor goes away: the screen says so and waits; a new one on the socket brings the view back; Ctrl-C leaves", async () => {
    const first = await supervisor(undefined, 1);
    const t = await watchIn(first.socket, 80, 24);
    await t.until("the view", async () => (await t.screen()).join("\n").includes("239.1.1.1:5001"));
    await first.sup.stop();
    running.splice(running.indexOf(first.sup), 1);
    const gone = await t.until("the waiting screen", async () => {
      const s = await t.screen();
      return s.join("\n").includes("the supervisor is gone") ? s : undefined;
    });
    expect(gone[0]).toStartWith("mcr on ");
    expect(gone.join("\n")).toContain("no supervisor is listening on");
    expect(gone.join("\n")).toContain("waiting for it to come back");
    expect(t.exitCode()).toBeUndefined(); // still waiting, not ended
    const tries = async () => Number(/asked (\d+) time/.exec((await t.screen()).join("\n"))?.[1]);
    const before = await tries();
    await t.until("more tries", async () => (await tries()) > before);

    await supervisor(first.socket, 1, 5099);
    const back = await t.until("the view again", async () => {
      const s = (await t.screen()).join("\n");
      return s.includes("239.1.1.1:5099") ? s : undefined;
    });
    expect(back).not.toContain("the supervisor is gone");
    await t.until("rates from the new supervisor", async () => (await t.screen()).join("\n").includes("PKT/S"));

    await t.keys("C-c");
    expect(await t.until("the exit", () => t.exitCode(), 5000)).toBe(0);
    await expectRestored(t);
  }, 30_000);

  test("SIGTERM leaves cleanly: exit 0, the terminal restored", async () => {
    const { socket } = await supervisor(undefined, 1);
    const t = await watchIn(socket, 80, 24);
    await t.until("a frame", () => frames(t.raw()).length >= 1);
    process.kill(await t.pid(), "SIGTERM");
    expect(await t.until("the exit", () => t.exitCode(), 5000)).toBe(0);
    await expectRestored(t);
  }, 30_000);
});
