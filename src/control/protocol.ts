// The control socket's protocol, version 1 (docs/control-protocol.md).
// A Unix stream socket carrying newline-delimited JSON, one request -> one response:
//   {"v":1,"id":7,"cmd":"rule.add","args":{...}}
//   {"v":1,"id":7,"ok":true,"result":{...}}  or  {"v":1,"id":7,"ok":false,"error":{"code","message","field"?}}
// Requests on one connection may be answered out of order: match them by id.
import {
  COMMANDS,
  PROTOCOL_VERSION,
  type Command,
  type ErrorBody,
  type ErrorCode,
  type Request,
  type RequestId,
  type Response,
} from "../types/control.ts";

/** Longest line either side accepts, newline excluded. A rule with hundreds of outputs fits. */
export const MAX_MESSAGE_BYTES = 64 * 1024;
export const DEFAULT_SOCKET_PATH = "/run/mcr/mcr.sock";

export function encodeLine(msg: Request | Response): string {
  return JSON.stringify(msg) + "\n";
}

export function okResponse(id: RequestId | null, result: unknown): Response {
  return { v: PROTOCOL_VERSION, id, ok: true, result };
}

export function errorResponse(id: RequestId | null, error: ErrorBody): Response {
  return { v: PROTOCOL_VERSION, id, ok: false, error };
}

/**
 * Checks a request line's envelope (not the command's args: the handler checks those).
 * Throws a ProtocolError carrying whatever id could be read, so that the reply can name it.
 */
export function decodeRequest(line: string): Request {
  let x: unknown;
  try {
    x = JSON.parse(line);
  } catch (e) {
    throw new ProtocolError(null, { code: "bad_request", message: `not JSON: ${(e as Error).message}` });
  }
  if (typeof x !== "object" || x === null || Array.isArray(x))
    throw new ProtocolError(null, { code: "bad_request", message: "a request must be a JSON object" });
  const r = x as Record<string, unknown>;
  const id = typeof r.id === "number" || typeof r.id === "string" ? r.id : null;
  const fail = (code: ErrorCode, message: string, field?: string): never => {
    throw new ProtocolError(id, { code, message, ...(field ? { field } : {}) });
  };
  if (r.v !== PROTOCOL_VERSION)
    fail(
      "unsupported_version",
      `protocol version ${JSON.stringify(r.v)} is not supported (this supervisor speaks v${PROTOCOL_VERSION})`,
      "v",
    );
  if (id === null) fail("bad_request", "id must be a number or a string", "id");
  if (typeof r.cmd !== "string") fail("bad_request", "cmd must be a string", "cmd");
  if (!COMMANDS.includes(r.cmd as Command))
    fail("unknown_command", `unknown command "${String(r.cmd).slice(0, 64)}" (known: ${COMMANDS.join(", ")})`, "cmd");
  const args = r.args === undefined ? {} : r.args;
  if (typeof args !== "object" || args === null || Array.isArray(args))
    fail("bad_request", "args must be an object", "args");
  for (const k of Object.keys(r))
    if (!["v", "id", "cmd", "args"].includes(k)) fail("bad_request", `unknown field "${k}"`, k);
  return { v: PROTOCOL_VERSION, id: id!, cmd: r.cmd as Command, args: args as never };
}

export class ProtocolError extends Error {
  constructor(
    readonly id: RequestId | null,
    readonly body: ErrorBody,
  ) {
    super(body.message);
    this.name = "ProtocolError";
  }
}

/** Checks a response line from the supervisor (the client's side of decodeRequest). */
export function decodeResponse(line: string): Response {
  const x = JSON.parse(line) as Response;
  if (typeof x !== "object" || x === null || x.v !== PROTOCOL_VERSION || typeof x.ok !== "boolean")
    throw new Error(`not a v${PROTOCOL_VERSION} response: ${line.slice(0, 200)}`);
  if (!x.ok && (typeof x.error?.code !== "string" || typeof x.error?.message !== "string"))
    throw new Error(`malformed error response: ${line.slice(0, 200)}`);
  return x;
}
