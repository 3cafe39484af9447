// The strict layer inside citty's walk of the command tree. citty's runCommand reads each
// command's argv with its own lenient parser (an unknown flag passes, a repeated flag keeps one
// value, no env, no short names) before that command's setup hook runs, and finds the next
// command by the first word that does not start with a dash. So the setup hook of every command
// group checks, against the declarations, what citty is about to read: the next word is one of
// the group's commands or --help; and when that command is not a group itself, its flags too
// (args.ts), before citty parses them. citty then resolves and runs the command, whose run gets
// the values parsed here. Exit codes stay with main.ts.
import { parseFlags, UsageError } from "./args.ts";
import { useColor } from "./color.ts";
import type { Command } from "./command.ts";
import { renderHelp } from "./help.ts";
import { closest } from "./suggest.ts";

const HELP = new Set(["--help", "-h"]);

/** Ends the walk with this exit status: help was given, or a group was named without its command. */
export class Finished extends Error {
  constructor(readonly code: number) {
    super(`finished (exit ${code})`);
    this.name = "Finished";
  }
}

interface Invocation {
  /** "mcr rule add": for messages and help. */
  path: string;
  /** The command's values, when its group's setup has parsed them. */
  args?: Record<string, unknown>;
}

// What each group's setup learnt about the command citty runs next. citty passes a command only
// its argv, so the path above it travels here.
const invocations = new WeakMap<Command, Invocation>();

/** Flags before "--" only: `mcr gen -- --help` is not a request for help. */
const asksHelp = (argv: readonly string[]) => {
  const end = argv.indexOf("--");
  return (end < 0 ? argv : argv.slice(0, end)).some((a) => HELP.has(a));
};

async function help(cmd: Command, path: string, code: number): Promise<never> {
  const out = code === 0 ? process.stdout : process.stderr;
  out.write(await renderHelp(cmd, path, useColor(out)));
  throw new Finished(code);
}

/** The setup hook of a command group: argv is what follows the group's name. */
export async function chooseSubCommand(group: Command, argv: readonly string[]): Promise<void> {
  const path = invocations.get(group)?.path ?? group.meta.name;
  const subs = group.subCommands ?? {};
  const first = argv[0];
  if (first === undefined) return help(group, path, 64);
  if (HELP.has(first)) return help(group, path, 0);
  const sub = Object.hasOwn(subs, first) ? subs[first] : undefined;
  if (!sub) {
    const visible: string[] = [];
    for (const [n, get] of Object.entries(subs)) if (!(await get()).meta.hidden) visible.push(n);
    const what = first.startsWith("-") ? `unknown option ${first}` : `unknown command ${JSON.stringify(first)}`;
    const near = closest(first, first.startsWith("-") ? [] : visible);
    throw new UsageError(
      `${what}${near ? `: did you mean ${near}?` : ""} (${path} takes a command: ${visible.join(", ")}; see ${path} --help)`,
    );
  }
  const cmd = await sub();
  const subPath = `${path} ${first}`;
  const rest = argv.slice(1);
  if (cmd.subCommands) {
    invocations.set(cmd, { path: subPath });
    return;
  }
  if (asksHelp(rest)) return help(cmd, subPath, 0);
  invocations.set(cmd, { path: subPath, args: parseFlags(subPath, cmd.args ?? {}, rest) });
}

/** The path and values of a command that citty is running, parsed by its group's setup. */
export function invocation(cmd: Command, argv: readonly string[]): Required<Invocation> {
  const known = invocations.get(cmd);
  if (known?.args) return { path: known.path, args: known.args };
  // Run on its own (runCommand on this very command): there was no group to parse it first.
  const path = known?.path ?? cmd.meta.name;
  return { path, args: parseFlags(path, cmd.args ?? {}, argv) };
}
