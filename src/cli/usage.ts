import type { CommandDef } from "citty";

type AnyCommand = CommandDef<any>;

/** Finds the (sub)command named by argv, for --help at any depth. */
export async function resolveSubCommand(
  cmd: AnyCommand,
  argv: string[],
  parent?: AnyCommand,
): Promise<[AnyCommand, AnyCommand | undefined]> {
  const subs = typeof cmd.subCommands === "function" ? await cmd.subCommands() : await cmd.subCommands;
  const name = argv.find((a) => !a.startsWith("-"));
  if (subs && name && name in subs) {
    const sub = (subs as Record<string, unknown>)[name];
    const resolved = (typeof sub === "function" ? await (sub as () => Promise<AnyCommand>)() : await sub) as AnyCommand;
    return resolveSubCommand(resolved, argv.slice(argv.indexOf(name) + 1), cmd);
  }
  return [cmd, parent];
}
