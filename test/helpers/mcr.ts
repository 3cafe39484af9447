// How tests run mcr: the compiled dist/mcr when it exists (what operators run), else the sources.
import { existsSync } from "node:fs";
import { join } from "node:path";

export const ROOT = join(import.meta.dir, "..", "..");
export const DIST = join(ROOT, "dist", "mcr");

export function mcrArgv(): string[] {
  if (process.env.MCR_FROM_SOURCE !== "1" && existsSync(DIST)) return [DIST];
  return [process.execPath, join(ROOT, "src", "main.ts")];
}

export function bunArgv(script: string): string[] {
  return [process.execPath, join(ROOT, script)];
}
