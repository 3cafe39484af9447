// How a command declares itself: a citty command (meta, args, subCommands, run), each flag
// declared once in `args`, where the fields citty does not know (a value parser, repeatable, an
// environment variable, a one-letter name) sit beside citty's own. citty walks the tree and runs
// the command (runCommand, from main.ts); the strict layer (strict.ts, each group's setup hook),
// the parser (args.ts) and the help (help.ts) read the same objects, so a flag cannot be known
// to one and unknown to another.
import { type ArgDef, type ArgsDef, type CommandDef, type CommandMeta, defineCommand as cittyCommand } from "citty";
import { chooseSubCommand, invocation } from "./strict.ts";

interface FlagBase {
  description: string;
  valueHint?: string;
  /** Other long names that mean the same flag ("control-socket-path" for "socket-path"). */
  alias?: readonly string[];
  /** A one-letter name: "j" for -j. (citty's `alias` would render a long alias as `-name`.) */
  short?: string;
  /** An environment variable that gives the value when the flag is absent. */
  env?: string;
  /** Left out of --help (internal flags). */
  hidden?: boolean;
}

export interface StringFlag<T = string> extends FlagBase {
  type: "string";
  default?: string;
  required?: boolean;
  multiple?: false;
  /** Turns the text into the value; throws a ValueError (exit 64, the flag named). */
  parse?: (text: string, flag: string) => T;
}

export interface ListFlag<T = string> extends FlagBase {
  type: "string";
  /** May be given more than once; every value is kept, in order. */
  multiple: true;
  required?: boolean;
  parse?: (text: string, flag: string) => T;
}

export interface EnumFlag<O extends string = string> extends FlagBase {
  type: "enum";
  options: readonly O[];
  default?: O;
  required?: boolean;
  /** What the value is, for the message: `unknown log format "xml" (use text or json)`. */
  what?: string;
}

export interface BooleanFlag extends FlagBase {
  type: "boolean";
}

export interface Positional {
  type: "positional";
  description: string;
  valueHint?: string;
  required?: boolean;
}

export type Flag = StringFlag<any> | ListFlag<any> | EnumFlag | BooleanFlag | Positional;
export type Flags = Record<string, Flag>;

/**
 * A flag as a command may declare it. citty reads a command's argv itself before any hook of the
 * command runs, and refuses what it takes to be missing: it counts a positional as required
 * unless it says `required: false`, and it knows neither `env` nor `short`. So a positional says
 * which it is, and a required flag is given by its long names only; the two readings then agree.
 */
export type CommandFlag =
  | (Exclude<Flag, Positional> & ({ required?: false } | { required: true; env?: never; short?: never }))
  | (Positional & { required: boolean });

type Writable<T> = { -readonly [K in keyof T]: NonNullable<T[K]> extends readonly (infer U)[] ? U[] : T[K] };

/**
 * The declarations as citty's ArgsDef: the same objects (citty only reads them), so the cast is
 * only of `readonly`; the return type checks that every kind of Flag is one of citty's ArgDefs.
 */
function forCitty(flags: Flags): ArgsDef {
  return flags as Record<string, Writable<Flag>> satisfies Record<string, ArgDef>;
}

type ValueOf<F> = F extends { parse: (t: string, f: string) => infer T } ? T : string;

/** The parsed value of each flag, typed from its declaration. */
export type Parsed<A extends Flags> = {
  [K in keyof A]: A[K] extends BooleanFlag
    ? boolean
    : A[K] extends ListFlag<any>
      ? ValueOf<A[K]>[]
      : A[K] extends EnumFlag<infer O>
        ? A[K] extends { default: string } | { required: true }
          ? O
          : O | undefined
        : A[K] extends { default: string } | { required: true }
          ? ValueOf<A[K]>
          : ValueOf<A[K]> | undefined;
};

/** citty's meta, less command aliases (the strict layer knows a command by its name). */
export interface Meta extends Omit<CommandMeta, "alias" | "version"> {
  name: string;
  description: string;
  /** Lines after the help's tables. */
  notes?: readonly string[];
}

/** A citty command, with its parts as plain values (not citty's Resolvable) for help and checks. */
export interface Command extends CommandDef<any> {
  meta: Meta;
  args?: Flags;
  subCommands?: Record<string, () => Promise<Command>>;
}

/** What a command file writes: its run gets the values the strict parser made, and its path. */
export interface Spec<A extends Record<string, CommandFlag>> {
  meta: Meta;
  args?: A;
  subCommands?: Record<string, () => Promise<Command>>;
  // A method, not a property: a Spec<{ id: ... }> then stands where a Spec is expected.
  run?(ctx: { args: Parsed<A>; path: string }): unknown;
}

export function defineCommand<const A extends Record<string, CommandFlag>>(spec: Spec<A>): Command {
  const { meta, args, subCommands, run } = spec;
  const cmd: Command = cittyCommand({
    meta,
    ...(args ? { args: forCitty(args) } : {}),
    ...(subCommands ? { subCommands, setup: ({ rawArgs }) => chooseSubCommand(cmd, rawArgs) } : {}),
    ...(run
      ? {
          run: ({ rawArgs }) => {
            const { path, args: values } = invocation(cmd, rawArgs);
            return run({ args: values as Parsed<A>, path });
          },
        }
      : {}),
  }) as Command;
  return cmd;
}

/** For lazy sub-commands: () => load(import("./rule.ts")). */
export const load = <T extends { default: Command }>(p: Promise<T>) => p.then((m) => m.default);
