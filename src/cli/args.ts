// The one command-line parser (citty's parseArgs is lenient: it lets an unknown flag through,
// keeps one value of a repeated flag, and knows no env or short names). Strict: an unknown flag,
// a flag this command does not take, a missing value, a value given to a switch, or a stray
// argument is a usage error (exit 64) that names it, with "did you mean" when a known flag is
// close. `--name value`, `--name=value`, `-j`, and `--` (what follows is positional) are
// understood; a flag given twice keeps the last value unless it is declared `multiple`, which
// keeps them all.
import { EX, McrError } from "../errors.ts";
import { ValueError } from "../values/error.ts";
import type { Flag, Flags, Parsed } from "./command.ts";
import { closest } from "./suggest.ts";

export class UsageError extends McrError {
  constructor(message: string, field?: string) {
    super(message, EX.USAGE, field, "usage");
    this.name = "UsageError";
  }
}

const isPositional = (f: Flag) => f.type === "positional";

/** Every spelling of a flag: "--json", "-j", "--socket-path", "--control-socket-path". */
export function spellings(name: string, f: Flag): string[] {
  if (f.type === "positional") return [];
  return [`--${name}`, ...(f.alias ?? []).map((a) => `--${a}`), ...(f.short ? [`-${f.short}`] : [])];
}

/**
 * Parses argv against the flags of the command `path` (e.g. "mcr rule add"). `env` gives the
 * values of flags declared with `env` when they are not on the command line.
 */
export function parseFlags<A extends Flags>(
  path: string,
  flags: A,
  argv: readonly string[],
  env: Record<string, string | undefined> = process.env,
): Parsed<A> {
  const byName = new Map<string, [string, Flag]>();
  for (const [name, f] of Object.entries(flags)) for (const s of spellings(name, f)) byName.set(s, [name, f]);
  const known = [...byName.keys()].filter((s) => s.startsWith("--"));
  const help = `see ${path} --help`;
  const strings = new Map<string, string[]>();
  const switches = new Set<string>();
  const positionals: string[] = [];

  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] ?? "";
    if (a === "--") {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    // A word that starts with a dash is an option, as citty (node:util parseArgs) reads it too:
    // "-5" is a flag's value (--cpu -1) or comes after "--", never a positional of its own.
    if (!a.startsWith("-") || a === "-") {
      positionals.push(a);
      continue;
    }
    const eq = a.startsWith("--") ? a.indexOf("=") : -1;
    const spelled = eq < 0 ? a : a.slice(0, eq);
    const hit = byName.get(spelled);
    if (!hit) {
      const near = closest(spelled, known);
      throw new UsageError(
        `unknown option ${spelled}${near ? `: did you mean ${near}?` : ""} (${help})`,
        spelled.replace(/^-+/, ""),
      );
    }
    const [name, f] = hit;
    if (f.type === "boolean") {
      if (eq >= 0) throw new UsageError(`${spelled} takes no value (${help})`, name);
      switches.add(name);
      continue;
    }
    let value: string | undefined;
    if (eq >= 0) value = a.slice(eq + 1);
    else {
      const next = argv[i + 1];
      // "--interface --workers 2": the next flag is not the value.
      if (next === undefined || next.startsWith("--") || byName.has(next))
        throw new UsageError(`${spelled} needs a value${f.valueHint ? ` (${f.valueHint})` : ""} (${help})`, name);
      value = next;
      i++;
    }
    const list = strings.get(name) ?? [];
    list.push(value);
    strings.set(name, list);
  }

  const out: Record<string, unknown> = {};
  const declaredPositionals = Object.entries(flags).filter(([, f]) => isPositional(f));
  if (positionals.length > declaredPositionals.length)
    throw new UsageError(
      `unexpected argument ${JSON.stringify(positionals[declaredPositionals.length])}` +
        (declaredPositionals.length === 0 ? ` (${path} takes none; ${help})` : ` (${help})`),
    );
  declaredPositionals.forEach(([name, f], i) => {
    const v = positionals[i];
    if (v === undefined && f.type === "positional" && f.required)
      throw new UsageError(`missing ${f.valueHint ?? name.toUpperCase()} (${help})`, name);
    out[name] = v;
  });

  for (const [name, f] of Object.entries(flags)) {
    if (f.type === "positional") continue;
    const flag = `--${name}`;
    if (f.type === "boolean") {
      out[name] = switches.has(name);
      continue;
    }
    let given = strings.get(name);
    if (given === undefined && f.env !== undefined && env[f.env] !== undefined && env[f.env] !== "")
      given = [env[f.env] as string];
    if (given === undefined && f.type !== "enum" && f.multiple !== true && f.default !== undefined) given = [f.default];
    if (given === undefined && f.type === "enum" && f.default !== undefined) given = [f.default];
    if (given === undefined || given.length === 0) {
      if (f.required)
        throw new UsageError(`${flag} is required${f.valueHint ? ` (${f.valueHint})` : ""} (${help})`, name);
      out[name] = f.type === "string" && f.multiple === true ? [] : undefined;
      continue;
    }
    if (f.type === "enum") {
      const v = given[given.length - 1] ?? "";
      if (!f.options.includes(v)) {
        const opts =
          f.options.length > 1 ? `${f.options.slice(0, -1).join(", ")} or ${f.options.at(-1)}` : f.options[0];
        throw new UsageError(`${flag}: unknown ${f.what ?? "value"} ${JSON.stringify(v)} (use ${opts})`, name);
      }
      out[name] = v;
      continue;
    }
    const parse = (text: string) => {
      if (!f.parse) return text;
      try {
        return f.parse(text, flag);
      } catch (e) {
        throw asUsage(e, flag);
      }
    };
    out[name] = f.multiple === true ? given.map(parse) : parse(given[given.length - 1] ?? "");
  }
  return out as Parsed<A>;
}

/** A ValueError from a value parser, as the command line reports it: "--workers: ...", exit 64. */
export function asUsage(e: unknown, flag: string): unknown {
  if (e instanceof ValueError) return new UsageError(`${flag}: ${e.message}`, flag.replace(/^-+/, ""));
  return e;
}
