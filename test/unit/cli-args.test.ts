// The command-line parser on its own: declared flags in, typed values or a usage error out.
import { describe, expect, test } from "bun:test";
import { parseFlags, UsageError } from "../../src/cli/args.ts";
import { closest, editDistance } from "../../src/cli/suggest.ts";
import { parseInteger } from "../../src/values/integer.ts";

const flags = {
  interface: { type: "string", multiple: true, valueHint: "IF", description: "" },
  workers: { type: "string", valueHint: "N", description: "", parse: (t: string, f: string) => parseInteger(t, f) },
  socket: { type: "string", alias: ["control-socket"], env: "T_SOCK", default: "/run/x", description: "" },
  json: { type: "boolean", short: "j", description: "" },
  mode: { type: "enum", options: ["a", "b"], default: "a", description: "" },
  file: { type: "positional", description: "" },
} as const;

const parse = (argv: string[], env: Record<string, string> = {}) => parseFlags("mcr t", flags, argv, env);

function usage(argv: string[]): string {
  try {
    parse(argv);
  } catch (e) {
    if (e instanceof UsageError && e.exitCode === 64) return e.message;
    throw e;
  }
  throw new Error(`no usage error for ${argv.join(" ")}`);
}

describe("parseFlags", () => {
  test("defaults when nothing is given", () => {
    expect(parse([])).toEqual({
      interface: [],
      workers: undefined,
      socket: "/run/x",
      json: false,
      mode: "a",
      file: undefined,
    });
  });
  test("every spelling: --name value, --name=value, an alias, a short switch, a positional", () => {
    expect(
      parse(["--interface", "a", "--interface=b", "--workers=3", "--control-socket", "/s", "-j", "f.toml"]),
    ).toEqual({ interface: ["a", "b"], workers: 3, socket: "/s", json: true, mode: "a", file: "f.toml" });
  });
  test("a single flag given twice keeps the last; a repeatable one keeps all, in order", () => {
    const r = parse(["--workers", "1", "--interface", "x", "--workers", "2", "--interface", "y", "--interface", "x"]);
    expect([r.workers, r.interface]).toEqual([2, ["x", "y", "x"]]);
  });
  test("the environment stands in for a flag that is absent, and only then", () => {
    expect(parse([], { T_SOCK: "/env" }).socket).toBe("/env");
    expect(parse(["--socket", "/flag"], { T_SOCK: "/env" }).socket).toBe("/flag");
    expect(parse([], { T_SOCK: "" }).socket).toBe("/run/x");
  });
  test("-- ends the options; a value may start with one dash", () => {
    expect(parse(["--", "--json"]).file).toBe("--json");
    expect(parse(["--interface", "-x"]).interface).toEqual(["-x"]);
  });
  test("refusals name the flag and, when one is close, suggest it", () => {
    expect(usage(["--worker", "2"])).toBe("unknown option --worker: did you mean --workers? (see mcr t --help)");
    expect(usage(["--interf", "a"])).toBe("unknown option --interf: did you mean --interface? (see mcr t --help)");
    expect(usage(["--frobnicate"])).toBe("unknown option --frobnicate (see mcr t --help)");
    expect(usage(["-x"])).toBe("unknown option -x (see mcr t --help)");
    expect(usage(["--workers"])).toBe("--workers needs a value (N) (see mcr t --help)");
    expect(usage(["--interface", "--json"])).toBe("--interface needs a value (IF) (see mcr t --help)");
    expect(usage(["--interface", "-j"])).toBe("--interface needs a value (IF) (see mcr t --help)");
    expect(usage(["--json=1"])).toBe("--json takes no value (see mcr t --help)");
    expect(usage(["--workers", "x"])).toBe('--workers: "x" is not an integer');
    expect(usage(["--mode", "c"])).toBe('--mode: unknown value "c" (use a or b)');
    expect(usage(["a", "b"])).toBe('unexpected argument "b" (see mcr t --help)');
  });
  test("a required flag or positional", () => {
    const req = { id: { type: "positional", required: true, valueHint: "ID", description: "" } } as const;
    expect(() => parseFlags("mcr r", req, [], {})).toThrow("missing ID (see mcr r --help)");
    const need = { dest: { type: "string", multiple: true, required: true, valueHint: "D", description: "" } } as const;
    expect(() => parseFlags("mcr g", need, [], {})).toThrow("--dest is required (D) (see mcr g --help)");
  });
});

describe("suggestions", () => {
  test("edit distance", () => {
    expect(editDistance("", "abc")).toBe(3);
    expect(editDistance("worker", "workers")).toBe(1);
    expect(editDistance("metrics-listn", "metrics-listen")).toBe(1);
    expect(editDistance("kitten", "sitting")).toBe(3);
  });
  test("close names only", () => {
    const known = ["--workers", "--ring-mb", "--interface", "--json"];
    expect(closest("--wrokers", known)).toBe("--workers");
    expect(closest("--jsn", known)).toBe("--json");
    expect(closest("--dry-run", known)).toBeUndefined();
    expect(closest("--x", known)).toBeUndefined();
  });
});
