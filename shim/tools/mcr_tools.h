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
	uint16_t reserved;
};

enum mcr_udp_status {
	MCR_UDP_OK, /* header and filler check out */
	MCR_UDP_FOREIGN, /* not a gen payload: too short, wrong magic or header length */
	MCR_UDP_CORRUPT, /* header fine, filler differs */
	MCR_UDP_TRUNCATED, /* shorter (or longer) than the header says */
};

#define MCR_UDP_REC_KERNEL_TS 1u

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
/* Next sequence number per destination: out[n_dests]. */
int mcr_udp_sender_seq(const struct mcr_udp_sender *s, uint64_t *out, uint32_t n);

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
