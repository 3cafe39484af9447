#!/usr/bin/env bun
// Entry point of dist/mcr: the root command and the exit codes (sysexits). The commands are in
// src/cli/, one file each, and are loaded only when named. citty walks the tree and runs the
// command (runCommand); not its runMain, which exits 1 on every error and prints its own usage.
import { runCommand } from "citty";
import { UsageError } from "./cli/args.ts";
import { defineCommand, load } from "./cli/command.ts";
import { Finished } from "./cli/strict.ts";
import { EX, McrError } from "./errors.ts";
import { ValueError } from "./values/error.ts";

export const main = defineCommand({
  meta: {
    name: "mcr",
    description: "Userspace multicast relay: layer-2 ingress, rule-mapped, rewritten egress",
    notes: ["-V, --version prints the version; -h, --help after any command explains it."],
  },
  subCommands: {
    supervisor: () => load(import("./cli/supervisor.ts")),
    rule: () => load(import("./cli/rule.ts")),
    stats: () => load(import("./cli/stats.ts")),
    config: () => load(import("./cli/config.ts")),
    gen: () => load(import("./cli/gen.ts")),
    sink: () => load(import("./cli/sink.ts")),
    version: () => load(import("./cli/version.ts")),
    worker: () => load(import("./cli/worker.ts")),
  },
});

const VERSION_FLAGS = new Set(["-V", "--version", "-v"]);

async function run(argv: string[]): Promise<number> {
  try {
    if (argv[0] !== undefined && VERSION_FLAGS.has(argv[0])) {
      if (argv.length > 1) throw new UsageError(`${argv[0]} takes nothing after it (see mcr --help)`);
      const { versionLine } = await import("./cli/version.ts");
      console.log(versionLine());
      return EX.OK;
    }
    await runCommand(main, { rawArgs: argv });
    return typeof process.exitCode === "number" ? process.exitCode : EX.OK;
  } catch (e) {
    if (e instanceof Finished) return e.code;
    return report(e);
  }
}

export function report(e: unknown): number {
  // A value parser's refusal that reached the top is about a command-line flag: it names it.
  if (e instanceof ValueError) {
    console.error(`mcr: ${e.field}: ${e.message}`);
    return EX.USAGE;
  }
  if (e instanceof McrError) {
    console.error(`mcr: ${e.message}`);
    return e.exitCode;
  }
  console.error("mcr: internal error:", e);
  return EX.SOFTWARE;
}

// Long-running commands (supervisor, worker, sink) keep the event loop alive and set the exit
// code themselves; short ones return here and leave.
const code = await run(process.argv.slice(2));
if (process.exitCode === undefined || process.exitCode === 0) process.exitCode = code;
