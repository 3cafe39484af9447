/* SPDX-License-Identifier: MIT */
/* mcr traffic tools: the socket half of `mcr gen` and `mcr sink`, loaded by src/native/shim.ts.
 * They live in the same library as the data plane (shim/mcr_shim.h) and share its helpers
 * (shim/common.h, shim/csum.h), but not its API: nothing here is used by the relay.
 *
 * Conventions as the data plane's: 0 (or a count) or -errno, never prints, never exits. */
#ifndef MCR_TOOLS_H
#define MCR_TOOLS_H

#include <stdint.h>

/* The generator's payload header (big-endian; src/tools/payload.ts is the reference):
 *   0 u32 magic "MCR1"   4 u16 stream (destination index)   6 u16 header length (32)
 *   8 u64 sequence       16 u64 send time, CLOCK_REALTIME ns  24 u32 run id (per gen process)
 *   28 u32 payload length (header included)
 * then filler: byte i of the payload (i >= header length) is (seq + i) & 0xff. */
#define MCR_UDP_MAGIC 0x4D435231u
#define MCR_UDP_HDR_LEN 32u
#define MCR_UDP_MAX_DESTS 1024u /* gen: one connected socket each */

/* An address and port: a destination (gen), or a group / local address to listen on (sink; the
 * unspecified address of its family, 0.0.0.0 or ::, = any local address). The address is 16
 * bytes, network order, an IPv4 one IPv4-mapped (::ffff:a.b.c.d) as in the data plane's tables. */
struct mcr_udp_addr {
	uint8_t addr[16];
	uint16_t port; /* host order */
	uint16_t reserved;
};

/* One received datagram, as mcr_udp_receiver_recv writes it (32 bytes). */
struct mcr_udp_record {
	double seq; /* exact below 2^53 */
	double latency_ns; /* receive time - send time: the kernel's SO_TIMESTAMPNS, else the time
			    * recvmmsg returned (flags); both CLOCK_REALTIME */
	uint32_t run_id;
	uint16_t stream;
	uint16_t entry; /* index of the listen entry it arrived for; 0xffff: none matched */
	uint32_t length; /* bytes received */
	uint8_t status; /* enum mcr_udp_status */
	uint8_t flags; /* MCR_UDP_REC_* */
	uint16_t rtp_seq; /* MCR_UDP_REC_RTP: the RTP sequence number (run_id is then the SSRC) */
};

enum mcr_udp_status {
	MCR_UDP_OK, /* header and filler check out */
	MCR_UDP_FOREIGN, /* not a gen payload: too short, wrong magic or header length */
	MCR_UDP_CORRUPT, /* header fine, filler differs */
	MCR_UDP_TRUNCATED, /* shorter (or longer) than the header says */
};

#define MCR_UDP_REC_KERNEL_TS 1u
/* The datagram starts with an RTP version 2 header: rtp_seq is its sequence number and run_id its
 * SSRC. A gen payload behind it (`mcr gen --legs`) is checked as any gen payload (status OK,
 * CORRUPT, ...), and its SSRC must be its run id; any other RTP payload is FOREIGN. */
#define MCR_UDP_REC_RTP 2u

/* `mcr gen --legs`: an RTP header (version 2, payload type 96, no CSRC, no extension) in front
 * of the gen header; its SSRC is the run id, its sequence number the gen sequence number plus a
 * start, modulo 2^16; its timestamp the send time at 90 kHz. */
#define MCR_RTP_HDR_LEN 12u
#define MCR_RTP_PT 96u
#define MCR_UDP_MAX_LEGS 4u

/* Sender counters (uint64 each, mcr_udp_sender_stats). */
enum mcr_udp_tx_stat {
	MCR_UDP_TX_PACKETS,
	MCR_UDP_TX_BYTES,
	MCR_UDP_TX_ERRORS, /* packets that sendmmsg refused (their sequence numbers are skipped) */
	MCR_UDP_TX_LAST_ERRNO,
	MCR_UDP_TX_SYSCALLS,
	MCR_UDP_TX_BATCHES,
	MCR_UDP_TX_SLEEPS,
	MCR_UDP_TX_MAX_LAG_NS, /* the furthest a batch started behind its first packet's due time */
	MCR_UDP_TX_FIRST_NS, /* CLOCK_REALTIME when the first batch was stamped */
	MCR_UDP_TX_LAST_NS, /* CLOCK_REALTIME when the last sendmmsg returned */
	MCR_UDP_TX__COUNT
};

/* Receiver counters (uint64 each, mcr_udp_receiver_stats). */
enum mcr_udp_rx_stat {
	MCR_UDP_RX_DATAGRAMS,
	MCR_UDP_RX_BYTES,
	MCR_UDP_RX_SYSCALLS,
	MCR_UDP_RX_WAITS, /* poll() calls */
	MCR_UDP_RX_SOCKET_DROPS, /* the sockets' own drop counters (SO_RXQ_OVFL), summed */
	MCR_UDP_RX_RCVBUF, /* the smallest SO_RCVBUF the sockets got */
	MCR_UDP_RX_SOCKETS,
	MCR_UDP_RX__COUNT
};

struct mcr_udp_sender;
struct mcr_udp_receiver;

/* UDP sockets, one connected to each of dests (IPv4 or IPv6, each its own), sent to round-robin.
 * source: 16 bytes to bind to (NULL: none; every destination must then be of its family, else
 * -EAFNOSUPPORT), source_port: the port to bind (0: any); ifindex: multicast egress interface (0:
 * the routing table's); ttl (the hop limit for IPv6) 0: the kernel's default; size: payload bytes
 * (>= MCR_UDP_HDR_LEN); batch: packets per sendmmsg at most (<= 256); flags: MCR_UDP_TX_LOOP to
 * loop multicast back to this host's own sockets (IP_MULTICAST_LOOP, IPV6_MULTICAST_LOOP);
 * MCR_UDP_TX_PACKET to build Ethernet/IPv4/UDP or Ethernet/IPv6/UDP frames and send them on an
 * AF_PACKET socket on ifindex, past the IP stack and the qdisc (multicast destinations on a
 * non-loopback interface only: -EOPNOTSUPP otherwise; the source address is the interface's
 * unless given: its first IPv4 address, or its first global IPv6 one (its link-local one for an
 * ff02:: group); -EADDRNOTAVAIL without one; -EMSGSIZE if size does not fit the MTU). */
#define MCR_UDP_TX_LOOP 1u
#define MCR_UDP_TX_PACKET 2u /* build frames, send on AF_PACKET (multicast only; needs ifindex) */
int mcr_udp_sender_open(const struct mcr_udp_addr *dests, uint32_t n_dests, const uint8_t *source,
			uint16_t source_port, int ifindex, int ttl, uint32_t size, uint32_t run_id,
			uint32_t batch, uint32_t flags, struct mcr_udp_sender **out);
void mcr_udp_sender_close(struct mcr_udp_sender *s);
/* Starts the schedule now: packet i is due at start + i / rate; rate 0: as fast as possible.
 * count: packets to send in all, 0 = no limit (doubles: exact below 2^53). tick_us: the shortest
 * sleep between batches (0: wake for each packet); packets that fall due meanwhile go out together,
 * so it trades wake-ups (CPU) against burst length, never against the average rate. */
int mcr_udp_sender_start(struct mcr_udp_sender *s, double rate, double count, uint32_t tick_us);
/* Sends what the schedule says is due, sleeping in between, for about budget_ms (then returns, so
 * the caller's event loop runs). Packets that are overdue go out together, up to batch per
 * sendmmsg; the schedule never shifts. Returns the packets handled (sent or failed) or -errno. */
int mcr_udp_sender_send(struct mcr_udp_sender *s, int budget_ms);
int mcr_udp_sender_stats(const struct mcr_udp_sender *s, uint64_t *out, uint32_t n);
/* Next sequence number per destination: out[n_dests]. In legs mode: the packets each leg sent
 * (or failed to), the dropped ones left out. */
int mcr_udp_sender_seq(const struct mcr_udp_sender *s, uint64_t *out, uint32_t n);
/* Legs mode (`mcr gen --legs N`), set between open and start: every packet of the schedule goes to
 * each destination (2 to MCR_UDP_MAX_LEGS legs) rather than to one in turn, as one RTP stream
 * (MCR_RTP_HDR_LEN bytes in front of the gen header, stream 0 on every leg; size must hold both).
 * ifindex[leg] (NULL or 0: the sender's) is each leg's multicast interface; in packet mode every
 * leg must be on the sender's (-EOPNOTSUPP otherwise). Each leg drops a packet before sending it
 * with probability loss_ppm / 10^6, drawn from its own splitmix64 stream that starts at
 * (seed << 8 | leg): one value per packet, so the same seed drops the same packets whatever the
 * batching. rtp_seq0: the RTP sequence number of packet 0. batch must be >= the legs. */
int mcr_udp_sender_legs(struct mcr_udp_sender *s, const int32_t *ifindex, uint32_t loss_ppm,
			uint32_t seed, uint32_t rtp_seq0);
/* Legs mode counters: out[2 * leg] the packets the leg handled, out[2 * leg + 1] those it
 * dropped, out[2 * legs] the packets dropped on every leg. Returns the values written. */
int mcr_udp_sender_leg_stats(const struct mcr_udp_sender *s, uint64_t *out, uint32_t n);

/* Sockets (one per distinct family and port) that join the multicast entries on ifindex (0: the
 * kernel's choice; IGMP for IPv4 groups, MLD for IPv6 ones) or listen on the unicast ones, with
 * SO_RCVBUF(FORCE) rcvbuf bytes, kernel receive timestamps and drop counters. */
int mcr_udp_receiver_open(const struct mcr_udp_addr *entries, uint32_t n_entries, int ifindex,
			  uint32_t rcvbuf, struct mcr_udp_receiver **out);
void mcr_udp_receiver_close(struct mcr_udp_receiver *r);
/* Drains the sockets with recvmmsg into up to max records; if nothing is there, waits up to
 * timeout_ms (0: no wait, -1: forever) once. Returns the records written (0: timed out). */
int mcr_udp_receiver_recv(struct mcr_udp_receiver *r, struct mcr_udp_record *recs, uint32_t max,
			  int timeout_ms);
int mcr_udp_receiver_stats(const struct mcr_udp_receiver *r, uint64_t *out, uint32_t n);

#endif
