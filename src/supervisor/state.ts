// The state file: the rule table, so that rules outlive the supervisor. Written whole on every
// change (temp file, fsync, rename, fsync of the directory): after a crash or power loss the
// file holds either the old table or the new one, never a mix.
import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, writeSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { EX, McrError } from "../errors.ts";
import { checkSpec } from "../rules/validate.ts";
import type { Rule } from "../types/rules.ts";
import { emptyTable, type RuleTable } from "./table.ts";

export const DEFAULT_STATE_FILE = "/var/lib/mcr/rules.json";
const FORMAT = "mcr-rules";
const FORMAT_VERSION = 1;

interface StateFile {
  format: typeof FORMAT;
  version: typeof FORMAT_VERSION;
  nextId: number;
  rules: Rule[];
}

/** The saved table; an empty one if the file does not exist. A damaged file is an error, never silently emptied. */
export function loadState(path: string): RuleTable {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    if ((e as { code?: string }).code === "ENOENT") return emptyTable();
    throw new McrError(`cannot read the state file ${path}: ${(e as Error).message}`, EX.NOINPUT);
  }
  const bad = (why: string) =>
    new McrError(
      `the state file ${path} is damaged (${why}): fix it, or move it away to start with no rules`,
      EX.CONFIG,
    );
  let x: StateFile;
  try {
    x = JSON.parse(text) as StateFile;
  } catch (e) {
    throw bad((e as Error).message);
  }
  if (x?.format !== FORMAT || x.version !== FORMAT_VERSION) throw bad(`not a ${FORMAT} v${FORMAT_VERSION} file`);
  if (!Array.isArray(x.rules) || !Number.isInteger(x.nextId) || x.nextId < 1) throw bad("rules or nextId missing");
  const rules: Rule[] = [];
  for (const r of x.rules) {
    if (!Number.isInteger(r?.id) || r.id < 1 || r.id >= x.nextId) throw bad(`rule id ${JSON.stringify(r?.id)}`);
    if (typeof r.inputInterface !== "string") throw bad(`rule ${r.id} has no inputInterface`);
    const { id, origin, ...spec } = r;
    if (origin !== undefined && origin !== "config") throw bad(`rule ${id}: origin ${JSON.stringify(origin)}`);
    try {
      rules.push({ id, ...checkSpec(spec), inputInterface: r.inputInterface, ...(origin ? { origin } : {}) });
    } catch (e) {
      throw bad(`rule ${id}: ${(e as McrError).field ?? ""} ${(e as Error).message}`);
    }
  }
  return { nextId: x.nextId, rules };
}

export function saveState(path: string, t: RuleTable): void {
  const dir = dirname(path);
  const body: StateFile = { format: FORMAT, version: FORMAT_VERSION, nextId: t.nextId, rules: [...t.rules] };
  const tmp = join(dir, `.${basename(path)}.${process.pid}.tmp`);
  try {
    mkdirSync(dir, { recursive: true, mode: 0o755 });
    const fd = openSync(tmp, "w", 0o640);
    try {
      const bytes = Buffer.from(JSON.stringify(body, null, 2) + "\n");
      let off = 0;
      while (off < bytes.length) off += writeSync(fd, bytes, off);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, path);
    // The rename itself is durable only once the directory is synced.
    const dfd = openSync(dir, "r");
    try {
      fsyncSync(dfd);
    } finally {
      closeSync(dfd);
    }
  } catch (e) {
    throw new McrError(
      `cannot write the state file ${path}: ${(e as Error).message}`,
      EX.CANTCREAT,
      undefined,
      "state_write",
    );
  }
}
