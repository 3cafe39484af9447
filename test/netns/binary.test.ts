// dist/mcr as an operator gets it: one file, copied anywhere, the shim inside it.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { copyFileSync, existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DIST } from "../helpers/mcr.ts";
import { Lab, sh } from "../helpers/lab.ts";
import { describeNetns } from "../helpers/suite.ts";
import { wrongInvocations } from "../unit/cli-cases.ts";

let dir: string;
let lab: Lab;
const haveDist = existsSync(DIST);

const TABLE = JSON.stringify({ type: "rules", version: 1, rules: [] }) + "\n";

/** Runs the copied binary as a worker on lo in the lab namespace, fed an empty rule table as a
 * supervisor would: it opens a ring (so the embedded shim must load), reports it, sees the end of
 * its input and exits 0. */
function runWorkerOnLo(bin: string, cwd: string, prefix: string[] = [], env: Record<string, string> = {}) {
  const envArgs = Object.entries(env).map(([k, v]) => `${k}=${v}`);
  return sh(
    [
      "ip",
      "netns",
      "exec",
      lab.ns("host"),
      ...prefix,
      "env",
      "-C",
      cwd,
      ...envArgs,
      bin,
      "worker",
      "--interface",
      "lo",
      "--ring-mb",
      "2",
    ],
    {
      timeoutMs: 15000,
      input: TABLE,
    },
  );
}

/** The worker's messages, and the state of lo once its table was in. */
function loState(stdout: string) {
  const msgs = stdout
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l));
  expect(msgs[0]).toMatchObject({ type: "ready", inputs: [{ interface: "lo" }] });
  const inputs = msgs.find((m) => m.type === "inputs");
  expect(msgs.some((m) => m.type === "applied" && m.version === 1)).toBe(true);
  return inputs?.inputs?.[0]?.state;
}

// One namespace for the whole file: every test runs a worker on its lo, one at a time.
describeNetns(
  "dist/mcr as shipped",
  () => {
    beforeAll(() => {
      dir = mkdtempSync(join(tmpdir(), "mcrt-bin-"));
      lab = new Lab();
      lab.addNs("host");
    });
    afterAll(async () => {
      await lab.destroy();
      rmSync(dir, { recursive: true, force: true });
    });

    test("copied alone into another directory, it runs and loads its embedded shim", () => {
      const bin = join(dir, "mcr");
      copyFileSync(DIST, bin);
      sh(["chmod", "755", bin]);
      expect(sh([bin, "--version"]).stdout.trim()).toMatch(/^\d+\.\d+\.\d+/);
      const r = runWorkerOnLo(bin, dir);
      expect(r.code).toBe(0);
      expect(loState(r.stdout)).toBe("up");
    });

    test("loads the shim with a noexec TMPDIR", () => {
      const bin = join(dir, "mcr");
      copyFileSync(DIST, bin);
      const tmp = join(dir, "noexec");
      sh(["mkdir", "-p", tmp]);
      // A private mount namespace: the noexec tmpfs exists for this command alone.
      const r = sh(
        [
          "unshare",
          "-m",
          "sh",
          "-c",
          `mount -t tmpfs -o noexec,nosuid tmpfs ${tmp} && ip netns exec ${lab.ns("host")} env TMPDIR=${tmp} ${bin} worker --interface lo --ring-mb 2`,
        ],
        { timeoutMs: 15000, input: TABLE },
      );
      expect(r.stderr).not.toContain("rror");
      expect(r.code).toBe(0);
      expect(loState(r.stdout)).toBe("up");
    });

    test("ignores bunfig.toml and .env in its working directory", () => {
      const bin = join(dir, "mcr");
      copyFileSync(DIST, bin);
      const marker = join(dir, "preloaded");
      writeFileSync(join(dir, "evil.ts"), `require("node:fs").writeFileSync(${JSON.stringify(marker)}, "x");\n`);
      writeFileSync(join(dir, "bunfig.toml"), `preload = ["./evil.ts"]\n`);
      writeFileSync(join(dir, ".env"), "MCR_LOG_LEVEL=silent\n");
      const r = runWorkerOnLo(bin, dir);
      expect(r.code).toBe(0);
      expect(existsSync(marker)).toBe(false);
      // Had .env been read, the log level would be silent and the ring's line would be missing.
      expect(r.stderr).toContain("lo: ring of");
    });
  },
  { skip: haveDist ? undefined : "dist/mcr is missing" },
);

test.if(haveDist)(
  "refuses every wrong invocation in the table with 64 and its message",
  async () => {
    const never = join(dir, "never.sock");
    const cases = wrongInvocations(join(dir, "nobody.sock"), never);
    const results = [];
    for (
      let i = 0;
      i < cases.length;
      i += 8 // a few at a time: the machine is shared
    )
      results.push(
        ...(await Promise.all(
          cases.slice(i, i + 8).map(async ([args, message]) => {
            const p = Bun.spawn([DIST, ...args], {
              stdout: "pipe",
              stderr: "pipe",
              env: { ...process.env, MCR_SOCKET: undefined, NO_COLOR: "1" },
            });
            const [stdout, stderr, code] = await Promise.all([
              new Response(p.stdout).text(),
              new Response(p.stderr).text(),
              p.exited,
            ]);
            // "" marks a command group without its command: its help goes to stderr
            const got = message === "" ? stderr.includes("Commands:") : stderr.trim();
            return { args, code, stdout, stderr: got };
          }),
        )),
      );
    expect(results).toEqual(
      cases.map(([args, message]) => ({ args, code: 64, stdout: "", stderr: message === "" ? true : message })),
    );
    expect(existsSync(never)).toBe(false);
  },
  30_000,
); // some 100 processes, 8 at a time, on a shared machine

test.if(!haveDist)("dist/mcr is built before the tests run", () => {
  throw new Error("dist/mcr is missing: run `make build` (make test does)");
});
