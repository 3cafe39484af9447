// How a worker process is started: the hidden `mcr worker` command of this very program.
import type { WorkerArgs } from "../worker/protocol.ts";

/** True in dist/mcr: bun build --compile puts the entry point under /$bunfs/. */
export const isCompiled = () => Bun.main.startsWith("/$bunfs/");

/** A compiled binary re-runs itself with the arguments; from source bun needs the entry file too. */
export function workerArgv(a: WorkerArgs): string[] {
  return [
    process.execPath,
    ...(isCompiled() ? [] : [Bun.main]),
    "worker",
    "--cpu",
    String(a.cpu),
    ...a.interfaces.flatMap((i) => ["--interface", i]),
    "--fanout-id",
    String(a.fanoutId),
    ...(a.ringMb !== undefined ? ["--ring-mb", String(a.ringMb)] : []),
    ...(a.countersFd !== undefined ? ["--counters-fd", String(a.countersFd)] : []),
  ];
}
