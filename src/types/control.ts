// The control socket's messages, version 1 (docs/control-protocol.md): what the CLI, the control
// server and the supervisor all read. Framing and checking of lines: src/control/protocol.ts.
import { EX, McrError } from "../errors.ts";
import type { Output, Rule, RuleChange, RuleInput, RuleRef } from "./rules.ts";
import type { StatsReport } from "./stats.ts";
import type { FailedOutput, InputState } from "./worker.ts";

export const PROTOCOL_VERSION = 1;
export type RequestId = number | string;

/** What each command takes and returns. */
export interface Commands {
  /** dryRun: validated against the live table, nothing changes; the reply shows the rule it would be. */
  "rule.add": { args: RuleInput & { dryRun?: boolean }; result: { rule: Rule; warnings: string[]; dryRun?: true } };
  "rule.remove": { args: { id: RuleRef }; result: { rule: Rule } };
  /** New outputs for a rule, in place: same id, name and counters; outputs that stay never pause. */
  "rule.replace": {
    args: { id: RuleRef; outputs: Output[]; dryRun?: boolean };
    result: { rule: Rule; warnings: string[]; dryRun?: true };
  };
  /** A batch applied as one table (one version), or refused whole. */
  "rule.apply": {
    args: { changes: RuleChange[]; dryRun?: boolean };
    result: { version: number; added: Rule[]; removed: Rule[]; replaced: Rule[]; warnings: string[]; dryRun?: true };
  };
  "rule.list": { args: Record<string, never>; result: RuleList };
  stats: { args: Record<string, never>; result: StatsReport };
  status: { args: Record<string, never>; result: Status };
}
export type Command = keyof Commands;
export const COMMANDS: readonly Command[] = [
  "rule.add",
  "rule.remove",
  "rule.replace",
  "rule.apply",
  "rule.list",
  "stats",
  "status",
];

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
  | "duplicate" // a rule for the same input, or with the same name, exists
  | "not_found" // no rule with that id or name
  | "config_rule" // the rule comes from the config file: change it there and reload
  | "not_applied" // accepted and saved, but not every worker confirmed it in time
  | "state_write" // the state file could not be written: nothing changed
  | "busy" // the supervisor has as many connections as it takes: try again
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

/** Answers one request; the server turns a throw into an error reply. */
export type Handler = (req: Request) => Promise<unknown> | unknown;

export interface ControlServer {
  path: string;
  /** Stops listening, closes every connection and removes the socket file (if it is still ours). */
  close(): void;
}

/** Listens on a Unix socket and hands each request to the handler (src/control/server.ts). */
export interface ControlServerOptions {
  gid?: number;
  maxConnections?: number; // beyond it a new connection is told "busy" and closed
  idleMs?: number; // a connection with nothing in flight that sends nothing this long is closed
}
export type StartControlServer = (
  path: string,
  handler: Handler,
  opts?: ControlServerOptions,
) => Promise<ControlServer>;
/** Throws when a supervisor already listens on the socket path. */
export type RefuseIfLive = (path: string) => Promise<void>;

// The error codes' meaning to the CLI: the one piece of code here, because the supervisor that
// throws them and the client that exits on them must agree.
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
    case "busy":
      return EX.TEMPFAIL;
    case "state_write":
      return EX.CANTCREAT;
    default:
      return EX.SOFTWARE; // the client and the supervisor disagree on the protocol: a bug
  }
}
