// How a command declares itself: its flags once, with their types, and its run function. The
// parser (args.ts), the help (help.ts) and the dispatcher (dispatch.ts) all read this one
// declaration, so a flag cannot be known to one and unknown to another.

interface FlagBase {
  description: string;
  valueHint?: string;
  /** Other long names that mean the same flag ("control-socket-path" for "socket-path"). */
  alias?: readonly string[];
  /** A one-letter name: "j" for -j. */
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

type ValueOf<F> = F extends { parse: (t: string, f: string) => infer T } ? T : string;

/** The parsed value of each flag, typed from its declaration. */
export type Parsed<A extends Flags> = {
  [K in keyof A]: A[K] extends BooleanFlag
    ? boolean
    : A[K] extends ListFlag
      ? ValueOf<A[K]>[]
      : A[K] extends EnumFlag<infer O>
        ? A[K] extends { default: string } | { required: true }
          ? O
          : O | undefined
        : A[K] extends { default: string } | { required: true }
          ? ValueOf<A[K]>
          : ValueOf<A[K]> | undefined;
};

export interface Meta {
  name: string;
  description: string;
  hidden?: boolean;
  /** Lines after the help's tables. */
  notes?: readonly string[];
}

export interface Command<A extends Flags = Flags> {
  meta: Meta;
  args?: A;
  subCommands?: Record<string, () => Promise<Command>>;
  // A method, not a property: a Command<{ id: ... }> then stands where a Command is expected.
  run?(ctx: { args: Parsed<A>; path: string }): unknown;
}

export function defineCommand<const A extends Flags>(c: Command<A>): Command<A> {
  return c;
}

/** For lazy sub-commands: () => load(import("./rule.ts")). */
export const load = <T extends { default: unknown }>(p: Promise<T>) => p.then((m) => m.default as Command);
