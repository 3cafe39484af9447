// The supervisor's end of the control socket: many concurrent clients, each request handled on
// its own, every malformed one answered with an error and the connection kept.
import type { Socket, UnixSocketListener } from "bun";
import { lchownSync, lstatSync, mkdirSync, statSync, unlinkSync } from "node:fs";
import { dirname } from "node:path";
import { EX, McrError } from "../errors.ts";
import { log as rootLog } from "../log.ts";
import { LineFramer } from "./framing.ts";
import { checkTrustedDir } from "../supervisor/trusted-dir.ts";
import {
  decodeRequest,
  encodeLine,
  errorResponse,
  MAX_MESSAGE_BYTES,
  okResponse,
  type ProtocolError,
} from "./protocol.ts";
import type { ControlServer, ErrorBody, ErrorCode, Handler, Request, Response } from "../types/control.ts";

const log = rootLog.withTag("control");

interface Conn {
  framer: LineFramer;
  outbox: Uint8Array[]; // bytes the kernel did not take yet: written on drain
  queued: number; // their total
  inFlight: number; // requests being handled
  held: string[]; // requests read but not yet handled (too many in flight, or replies unread)
  paused: boolean; // the socket is not read until the held requests and unread replies are few
  handler: Handler;
  closed: boolean;
  idleMs: number;
  lastActive: number; // when it last sent or was answered: the longest idle is closed first at the cap
  idle?: ReturnType<typeof setTimeout>; // closes the connection if it stays silent with nothing in flight
}

/*
 * Backpressure, so that one client cannot make the supervisor hold an unbounded backlog: at most
 * MAX_IN_FLIGHT requests of a connection are handled at once (a pipelined burst of `stats` would
 * otherwise ask every worker thousands of times), and past OUTBOX_HIGH bytes of replies the client
 * has not read, its requests wait. While requests wait, the socket is not read. Without this, a
 * client that pipelined 100,000 rule.list requests (3 MB) and read nothing grew the supervisor by
 * 830 MB.
 */
const MAX_IN_FLIGHT = 64;
const OUTBOX_HIGH = 1 << 20;

/*
 * So that local clients cannot take every fd or the memory: at most MAX_CONNECTIONS at once, and a
 * connection with nothing in flight that sends nothing for IDLE_MS is closed (a slow-loris client
 * holding a partial line, up to 64 KiB, for ever). At the cap, a new client takes the place of the
 * longest-idle connection (told "busy" and closed), so that idle connections cannot lock the
 * operator out; only when every connection has a request in flight is the new one told "busy".
 * The CLI makes one connection per request, so neither limit touches it.
 */
export const MAX_CONNECTIONS = 256;
export const IDLE_MS = 10_000;

const ERROR_CODES = new Set<string>([
  "bad_request",
  "too_large",
  "unsupported_version",
  "unknown_command",
  "invalid_rule",
  "duplicate",
  "not_found",
  "config_rule",
  "not_applied",
  "state_write",
  "busy",
  "internal",
]);

/** Listens on a Unix socket: mode 0660 (group: opts.group), its directory created if missing. */
export async function startControlServer(
  path: string,
  handler: Handler,
  opts: { gid?: number; maxConnections?: number; idleMs?: number } = {},
): Promise<ControlServer> {
  const maxConnections = opts.maxConnections ?? MAX_CONNECTIONS;
  const idleMs = opts.idleMs ?? IDLE_MS;
  const open = new Set<Socket<Conn>>();
  const busy = (message: string) => encodeLine(errorResponse(null, { code: "busy", message }));
  /** The connection with nothing in flight, held or unwritten that was active longest ago. */
  const longestIdle = (): Socket<Conn> | undefined => {
    let pick: Socket<Conn> | undefined;
    for (const o of open) {
      const c = o.data;
      if (c.closed || c.inFlight > 0 || c.held.length > 0 || c.queued > 0) continue;
      if (!pick || c.lastActive < pick.data.lastActive) pick = o;
    }
    return pick;
  };
  await preparePath(path);
  let listener: UnixSocketListener<Conn>;
  // The socket is created with the umask's mode: make it 0660 from the first instant.
  const oldUmask = process.umask(0o117);
  try {
    listener = Bun.listen<Conn>({
      unix: path,
      socket: {
        open(s) {
          if (open.size >= maxConnections) {
            const victim = longestIdle();
            if (!victim) {
              s.data = { closed: true } as Conn;
              s.end(
                busy(
                  `the supervisor has ${maxConnections} control connections open, each with a request in flight: try again`,
                ),
              );
              return;
            }
            victim.data.closed = true;
            clearTimeout(victim.data.idle);
            open.delete(victim);
            victim.end(
              busy(
                `closed: the supervisor has ${maxConnections} control connections open and this one was the longest idle`,
              ),
            );
          }
          open.add(s);
          s.data = {
            outbox: [],
            queued: 0,
            inFlight: 0,
            held: [],
            paused: false,
            handler,
            closed: false,
            idleMs,
            lastActive: performance.now(),
            framer: undefined as never,
          };
          s.data.framer = new LineFramer(
            MAX_MESSAGE_BYTES,
            (line) => {
              s.data.held.push(line);
              pump(s);
            },
            () =>
              send(
                s,
                errorResponse(null, { code: "too_large", message: `a message is at most ${MAX_MESSAGE_BYTES} bytes` }),
              ),
          );
          armIdle(s);
        },
        data(s, chunk) {
          if (s.data.closed) return;
          s.data.lastActive = performance.now();
          s.data.framer.push(chunk);
          armIdle(s);
        },
        drain(s) {
          flush(s);
        },
        close(s) {
          open.delete(s);
          s.data.closed = true;
          clearTimeout(s.data.idle);
        },
        error(s, err) {
          log.debug(`client connection error: ${err.message}`);
          open.delete(s);
          s.data.closed = true;
          clearTimeout(s.data.idle);
        },
      },
    });
  } catch (e) {
    const code = (e as { code?: string }).code;
    if (code === "EADDRINUSE")
      throw new McrError(`another supervisor took ${path} while this one started`, EX.UNAVAILABLE);
    throw new McrError(`cannot listen on ${path}: ${(e as Error).message}`, EX.CANTCREAT);
  } finally {
    process.umask(oldUmask);
  }
  // 0660 from the umask, no chmod after the fact. The group is set on the path, but that path
  // cannot be swapped: its directory is trusted (checked in preparePath), and lchown follows no link.
  const ino = lstatSync(path).ino;
  if (opts.gid !== undefined) lchownSync(path, -1, opts.gid);
  return {
    path,
    close() {
      listener.stop(true);
      // Remove the file only if it is still the one this process made (a newer supervisor's stays).
      try {
        if (statSync(path).ino === ino) unlinkSync(path);
      } catch {
        /* already gone */
      }
    },
  };
}

/** (Re)starts the idle timer: it fires only if nothing is in flight or waiting to be written then. */
function armIdle(s: Socket<Conn>): void {
  const c = s.data;
  clearTimeout(c.idle);
  c.idle = setTimeout(() => {
    if (c.closed) return;
    if (c.inFlight > 0 || c.held.length > 0 || c.queued > 0) return armIdle(s); // busy, not idle
    log.debug(`closing a control connection silent for ${c.idleMs} ms`);
    c.closed = true;
    s.end();
  }, c.idleMs);
}

/** Handles held requests while the limits allow; pauses or resumes reading the socket. */
function pump(s: Socket<Conn>): void {
  const c = s.data;
  if (c.closed) return;
  while (c.held.length > 0 && c.inFlight < MAX_IN_FLIGHT && c.queued <= OUTBOX_HIGH) {
    c.inFlight++;
    void serve(s, c.held.shift()!, c.handler).finally(() => {
      c.inFlight--;
      pump(s);
    });
  }
  const wait = c.held.length > 0 || c.queued > OUTBOX_HIGH;
  if (wait && !c.paused) s.pause();
  else if (!wait && c.paused && c.queued <= OUTBOX_HIGH / 2) s.resume();
  else return;
  c.paused = wait;
}

async function serve(s: Socket<Conn>, line: string, handler: Handler): Promise<void> {
  let req: Request;
  try {
    req = decodeRequest(line);
  } catch (e) {
    const pe = e as ProtocolError;
    return send(s, errorResponse(pe.id, pe.body));
  }
  try {
    send(s, okResponse(req.id, await handler(req)));
  } catch (e) {
    send(s, errorResponse(req.id, toErrorBody(e, req)));
  }
}

export function toErrorBody(e: unknown, req?: Request): ErrorBody {
  if (e instanceof McrError && ERROR_CODES.has(e.code))
    return { code: e.code as ErrorCode, message: e.message, ...(e.field !== undefined ? { field: e.field } : {}) };
  log.error(`${req?.cmd ?? "request"} failed:`, e);
  return { code: "internal", message: e instanceof Error ? e.message : String(e) };
}

function send(s: Socket<Conn>, msg: Response): void {
  if (s.data.closed) return;
  s.data.lastActive = performance.now();
  const bytes = Buffer.from(encodeLine(msg));
  s.data.outbox.push(bytes);
  s.data.queued += bytes.length;
  flush(s);
}

function flush(s: Socket<Conn>): void {
  const box = s.data.outbox;
  while (box.length > 0 && !s.data.closed) {
    const head = box[0]!;
    const n = s.write(head);
    if (n < 0) {
      s.data.closed = true;
      return;
    }
    s.data.queued -= n;
    if (n < head.length) {
      box[0] = head.subarray(n);
      return; // the kernel's buffer is full: drain() calls again
    }
    box.shift();
  }
  pump(s); // replies drained: held requests may go on
}

/**
 * Makes `path` free to listen on: creates its directory, replaces a socket file nobody listens
 * on (left by a supervisor that was killed), and refuses if a live supervisor answers there.
 */
async function preparePath(path: string): Promise<void> {
  checkTrustedDir(dirname(path), "control-socket-path");
  mkdirSync(dirname(path), { recursive: true, mode: 0o755 });
  let st;
  try {
    st = lstatSync(path);
  } catch {
    return; // nothing there
  }
  if (!st.isSocket())
    throw new McrError(
      `${path} exists and is not a socket: move it away or choose another --control-socket-path`,
      EX.CANTCREAT,
    );
  await refuseIfLive(path);
  log.info(`replacing the stale socket ${path} (nothing was listening on it)`);
  unlinkSync(path);
}

/** Throws McrError (69) if a supervisor answers on path. */
export async function refuseIfLive(path: string): Promise<void> {
  if (await isAlive(path))
    throw new McrError(
      `a supervisor is already listening on ${path}: stop it first, or give this one another --control-socket-path`,
      EX.UNAVAILABLE,
    );
}

/** Whether something accepts connections on the socket file. */
export async function isAlive(path: string): Promise<boolean> {
  try {
    const s = await Bun.connect({ unix: path, socket: { data() {} } });
    s.end();
    return true;
  } catch (e) {
    const code = (e as { code?: string }).code;
    if (code === "ECONNREFUSED" || code === "ENOENT") return false;
    throw new McrError(`cannot check ${path}: ${(e as Error).message}`, EX.UNAVAILABLE);
  }
}
