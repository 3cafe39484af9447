// How a worker process is started: the hidden `mcr worker` command of this very program.
import type { WorkerArgs } from "../types/worker.ts";

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
    ...(a.poll !== undefined ? ["--poll", a.poll] : []),
    ...(a.egress !== undefined ? ["--egress", a.egress] : []),
    ...(a.ingress !== undefined ? ["--ingress", a.ingress] : []),
    ...(a.countersFd !== undefined ? ["--counters-fd", String(a.countersFd)] : []),
    ...(a.bucketsFd !== undefined ? ["--buckets-fd", String(a.bucketsFd)] : []),
  ];
}

/**
 * Bun's variables that change what a program runs, not how mcr behaves: BUN_OPTIONS (e.g.
 * --preload FILE, read even by a compiled binary), BUN_BE_BUN (the binary becomes the bun CLI),
 * BUN_INSPECT* (a debugger that evaluates what its client sends). A worker never inherits them.
 */
export const RUNTIME_ENV = [
  "BUN_OPTIONS",
  "BUN_BE_BUN",
  "BUN_INSPECT",
  "BUN_INSPECT_CONNECT_TO",
  "BUN_INSPECT_NOTIFY",
] as const;

/**
 * What a worker never inherits: every variable of Bun's runtime (BUN_*, among them BUN_JSC_*,
 * which tune or instrument the JavaScript engine, and RUNTIME_ENV above), the dynamic linker's
 * (LD_PRELOAD, LD_LIBRARY_PATH, LD_AUDIT: code loaded into a process that holds CAP_NET_RAW) and
 * NODE_OPTIONS.
 */
export const isRuntimeVariable = (k: string) => k.startsWith("BUN_") || k.startsWith("LD_") || k === "NODE_OPTIONS";

/** The supervisor's environment as it is now (MCR_LOG_LEVEL included), without the runtime's variables. */
export function workerEnv(env: NodeJS.ProcessEnv = process.env): Record<string, string | undefined> {
  const out: Record<string, string | undefined> = {};
  for (const [k, v] of Object.entries(env)) if (!isRuntimeVariable(k)) out[k] = v;
  return out;
}
