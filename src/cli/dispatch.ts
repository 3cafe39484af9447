// Finds the command argv names, answers --help at any depth, parses the command's flags
// strictly (args.ts) and runs it. Exit codes stay with main.ts.
import { parseFlags, UsageError } from "./args.ts";
import { useColor } from "./color.ts";
import type { Command } from "./command.ts";
import { renderHelp } from "./help.ts";
import { closest } from "./suggest.ts";

const HELP = new Set(["--help", "-h"]);

/** Flags before "--" only: `mcr gen -- --help` is not a request for help. */
const asksHelp = (argv: readonly string[]) => {
  const end = argv.indexOf("--");
  return (end < 0 ? argv : argv.slice(0, end)).some((a) => HELP.has(a));
};

export async function dispatch(root: Command, argv: readonly string[]): Promise<number | undefined> {
  let cmd = root;
  let path = root.meta.name;
  let rest = argv;
  while (cmd.subCommands) {
    const subs = cmd.subCommands;
    const first = rest[0];
    if (first === undefined) {
      process.stderr.write(await renderHelp(cmd, path, useColor(process.stderr)));
      return 64;
    }
    if (HELP.has(first)) {
      process.stdout.write(await renderHelp(cmd, path, useColor()));
      return 0;
    }
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
    cmd = await sub();
    path = `${path} ${first}`;
    rest = rest.slice(1);
  }
  if (asksHelp(rest)) {
    process.stdout.write(await renderHelp(cmd, path, useColor()));
    return 0;
  }
  const args = parseFlags(path, cmd.args ?? {}, rest);
  const r = await cmd.run?.({ args, path });
  return typeof r === "number" ? r : undefined;
}
