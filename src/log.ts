import { createConsola, type ConsolaInstance } from "consola";

// Declared before `log`: creating it reads them.
const LEVELS: Record<string, number> = { silent: -999, error: 0, warn: 1, info: 3, debug: 4, trace: 5 };

// One consola instance for the process; components take a tagged child (withTag).
// Logs go to stderr: a worker's stdout carries its protocol to the supervisor.
export const log: ConsolaInstance = createConsola({
  level: levelFromEnv(process.env.MCR_LOG_LEVEL),
  stdout: process.stderr,
  stderr: process.stderr,
  formatOptions: { date: false, colors: process.stderr.isTTY ?? false },
});

export function levelFromEnv(v: string | undefined): number {
  return v !== undefined && v in LEVELS ? LEVELS[v]! : 3;
}

export function setLogLevel(name: string): void {
  if (!(name in LEVELS)) throw new Error(`unknown log level "${name}" (use ${Object.keys(LEVELS).join(", ")})`);
  log.level = LEVELS[name]!;
  process.env.MCR_LOG_LEVEL = name; // children (workers) inherit it
}
