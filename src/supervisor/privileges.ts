// What the supervisor keeps of its privileges. It opens no packet socket: it needs no capability
// effective, only CAP_NET_RAW to hand on to its workers (permitted, inheritable and ambient, so
// that an exec'd worker holds it effective and nothing else). Started as root, it first becomes
// --user (default: `mcr`, if there is such a user), keeping just that. Capabilities belong to a
// thread: the sets are set on the JavaScript thread, the one that spawns the workers. (Switching
// user, glibc changes every thread's ids, and the other threads lose all their capabilities; not
// started as root, Bun's other threads keep what the process was given.)
import type { ConsolaInstance } from "consola";
import { readFileSync } from "node:fs";
import { EX, McrError } from "../errors.ts";

export const DEFAULT_USER = "mcr";
export const CAP_NET_RAW = 13;

export interface Account {
  name: string;
  uid: number;
  gid: number;
}

/** A user name or number -> its uid and primary gid, from /etc/passwd (no NSS lookup in Bun). */
export function findUser(name: string, passwd = "/etc/passwd"): Account | undefined {
  let text: string;
  try {
    text = readFileSync(passwd, "utf8");
  } catch {
    return undefined;
  }
  for (const line of text.split("\n")) {
    const f = line.split(":");
    if (f.length < 4) continue;
    if (f[0] === name || (/^[0-9]+$/.test(name) && f[2] === name))
      return { name: f[0]!, uid: Number(f[2]), gid: Number(f[3]) };
  }
  return undefined;
}

/** This process's permitted capabilities (the main thread's), from /proc. */
function permitted(): bigint {
  const m = /^CapPrm:\s*([0-9a-f]+)$/m.exec(readFileSync("/proc/self/status", "utf8"));
  return m ? BigInt(`0x${m[1]}`) : 0n;
}

export interface Native {
  switchUser(uid: number, gid: number, extraGid: number | undefined, keep: number): void;
  passOnlyCaps(keep: number): void;
}

/**
 * Drops what the supervisor does not need, before it opens anything. user: --user (undefined:
 * DEFAULT_USER if it exists); socketGid, the control socket's group, stays a group of the new
 * user so that the socket can be given to it. Throws McrError (64) for a --user that does not
 * exist. As root with no user to switch to, it only warns: root without capabilities could not
 * give the socket its group, and its workers would be root all the same. Returns what to log
 * once the supervisor is up (a refusal to start comes first, alone).
 */
export function dropPrivileges(
  user: string | undefined,
  socketGid: number | undefined,
  native: Native,
  log: ConsolaInstance,
): () => void {
  const raw = 1 << CAP_NET_RAW;
  if ((process.geteuid?.() ?? 0) === 0) {
    const account = findUser(user ?? DEFAULT_USER);
    if (!account) {
      if (user !== undefined) throw new McrError(`--user: no user named "${user}" in /etc/passwd`, EX.USAGE, "user");
      return () =>
        log.warn(
          `running as root with every capability: no user "${DEFAULT_USER}" to switch to (create one, or give --user NAME)`,
        );
    }
    if (account.uid !== 0) {
      native.switchUser(account.uid, account.gid, socketGid, raw);
      return () => log.info(`switched to user ${account.name} (uid ${account.uid}); workers get CAP_NET_RAW only`);
    }
  }
  // Not root (a unit's ambient capabilities, setpriv): keep CAP_NET_RAW for the workers if it is there.
  native.passOnlyCaps((permitted() >> BigInt(CAP_NET_RAW)) & 1n ? raw : 0);
  return () => {};
}
