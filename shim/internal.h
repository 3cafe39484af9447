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

/* One AF_PACKET TPACKET_V2 receive ring. */
struct mcr_rx {
	int fd;
	int ifindex;
	uint8_t *map;
	size_t map_len;
	uint32_t frame_size;
	uint32_t frame_nr;
	uint32_t head; /* next frame to look at */
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

/* Parses a frame; MCR_PARSE_OK or an enum mcr_drop. */
int mcr__frame_parse(const uint8_t *f, uint32_t len, struct mcr_frame_info *o);

#endif
