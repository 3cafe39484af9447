/* SPDX-License-Identifier: MIT */
/* What TypeScript reads and writes in this library's memory, pinned: every size, offset and count
 * here is written down once more in src/native/abi.ts, and test/ffi/abi.test.ts checks the two
 * agree. A change here that is not made there fails the build; the other way round, the test. */
#include <stddef.h>
#include "internal.h"
#include "tools/mcr_tools.h"

#define SIZE(type, n) _Static_assert(sizeof(type) == (n), #type ": size")
#define AT(type, field, n) _Static_assert(offsetof(type, field) == (n), #type "." #field ": offset")
#define IS(expr, n) _Static_assert((expr) == (n), #expr)

SIZE(struct mcr_rule_entry, 56);
AT(struct mcr_rule_entry, in_ifindex, 0);
AT(struct mcr_rule_entry, group, 4);
AT(struct mcr_rule_entry, source, 20);
AT(struct mcr_rule_entry, port, 36);
AT(struct mcr_rule_entry, n_outputs, 38);
AT(struct mcr_rule_entry, first_output, 40);
AT(struct mcr_rule_entry, counter_slot, 44);
AT(struct mcr_rule_entry, vlan, 48);
AT(struct mcr_rule_entry, source_len, 50);
AT(struct mcr_rule_entry, family, 51);
AT(struct mcr_rule_entry, flags, 52);
AT(struct mcr_rule_entry, leg, 53);
AT(struct mcr_rule_entry, merge, 54);
IS(MCR_RULE_MERGE, 1);

SIZE(struct mcr_merge_entry, 24);
AT(struct mcr_merge_entry, counter_slot, 0);
AT(struct mcr_merge_entry, mode, 4);
AT(struct mcr_merge_entry, n_legs, 5);
AT(struct mcr_merge_entry, window_ms, 8);
AT(struct mcr_merge_entry, window_packets, 12);
AT(struct mcr_merge_entry, failover_ms, 16);
AT(struct mcr_merge_entry, revert_ms, 20);
IS(MCR_MERGE_RTP, 1);
IS(MCR_MERGE_FAILOVER, 2);
IS(MCR_MERGE_LEGS_MAX, 4);
IS(MCR_MERGE_WINDOW_PACKETS_MAX, 4096);
IS(MCR_MERGE_COUNTERS, 40);
IS(MCR_MC_OUT, 0);
IS(MCR_MC_LOST, 1);
IS(MCR_MC_SWITCHES, 2);
IS(MCR_MC_ACTIVE, 3);
IS(MCR_MC_HELD, 4);
IS(MCR_MC_TOO_LARGE, 5);
IS(MCR_MC_RESTARTS, 6);
IS(MCR_MC__RULE, 8);
IS(MCR_ML_PACKETS, 0);
IS(MCR_ML_UNIQUE, 1);
IS(MCR_ML_DUPLICATES, 2);
IS(MCR_ML_LATE, 3);
IS(MCR_ML_GAPS, 4);
IS(MCR_ML_NOT_RTP, 5);
IS(MCR_ML_LAST_NS, 6);
IS(MCR_ML__COUNT, 8);

SIZE(struct mcr_output_entry, 56);
AT(struct mcr_output_entry, ifindex, 0);
AT(struct mcr_output_entry, source, 4);
AT(struct mcr_output_entry, dest, 20);
AT(struct mcr_output_entry, port, 36);
AT(struct mcr_output_entry, ttl, 38);
AT(struct mcr_output_entry, flags, 39);
AT(struct mcr_output_entry, counter_slot, 40);
AT(struct mcr_output_entry, rate, 44);
AT(struct mcr_output_entry, burst, 48);
AT(struct mcr_output_entry, dscp, 52);
AT(struct mcr_output_entry, family, 53);
AT(struct mcr_output_entry, bucket, 54);
IS(MCR_BUCKET_WORDS, 8);
IS(MCR_OUT_TTL_INPUT, 1);
IS(MCR_OUT_DSCP_SET, 2);

SIZE(struct mcr_frame_info, 44);
AT(struct mcr_frame_info, group, 0);
AT(struct mcr_frame_info, source, 16);
AT(struct mcr_frame_info, port, 32);
AT(struct mcr_frame_info, sport, 34);
AT(struct mcr_frame_info, payload_off, 36);
AT(struct mcr_frame_info, payload_len, 38);
AT(struct mcr_frame_info, ip_off, 40);
AT(struct mcr_frame_info, family, 42);

IS(MCR_C_RX_FRAMES, 0);
IS(MCR_C_RX_BYTES, 1);
IS(MCR_C_BATCHES, 2);
IS(MCR_C_RING_PACKETS, 3);
IS(MCR_C_RING_DROPS, 4);
IS(MCR_C_TX_PACKETS, 5);
IS(MCR_C_TX_BYTES, 6);
IS(MCR_C_TX_ERRORS, 7);
IS(MCR_C_RX_FOREIGN, 8);
IS(MCR_C_WAKEUPS, 9);
IS(MCR_C_SPINS, 10);
IS(MCR_C_SPIN_HITS, 11);
IS(MCR_C_HEARTBEAT, 12);
IS(MCR_C_DROPS, 13);
IS(MCR_DROP__COUNT, 27);
IS(MCR_C__COUNT, 40);
IS(MCR_JOURNAL_LEN, 4096);
IS(MCR_JOURNAL_VALID_BIT, 63);
IS(MCR_JOURNAL_SUBMITTED_BIT, 62);
IS(MCR_JOURNAL_SLOT_SHIFT, 16);
IS(MCR_FANOUT_NEW, 65536);
IS(MCR_INPUT_MERGE, 131072);
IS(MCR_INPUT_MERGE_RTP, 262144);
IS(MCR_INPUT_MERGE_FAILOVER, 524288);
IS(MCR_POLL_ADAPTIVE, 0);
IS(MCR_POLL_BUSY, 1);
IS(MCR_POLL_SLEEP, 2);
IS(MCR_EGRESS_RING, 0);
IS(MCR_EGRESS_SENDMSG, 1);
IS(MCR_EGRESS_SOCKET, 2);
IS(MCR_EGRESS_ZC, 3);
IS(MCR_EGRESS_GSO, 4);
/* After them, per rule slot and per output slot (MCR_COUNTERS_LEN): */
#define MCR_RULE_COUNTERS (MCR_COUNTERS_LEN(1, 0) - MCR_C__COUNT - MCR_JOURNAL_LEN)
#define MCR_OUTPUT_COUNTERS (MCR_COUNTERS_LEN(0, 1) - MCR_C__COUNT - MCR_JOURNAL_LEN)
IS(MCR_RULE_COUNTERS, 2);
IS(MCR_OUTPUT_COUNTERS, 3);

SIZE(struct mcr_udp_addr, 20);
AT(struct mcr_udp_addr, addr, 0);
AT(struct mcr_udp_addr, port, 16);

SIZE(struct mcr_udp_record, 32);
AT(struct mcr_udp_record, seq, 0);
AT(struct mcr_udp_record, latency_ns, 8);
AT(struct mcr_udp_record, run_id, 16);
AT(struct mcr_udp_record, stream, 20);
AT(struct mcr_udp_record, entry, 22);
AT(struct mcr_udp_record, length, 24);
AT(struct mcr_udp_record, status, 28);
AT(struct mcr_udp_record, flags, 29);
AT(struct mcr_udp_record, rtp_seq, 30);

IS(MCR_UDP_OK, 0);
IS(MCR_UDP_FOREIGN, 1);
IS(MCR_UDP_CORRUPT, 2);
IS(MCR_UDP_TRUNCATED, 3);
IS(MCR_UDP_REC_KERNEL_TS, 1);
IS(MCR_UDP_REC_RTP, 2);
IS(MCR_RTP_HDR_LEN, 12);
IS(MCR_UDP_MAX_LEGS, 4);
IS(MCR_UDP_TX_LOOP, 1);
IS(MCR_UDP_TX_PACKET, 2);
IS(MCR_UDP_TX_PACKETS, 0);
IS(MCR_UDP_TX_BYTES, 1);
IS(MCR_UDP_TX_ERRORS, 2);
IS(MCR_UDP_TX_LAST_ERRNO, 3);
IS(MCR_UDP_TX_SYSCALLS, 4);
IS(MCR_UDP_TX_BATCHES, 5);
IS(MCR_UDP_TX_SLEEPS, 6);
IS(MCR_UDP_TX_MAX_LAG_NS, 7);
IS(MCR_UDP_TX_FIRST_NS, 8);
IS(MCR_UDP_TX_LAST_NS, 9);
IS(MCR_UDP_TX__COUNT, 10);
IS(MCR_UDP_RX_DATAGRAMS, 0);
IS(MCR_UDP_RX_BYTES, 1);
IS(MCR_UDP_RX_SYSCALLS, 2);
IS(MCR_UDP_RX_WAITS, 3);
IS(MCR_UDP_RX_SOCKET_DROPS, 4);
IS(MCR_UDP_RX_RCVBUF, 5);
IS(MCR_UDP_RX_SOCKETS, 6);
IS(MCR_UDP_RX__COUNT, 7);
IS(MCR_UDP_HDR_LEN, 32);
IS(MCR_UDP_MAX_DESTS, 1024);

MCR_API int mcr_abi_version(void)
{
	return MCR_SHIM_ABI;
}
