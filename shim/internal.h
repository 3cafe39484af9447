/* Shared between the shim's files; not part of the API. */
#ifndef MCR_INTERNAL_H
#define MCR_INTERNAL_H

#include <stdint.h>
#include <string.h>
#include <netinet/in.h>
#include <linux/if_packet.h>
#include "mcr_shim.h"
#include "common.h"
#define MCR_MAX_INPUTS 32
#define MCR_PARSE_OK (-1)

/* A mapped packet ring (ring.c): TPACKET_V2 frames, or TPACKET_V3 blocks (receive only). */
struct mcr_ring {
	uint8_t *map;
	size_t map_len;
	uint32_t frame_size;
	uint32_t frame_nr;
	uint32_t block_size;
	uint32_t block_nr;
};

uint32_t mcr__frame_size(uint32_t mtu);
/* The ring size to ask for, for `asked` bytes: what 32 bits (and the kernel) can take. */
uint32_t mcr__ring_bytes(uint64_t asked);
/* which: PACKET_RX_RING or PACKET_TX_RING; about `bytes`, halved while memory is short. blocks
 * > 0: a TPACKET_V3 receive ring (the socket's version set to it first) of blocks that many
 * times the usual size. */
int mcr__ring_map(int fd, int which, uint32_t frame_size, uint32_t bytes, int blocks,
		  struct mcr_ring *r);

/* One AF_PACKET receive ring: TPACKET_V2 frames, or TPACKET_V3 blocks (enum mcr_rx_mode). */
struct mcr_rx {
	int fd;
	int ifindex;
	uint8_t *map;
	size_t map_len;
	uint32_t frame_size;
	uint32_t frame_nr; /* frames: the ring's frames; blocks: its blocks */
	uint32_t block_size; /* blocks: each block's bytes */
	uint32_t head; /* the next frame to look at; blocks: the block being read */
	uint32_t taken; /* frames (blocks) read and not given back: those before head */
	uint32_t left; /* blocks: the frames of the block at head not read yet (0: not opened) */
	uint8_t *next; /* blocks: the next of them */
	uint8_t blocks; /* MCR_RX_BLOCKS */
	int fanout_id; /* the fanout group it joined, -1: none */
	uint8_t ip_only; /* the interface has no link header: frames start at IP (mcr__ip_only) */
	/* A merge ring (MCR_INPUT_MERGE): it takes the legs of the table's merges of this mode
	 * (enum mcr_merge_mode), and nothing else. 0: a fanout ring. */
	uint8_t merge_mode;
};

/* A received frame, whichever ring version wrote it. */
struct mcr_rx_frame {
	uint8_t *f; /* the link header, or the IP header on a link without one */
	const struct sockaddr_ll *sll;
	uint32_t len, snaplen, status;
	uint16_t vlan_tci;
	int64_t ns; /* the kernel's time stamp */
};

/* 1 when an interface of this ARPHRD_* type carries IP with no link header, so that an AF_PACKET
 * socket reads and writes frames that start at the IP header: tun and WireGuard (ARPHRD_NONE),
 * IPIP, SIT, GRE with a fixed remote, ip6tnl, raw IP. Decided once per input and output, at
 * open: a device's type never changes. */
int mcr__ip_only(int arptype);

/* blocks: as mcr__ring_map's (0: a ring of frames). */
int mcr__rx_open(struct mcr_rx *rx, int ifindex, int fanout_id, uint32_t ring_bytes, int blocks);
void mcr__rx_close(struct mcr_rx *rx);
/* Gives the kernel back every frame (block) read since the last time. */
void mcr__rx_give_back(struct mcr_rx *rx);

static inline struct tpacket2_hdr *mcr__rx_frame(const struct mcr_rx *rx, uint32_t i)
{
	return (struct tpacket2_hdr *)(rx->map + (size_t)i * rx->frame_size);
}

static inline struct tpacket_block_desc *mcr__rx_block(const struct mcr_rx *rx, uint32_t i)
{
	return (struct tpacket_block_desc *)(rx->map + (size_t)i * rx->block_size);
}

/* The block at head, opened for reading if the kernel has handed it over; 0: none yet. A ring
 * walked round to a block not given back yet waits for the give-back. */
static inline int mcr__rx_block_open(struct mcr_rx *rx)
{
	while (!rx->left) {
		if (rx->taken >= rx->frame_nr)
			return 0;
		struct tpacket_block_desc *b = mcr__rx_block(rx, rx->head);
		if (!(__atomic_load_n(&b->hdr.bh1.block_status, __ATOMIC_ACQUIRE) & TP_STATUS_USER))
			return 0;
		rx->left = b->hdr.bh1.num_pkts;
		rx->next = (uint8_t *)b + b->hdr.bh1.offset_to_first_pkt;
		if (!rx->left) { /* the kernel closes no empty block; were one closed, it is read */
			rx->head = rx->head + 1 == rx->frame_nr ? 0 : rx->head + 1;
			rx->taken++;
		}
	}
	return 1;
}

/* The next frame of a ring, if one is ready: it stays the worker's until mcr__rx_give_back. */
static inline int mcr__rx_peek(struct mcr_rx *rx, struct mcr_rx_frame *v)
{
	if (rx->blocks) {
		if (!mcr__rx_block_open(rx))
			return 0;
		struct tpacket3_hdr *h = (struct tpacket3_hdr *)rx->next;
		*v = (struct mcr_rx_frame){
			.f = rx->next + h->tp_mac,
			.sll = (const struct sockaddr_ll *)(rx->next + TPACKET_ALIGN(sizeof(*h))),
			.len = h->tp_len,
			.snaplen = h->tp_snaplen,
			.status = h->tp_status,
			.vlan_tci = (uint16_t)h->hv1.tp_vlan_tci,
			.ns = (int64_t)h->tp_sec * 1000000000 + h->tp_nsec,
		};
		return 1;
	}
	/* Frames go back after the batch: a ring smaller than the batch is not walked round to
	 * its start again, whose frames are still marked ours. */
	if (rx->taken >= rx->frame_nr)
		return 0;
	struct tpacket2_hdr *h = mcr__rx_frame(rx, rx->head);
	if (!(__atomic_load_n(&h->tp_status, __ATOMIC_ACQUIRE) & TP_STATUS_USER))
		return 0;
	*v = (struct mcr_rx_frame){
		.f = (uint8_t *)h + h->tp_mac,
		.sll = (const struct sockaddr_ll *)((uint8_t *)h + TPACKET_ALIGN(sizeof(*h))),
		.len = h->tp_len,
		.snaplen = h->tp_snaplen,
		.status = h->tp_status,
		.vlan_tci = h->tp_vlan_tci,
		.ns = (int64_t)h->tp_sec * 1000000000 + h->tp_nsec,
	};
	return 1;
}

/* Past the frame mcr__rx_peek gave. */
static inline void mcr__rx_step(struct mcr_rx *rx)
{
	if (rx->blocks) {
		rx->next += ((struct tpacket3_hdr *)rx->next)->tp_next_offset;
		if (--rx->left)
			return;
	}
	rx->head = rx->head + 1 == rx->frame_nr ? 0 : rx->head + 1;
	rx->taken++;
}

/* Whether a frame waits: one load of the next frame's (block's) status. */
static inline int mcr__rx_any(const struct mcr_rx *rx)
{
	if (rx->left)
		return 1;
	if (rx->taken >= rx->frame_nr)
		return 0;
	const uint32_t *status = rx->blocks ? &mcr__rx_block(rx, rx->head)->hdr.bh1.block_status
					    : &mcr__rx_frame(rx, rx->head)->tp_status;
	return (__atomic_load_n(status, __ATOMIC_ACQUIRE) & TP_STATUS_USER) != 0;
}

/* An egress socket, connected to one output's destination: the kernel keeps the route in the
 * socket instead of looking it up for every datagram. */
struct mcr_egress_sock {
	int fd;
	uint32_t ifindex;
	uint8_t source[16]; /* IPv4 as IPv4-mapped */
	uint8_t dest[16];
	uint16_t port;
	uint8_t ttl;
	uint8_t family; /* 4 or 6: the socket is AF_INET or AF_INET6 */
};

int mcr__egress_open(struct mcr_egress_sock *s);

/* A transmit ring on one egress interface (egress_packet.c). */
struct mcr_tx {
	int fd;
	int ifindex;
	uint8_t *map;
	size_t map_len;
	uint32_t frame_size;
	uint32_t frame_nr;
	uint32_t head; /* next frame to fill */
	uint32_t mtu;
	uint8_t mac[6];
	uint32_t npend; /* frames filled since the last send */
	uint32_t *pend_slot; /* their send journal entries (worker.c), */
	uint16_t *pend_len; /* and payload lengths, counted once the send completes, */
	uint8_t *pend_hdr; /* and header lengths (IPv4 and IPv6 frames share an Ethernet ring) */
	int kicked; /* a send for them is queued on io_uring */
	/* An interface without a link header (mcr__ip_only): frames are the IP datagram, and the
	 * send that hands them over names their protocol (kick: a sockaddr_ll with the EtherType),
	 * which the kernel would otherwise leave 0 for a tun device. One send takes every frame
	 * the ring holds, so such a ring carries one family, fixed at open, and an interface with
	 * outputs of both has a ring for each. */
	uint8_t ip_only;
	uint8_t family; /* ip_only: 4 or 6 */
	struct sockaddr_ll kick_addr;
	struct msghdr kick;
	int mode; /* MCR_EGRESS_RING: the ring above; MCR_EGRESS_SENDMSG: no ring, msgs below */
	struct mcr_txm *msgs; /* MCR_TXM_SLOTS sends' headers, kept until the batch's flush */
	uint32_t nmsg; /* msgs in use since the last flush */
	int fixed; /* 1: fd is registered with the worker's io_uring at the ring's index */
};

#define MCR_TX_HEADER_LEN 42 /* Ethernet 14 + IPv4 20 + UDP 8 */
#define MCR_ETH_HLEN 14
#define MCR_TX_HEADER6_LEN 62 /* Ethernet 14 + IPv6 40 + UDP 8 */

/* An output's frame header, built once; per frame only lengths, id, ports and sums change. */
struct mcr_tx_header {
	uint8_t bytes[MCR_TX_HEADER6_LEN];
	uint8_t len; /* MCR_TX_HEADER_LEN or MCR_TX_HEADER6_LEN */
	uint8_t family; /* 4 or 6 */
	uint16_t ip_id;
	uint32_t max_payload; /* larger datagrams go by the UDP socket, which fragments */
	uint64_t ip_sum; /* partial sums of the fixed fields */
	uint64_t udp_sum;
	uint32_t
		udp_rewritten; /* sum of the fields a relayed datagram gets anew: addresses, port */
	uint32_t
		pseudo; /* the pseudo-header's addresses and protocol (a device finishes the sum) */
};

/* How a relayed datagram's UDP checksum is made from the input's. */
enum {
	MCR_CSUM_UPDATE, /* complete on input (right or wrong): updated for the changed fields,
			  * RFC 1624, so a wrong one stays wrong */
	MCR_CSUM_FULL, /* unfinished on input (TP_STATUS_CSUMNOTREADY: a local sender's, veth):
			* computed over the whole datagram */
	MCR_CSUM_NONE, /* 0 on input: the sender gave none; none is given on (a sum made here would
			* vouch for bytes that nobody checked from the sender on) */
};

struct mcr_csum_in {
	uint8_t mode;
	uint16_t sum; /* the input's checksum field, as stored */
	uint32_t replaced; /* sum of the input's fields that the output rewrites */
	uint8_t valid; /* the kernel or the device verified it right (TP_STATUS_CSUM_VALID) */
};

/* One's complement sum of the fields an output rewrites (addresses, 8 bytes for IPv4 or 32 for
 * IPv6, and destination port, as stored), in native-order 16-bit loads as egress_packet.c sums
 * everything. The pseudo-headers of both families sum the same way apart from the addresses
 * (protocol 17 and the UDP length, RFC 768 and RFC 8200 8.1), so an update from one family's
 * checksum to the other's is the address change too. */
static inline uint32_t mcr__csum_fields(const uint8_t *addrs, uint32_t n, const uint8_t *port2)
{
	uint32_t s = 0;
	uint16_t v;
	for (uint32_t i = 0; i < n; i += 2) {
		memcpy(&v, addrs + i, 2);
		s += v;
	}
	memcpy(&v, port2, 2);
	return s + v;
}

/* family: of the frames the ring carries if the interface is IP-only (one send names one
 * protocol for all of them); an Ethernet ring carries both. mode: MCR_EGRESS_RING (a transmit
 * ring of about ring_bytes) or MCR_EGRESS_SENDMSG. */
int mcr__tx_open(struct mcr_tx *t, int ifindex, int family, uint32_t ring_bytes, int mode);
void mcr__tx_close(struct mcr_tx *t);
/* source, dest: 16 bytes, IPv4 as IPv4-mapped (both of one family). */
void mcr__tx_header_init(struct mcr_tx_header *h, const struct mcr_tx *t, const uint8_t *source,
			 const uint8_t *dest, uint16_t port, uint8_t ttl);
/* tos, ttl: the frame's (the header's ttl is only the template's): IPv4 TOS and TTL, or IPv6
 * traffic class and hop limit. */
int mcr__tx_put(struct mcr_tx *t, struct mcr_tx_header *h, uint16_t sport, const uint8_t *payload,
		uint32_t len, uint32_t slot, const struct mcr_csum_in *csum, uint8_t tos,
		uint8_t ttl);
/* Writes a frame's per-frame header fields (IP lengths, id, TOS/TTL and its sum; UDP source port
 * and length) into f, which holds h->bytes; sp and ulen as stored. Not the UDP checksum. */
void mcr__tx_fill(uint8_t *f, struct mcr_tx_header *h, uint16_t sp, uint16_t ulen, uint32_t len,
		  uint8_t tos, uint8_t ttl);

/* MCR_EGRESS_SENDMSG and MCR_EGRESS_GSO (egress_msg.c): a send is a sendmsg of the virtio-net
 * header PACKET_VNET_HDR asks for, the frame's headers, and the payload where it lies in the
 * receive ring; under GSO, the payloads of up to MCR_GSO_SEGS datagrams of one output, which the
 * kernel (or the device) cuts into datagrams of the first one's size. */
#define MCR_TXM_SLOTS 256
#define MCR_GSO_SEGS 64 /* the kernel's UDP_MAX_SEGMENTS */
/* struct virtio_net_hdr (little-endian fields), 10 bytes. */
struct mcr_vnet_hdr {
	uint8_t flags, gso_type;
	uint16_t hdr_len, gso_size, csum_start, csum_offset;
};
struct mcr_txm {
	struct msghdr mh;
	struct iovec iov[2 + MCR_GSO_SEGS];
	struct mcr_vnet_hdr vnet;
	uint8_t hdr[MCR_TX_HEADER6_LEN];
	uint8_t tos, ttl, device_sums;
	uint16_t sport;
	uint16_t segs; /* datagrams in this send */
	uint32_t seg_len; /* the first one's payload length: all but the last have it */
	uint32_t bytes; /* payload bytes of them all */
	uint32_t j0; /* the journal entry of its first datagram (worker.c), once queued */
};
/* Sets up t (its fd open, bound later) for sendmsg: the virtio-net header and the slots. */
int mcr__txm_setup(struct mcr_tx *t);
/* Builds one datagram's send in the next slot: its index, or -1 when every slot is in use (the
 * caller flushes, which frees them all). payload must stay put until the send completes. */
int mcr__txm_put(struct mcr_tx *t, struct mcr_tx_header *h, uint16_t sport, const uint8_t *payload,
		 uint32_t len, const struct mcr_csum_in *csum, uint8_t tos, uint8_t ttl);
/* Adds a datagram of the same output to send mi (not yet queued): 0, or -1 when it cannot go in
 * the same segmentation (other ports, TOS or TTL, a checksum the device may not make, a size
 * other than the first's after a shorter one, MCR_GSO_SEGS or 64 KiB reached). */
int mcr__txm_append(struct mcr_tx *t, uint32_t mi, struct mcr_tx_header *h, uint16_t sport,
		    const uint8_t *payload, uint32_t len, const struct mcr_csum_in *csum,
		    uint8_t tos, uint8_t ttl);
/* Before send mi is queued: the headers of a run of several datagrams made to describe it all. */
void mcr__txm_finish(struct mcr_tx *t, uint32_t mi, const struct mcr_tx_header *h);

/* The UDP checksum a relayed datagram leaves with (as stored), from the input's. */
uint16_t mcr__udp_csum(const struct mcr_tx_header *h, uint16_t sport, uint16_t ulen,
		       const uint8_t *payload, uint32_t len, const struct mcr_csum_in *csum);

/* What one rule asks of an input's filter (filter.c): IPv4 UDP to group:port on a VLAN. */
struct mcr_filter_key {
	uint8_t group[16]; /* network order, IPv4 as IPv4-mapped */
	uint16_t port; /* host order */
	uint16_t vlan; /* 0: untagged (or priority-tagged) frames */
};

/* From exact to coarse; each passes every frame the finer ones pass. */
enum {
	MCR_FILTER_EXACT, /* group, port and VLAN of each key; malformed frames to a key's group */
	MCR_FILTER_GROUPS, /* any port of a key's group */
	MCR_FILTER_CLASS_D, /* any group (224.0.0.0/4) on a VLAN some key asks for */
	MCR_FILTER_CLASS_D_ANY_VLAN, /* any group, any VLAN */
};

struct sock_filter;
/* Writes the program for `keys` (none: a program that takes nothing) into out; its length, or
 * -E2BIG when it needs more than max instructions. */
int mcr__filter_build(const struct mcr_filter_key *keys, uint32_t n, int level,
		      struct sock_filter *out, uint32_t max);
/* The same for an input of either link type: ip_only, frames that start at the IP header. */
int mcr__filter_build_link(int ip_only, const struct mcr_filter_key *keys, uint32_t n, int level,
			   struct sock_filter *out, uint32_t max);
/* Attaches the finest program that the kernel takes (nothing when fd holds that program
 * already); the level it got, or -errno. */
int mcr__filter_attach(int fd, int ip_only, const struct mcr_filter_key *keys, uint32_t n);

/* The rule lookup (match.c). */
#define MCR_MATCH_MAX (1u << 24) /* the hash (twice the entries, a power of two) stays in 32 bits */

struct mcr_match {
	const struct mcr_rule_entry *rules; /* the caller's, kept while the match is used */
	int32_t *hash; /* rule index, -1 empty */
	uint32_t hmask;
	/* bit n of lens[f]: some rule of family f (0: IPv4, 1: IPv6) has source prefix length n
	 * (0..128), so that a frame probes only lengths of its own family. */
	uint64_t lens[2][3];
};

/* An IPv4 address (network order, 4 bytes at v4) as IPv4-mapped IPv6, ::ffff:a.b.c.d. */
static inline void mcr__addr_v4(uint8_t out[16], const uint8_t *v4)
{
	memset(out, 0, 10);
	out[10] = out[11] = 0xff;
	memcpy(out + 12, v4, 4);
}

/* A prefix length's mask, network order (len 0..32). */
static inline uint32_t mcr__prefix_mask(uint32_t len)
{
	return len == 0 ? 0 : htonl(~0u << (32 - len));
}

/* out = a masked to its first len bits (0..128). */
static inline void mcr__addr_mask(uint8_t out[16], const uint8_t a[16], uint32_t len)
{
	for (uint32_t i = 0; i < 16; i += 4) {
		uint32_t v, l = len > i * 8 ? len - i * 8 : 0;
		memcpy(&v, a + i, 4);
		v &= mcr__prefix_mask(l > 32 ? 32 : l);
		memcpy(out + i, &v, 4);
	}
}

static inline uint32_t mcr__addr_hash(const uint8_t a[16])
{
	uint32_t w[4];
	memcpy(w, a, 16);
	return (w[0] ^ w[1] * 0x27d4eb2du) ^ (w[2] * 0x165667b1u ^ w[3]);
}

static inline uint32_t mcr__match_hash(uint32_t ifindex, const uint8_t group[16], uint32_t port,
				       uint32_t vlan, const uint8_t source[16], uint32_t len)
{
	uint32_t h = mcr__addr_hash(group) * 0x9e3779b1u;
	h ^= (port | ifindex << 16) * 0x85ebca6bu;
	h ^= (mcr__addr_hash(source) ^ (vlan << 8 | len)) * 0xc2b2ae35u;
	return h ^ (h >> 15);
}

/* The rule with exactly this key, or -1. */
static inline int32_t mcr__match_probe(const struct mcr_match *m, uint32_t ifindex,
				       const uint8_t group[16], uint32_t port, uint32_t vlan,
				       const uint8_t source[16], uint32_t len)
{
	for (uint32_t i = mcr__match_hash(ifindex, group, port, vlan, source, len) & m->hmask;;
	     i = (i + 1) & m->hmask) {
		int32_t r = m->hash[i];
		if (r < 0)
			return -1;
		const struct mcr_rule_entry *e = &m->rules[r];
		if (e->port == port && e->in_ifindex == ifindex && e->vlan == vlan &&
		    e->source_len == len && memcmp(e->group, group, 16) == 0 &&
		    memcmp(e->source, source, 16) == 0)
			return r;
	}
}

/* The rule a frame belongs to (the longest source prefix that matches), or -1. */
static inline int32_t mcr__match_find(const struct mcr_match *m, uint32_t ifindex,
				      const uint8_t group[16], uint32_t port, uint32_t vlan,
				      const uint8_t source[16], int family)
{
	const uint64_t *lens = m->lens[family == 6];
	for (int wi = 2; wi >= 0; wi--)
		for (uint64_t bits = lens[wi]; bits;) {
			uint32_t len = (uint32_t)wi * 64 + 63 - (uint32_t)__builtin_clzll(bits);
			bits &= ~(1ull << (len % 64));
			uint8_t s[16];
			mcr__addr_mask(s, source, len);
			int32_t r = mcr__match_probe(m, ifindex, group, port, vlan, s, len);
			if (r >= 0)
				return r;
		}
	return -1;
}

/* Hashes n rules (which stay the caller's); -EINVAL for a malformed or repeated key. */
int mcr__match_build(struct mcr_match *m, const struct mcr_rule_entry *rules, uint32_t n);
void mcr__match_free(struct mcr_match *m);

/* An output's rate= (packets per second) and burst= (packets): a token bucket in one word that
 * every worker of the supervisor may share (bucket.c). Takes up to want tokens at the clock
 * now_ns; returns how many it got. */
uint32_t mcr__bucket_take(uint64_t *bucket, int64_t now_ns, uint32_t rate, uint32_t burst,
			  uint32_t want);
/* Puts back n tokens taken and not used. */
void mcr__bucket_give(uint64_t *bucket, uint32_t n);

/* A worker's hold on one output's bucket for the batch in hand: tokens are taken from the
 * (shared) bucket once per batch, for as many frames as the batch has, handed out one per packet
 * here, and what is left goes back when the batch ends (mcr__leases_settle). */
struct mcr_lease {
	uint64_t *bucket; /* the supervisor's shared word, or own */
	uint64_t own; /* the bucket of an output that has no shared one */
	uint32_t rate, burst;
	uint32_t left; /* tokens taken for this batch, not used yet */
	uint8_t dry; /* the bucket gave fewer than asked: none more this batch */
	uint8_t listed; /* on the worker's list of leases to settle */
	struct mcr_lease *next;
};

/* shared: the output's word in the shared region, NULL: a bucket of its own (starts full). */
void mcr__lease_init(struct mcr_lease *l, uint64_t *shared, uint32_t rate, uint32_t burst);
/* Takes up to want tokens for the batch, and puts l on the held list. Returns l->left. */
uint32_t mcr__lease_refill(struct mcr_lease *l, struct mcr_lease **held, int64_t now_ns,
			   uint32_t want);
/* The batch is over: every lease on the list gives back what it did not use. */
void mcr__leases_settle(struct mcr_lease **held);

/* Frames ready on a ring from the one in hand on, at most max (it included). */
static inline uint32_t mcr__rx_ready(const struct mcr_rx *rx, uint32_t max)
{
	uint32_t n = 0;
	if (rx->blocks) {
		/* What is left of the block in hand, then the whole blocks after it. */
		n = rx->left;
		for (uint32_t i = rx->head, seen = rx->taken + 1; n < max && seen < rx->frame_nr;
		     seen++) {
			i = i + 1 == rx->frame_nr ? 0 : i + 1;
			const struct tpacket_block_desc *b = mcr__rx_block(rx, i);
			if (!(__atomic_load_n(&b->hdr.bh1.block_status, __ATOMIC_ACQUIRE) &
			      TP_STATUS_USER))
				break;
			n += b->hdr.bh1.num_pkts;
		}
		return n < max ? n : max;
	}
	for (uint32_t i = rx->head; n < max; i = i + 1 == rx->frame_nr ? 0 : i + 1, n++)
		if (!(__atomic_load_n(&mcr__rx_frame(rx, i)->tp_status, __ATOMIC_ACQUIRE) &
		      TP_STATUS_USER))
			break;
	return n;
}

/* 1: the packet may go (a token used); 0: over the rate. The packet is the frame at rx's head,
 * and the batch may take `budget` frames more from there, it included: when the lease is empty,
 * it asks for as many as are ready of those. rx NULL: a packet from no ring (a merge's held
 * one), which asks for itself alone. */
static inline int mcr__lease_pass(struct mcr_lease *l, struct mcr_lease **held, int64_t now_ns,
				  const struct mcr_rx *rx, uint32_t budget)
{
	if (l->left == 0 &&
	    (l->dry || mcr__lease_refill(l, held, now_ns, rx ? mcr__rx_ready(rx, budget) : 1) == 0))
		return 0;
	l->left--;
	return 1;
}

/* The folded sum of a UDP datagram's pseudo-header and its 8-byte header (ip: the IPv4 or IPv6
 * header, udp: the UDP header, ulen: the UDP length): with the payload's, it checks the datagram
 * (mcr__udp_sum_ok), so a copy of the payload alone can be checked later. */
uint16_t mcr__udp_head_sum(const uint8_t *ip, const uint8_t *udp, int v6, uint32_t ulen);
/* 1 when head (mcr__udp_head_sum) and the len payload bytes at payload make a right checksum. */
int mcr__udp_sum_ok(uint16_t head, const uint8_t *payload, uint32_t len);
/* 1 when the UDP checksum of the datagram at ip (IHL 5, ulen bytes of UDP) is right. */
int mcr__udp_csum_ok(const uint8_t *ip, uint32_t ulen);
/* The same for IPv6: ip the IPv6 header, udp the UDP header (after any extension headers). */
int mcr__udp6_csum_ok(const uint8_t *ip, const uint8_t *udp, uint32_t ulen);

/* Parses an Ethernet frame; MCR_PARSE_OK or an enum mcr_drop. */
int mcr__frame_parse(const uint8_t *f, uint32_t len, struct mcr_frame_info *o);
/* The same for a frame of an IP-only link (mcr__ip_only): an IPv4 or IPv6 datagram from byte 0. */
int mcr__frame_parse_ip(const uint8_t *f, uint32_t len, struct mcr_frame_info *o);

#endif
