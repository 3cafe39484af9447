// Everything the TypeScript side shares with the C shim's memory, in one place: struct sizes and
// field offsets (bytes, little-endian), counter indices, enum values and flag bits. Each number here
// is pinned on the C side by a _Static_assert in shim/abi.c, and test/ffi/abi.test.ts checks that
// the two files agree. Change one, change the other, and bump SHIM_ABI with MCR_SHIM_ABI.

/** MCR_SHIM_ABI (shim/mcr_shim.h): src/native/shim.ts refuses a library built with another. */
export const SHIM_ABI = 12;

/** Drop reasons, in the order of enum mcr_drop: drop counter i counts reason i. */
export const DROP_REASONS = [
  "runt", // shorter than an Ethernet header
  "vlan_truncated", // 802.1Q tag cut short
  "vlan_nested", // more than one tag left in the frame
  "not_ipv4", // EtherType other than IPv4 or IPv6 (ARP, ...)
  "ip_truncated", // fewer than 20 bytes of IPv4 header
  "ip_version", // version field is not the EtherType's (4 for IPv4, 6 for IPv6)
  "ip_ihl", // IHL below 5, or beyond the frame
  "ip_options", // IHL above 5: options are not relayed
  "ip_checksum", // IPv4 header checksum wrong
  "ip_length", // total length below the header or beyond the frame
  "ip_fragment", // MF set or offset non-zero; an IPv6 fragment header
  "not_udp", // protocol (IPv6: the header after the extension headers) other than UDP
  "udp_truncated", // fewer than 8 bytes of UDP header
  "udp_length", // UDP length below 8 or beyond the IP payload
  "frame_truncated", // frame longer than a ring slot (tp_snaplen < tp_len)
  "no_rule", // well-formed, but no rule for (interface, group, port)
  "send_error", // the kernel refused an egress send (per output copy)
  "egress_full", // the egress interface's transmit ring stayed full (per output copy)
  "udp_checksum", // a wrong UDP checksum on input, for an output whose UDP socket would make it right (per output copy)
  "ttl_expired", // an output with ttl=-1, a datagram that arrived with TTL 1 (per output copy)
  "rate_limited", // over the output's rate=/burst= (per output copy)
  "loop", // a link-local frame of the relay's own (its MAC or address) back on an input
  "ip6_truncated", // fewer than 40 bytes of IPv6 header
  "ip6_length", // IPv6 payload length 0 (jumbogram) or beyond the frame
  "ip6_ext", // an IPv6 extension header cut short, out of place, or more than 8 of them
  "worker_died", // queued by a worker that died before it submitted the send (per output copy)
  "not_rtp", // on a leg of an rtp merge rule: no RTP version 2 header
] as const;

export type DropReason = (typeof DROP_REASONS)[number];

/** Worker-wide counters (enum mcr_counter), uint64 each; DROPS is the first of the drop counters. */
export const COUNTER = {
  RX_FRAMES: 0,
  RX_BYTES: 1,
  BATCHES: 2,
  RING_PACKETS: 3,
  RING_DROPS: 4,
  TX_PACKETS: 5,
  TX_BYTES: 6,
  TX_ERRORS: 7,
  RX_FOREIGN: 8, // other hosts' or VLANs' frames past a coarsened input filter: not input, no drop
  WAKEUPS: 9, // returns from a poll(2) that was allowed to sleep
  SPINS: 10, // adaptive mode: spins after a batch
  SPIN_HITS: 11, // spins that found frames (a wakeup saved)
  HEARTBEAT: 12, // bumped by the worker on every turn of its data-plane loop
  DROPS: 13,
} as const;

/**
 * enum mcr_poll_mode, in order (mode i is value i): how a worker waits when its rings are empty.
 * adaptive: watch the rings a while after a batch, then sleep; busy: never sleep; sleep: at once.
 */
export const POLL_MODES = ["adaptive", "busy", "sleep"] as const;

export type PollMode = (typeof POLL_MODES)[number];

/**
 * enum mcr_egress_mode, in order (mode i is value i): how multicast outputs leave.
 * ring: a TPACKET_V2 transmit ring, one send a batch (the default); sendmsg: an io_uring SENDMSG a
 * frame on the packet socket, payload from the receive ring, unfinished checksums left to the
 * device; socket: an io_uring SENDMSG a datagram on the output's UDP socket; zc: the same with
 * SENDMSG_ZC; gso: sendmsg, runs of like datagrams of one output as one send that the device or
 * the kernel cuts (UDP segmentation offload).
 */
export const EGRESS_MODES = ["ring", "sendmsg", "socket", "zc", "gso"] as const;

export type EgressMode = (typeof EGRESS_MODES)[number];

/**
 * enum mcr_rx_mode, in order (mode i is value i): how the receive rings hand frames over.
 * frames: TPACKET_V2, each frame as soon as it is written (the default: the lowest latency);
 * blocks: TPACKET_V3, blocks of frames, each when full or at its retire timer (less work for the
 * kernel on the receiving CPU for each frame, up to a millisecond of latency on a slow stream).
 */
export const INGRESS_MODES = ["frames", "blocks"] as const;

export type IngressMode = (typeof INGRESS_MODES)[number];

/** MCR_C__COUNT: the worker-wide counters, drop counters included. */
export const N_COUNTERS = COUNTER.DROPS + DROP_REASONS.length;

/** mcr_worker_input_add's fanout id for a new group with an id the kernel picks (MCR_FANOUT_NEW). */
export const FANOUT_NEW = 0x10000;
/** mcr_worker_input_add's fanout id for a ring of the worker's own that reads its merge legs (MCR_INPUT_MERGE), with one INPUT_MERGE_MODE. */
export const INPUT_MERGE = 0x20000;
/** With INPUT_MERGE: the legs of one merge mode only (MCR_INPUT_MERGE_RTP: on a ring of the worker's ingress mode; MCR_INPUT_MERGE_FAILOVER: on a ring of frames). */
export const INPUT_MERGE_MODE = { rtp: 0x40000, failover: 0x80000 } as const;

/** After the worker-wide counters (MCR_COUNTERS_LEN): rule slots x these, then output slots x these. */
export const RULE_COUNTER = { PACKETS: 0, BYTES: 1, COUNT: 2 } as const;
export const OUTPUT_COUNTER = { PACKETS: 0, BYTES: 1, ERRORS: 2, COUNT: 3 } as const;
/** MCR_JOURNAL_LEN: the send journal's entries, after the output counters. */
export const JOURNAL_LEN = 4096;
/** A journal entry's fields (MCR_JOURNAL_*): bit 63 in use, bit 62 submitted, the output slot
 * from bit SLOT_SHIFT, the payload length in bits 0..15. */
export const JOURNAL = { VALID_BIT: 63, SUBMITTED_BIT: 62, SLOT_SHIFT: 16 } as const;

/** MCR_COUNTERS_LEN: the uint64 words of a worker's counter memory. */
export function countersLen(ruleSlots: number, outputSlots: number): number {
  return N_COUNTERS + ruleSlots * RULE_COUNTER.COUNT + outputSlots * OUTPUT_COUNTER.COUNT + JOURNAL_LEN;
}

/**
 * struct mcr_rule_entry: one rule of the flat table TypeScript writes for mcr_worker_rules_set.
 * Addresses are 16 bytes, network order, IPv4 as ::ffff:a.b.c.d (its prefix lengths then 96 + n).
 */
export const RULE_ENTRY = {
  BYTES: 56,
  IN_IFINDEX: 0, // u32
  GROUP: 4, // 16 bytes
  SOURCE: 20, // 16 bytes, masked to SOURCE_LEN (one entry per source of a rule)
  PORT: 36, // u16
  N_OUTPUTS: 38, // u16
  FIRST_OUTPUT: 40, // u32
  COUNTER_SLOT: 44, // u32
  VLAN: 48, // u16, 0: untagged
  SOURCE_LEN: 50, // u8, prefix length 0..128 (IPv4 96..128); 0 (IPv4 96): any source
  FAMILY: 51, // u8, 4 or 6
  FLAGS: 52, // u8, RULE_FLAG bits
  LEG: 53, // u8, with RULE_FLAG.MERGE: the leg of the merge (0: the primary)
  MERGE: 54, // u16, with RULE_FLAG.MERGE: index into the merge table
} as const;

/** MCR_RULE_* bits of RULE_ENTRY.FLAGS: MERGE: a leg of a merge rule (read on merge inputs only). */
export const RULE_FLAG = { MERGE: 1 } as const;

/** struct mcr_merge_entry: one merge rule of the table mcr_worker_merges_set takes. */
export const MERGE_ENTRY = {
  BYTES: 24,
  COUNTER_SLOT: 0, // u32, merge counter slot
  MODE: 4, // u8, MERGE_MODE
  N_LEGS: 5, // u8, 2..MERGE_LEGS_MAX
  WINDOW_MS: 8, // u32, rtp: the window in ms, or 0 with WINDOW_PACKETS
  WINDOW_PACKETS: 12, // u32, rtp: the window in packets (1..4096), or 0 with WINDOW_MS
  FAILOVER_MS: 16, // u32, failover: the silence after which the next live leg goes
  REVERT_MS: 20, // u32, failover: how long the first leg is steady before it is back
} as const;

/** enum mcr_merge_mode. */
export const MERGE_MODE = { RTP: 1, FAILOVER: 2 } as const;
export const MERGE_LEGS_MAX = 4;
/** MCR_MERGE_WINDOW_PACKETS_MAX: the widest rtp window in packets the shim takes (its slots are allocated with the table). */
export const MERGE_WINDOW_PACKETS_MAX = 4096;

/** A merge slot's counters (MCR_MERGE_COUNTERS uint64): the rule's at RULE, then each leg's at LEGS + leg x LEG. */
export const MERGE_COUNTER = {
  OUT: 0, // packets sent on
  LOST: 1, // sequence numbers no leg brought within the window
  SWITCHES: 2, // failover: changes of the forwarded leg
  ACTIVE: 3, // failover: the forwarded leg (a gauge)
  HELD: 4, // rtp: packets held now (a gauge)
  TOO_LARGE: 5, // rtp: had to wait, longer than a slot: dropped
  RESTARTS: 6, // rtp: streams taken up anew (new SSRC, jump past the window)
  RULE: 8, // the rule's counters take this many words (MCR_MC__RULE)
  COUNT: 40, // MCR_MERGE_COUNTERS
} as const;
export const MERGE_LEG_COUNTER = {
  PACKETS: 0,
  UNIQUE: 1, // its copy went out
  DUPLICATES: 2, // another leg's copy went out (failover: standing by)
  LATE: 3, // beyond the window, or after the hole was given up
  GAPS: 4, // sequence numbers missing on this leg
  NOT_RTP: 5,
  LAST_NS: 6, // CLOCK_MONOTONIC of its last packet (0: none)
  COUNT: 8, // MCR_ML__COUNT
} as const;

/** struct mcr_output_entry. */
export const OUTPUT_ENTRY = {
  BYTES: 56,
  IFINDEX: 0, // u32
  SOURCE: 4, // 16 bytes, the interface's address of DEST's family
  DEST: 20, // 16 bytes, IPv4 as ::ffff:a.b.c.d
  PORT: 36, // u16
  TTL: 38, // u8, TTL or hop limit
  FLAGS: 39, // u8, OUTPUT_FLAG bits
  COUNTER_SLOT: 40, // u32
  RATE: 44, // u32, packets per second, 0: no limit
  BURST: 48, // u32, packets
  DSCP: 52, // u8, with OUTPUT_FLAG.DSCP_SET
  FAMILY: 53, // u8, 4 or 6
  BUCKET: 54, // u16, with RATE: 1 + the output's bucket in the shared bucket region; 0: the worker's own
} as const;

/** MCR_BUCKET_WORDS: uint64 words from one rate-limit bucket to the next (a cache line), the first one the bucket. */
export const BUCKET_WORDS = 8;

/** MCR_OUT_* bits of OUTPUT_ENTRY.FLAGS: TTL_INPUT: the input's TTL less one; DSCP_SET: DSCP given (else kept). */
export const OUTPUT_FLAG = { TTL_INPUT: 1, DSCP_SET: 2 } as const;

/** struct mcr_frame_info: what mcr_frame_parse writes. */
export const FRAME_INFO = {
  BYTES: 44,
  GROUP: 0, // 16 bytes, network order; IPv4 as ::ffff:a.b.c.d
  SOURCE: 16, // 16 bytes, as GROUP
  PORT: 32, // u16
  SPORT: 34, // u16
  PAYLOAD_OFF: 36, // u16
  PAYLOAD_LEN: 38, // u16
  IP_OFF: 40, // u16: the IP header's offset in the frame
  FAMILY: 42, // u8: 4 or 6
} as const;

/** struct mcr_udp_addr: a destination (gen) or a listen entry (sink). */
export const UDP_ADDR = {
  BYTES: 20,
  ADDR: 0, // 16 bytes, network order, IPv4 as ::ffff:a.b.c.d
  PORT: 16, // u16
} as const;

/** struct mcr_udp_record: one received datagram, as mcr_udp_receiver_recv writes it. */
export const UDP_RECORD = {
  BYTES: 32,
  SEQ: 0, // f64
  LATENCY_NS: 8, // f64
  RUN_ID: 16, // u32
  STREAM: 20, // u16
  ENTRY: 22, // u16, 0xffff: no entry matched
  LENGTH: 24, // u32
  STATUS: 28, // u8, UDP_STATUS
  FLAGS: 29, // u8, UDP_RECORD_FLAG
  RTP_SEQ: 30, // u16, with UDP_RECORD_FLAG.RTP (RUN_ID is then the SSRC)
} as const;

/** enum mcr_udp_status. */
export const UDP_STATUS = { OK: 0, FOREIGN: 1, CORRUPT: 2, TRUNCATED: 3 } as const;

/** MCR_UDP_REC_* bits of UDP_RECORD.FLAGS. */
export const UDP_RECORD_FLAG = { KERNEL_TS: 1, RTP: 2 } as const;

/** MCR_RTP_HDR_LEN: the RTP header `mcr gen --legs` puts before its own; MCR_UDP_MAX_LEGS. */
export const RTP_HDR_LEN = 12;
export const UDP_MAX_LEGS = 4;

/** MCR_UDP_TX_* bits of mcr_udp_sender_open's flags. */
export const UDP_TX_FLAG = { LOOP: 1, PACKET: 2 } as const;

/** enum mcr_udp_tx_stat: the sender's uint64 counters. */
export const UDP_TX_STAT = {
  PACKETS: 0,
  BYTES: 1,
  ERRORS: 2,
  LAST_ERRNO: 3,
  SYSCALLS: 4,
  BATCHES: 5,
  SLEEPS: 6,
  MAX_LAG_NS: 7,
  FIRST_NS: 8,
  LAST_NS: 9,
  COUNT: 10,
} as const;

/** enum mcr_udp_rx_stat: the receiver's uint64 counters. */
export const UDP_RX_STAT = {
  DATAGRAMS: 0,
  BYTES: 1,
  SYSCALLS: 2,
  WAITS: 3,
  SOCKET_DROPS: 4,
  RCVBUF: 5,
  SOCKETS: 6,
  COUNT: 7,
} as const;

/** MCR_UDP_MAX_DESTS: gen opens one connected socket per destination, up to this many. */
export const UDP_MAX_DESTS = 1024;
