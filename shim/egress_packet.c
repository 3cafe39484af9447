/* Layer-2 egress: an AF_PACKET socket with a TPACKET_V2 transmit ring per egress interface.
 *
 * The worker writes whole frames (Ethernet, IPv4 or IPv6, UDP, payload) into the ring and one send(2)
 * per batch - issued through io_uring - hands every frame written to the kernel. Compared with
 * a UDP socket per datagram this skips the IP output path (a route lookup per multicast
 * datagram, skb building, neighbour output) and the per-datagram submission.
 *
 * On an interface without a link header (tun, WireGuard, IPIP, GRE: mcr__ip_only) a frame is the
 * IP datagram alone, and the send names its EtherType (kick_addr), the protocol the device and
 * anyone reading it (a tun's packet information, a tunnel's transmit code) take it for. */
#include <errno.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <net/if_arp.h>
#include <linux/if_ether.h>
#include <stdlib.h>
#include "internal.h"
#include "csum.h"

int mcr__tx_open(struct mcr_tx *t, int ifindex, int family, uint32_t ring_bytes, int mode)
{
	int ver = TPACKET_V2, one = 1, err;
	memset(t, 0, sizeof(*t));
	t->ifindex = ifindex;
	/* Protocol 0: the socket sends and never receives, so it costs nothing on ingress. */
	t->fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
	if (t->fd < 0)
		return -errno;
	struct mcr_if_facts facts;
	err = mcr__if_facts(t->fd, ifindex, &facts);
	if (err < 0)
		goto fail;
	t->ip_only = (uint8_t)mcr__ip_only(facts.arptype);
	if (facts.arptype != ARPHRD_ETHER && !t->ip_only) {
		err = -EPFNOSUPPORT; /* a link header of another kind: the UDP path serves it */
		goto fail;
	}
	t->family = (uint8_t)family;
	t->kick_addr =
		(struct sockaddr_ll){ .sll_family = AF_PACKET,
				      .sll_protocol = htons(family == 6 ? ETH_P_IPV6 : ETH_P_IP),
				      .sll_ifindex = ifindex };
	t->kick = (struct msghdr){ .msg_name = &t->kick_addr, .msg_namelen = sizeof(t->kick_addr) };
	memcpy(t->mac, facts.mac, 6);
	t->mtu = facts.mtu;
	/* The message modes build Ethernet frames (and a virtio header): a link without an Ethernet
	 * header takes the ring's bare datagrams. */
	if (t->ip_only)
		mode = MCR_EGRESS_RING;
	t->mode = mode;
	if (mode != MCR_EGRESS_RING) {
		err = mcr__txm_setup(t);
		if (err < 0)
			goto fail;
		goto bind;
	}
	if (setsockopt(t->fd, SOL_PACKET, PACKET_VERSION, &ver, sizeof(ver)) < 0 ||
	    /* A frame the kernel finds malformed is skipped, not a stop for the whole ring. */
	    setsockopt(t->fd, SOL_PACKET, PACKET_LOSS, &one, sizeof(one)) < 0)
		goto fail_errno;
	struct mcr_ring ring;
	err = mcr__ring_map(t->fd, PACKET_TX_RING, mcr__frame_size(t->mtu), ring_bytes, 0, &ring);
	if (err < 0)
		goto fail;
	t->map = ring.map;
	t->map_len = ring.map_len;
	t->frame_size = ring.frame_size;
	t->frame_nr = ring.frame_nr;
	t->pend_slot = calloc(t->frame_nr, sizeof(*t->pend_slot));
	t->pend_len = calloc(t->frame_nr, sizeof(*t->pend_len));
	t->pend_hdr = calloc(t->frame_nr, sizeof(*t->pend_hdr));
	if (!t->pend_slot || !t->pend_len || !t->pend_hdr) {
		err = -ENOMEM;
		goto fail;
	}
bind:;
	struct sockaddr_ll sll = { .sll_family = AF_PACKET,
				   .sll_protocol = 0,
				   .sll_ifindex = ifindex };
	if (bind(t->fd, (struct sockaddr *)&sll, sizeof(sll)) < 0)
		goto fail_errno;
	return 0;
fail_errno:
	err = -errno;
fail:
	mcr__tx_close(t);
	return err;
}

void mcr__tx_close(struct mcr_tx *t)
{
	if (t->map)
		munmap(t->map, t->map_len);
	if (t->fd >= 0)
		close(t->fd);
	free(t->pend_slot);
	free(t->pend_len);
	free(t->pend_hdr);
	free(t->msgs);
	memset(t, 0, sizeof(*t));
	t->fd = -1;
}

void mcr__tx_header_init(struct mcr_tx_header *h, const struct mcr_tx *t, const uint8_t *source,
			 const uint8_t *dest, uint16_t port, uint8_t ttl)
{
	uint32_t link = t->ip_only ? 0 : MCR_ETH_HLEN;
	uint8_t *f = h->bytes, *ip = f + link, *udp;
	memset(h, 0, sizeof(*h));
	if (!t->ip_only)
		memcpy(f + 6, t->mac, 6);
	if (mcr__addr_is_v4(dest)) {
		h->family = 4;
		h->len = (uint8_t)(MCR_TX_HEADER_LEN - MCR_ETH_HLEN + link);
		if (!t->ip_only) {
			mcr__mcast_mac(mcr__addr_u32(dest), f);
			f[12] = 0x08, f[13] = 0x00;
		}
		ip[0] = 0x45;
		ip[8] = ttl;
		ip[9] = IPPROTO_UDP;
		memcpy(ip + 12, source + 12, 4);
		memcpy(ip + 16, dest + 12, 4);
		udp = ip + 20;
		udp[2] = (uint8_t)(port >> 8), udp[3] = (uint8_t)port;
		/* The parts of both checksums that never change, summed once. TOS and TTL come with
		 * each frame (kept from the input, or set): the words that hold them (version/IHL+TOS,
		 * TTL+protocol) are summed per frame. */
		h->ip_sum = mcr__csum_add(ip + 2, 6, 0) + mcr__csum_add(ip + 10, 10, 0);
		h->udp_rewritten = mcr__csum_fields(ip + 12, 8, udp + 2);
		h->pseudo = (uint32_t)mcr__csum_add(ip + 12, 8, 0);
	} else {
		/* No header checksum, no identification; the flow label stays 0. */
		h->family = 6;
		h->len = (uint8_t)(MCR_TX_HEADER6_LEN - MCR_ETH_HLEN + link);
		if (!t->ip_only) {
			mcr__mcast_mac6(dest, f);
			f[12] = 0x86, f[13] = 0xdd;
		}
		ip[0] = 0x60;
		ip[6] = IPPROTO_UDP;
		ip[7] = ttl;
		memcpy(ip + 8, source, 16);
		memcpy(ip + 24, dest, 16);
		udp = ip + 40;
		udp[2] = (uint8_t)(port >> 8), udp[3] = (uint8_t)port;
		h->udp_rewritten = mcr__csum_fields(ip + 8, 32, udp + 2);
		h->pseudo = (uint32_t)mcr__csum_add(ip + 8, 32, 0);
	}
	h->pseudo += htons(IPPROTO_UDP);
	/* Pseudo-header (the addresses, the protocol; the length is added per frame), dest port. */
	h->udp_sum = h->udp_rewritten + htons(IPPROTO_UDP);
	/* An MTU below the headers (a dummy device allows 0) carries no payload, not 4 GiB of it. */
	uint32_t over = h->len - link,
		 room = t->frame_size - TPACKET_ALIGN(sizeof(struct tpacket2_hdr)) - h->len;
	h->max_payload = t->mtu > over ? t->mtu - over : 0;
	if (h->max_payload > room)
		h->max_payload = room;
}

uint16_t mcr__udp_csum(const struct mcr_tx_header *h, uint16_t sport, uint16_t ulen,
		       const uint8_t *payload, uint32_t len, const struct mcr_csum_in *csum)
{
	uint16_t usum;
	/* IPv6 has no "no checksum" (RFC 8200 8.1): one is made over the whole datagram. */
	if (csum->mode == MCR_CSUM_NONE && h->family == 4)
		return 0;
	if (csum->mode == MCR_CSUM_UPDATE) {
		/* RFC 1624 eqn. 3: HC' = ~(~HC + ~m + m'), m the old fields, m' the new; the payload,
		 * source port and length are the input's. */
		uint32_t m = csum->replaced;
		m = (m & 0xffff) + (m >> 16);
		m = (m & 0xffff) + (m >> 16);
		usum = mcr__csum_fold((uint16_t)~csum->sum + (uint16_t)~m +
				      (uint64_t)h->udp_rewritten);
	} else {
		/* Pseudo-header and UDP header (the length counts twice), then the payload. */
		usum = mcr__csum_fold(
			mcr__csum_add(payload, len, h->udp_sum + sport + ulen + ulen));
	}
	return usum == 0 ? 0xffff : usum; /* 0 would mean "no checksum" */
}

/* Builds one frame in the ring (an IP-only ring's: of its family). Returns 0, or -ENOBUFS when
 * the next frame is still the kernel's (the caller sends what is pending and tries again). */
int mcr__tx_put(struct mcr_tx *t, struct mcr_tx_header *h, uint16_t sport, const uint8_t *payload,
		uint32_t len, uint32_t slot, const struct mcr_csum_in *csum, uint8_t tos,
		uint8_t ttl)
{
	struct tpacket2_hdr *fh = (struct tpacket2_hdr *)(t->map + (size_t)t->head * t->frame_size);
	if (__atomic_load_n(&fh->tp_status, __ATOMIC_ACQUIRE) != TP_STATUS_AVAILABLE)
		return -ENOBUFS;
	uint8_t *f = (uint8_t *)fh + TPACKET_ALIGN(sizeof(struct tpacket2_hdr)),
		*udp = f + h->len - 8;
	uint16_t ulen = htons((uint16_t)(len + 8)), sp = htons(sport);
	memcpy(f, h->bytes, h->len);
	mcr__tx_fill(f, h, sp, ulen, len, tos, ttl);
	memcpy(f + h->len, payload, len);
	uint16_t usum = mcr__udp_csum(h, sp, ulen, payload, len, csum);
	memcpy(udp + 6, &usum, 2);
	fh->tp_len = len + h->len;
	__atomic_store_n(&fh->tp_status, TP_STATUS_SEND_REQUEST, __ATOMIC_RELEASE);
	t->pend_hdr[t->npend] = h->len;
	t->pend_slot[t->npend] = slot;
	t->pend_len[t->npend] = len;
	t->npend++;
	t->head = t->head + 1 == t->frame_nr ? 0 : t->head + 1;
	return 0;
}

void mcr__tx_fill(uint8_t *f, struct mcr_tx_header *h, uint16_t sp, uint16_t ulen, uint32_t len,
		  uint8_t tos, uint8_t ttl)
{
	/* The IP header ends the link header, whatever its length (0: a link without one). */
	uint8_t *udp = f + h->len - 8, *ip = udp - (h->family == 4 ? 20 : 40);
	if (h->family == 4) {
		uint16_t total = htons((uint16_t)(len + 28)), id = htons(h->ip_id++), w0, w8;
		ip[1] = tos;
		ip[8] = ttl;
		memcpy(&w0, ip, 2);
		memcpy(&w8, ip + 8, 2);
		memcpy(ip + 2, &total, 2);
		memcpy(ip + 4, &id, 2);
		uint16_t ipsum = mcr__csum_fold(h->ip_sum + total + id + w0 + w8);
		memcpy(ip + 10, &ipsum, 2);
	} else {
		ip[0] = (uint8_t)(0x60 | tos >> 4);
		ip[1] = (uint8_t)(tos << 4);
		memcpy(ip + 4, &ulen, 2); /* payload length: the UDP datagram */
		ip[7] = ttl;
	}
	memcpy(udp, &sp, 2);
	memcpy(udp + 4, &ulen, 2);
}
