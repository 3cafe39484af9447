// The control socket's protocol, version 1 (docs/control-protocol.md).
// A Unix stream socket carrying newline-delimited JSON, one request -> one response:
//   {"v":1,"id":7,"cmd":"rule.add","args":{...}}
//   {"v":1,"id":7,"ok":true,"result":{...}}  or  {"v":1,"id":7,"ok":false,"error":{"code","message","field"?}}
// Requests on one connection may be answered out of order: match them by id.
import { EX, McrError } from "../errors.ts";
import type { Rule } from "../rules/types.ts";
import type { RuleInput } from "../rules/validate.ts";
import type { FailedOutput, InputState } from "../worker/protocol.ts";
import type { StatsReport } from "../stats/aggregate.ts";

export const PROTOCOL_VERSION = 1;
/** Longest line either side accepts, newline excluded. A rule with hundreds of outputs fits. */
export const MAX_MESSAGE_BYTES = 64 * 1024;
export const DEFAULT_SOCKET_PATH = "/run/mcr/mcr.sock";

export type RequestId = number | string;

/** What each command takes and returns. */
export interface Commands {
  "rule.add": { args: RuleInput; result: { rule: Rule; warnings: string[] } };
  "rule.remove": { args: { id: number }; result: { rule: Rule } };
  "rule.list": { args: Record<string, never>; result: RuleList };
  stats: { args: Record<string, never>; result: StatsReport };
  status: { args: Record<string, never>; result: Status };
}
export type Command = keyof Commands;
export const COMMANDS: readonly Command[] = ["rule.add", "rule.remove", "rule.list", "stats", "status"];

export interface Request<C extends Command = Command> {
  v: typeof PROTOCOL_VERSION;
  id: RequestId;
  cmd: C;
  args: Commands[C]["args"];
}

export type ErrorCode =
  | "bad_request" // not JSON, not an object, a field of the wrong type
  | "too_large" // the line exceeded MAX_MESSAGE_BYTES
  | "unsupported_version" // v is not one this supervisor speaks
  | "unknown_command"
  | "invalid_rule" // the rule is refused; field names what is wrong
  | "duplicate" // a rule for the same input exists
  | "not_found" // no rule with that id
  | "config_rule" // the rule comes from the config file: change it there and reload
  | "not_applied" // accepted and saved, but not every worker confirmed it in time
  | "state_write" // the state file could not be written: nothing changed
  | "internal";

export interface ErrorBody {
  code: ErrorCode;
  message: string;
  field?: string; // a path into the request's args, e.g. "inputPort" or "outputs[1].ttl"
}

export type Response =
  | { v: typeof PROTOCOL_VERSION; id: RequestId | null; ok: true; result: unknown }
  | { v: typeof PROTOCOL_VERSION; id: RequestId | null; ok: false; error: ErrorBody };

/** A worker as the supervisor sees it. */
export interface WorkerView {
  index: number;
  cpu: number;
  pid: number | null;
  state: "starting" | "ready" | "restarting" | "stopping" | "stopped";
  restarts: number;
  appliedVersion: number; // the rule-table version it last confirmed
  inputs: InputState[];
  /** Outputs this worker holds out of service (the kernel refused them); absent when none. */
  failedOutputs?: FailedOutput[];
  lastExit?: { code: number | null; signal: string | null; at: string; ranMs: number };
}

export interface RuleList {
  version: number; // bumped on every change; workers confirm it
  rules: Rule[];
  workers: WorkerView[];
}

export interface Status {
  pid: number;
  version: string; // mcr's
  protocol: number;
  interfaces: string[];
  socketPath: string;
  stateFile: string;
  startedAt: string;
  tableVersion: number;
  rules: number;
  workers: WorkerView[];
  config?: { path: string; lastReload?: { at: string; ok: boolean; error?: string } };
}

export function encodeLine(msg: Request | Response): string {
  return JSON.stringify(msg) + "\n";
}

export function okResponse(id: RequestId | null, result: unknown): Response {
  return { v: PROTOCOL_VERSION, id, ok: true, result };
}

export function errorResponse(id: RequestId | null, error: ErrorBody): Response {
  return { v: PROTOCOL_VERSION, id, ok: false, error };
}

/** An error that travels as an error reply; exitCode is what the CLI leaves with. */
export function controlError(code: ErrorCode, message: string, field?: string): McrError {
  return new McrError(message, exitCodeOf(code), field, code);
}

/** sysexits code for an error reply, so `mcr rule add` exits the same for local and remote refusals. */
export function exitCodeOf(code: string): number {
  switch (code) {
    case "invalid_rule":
    case "duplicate":
    case "not_found":
    case "config_rule":
      return EX.DATAERR;
    case "not_applied":
      return EX.TEMPFAIL;
    case "state_write":
      return EX.CANTCREAT;
    default:
      return EX.SOFTWARE; // the client and the supervisor disagree on the protocol: a bug
  }
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
