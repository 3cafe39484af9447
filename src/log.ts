// One consola instance for the process; components take a tagged child (withTag("supervisor"),
// withTag("worker:3")). Logs go to stderr: a worker's stdout carries its protocol.
//
// Formats (--log-format, MCR_LOG_FORMAT for the workers, which inherit it):
//   text  consola's own lines; under systemd (JOURNAL_STREAM names our stderr) each line starts
//         with the journald priority, "<6>[supervisor] listening on ...", so `journalctl -p warning`
//         works and consola's icons stay out of the journal.
//   json  one object per line: {"time","level","tag","message"}.
//
// Levels are filtered here, in the one reporter every instance shares, and not by consola: a
// child copies its parent's level when it is made, so a level set later (--log-level parsed after
// the modules loaded, log_level changed by a reload) would never reach the children made before.
import { createConsola, type ConsolaInstance, type LogObject } from "consola";
import { fstatSync } from "node:fs";
import { formatWithOptions } from "node:util";

// Declared before `log`: creating it reads them.
const LEVELS: Record<string, number> = { silent: -999, error: 0, warn: 1, info: 3, debug: 4, trace: 5 };
export const LOG_FORMATS = ["text", "json"] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

let threshold = levelFromEnv(process.env.MCR_LOG_LEVEL);
let format: LogFormat = formatFromEnv(process.env.MCR_LOG_FORMAT);
const journal = underJournald();

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
    if (journal) return void process.stderr.write(journalLines(obj));
    plain.log(obj, ctx);
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

function formatFromEnv(v: string | undefined): LogFormat {
  return (LOG_FORMATS as readonly string[]).includes(v ?? "") ? (v as LogFormat) : "text";
}

export function setLogLevel(name: string): void {
  if (!(name in LEVELS)) throw new Error(`unknown log level "${name}" (use ${Object.keys(LEVELS).join(", ")})`);
  threshold = LEVELS[name]!;
  process.env.MCR_LOG_LEVEL = name; // children (workers) inherit it
}

export function setLogFormat(name: string): void {
  if (!(LOG_FORMATS as readonly string[]).includes(name))
    throw new Error(`unknown log format "${name}" (use ${LOG_FORMATS.join(" or ")})`);
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
  const args = obj.args.map((a) => (a instanceof Error ? (a.stack ?? a.message) : a));
  return formatWithOptions({ colors: false, compact: true, breakLength: Infinity }, ...args);
}

export function jsonLine(obj: LogObject): string {
  return JSON.stringify({
    time: (obj.date ?? new Date()).toISOString(),
    level: levelName(obj.level, obj.type),
    tag: obj.tag ?? "",
    message: message(obj),
  });
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
