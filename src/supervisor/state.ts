// The state file: the rule table, so that rules outlive the supervisor. Written whole on every
// change (temp file, fsync, rename, fsync of the directory): after a crash or power loss the
// file holds either the old table or the new one, never a mix. The table it replaces is kept
// beside it (PATH.prev), and is what a start falls back to when PATH is damaged.
//
// The directory is trusted only if no other user can replace what is in it: owned by this user
// or root, and writable by nobody else, or sticky (/tmp), where another user can add files but
// not remove or rename ours. Every file read or locked there is opened without following a
// symbolic link and must be owned by this user or root; the temporary has a random name and is
// created O_EXCL. A lock (flock on PATH.lock) held for the supervisor's life keeps a second
// supervisor off the same state.
import { randomBytes } from "node:crypto";
import {
  closeSync,
  constants as C,
  fstatSync,
  fsyncSync,
  existsSync,
  linkSync,
  mkdirSync,
  openSync,
  readFileSync,
  readSync,
  renameSync,
  unlinkSync,
  writeSync,
} from "node:fs";
import { basename, dirname, join } from "node:path";
import { checkTrustedDir } from "./trusted-dir.ts";
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

export const prevPath = (path: string) => `${path}.prev`;
export const lockPath = (path: string) => `${path}.lock`;
const damagedPath = (path: string) => `${path}.damaged`;
/** A previous table whose state file was removed: kept for a look, never loaded. */
export const unusedPath = (path: string) => `${path}.prev.unused`;

// Bun opens every fd O_CLOEXEC: no flag needed for that.
const errCode = (e: unknown) => (e as { code?: string }).code;
const myUid = () => process.geteuid?.() ?? 0;

/** Opens a file we mean to trust: no symbolic link, owned by this user or root. */
function openTrusted(path: string, flags: number, mode?: number): number {
  const fd = openSync(path, flags | C.O_NOFOLLOW, mode);
  const st = fstatSync(fd);
  if (st.uid !== myUid() && st.uid !== 0) {
    closeSync(fd);
    throw new McrError(`${path} belongs to uid ${st.uid}, not to this user: refusing it`, EX.NOPERM, "state-file");
  }
  return fd;
}

function readTrusted(path: string): string {
  const fd = openTrusted(path, C.O_RDONLY);
  try {
    const chunks: Buffer[] = [];
    const buf = Buffer.alloc(1 << 16);
    for (let n; (n = readSync(fd, buf, 0, buf.length, null)) > 0; ) chunks.push(Buffer.from(buf.subarray(0, n)));
    return Buffer.concat(chunks).toString("utf8");
  } finally {
    closeSync(fd);
  }
}

export interface StateLock {
  release(): void;
}

/**
 * Takes the state's lock for as long as the supervisor runs. Throws McrError (69) naming the
 * holder if another supervisor has it. `lock` is flock(LOCK_EX | LOCK_NB): false if held.
 */
export function lockState(path: string, lock: (fd: number) => boolean): StateLock {
  const dir = dirname(path);
  checkTrustedDir(dir, "state-file");
  try {
    mkdirSync(dir, { recursive: true, mode: 0o755 });
  } catch {
    /* a read-only file system: the open below says what is wrong */
  }
  const lp = lockPath(path);
  let fd: number;
  try {
    fd = openTrusted(lp, C.O_RDWR | C.O_CREAT, 0o640);
  } catch (e) {
    if (e instanceof McrError) throw e;
    // A read-only directory: nothing can be saved there, by us or another; lock the file itself.
    if (errCode(e) !== "EROFS" && errCode(e) !== "EACCES")
      throw new McrError(`cannot create the lock ${lp}: ${(e as Error).message}`, EX.CANTCREAT, "state-file");
    try {
      fd = openTrusted(path, C.O_RDONLY);
    } catch {
      return { release() {} }; // nothing there to protect: no rules, and none can be saved
    }
  }
  if (!lock(fd)) {
    let holder = "";
    try {
      holder = readFileSync(`/proc/self/fd/${fd}`, "utf8").trim();
    } catch {
      /* unreadable: say less */
    }
    closeSync(fd);
    throw new McrError(
      `another supervisor${/^\d+$/.test(holder) ? ` (pid ${holder})` : ""} uses the state file ${path}: stop it first, or give this one another --state-file`,
      EX.UNAVAILABLE,
      "state-file",
    );
  }
  try {
    const pid = Buffer.from(`${process.pid}\n`);
    writeSync(fd, pid, 0, pid.length, 0);
  } catch {
    /* the lock on a read-only file: no pid in it */
  }
  return {
    release() {
      try {
        closeSync(fd);
      } catch {
        /* closed already */
      }
    },
  };
}

/** The table parsed from text; throws a message saying what is wrong. */
function parseState(text: string): RuleTable {
  let x: StateFile;
  try {
    x = JSON.parse(text) as StateFile;
  } catch (e) {
    throw new Error((e as Error).message);
  }
  if (x?.format !== FORMAT || x.version !== FORMAT_VERSION) throw new Error(`not a ${FORMAT} v${FORMAT_VERSION} file`);
  if (!Array.isArray(x.rules) || !Number.isInteger(x.nextId) || x.nextId < 1)
    throw new Error("rules or nextId missing");
  const rules: Rule[] = [];
  for (const r of x.rules) {
    if (!Number.isInteger(r?.id) || r.id < 1 || r.id >= x.nextId) throw new Error(`rule id ${JSON.stringify(r?.id)}`);
    if (typeof r.inputInterface !== "string") throw new Error(`rule ${r.id} has no inputInterface`);
    const { id, origin, ...spec } = r;
    if (origin !== undefined && origin !== "config") throw new Error(`rule ${id}: origin ${JSON.stringify(origin)}`);
    try {
      rules.push({ id, ...checkSpec(spec), inputInterface: r.inputInterface, ...(origin ? { origin } : {}) });
    } catch (e) {
      throw new Error(`rule ${id}: ${(e as McrError).field ?? ""} ${(e as Error).message}`);
    }
  }
  return { nextId: x.nextId, rules };
}

type Read = { table: RuleTable } | { missing: true } | { damaged: string };

function readState(path: string): Read {
  let text: string;
  try {
    text = readTrusted(path);
  } catch (e) {
    if (errCode(e) === "ENOENT") return { missing: true };
    if (e instanceof McrError) throw e;
    if (errCode(e) === "ELOOP")
      throw new McrError(`the state file ${path} is a symbolic link: refusing it`, EX.NOPERM, "state-file");
    throw new McrError(`cannot read the state file ${path}: ${(e as Error).message}`, EX.NOINPUT);
  }
  try {
    return { table: parseState(text) };
  } catch (e) {
    return { damaged: (e as Error).message };
  }
}

/**
 * The saved table; an empty one if there is none. A damaged file is never silently emptied: the
 * previous table (PATH.prev) is used instead and `warn` says so, the damaged file moved to
 * PATH.damaged for a look; with no usable previous table it is an error.
 */
export function loadState(path: string, warn: (msg: string) => void = () => {}): RuleTable {
  const cur = readState(path);
  if ("table" in cur) return cur.table;
  if ("missing" in cur) {
    // No save leaves PATH missing (PATH.prev is a second name for the file a save replaces), so
    // it was removed, on purpose: the start has no rules, and a PATH.prev left from that old
    // table is set aside, never taken up later in place of a damaged PATH.
    if (existsSync(prevPath(path))) {
      try {
        renameSync(prevPath(path), unusedPath(path));
        warn(
          `the state file ${path} is missing: starting with no rules; its previous table is now ${unusedPath(path)}`,
        );
      } catch (e) {
        throw new McrError(
          `the state file ${path} is missing and its previous table ${prevPath(path)} cannot be set aside (${(e as Error).message}): remove it to start with no rules`,
          EX.CONFIG,
        );
      }
    }
    return emptyTable();
  }
  const prev = readState(prevPath(path));
  if (!("table" in prev))
    throw new McrError(
      `the state file ${path} is damaged (${cur.damaged}) and there is no usable previous copy (${prevPath(path)}): fix it, or move it away to start with no rules`,
      EX.CONFIG,
    );
  try {
    renameSync(path, damagedPath(path));
    // The state file is the previous table again at once: a start that changes nothing saves
    // nothing, and the next one must find this table, not a missing file (which means no rules).
    try {
      saveState(path, prev.table);
    } catch {
      renameSync(damagedPath(path), path); // as it was: the next start falls back the same way
    }
  } catch {
    /* a read-only directory: it stays where it is */
  }
  warn(
    `the state file ${path} is damaged (${cur.damaged}): starting with the previous table from ${prevPath(path)} (${prev.table.rules.length} rule(s)); the damaged file is ${damagedPath(path)}`,
  );
  return prev.table;
}

/** Writes the table; the one it replaces becomes PATH.prev. Throws McrError(state_write), leaving no temporary. */
export function saveState(path: string, t: RuleTable): void {
  const dir = dirname(path);
  const body: StateFile = { format: FORMAT, version: FORMAT_VERSION, nextId: t.nextId, rules: [...t.rules] };
  const tmp = join(dir, `.${basename(path)}.${randomBytes(8).toString("hex")}.tmp`);
  let made = false;
  try {
    mkdirSync(dir, { recursive: true, mode: 0o755 });
    const fd = openSync(tmp, C.O_WRONLY | C.O_CREAT | C.O_EXCL | C.O_NOFOLLOW, 0o640);
    made = true;
    try {
      const bytes = Buffer.from(JSON.stringify(body, null, 2) + "\n");
      let off = 0;
      while (off < bytes.length) off += writeSync(fd, bytes, off);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    keepPrevious(path, dir);
    renameSync(tmp, path);
    made = false;
    // The renames are durable only once the directory is synced.
    const dfd = openSync(dir, "r");
    try {
      fsyncSync(dfd);
    } finally {
      closeSync(dfd);
    }
  } catch (e) {
    if (made)
      try {
        unlinkSync(tmp);
      } catch {
        /* gone already */
      }
    throw new McrError(
      `cannot write the state file ${path}: ${(e as Error).message}`,
      EX.CANTCREAT,
      undefined,
      "state_write",
    );
  }
}

/** The current file becomes PATH.prev (a hard link renamed into place: PATH.prev is never absent). */
function keepPrevious(path: string, dir: string): void {
  const link = join(dir, `.${basename(path)}.${randomBytes(8).toString("hex")}.prev`);
  try {
    linkSync(path, link);
  } catch (e) {
    if (errCode(e) === "ENOENT") return; // the first save, or the damaged file was moved away
    throw e;
  }
  try {
    renameSync(link, prevPath(path));
  } catch (e) {
    unlinkSync(link);
    throw e;
  }
}
