// The command tree of mcr, read from the citty command definitions in src/cli/*.ts, for the
// generated completions and man page. Tolerant of the definitions' shape: args and subCommands
// may be objects, promises or functions returning either (citty's Resolvable), and a file without
// a default command is skipped.
import { readdirSync } from "node:fs";
import { basename, join } from "node:path";

export interface Flag {
  name: string;
  aliases: string[];
  takesValue: boolean;
  choices: string[];
  description: string;
  valueHint: string;
  required: boolean;
}

export interface Positional {
  name: string;
  description: string;
  valueHint: string;
  required: boolean;
}

export interface Command {
  name: string;
  description: string;
  flags: Flag[];
  positionals: Positional[];
  subcommands: Command[];
}

type Resolvable = unknown;
const resolve = async (v: Resolvable): Promise<unknown> => (typeof v === "function" ? await v() : await v);
const text = (v: unknown) => (typeof v === "string" ? v : "");
const list = (v: unknown): string[] => (Array.isArray(v) ? v.map(String) : typeof v === "string" ? [v] : []);

async function walk(def: unknown, fallbackName: string): Promise<Command | undefined> {
  const cmd = (await resolve(def)) as Record<string, unknown> | undefined;
  if (!cmd || typeof cmd !== "object") return undefined;
  const meta = ((await resolve(cmd.meta)) ?? {}) as Record<string, unknown>;
  if (meta.hidden === true) return undefined;
  const args = ((await resolve(cmd.args)) ?? {}) as Record<string, Record<string, unknown>>;
  const flags: Flag[] = [];
  const positionals: Positional[] = [];
  for (const [name, a] of Object.entries(args)) {
    if (!a || typeof a !== "object") continue;
    const common = {
      name,
      description: text(a.description),
      valueHint: text(a.valueHint),
      required: a.required === true,
    };
    if (a.type === "positional") positionals.push(common);
    else flags.push({ ...common, aliases: list(a.alias), takesValue: a.type !== "boolean", choices: list(a.options) });
  }
  const subs = ((await resolve(cmd.subCommands)) ?? {}) as Record<string, unknown>;
  const subcommands: Command[] = [];
  for (const [name, sub] of Object.entries(subs)) {
    const c = await walk(sub, name);
    if (c) subcommands.push(c);
  }
  return {
    name: text(meta.name) || fallbackName,
    description: text(meta.description),
    flags,
    positionals,
    subcommands,
  };
}

/** The root: one subcommand per src/cli file that exports a command. */
export async function loadCommands(cliDir: string): Promise<Command> {
  const subcommands: Command[] = [];
  for (const file of readdirSync(cliDir).sort()) {
    if (!file.endsWith(".ts")) continue;
    const mod = (await import(join(cliDir, file))) as { default?: unknown };
    if (!mod.default) continue;
    const c = await walk(mod.default, basename(file, ".ts"));
    if (c) subcommands.push(c);
  }
  const bare = { takesValue: false, choices: [], valueHint: "", required: false };
  const help: Flag = { ...bare, name: "help", aliases: ["h"], description: "show help" };
  const version: Flag = { ...bare, name: "version", aliases: [], description: "print the version" };
  const root: Command = { name: "mcr", description: "multicast relay", flags: [], positionals: [], subcommands };
  for (const c of all(root)) c.flags.push(help);
  root.flags.push(help, version);
  return root;
}

export function* all(c: Command): Generator<Command> {
  for (const s of c.subcommands) {
    yield s;
    yield* all(s);
  }
}
