// Rules as the CLI, the control socket, the config file, the supervisor and the workers all see them.

/** One destination of a rule: a multicast group (or unicast host), a port, the interface to send from. */
export interface Output {
  group: string; // dotted IPv4; multicast group or unicast host
  port: number; // 1..65535
  interface: string; // egress interface name
  ttl: number; // 1..255; 1 is the kernel's multicast default
}

/** What an operator asks for: input (interface, group, port) mapped to outputs. */
export interface RuleSpec {
  inputInterface: string;
  inputGroup: string;
  inputPort: number;
  outputs: Output[];
}

/** A rule accepted by the supervisor. Ids are small positive integers, never reused in one state file. */
export interface Rule extends RuleSpec {
  id: number;
  /** "config": declared in the --config file, changed by editing it and reloading. Absent: added at runtime. */
  origin?: "config";
}

export const DEFAULT_TTL = 1;

/** A rule as a client sends it: the supervisor fills in the input interface when it serves one. */
export type RuleInput = Omit<RuleSpec, "inputInterface"> & { inputInterface?: string };
