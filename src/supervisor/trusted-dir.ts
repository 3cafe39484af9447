// Whether a directory can hold a file this process trusts (the control socket, the state file):
// no other user may replace what is in it. Owned by this user or root, and writable by nobody
// else, or sticky (as /tmp), where another user may add files but not remove or rename ours.
import { statSync } from "node:fs";
import { EX, McrError } from "../errors.ts";

const S_ISVTX = 0o1000;

/** Throws McrError (77) naming `field` if others could swap files in dir; a missing dir passes (we make it). */
export function checkTrustedDir(dir: string, field: string): void {
  let st;
  try {
    st = statSync(dir);
  } catch (e) {
    if ((e as { code?: string }).code === "ENOENT") return;
    throw new McrError(`cannot use the directory ${dir}: ${(e as Error).message}`, EX.CANTCREAT, field);
  }
  const uid = process.geteuid?.() ?? 0;
  if (!st.isDirectory()) throw new McrError(`${dir} is not a directory`, EX.CANTCREAT, field);
  if (st.uid !== uid && st.uid !== 0)
    throw new McrError(
      `the directory ${dir} belongs to uid ${st.uid}: it must be this user's (uid ${uid}) or root's (--${field})`,
      EX.NOPERM,
      field,
    );
  if ((st.mode & 0o022) !== 0 && (st.mode & S_ISVTX) === 0)
    throw new McrError(
      `the directory ${dir} is writable by other users (mode ${(st.mode & 0o7777).toString(8)}): another user could replace what mcr keeps there; chmod go-w it or choose another --${field}`,
      EX.NOPERM,
      field,
    );
}
