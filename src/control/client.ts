// The CLI's end of the control socket: one request per connection, the reply or an McrError
// whose exit code says what kind of failure it was.
import { EX, McrError } from "../errors.ts";
import { LineFramer } from "./framing.ts";
import { decodeResponse, encodeLine } from "./protocol.ts";
import { exitCodeOf, PROTOCOL_VERSION, type Command, type Commands, type Response } from "../types/control.ts";

/** Long enough for a rule change that waits on every worker (2 s) and a stats round (1 s). */
const DEFAULT_TIMEOUT_MS = 10_000;

export function noSupervisor(path: string): McrError {
  return new McrError(
    `no supervisor is listening on ${path}: start one with \`mcr supervisor --interface IF --control-socket-path ${path}\``,
    EX.UNAVAILABLE,
    undefined,
    "unavailable",
  );
}

/** Sends one request and returns its result; an error reply becomes an McrError (code, field, exit code). */
export async function call<C extends Command>(
  socketPath: string,
  cmd: C,
  args: Commands[C]["args"],
  opts: { timeoutMs?: number } = {},
): Promise<Commands[C]["result"]> {
  const res = await exchange(
    socketPath,
    encodeLine({ v: PROTOCOL_VERSION, id: 1, cmd, args }),
    opts.timeoutMs ?? DEFAULT_TIMEOUT_MS,
  );
  if (res.ok) return res.result as Commands[C]["result"];
  throw new McrError(res.error.message, exitCodeOf(res.error.code), res.error.field, res.error.code);
}

/** Writes `line`, waits for one response line. */
function exchange(path: string, line: string, timeoutMs: number): Promise<Response> {
  return new Promise((resolve, reject) => {
    let settled = false;
    let pending: Uint8Array = Buffer.from(line); // what the kernel has not taken yet
    let socket: { end(): void } | undefined;
    const finish = (err: Error | undefined, res?: Response) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket?.end();
      if (err) reject(err);
      else resolve(res!);
    };
    const timer = setTimeout(
      () =>
        finish(
          new McrError(
            `the supervisor on ${path} did not answer within ${timeoutMs / 1000} s`,
            EX.UNAVAILABLE,
            undefined,
            "timeout",
          ),
        ),
      timeoutMs,
    );
    const framer = new LineFramer(
      // Replies have no bound (a rule list of 16,384 outputs is megabytes): the supervisor is trusted.
      Number.MAX_SAFE_INTEGER,
      (l) => {
        try {
          finish(undefined, decodeResponse(l));
        } catch (e) {
          finish(new McrError(`unexpected reply from ${path}: ${(e as Error).message}`, EX.SOFTWARE));
        }
      },
      () => finish(new McrError(`the reply from ${path} is too large`, EX.SOFTWARE)),
    );
    Bun.connect({
      unix: path,
      socket: {
        open(s) {
          socket = s;
          pending = pending.subarray(Math.max(0, s.write(pending)));
        },
        drain(s) {
          if (pending.length > 0) pending = pending.subarray(Math.max(0, s.write(pending)));
        },
        data(_s, chunk) {
          framer.push(chunk);
        },
        close() {
          finish(new McrError(`the supervisor on ${path} closed the connection without answering`, EX.UNAVAILABLE));
        },
        error(_s, err) {
          finish(new McrError(`talking to the supervisor on ${path}: ${err.message}`, EX.UNAVAILABLE));
        },
      },
    }).catch((e: { code?: string; message?: string }) => {
      if (e.code === "ENOENT" || e.code === "ECONNREFUSED") finish(noSupervisor(path));
      else if (e.code === "EACCES" || e.code === "EPERM")
        finish(
          new McrError(`permission denied on ${path}: run as root or as a member of the socket's group`, EX.NOPERM),
        );
      else finish(new McrError(`cannot connect to ${path}: ${e.message ?? String(e)}`, EX.UNAVAILABLE));
    });
  });
}
