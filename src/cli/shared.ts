// Flags that several commands take, declared once.
import { DEFAULT_SOCKET_PATH } from "../control/protocol.ts";

/**
 * The control socket. Clients call it --socket-path and the supervisor --control-socket-path;
 * both names work on every command, and MCR_SOCKET in the environment stands in for the flag.
 */
export const socketPath = {
  type: "string",
  alias: ["control-socket-path"],
  env: "MCR_SOCKET",
  default: DEFAULT_SOCKET_PATH,
  valueHint: "PATH",
  description: "the supervisor's control socket",
} as const;

export const controlSocketPath = {
  type: "string",
  alias: ["socket-path"],
  env: "MCR_SOCKET",
  valueHint: "PATH",
  description: `where \`mcr rule\` and \`mcr stats\` reach the supervisor (default ${DEFAULT_SOCKET_PATH})`,
} as const;

export const json = (description: string) => ({ type: "boolean", short: "j", description }) as const;
