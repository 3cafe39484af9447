// One consola instance for the process; components take a tagged child (withTag("supervisor"),
// withTag("worker:3")). Logs go to stderr: a worker's stdout carries its protocol.
//
// Formats (--log-format, MCR_LOG_FORMAT for the workers, which inherit it):
//   text    consola's own lines; under systemd (JOURNAL_STREAM names our stderr) each line starts
//           with the journald priority, "<6>[supervisor] listening on ...", so `journalctl -p warning`
//           works and consola's icons stay out of the journal.
//   logfmt  one line of key=value pairs with a timestamp: time=... level=info tag=supervisor
//           msg="..." worker=0 pid=123. The default where stderr is neither a terminal nor the
//           journal (a file, a pipe, a container's log), where a line without a time is no use.
//   json    one object per line: {"time","level","tag","message", ...fields}.
//
// Fields: a call site that knows what a line is about passes fields({ rule, name, interface,
// worker, pid, errno }) among its arguments; json and logfmt carry them as keys, text leaves them
// out. `pid` is the process the line is about (a worker's, when the supervisor speaks of one),
// else the one logging; `worker` comes from a "worker:N" tag when not given.
//
// Levels are filtered here, in the one reporter every instance shares, and not by consola: a
// child copies its parent's level when it is made, so a level set later (--log-level parsed after
// the modules loaded, log_level changed by a reload) would never reach the children made before.
import { createConsola, type ConsolaInstance, type LogObject } from "consola";
import { fstatSync } from "node:fs";
import { formatWithOptions } from "node:util";

// Declared before `log`: creating it reads them.
const LEVELS: Record<string, number> = { silent: -999, error: 0, warn: 1, info: 3, debug: 4, trace: 5 };
export const LOG_FORMATS = ["text", "logfmt", "json"] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

let threshold = levelFromEnv(process.env.MCR_LOG_LEVEL);
const journal = underJournald();
let format: LogFormat = formatFromEnv(process.env.MCR_LOG_FORMAT) ?? defaultFormat();

/** Without --log-format: consola's lines on a terminal or in the journal, logfmt elsewhere. */
function defaultFormat(): LogFormat {
  return journal || process.stderr.isTTY ? "text" : "logfmt";
}

/** What a line is about, as keys of json and logfmt lines. */
export interface LogFields {
  rule?: number;
  name?: string;
  interface?: string;
  worker?: number;
  pid?: number;
  errno?: number;
}

const FIELD_KEYS = ["rule", "name", "interface", "worker", "pid", "errno"] as const;

class Fields {
  constructor(readonly f: LogFields) {}
}

/** Fields for a log call: log.warn("worker 3 ...", fields({ worker: 3, pid })). */
export function fields(f: LogFields): unknown {
  return new Fields(f);
}

// consola's own reporter, for plain text outside the journal.
const plain = createConsola({
  stdout: process.stderr,
  stderr: process.stderr,
  formatOptions: { date: false, colors: process.stderr.isTTY ?? false },
}).options.reporters[0]!;

const reporter = {
  log(obj: LogObject, ctx: { options: ConsolaInstance["options"] }) {
    if (obj.level > threshold) return;
    if (format === "json") return void process.stderr.write(jsonLine(obj) + "\n");
    if (format === "logfmt")
      return void process.stderr.write(
        (journal ? `<${journalPriority(obj.level, obj.type)}>` : "") + logfmtLine(obj) + "\n",
      );
    const bare = { ...obj, args: obj.args.filter((a) => !(a instanceof Fields)) };
    if (journal) return void process.stderr.write(journalLines(bare));
    plain.log(bare, ctx);
  },
};

export const log: ConsolaInstance = createConsola({
  level: LEVELS.trace, // every call reaches the reporter, which applies `threshold`
  reporters: [reporter],
  stdout: process.stderr,
  stderr: process.stderr,
  formatOptions: { date: false, colors: process.stderr.isTTY ?? false },
});

export function levelFromEnv(v: string | undefined): number {
  return v !== undefined && v in LEVELS ? LEVELS[v]! : 3;
}

function formatFromEnv(v: string | undefined): LogFormat | undefined {
  return (LOG_FORMATS as readonly string[]).includes(v ?? "") ? (v as LogFormat) : undefined;
}

export function setLogLevel(name: string): void {
  if (!(name in LEVELS)) throw new Error(`unknown log level "${name}" (use ${Object.keys(LEVELS).join(", ")})`);
  threshold = LEVELS[name]!;
  process.env.MCR_LOG_LEVEL = name; // children (workers) inherit it
}

export function setLogFormat(name: string): void {
  if (!(LOG_FORMATS as readonly string[]).includes(name))
    throw new Error(`unknown log format "${name}" (use ${LOG_FORMATS.join(", ")})`);
  format = name as LogFormat;
  process.env.MCR_LOG_FORMAT = name; // workers log the same way
}

/**
 * True when stderr is the stream systemd connected to the journal: JOURNAL_STREAM is
 * "device:inode" of that stream, and a process whose stderr was redirected elsewhere (a shell
 * started from a service) must not take the variable for itself.
 */
export function underJournald(env = process.env.JOURNAL_STREAM): boolean {
  if (!env) return false;
  const m = /^(\d+):(\d+)$/.exec(env);
  if (!m) return false;
  try {
    const st = fstatSync(2, { bigint: true });
    return st.dev === BigInt(m[1]!) && st.ino === BigInt(m[2]!);
  } catch {
    return false;
  }
}

/** consola level -> syslog priority as journald reads it from a "<N>" prefix. */
export function journalPriority(level: number, type?: string): number {
  if (type === "fatal") return 2;
  if (level <= 0) return 3;
  if (level === 1) return 4;
  if (level <= 3) return 6;
  return 7;
}

const LEVEL_NAMES = ["error", "warn", "info", "info", "debug", "trace"];

export function levelName(level: number, type?: string): string {
  if (type === "fatal") return "fatal";
  return LEVEL_NAMES[Math.max(0, Math.min(level, 5))]!;
}

function message(obj: LogObject): string {
  const args = obj.args
    .filter((a) => !(a instanceof Fields))
    .map((a) => (a instanceof Error ? (a.stack ?? a.message) : a));
  return formatWithOptions({ colors: false, compact: true, breakLength: Infinity }, ...args);
}

/** The line's fields: those passed, `worker` from a "worker:N" tag, `pid` this process's by default. */
export function lineFields(obj: LogObject): LogFields {
  const given: LogFields = Object.assign({}, ...obj.args.filter((a) => a instanceof Fields).map((a) => a.f));
  const tagged = /^worker:(\d+)$/.exec(obj.tag ?? "");
  const all: LogFields = { ...(tagged ? { worker: Number(tagged[1]) } : {}), pid: process.pid, ...given };
  const out: LogFields = {};
  for (const k of FIELD_KEYS) if (all[k] !== undefined) (out as Record<string, unknown>)[k] = all[k];
  return out;
}

export function jsonLine(obj: LogObject): string {
  return JSON.stringify({
    time: (obj.date ?? new Date()).toISOString(),
    level: levelName(obj.level, obj.type),
    tag: obj.tag ?? "",
    message: message(obj),
    ...lineFields(obj),
  });
}

/** One logfmt line: time, level, tag, msg, then the fields; values quoted where they must be. */
export function logfmtLine(obj: LogObject): string {
  const pairs: [string, string | number][] = [
    ["time", (obj.date ?? new Date()).toISOString()],
    ["level", levelName(obj.level, obj.type)],
    ...(obj.tag ? [["tag", obj.tag] as [string, string]] : []),
    ["msg", message(obj)],
    ...Object.entries(lineFields(obj)),
  ];
  return pairs.map(([k, v]) => `${k}=${logfmtValue(String(v))}`).join(" ");
}

/** Bare when it holds no space, quote, equals sign or control character; else quoted, escaped. */
export function logfmtValue(v: string): string {
  if (v !== "" && !/[\s"=\\\x00-\x1f\x7f]/.test(v)) return v;
  return `"${v.replace(/[\\"\x00-\x1f\x7f]/g, (c) => (c === "\\" ? "\\\\" : c === '"' ? '\\"' : c === "\n" ? "\\n" : c === "\t" ? "\\t" : `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`))}"`;
}

export function journalLines(obj: LogObject): string {
  const prefix = `<${journalPriority(obj.level, obj.type)}>${obj.tag ? `[${obj.tag}] ` : ""}`;
  return (
    message(obj)
      .split("\n")
      .map((l) => prefix + l)
      .join("\n") + "\n"
  );
}

/**
 * Summarises a message that repeats: the first of its kind goes out, then at most one per
 * `windowMs`, carrying how many were held back in between.
 */
export class Repeats {
  private readonly seen = new Map<string, { last: number; held: number }>();
  constructor(private readonly windowMs = 60_000) {}

  /** undefined: hold this one back; a number: log it now, saying that many were held back. */
  pass(key: string, now = Date.now()): number | undefined {
    const s = this.seen.get(key);
    if (s && now - s.last < this.windowMs) {
      s.held++;
      return undefined;
    }
    const held = s?.held ?? 0;
    this.seen.set(key, { last: now, held: 0 });
    return held;
  }

  /** Forgets a key (the condition cleared): its next occurrence is logged at once. */
  reset(key: string): number {
    const held = this.seen.get(key)?.held ?? 0;
    this.seen.delete(key);
    return held;
  }
}
