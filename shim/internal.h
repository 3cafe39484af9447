/* Shared between the shim's files; not part of the API. */
#ifndef MCR_INTERNAL_H
#define MCR_INTERNAL_H

#include <stdint.h>
#include <string.h>
#include <netinet/in.h>
#include <linux/if_packet.h>
#include "mcr_shim.h"

#define MCR_API __attribute__((visibility("default")))
#define MCR_MAX_INPUTS 32
#define MCR_PARSE_OK (-1)

/* A mapped TPACKET_V2 ring (ring.c). */
struct mcr_ring {
	uint8_t *map;
	size_t map_len;
	uint32_t frame_size;
	uint32_t frame_nr;
};

struct mcr_if_facts {
	uint32_t mtu;
	uint8_t mac[6];
	int arptype;
};

int mcr__if_facts(int fd, int ifindex, struct mcr_if_facts *out);
uint32_t mcr__frame_size(uint32_t mtu);
/* The ring size to ask for, for `asked` bytes: what 32 bits (and the kernel) can take. */
uint32_t mcr__ring_bytes(uint64_t asked);
/* which: PACKET_RX_RING or PACKET_TX_RING; about `bytes`, halved while memory is short. */
int mcr__ring_map(int fd, int which, uint32_t frame_size, uint32_t bytes, struct mcr_ring *r);

/* One AF_PACKET TPACKET_V2 receive ring. */
struct mcr_rx {
	int fd;
	int ifindex;
	uint8_t *map;
	size_t map_len;
	uint32_t frame_size;
	uint32_t frame_nr;
	uint32_t head; /* next frame to look at */
	int fanout_id; /* the fanout group it joined, -1: none */
};

int mcr__rx_open(struct mcr_rx *rx, int ifindex, int fanout_id, uint32_t ring_bytes);
void mcr__rx_close(struct mcr_rx *rx);

static inline struct tpacket2_hdr *mcr__rx_frame(const struct mcr_rx *rx, uint32_t i)
{
	return (struct tpacket2_hdr *)(rx->map + (size_t)i * rx->frame_size);
}

/* An egress socket, connected to one output's destination: the kernel keeps the route in the
 * socket instead of looking it up for every datagram. */
struct mcr_egress_sock {
	int fd;
	uint32_t ifindex;
	uint32_t source;
	uint32_t dest;
	uint16_t port;
	uint8_t ttl;
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
	uint32_t *pend_slot; /* their outputs' counter slots, */
	uint16_t *pend_len; /* and payload lengths, counted once the send completes */
	int kicked; /* a send for them is queued on io_uring */
};

#define MCR_TX_HEADER_LEN 42 /* Ethernet 14 + IPv4 20 + UDP 8 */

/* An output's frame header, built once; per frame only lengths, id, ports and sums change. */
struct mcr_tx_header {
	uint8_t bytes[MCR_TX_HEADER_LEN];
	uint16_t ip_id;
	uint32_t max_payload; /* larger datagrams go by the UDP socket, which fragments */
	uint64_t ip_sum; /* partial sums of the fixed fields */
	uint64_t udp_sum;
};

int mcr__tx_open(struct mcr_tx *t, int ifindex, uint32_t ring_bytes);
void mcr__tx_close(struct mcr_tx *t);
void mcr__tx_header_init(struct mcr_tx_header *h, const struct mcr_tx *t, uint32_t source,
			 uint32_t dest, uint16_t port, uint8_t ttl);
int mcr__tx_put(struct mcr_tx *t, struct mcr_tx_header *h, uint16_t sport, const uint8_t *payload,
		uint32_t len, uint32_t slot);

/* Parses a frame; MCR_PARSE_OK or an enum mcr_drop. */
int mcr__frame_parse(const uint8_t *f, uint32_t len, struct mcr_frame_info *o);

#endif
