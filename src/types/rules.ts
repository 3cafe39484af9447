// Rules as the CLI, the control socket, the config file, the supervisor and the workers all see them.

/** One destination of a rule: a multicast group (or unicast host), a port, the interface to send from. */
export interface Output {
  group: string; // dotted IPv4; multicast group or unicast host
  port: number; // 1..65535
  interface: string; // egress interface name
  ttl: number; // 1..255; 1 is the kernel's multicast default; TTL_FROM_INPUT: the input's less one
  dscp?: number; // 0..63: set; absent: DSCP (and ECN, always) kept from the input
  rate?: number; // packets per second; absent: no limit
  burst?: number; // packets the rate limit lets through at once (with rate; default a tenth of a second's worth)
}

/** What an operator asks for: input (interface, group, port) mapped to outputs. */
export interface RuleSpec {
  inputInterface: string;
  inputGroup: string;
  inputPort: number;
  /** Only datagrams from these sources (IPv4 addresses or prefixes, "10.1.0.0/16"); absent: any source. */
  inputSources?: string[];
  /** Only frames tagged with this VLAN (1..4094); absent: untagged frames only. */
  inputVlan?: number;
  outputs: Output[];
}

/** A rule accepted by the supervisor. Ids are small positive integers, never reused in one state file. */
export interface Rule extends RuleSpec {
  id: number;
  /** "config": declared in the --config file, changed by editing it and reloading. Absent: added at runtime. */
  origin?: "config";
}

export const DEFAULT_TTL = 1;
/** An output's `ttl=-1`: the input's TTL less one (a datagram that arrives with 1 is dropped). */
export const TTL_FROM_INPUT = -1;

/** A rule as a client sends it: the supervisor fills in the input interface when it serves one. */
export type RuleInput = Omit<RuleSpec, "inputInterface"> & { inputInterface?: string };
