// Rules as the CLI, the control socket, the config file, the supervisor and the workers all see them.

/** One destination of a rule: a multicast group (or unicast host), a port, the interface to send from. */
export interface Output {
  group: string; // IPv4 (dotted) or IPv6 (RFC 5952 text, no brackets), of either family whatever the input's; multicast group or unicast host
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
  /** A multicast group, IPv4 (dotted) or IPv6 (RFC 5952 text, no brackets); or an IPv4 address of the input interface (a unicast input). */
  inputGroup: string;
  inputPort: number;
  /** Only datagrams from these sources, of the group's family (addresses or prefixes: "10.1.0.0/16", "2001:db8::/32"); absent: any source. */
  inputSources?: string[];
  /** Only frames tagged with this VLAN (1..4094); absent: untagged frames only. */
  inputVlan?: number;
  outputs: Output[];
  /** An operator's name for the rule (src/values/name.ts): unique, and kept across config reloads. */
  name?: string;
  /** Lets the input group be link-local (224.0.0.0/24, e.g. mDNS), with outputs on other interfaces. */
  allowLinkLocal?: boolean;
  /** A merge rule: the input fields above are its first leg (the primary), `merge.legs` the others. */
  merge?: MergeSpec;
}

/** One further input of a merge rule: `--input IFACE:GROUP:PORT[:SOURCE]`. */
export interface InputLeg {
  interface: string;
  group: string;
  port: number;
  /** Only datagrams from this source (an address, no prefix); absent: any source. */
  source?: string;
}

/**
 * How a rule's legs (two to four, the first being the rule's own input) become one stream.
 * "rtp": per SSRC, the first copy of each sequence number goes out, in sequence order (SMPTE ST 2022-7).
 * "failover": the first leg is forwarded while it is live; after `failoverAfterMs` of silence the
 * next live leg is; back to the first once it has been steady for `revertAfterMs`.
 */
export type MergeSpec =
  | {
      mode: "rtp";
      legs: InputLeg[]; // the second to fourth legs
      /** The window, in milliseconds (default MERGE_WINDOW_MS) ... */
      windowMs?: number;
      /** ... or in packets (one or the other). */
      windowPackets?: number;
    }
  | {
      mode: "failover";
      legs: InputLeg[];
      failoverAfterMs: number;
      /** Absent: DEFAULT_REVERT_AFTER_MS. */
      revertAfterMs?: number;
    };

export type MergeMode = MergeSpec["mode"];

export const MERGE_WINDOW_MS = 50;
export const DEFAULT_REVERT_AFTER_MS = 5000;

/** A rule accepted by the supervisor. Ids are small positive integers, never reused in one state file. */
export interface Rule extends RuleSpec {
  id: number;
  /** "config": declared in the --config file, changed by editing it and reloading. Absent: added at runtime. */
  origin?: "config";
}

export const DEFAULT_TTL = 1;
/** An output's `ttl=-1`: the input's TTL less one (a datagram that arrives with 1 is dropped). */
export const TTL_FROM_INPUT = -1;

/** How a command names a rule: its id, or its name. */
export type RuleRef = number | string;

/** A rule as a client sends it: the supervisor fills in the input interface when it serves one. */
export type RuleInput = Omit<RuleSpec, "inputInterface"> & { inputInterface?: string };

/** One entry of a batch (`mcr rule apply`): applied in order to one table, all or nothing. */
export type RuleChange =
  | { op: "add"; rule: RuleInput }
  | { op: "remove"; id: RuleRef }
  | { op: "replace"; id: RuleRef; outputs: Output[] };
