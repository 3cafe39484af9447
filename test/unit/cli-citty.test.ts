// The strict layer inside citty's runCommand: a small tree of commands declared once, walked and
// run by citty, with the strict parser's values reaching run and its refusals coming first.
import { describe, expect, test } from "bun:test";
import { parseArgs, runCommand } from "citty";
import { UsageError } from "../../src/cli/args.ts";
import { defineCommand } from "../../src/cli/command.ts";
import { Finished } from "../../src/cli/strict.ts";
import { parseInteger } from "../../src/values/integer.ts";

let seen: { path: string; args: unknown } | undefined;
const leaf = defineCommand({
  meta: { name: "add", description: "a leaf" },
  args: {
    n: { type: "string", required: true, valueHint: "N", description: "", parse: (t, f) => parseInteger(t, f) },
    tag: { type: "string", multiple: true, description: "" },
    sock: { type: "string", alias: ["socket"], env: "T_CITTY_SOCK", default: "/d", description: "" },
    json: { type: "boolean", short: "j", description: "" },
    mode: { type: "enum", options: ["a", "b"], default: "a", description: "" },
    id: { type: "positional", required: true, valueHint: "ID", description: "" },
  },
  run({ args, path }) {
    seen = { path, args };
  },
});
const group = defineCommand({ meta: { name: "grp", description: "a group" }, subCommands: { add: async () => leaf } });
const root = defineCommand({ meta: { name: "t", description: "the root" }, subCommands: { grp: async () => group } });

async function run(argv: string[]): Promise<unknown> {
  seen = undefined;
  try {
    await runCommand(root, { rawArgs: argv });
    return seen;
  } catch (e) {
    if (e instanceof UsageError) return `usage: ${e.message}`;
    if (e instanceof Finished) return `finished ${e.code}`;
    throw e;
  }
}

describe("citty walks, the strict layer checks", () => {
  test("the values run gets are the strict parser's: typed, repeatable, short, env, --x=v", async () => {
    process.env.T_CITTY_SOCK = "/env";
    try {
      expect(await run(["grp", "add", "--n=7", "--tag", "x", "-j", "--tag", "y", "5"])).toEqual({
        path: "t grp add",
        args: { n: 7, tag: ["x", "y"], sock: "/env", json: true, mode: "a", id: "5" },
      });
    } finally {
      delete process.env.T_CITTY_SOCK;
    }
    expect(((await run(["grp", "add", "--n", "1", "--socket", "/s", "9"])) as { args: unknown }).args).toMatchObject({
      sock: "/s",
    });
  });
  test("refusals come before citty's own reading, named with the full path", async () => {
    expect(await run(["grp", "add", "5"])).toBe("usage: --n is required (N) (see t grp add --help)");
    expect(await run(["grp", "add", "--n", "1"])).toBe("usage: missing ID (see t grp add --help)");
    expect(await run(["grp", "add", "--n", "1", "--mode", "c", "5"])).toBe(
      'usage: --mode: unknown value "c" (use a or b)',
    );
    expect(await run(["grp", "add", "--nn", "1", "5"])).toBe(
      "usage: unknown option --nn: did you mean --n? (see t grp add --help)",
    );
    expect(await run(["grp", "add", "--n", "1", "-5"])).toBe("usage: unknown option -5 (see t grp add --help)");
    expect(await run(["grp", "ad"])).toBe(
      'usage: unknown command "ad": did you mean add? (t grp takes a command: add; see t grp --help)',
    );
    expect(await run(["--n", "1", "grp"])).toBe("usage: unknown option --n (t takes a command: grp; see t --help)");
  });
  test("help at any depth ends the walk with 0; a group without its command, with 64", async () => {
    const write = process.stdout.write;
    const ewrite = process.stderr.write;
    process.stdout.write = process.stderr.write = () => true;
    try {
      expect(await run(["--help"])).toBe("finished 0");
      expect(await run(["grp", "-h"])).toBe("finished 0");
      expect(await run(["grp", "add", "--n", "x", "--help"])).toBe("finished 0");
      expect(await run(["grp"])).toBe("finished 64");
    } finally {
      process.stdout.write = write;
      process.stderr.write = ewrite;
    }
  });
  test("citty's own parse accepts what the strict layer accepted (it runs on the same declaration)", () => {
    for (const argv of [
      ["--n", "1", "5"],
      ["--n=-1", "-j", "--", "-5"],
      ["--tag", "-x", "--n", "2", "-"],
    ])
      expect(() => parseArgs(argv, leaf.args as never)).not.toThrow();
  });
});
