// Drop reasons, in the order of the shim's counters (shim/mcr_shim.h, enum mcr_drop). Keep both in step.
export const DROP_REASONS = [
  "runt", // shorter than an Ethernet header
  "vlan_truncated", // 802.1Q tag cut short
  "vlan_nested", // more than one tag left in the frame
  "not_ipv4", // EtherType other than IPv4 (ARP, IPv6, ...)
  "ip_truncated", // fewer than 20 bytes of IPv4 header
  "ip_version", // version field is not 4
  "ip_ihl", // IHL below 5, or beyond the frame
  "ip_options", // IHL above 5: options are not relayed
  "ip_checksum", // IPv4 header checksum wrong
  "ip_length", // total length below the header or beyond the frame
  "ip_fragment", // MF set or offset non-zero
  "not_udp", // protocol other than UDP
  "udp_truncated", // fewer than 8 bytes of UDP header
  "udp_length", // UDP length below 8 or beyond the IP payload
  "frame_truncated", // frame longer than a ring slot (tp_snaplen < tp_len)
  "no_rule", // well-formed, but no rule for (interface, group, port)
  "send_error", // the kernel refused an egress send (per output copy)
  "egress_full", // the egress interface's transmit ring stayed full (per output copy)
  "udp_checksum", // a wrong UDP checksum on input, for an output whose UDP socket would make it right (per output copy)
] as const;

export type DropReason = (typeof DROP_REASONS)[number];
