#!/usr/bin/env bun
// Entry point of dist/mcr. citty's runMain exits 1 on every error; mcr exits with sysexits codes,
// so this file runs the command itself and maps errors to codes.
import { defineCommand, runCommand, showUsage } from "citty";
import { EX, McrError } from "./errors.ts";
import { VERSION } from "./version.ts";

const load = <T extends { default: unknown }>(p: Promise<T>) => p.then((m) => m.default as never);

export const main = defineCommand({
  meta: {
    name: "mcr",
    version: VERSION,
    description: "Userspace multicast relay: layer-2 ingress, rule-mapped, rewritten egress",
  },
  subCommands: {
    supervisor: () => load(import("./cli/supervisor.ts")),
    rule: () => load(import("./cli/rule.ts")),
    stats: () => load(import("./cli/stats.ts")),
    config: () => load(import("./cli/config.ts")),
    gen: () => load(import("./cli/gen.ts")),
    sink: () => load(import("./cli/sink.ts")),
    worker: () => load(import("./cli/worker.ts")),
  },
});

async function run(argv: string[]): Promise<number> {
  if (argv.length === 0 || argv.includes("--help") || argv.includes("-h")) {
    const { resolveSubCommand } = await import("./cli/usage.ts");
    const [cmd, parent] = await resolveSubCommand(main, argv);
    await showUsage(cmd, parent);
    return argv.length === 0 ? EX.USAGE : EX.OK;
  }
  if (argv.length === 1 && (argv[0] === "--version" || argv[0] === "-v")) {
    console.log(VERSION);
    return EX.OK;
  }
  try {
    await runCommand(main, { rawArgs: argv });
    return typeof process.exitCode === "number" ? process.exitCode : EX.OK;
  } catch (e) {
    return report(e);
  }
}

export function report(e: unknown): number {
  if (e instanceof McrError) {
    console.error(`mcr: ${e.message}`);
    return e.exitCode;
  }
  if (e instanceof Error && e.name === "CLIError") {
    console.error(`mcr: ${e.message} (see mcr ${process.argv[2] ?? ""} --help)`);
    return EX.USAGE;
  }
  console.error("mcr: internal error:", e);
  return EX.SOFTWARE;
}

// Long-running commands (supervisor, worker, sink) keep the event loop alive and set the exit
// code themselves; short ones return here and leave.
const code = await run(process.argv.slice(2));
if (process.exitCode === undefined || process.exitCode === 0) process.exitCode = code;
