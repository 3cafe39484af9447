// mcr version (also -V, --version): the version, the commit it was built from when known, and
// the Bun it runs on.
import { dirname } from "node:path";
import { VERSION } from "../version.ts";
import { defineCommand } from "./command.ts";
import { json } from "./shared.ts";

// Set by `make build` (bun build --define); absent when run from the sources.
declare const MCR_BUILD_COMMIT: string | undefined;

/** The commit: the build's, else the source tree's (git), else undefined. */
export function commit(): string | undefined {
  if (typeof MCR_BUILD_COMMIT === "string" && MCR_BUILD_COMMIT !== "") return MCR_BUILD_COMMIT;
  if (!Bun.main.endsWith(".ts")) return undefined; // a compiled binary built without the define
  try {
    const r = Bun.spawnSync(["git", "-C", dirname(Bun.main), "rev-parse", "--short=12", "HEAD"], {
      stdout: "pipe",
      stderr: "ignore",
    });
    const s = r.stdout.toString().trim();
    return r.exitCode === 0 && /^[0-9a-f]{7,40}$/.test(s) ? s : undefined;
  } catch {
    return undefined;
  }
}

export interface VersionInfo {
  version: string;
  commit?: string;
  bun: string;
}

export function versionInfo(): VersionInfo {
  const c = commit();
  return { version: VERSION, ...(c ? { commit: c } : {}), bun: Bun.version };
}

/** "0.1.0 (commit 39af021d1c2e, bun 1.4.5)": the version first, for scripts that read it. */
export function versionLine(v = versionInfo()): string {
  return `${v.version} (${v.commit ? `commit ${v.commit}, ` : ""}bun ${v.bun})`;
}

export default defineCommand({
  meta: { name: "version", description: "Print the version, the commit it was built from and the Bun version" },
  args: { json: json("print them as JSON") },
  run({ args }) {
    console.log(args.json ? JSON.stringify(versionInfo()) : versionLine());
  },
});
