/* Layer-2 egress by sendmsg (MCR_EGRESS_SENDMSG, MCR_EGRESS_GSO): the transmit ring's packet
 * socket without the ring. Each send is one io_uring SENDMSG (worker.c queues them; one
 * io_uring_enter a batch) of a virtio-net header, the Ethernet/IP/UDP headers built here, and the
 * payload read where it lies in the receive ring.
 *
 * Why (bench/README.md, egress paths): a transmit ring frame costs a copy of the payload into the
 * ring in user space, and on veth the kernel copies it once more at delivery (the ring's pages are
 * zero-copy fragments, skb_copy_ubufs). A sendmsg is copied once, by the kernel, into an skb that
 * the receiver takes as it is. PACKET_VNET_HDR lets a datagram leave as CHECKSUM_PARTIAL when its
 * checksum may be made anew: the input's was unfinished (a local sender's,
 * TP_STATUS_CSUMNOTREADY) or verified right (TP_STATUS_CSUM_VALID). A NIC then sums it in
 * hardware, veth's receiver trusts it, and a device without offload has the kernel sum it. Any
 * other input checksum is updated (RFC 1624), so a wrong one stays wrong.
 *
 * Under GSO, consecutive datagrams of one output that may be summed anew and share ports, TOS,
 * TTL and size (the last may be shorter) go as one send with VIRTIO_NET_HDR_GSO_UDP_L4: the
 * stack is walked once for up to MCR_GSO_SEGS datagrams, and the device (USO) or the kernel, as
 * late as it can, cuts them apart with their own lengths, IPv4 ids and checksums. */
#include <errno.h>
#include <endian.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <linux/virtio_net.h>
#include "internal.h"
#include "csum.h"

#ifndef PACKET_VNET_HDR
#define PACKET_VNET_HDR 15
#endif
#ifndef VIRTIO_NET_HDR_GSO_UDP_L4
#define VIRTIO_NET_HDR_GSO_UDP_L4 5
#endif

#define SNDBUF_BYTES (4 << 20) /* as the UDP sockets': a batch's frames fit */
#define GSO_MAX_BYTES 65000 /* payload bytes of one send: its IP datagram stays under 64 KiB */

_Static_assert(sizeof(struct mcr_vnet_hdr) == sizeof(struct virtio_net_hdr), "virtio_net_hdr");

int mcr__txm_setup(struct mcr_tx *t)
{
	int one = 1;
	if (setsockopt(t->fd, SOL_PACKET, PACKET_VNET_HDR, &one, sizeof(one)) < 0)
		return -errno;
	mcr__sndbuf_set(t->fd, SNDBUF_BYTES);
	t->msgs = calloc(MCR_TXM_SLOTS, sizeof(*t->msgs));
	if (!t->msgs)
		return -ENOMEM;
	/* No ring bounds a frame: the MTU alone does (mcr__tx_header_init). */
	t->frame_size = 0x10000 + 256;
	return 0;
}

/* Whether the datagram's checksum may be made anew rather than carried over. */
static inline int device_sums(const struct mcr_csum_in *c)
{
	return c->mode == MCR_CSUM_FULL || (c->mode == MCR_CSUM_UPDATE && c->valid);
}

int mcr__txm_put(struct mcr_tx *t, struct mcr_tx_header *h, uint16_t sport, const uint8_t *payload,
		 uint32_t len, const struct mcr_csum_in *csum, uint8_t tos, uint8_t ttl)
{
	if (t->nmsg == MCR_TXM_SLOTS)
		return -1;
	uint32_t mi = t->nmsg++;
	struct mcr_txm *m = &t->msgs[mi];
	uint16_t ulen = htons((uint16_t)(len + 8)), sp = htons(sport), usum;
	memcpy(m->hdr, h->bytes, h->len);
	mcr__tx_fill(m->hdr, h, sp, ulen, len, tos, ttl);
	m->device_sums = (uint8_t)device_sums(csum);
	if (m->device_sums) {
		/* The device sums from the UDP header to the end into a field that holds the
		 * pseudo-header's sum (folded, not complemented). */
		usum = (uint16_t)~mcr__csum_fold(h->pseudo + ulen);
		m->vnet = (struct mcr_vnet_hdr){
			.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM,
			.gso_type = VIRTIO_NET_HDR_GSO_NONE,
			.hdr_len = htole16(h->len),
			.csum_start = htole16((uint16_t)(h->len - 8)),
			.csum_offset = htole16(6),
		};
	} else {
		usum = mcr__udp_csum(h, sp, ulen, payload, len, csum);
		m->vnet = (struct mcr_vnet_hdr){ .gso_type = VIRTIO_NET_HDR_GSO_NONE };
	}
	memcpy(m->hdr + h->len - 2, &usum, 2);
	m->tos = tos;
	m->ttl = ttl;
	m->sport = sport;
	m->segs = 1;
	m->seg_len = len;
	m->bytes = len;
	m->iov[0] = (struct iovec){ .iov_base = &m->vnet, .iov_len = sizeof(m->vnet) };
	m->iov[1] = (struct iovec){ .iov_base = m->hdr, .iov_len = h->len };
	m->iov[2] = (struct iovec){ .iov_base = (void *)payload, .iov_len = len };
	m->mh = (struct msghdr){ .msg_iov = m->iov, .msg_iovlen = 3 };
	return (int)mi;
}

int mcr__txm_append(struct mcr_tx *t, uint32_t mi, struct mcr_tx_header *h, uint16_t sport,
		    const uint8_t *payload, uint32_t len, const struct mcr_csum_in *csum,
		    uint8_t tos, uint8_t ttl)
{
	struct mcr_txm *m = &t->msgs[mi];
	/* A segment of 0 bytes cannot be cut; one of another size ends the run (only the last
	 * may be shorter, and a shorter one was the last). */
	if (!m->device_sums || !device_sums(csum) || sport != m->sport || tos != m->tos ||
	    ttl != m->ttl || len == 0 || len > m->seg_len || m->segs == MCR_GSO_SEGS ||
	    m->bytes + len > GSO_MAX_BYTES || m->bytes != (uint32_t)m->segs * m->seg_len)
		return -1;
	if (m->segs == 1) {
		m->vnet.gso_type = VIRTIO_NET_HDR_GSO_UDP_L4;
		m->vnet.gso_size = htole16((uint16_t)m->seg_len);
	}
	m->iov[2 + m->segs] = (struct iovec){ .iov_base = (void *)payload, .iov_len = len };
	m->segs++;
	m->bytes += len;
	m->mh.msg_iovlen = 2 + m->segs;
	/* The kernel numbers the segments' IPv4 ids on from the first's. */
	h->ip_id++;
	return 0;
}

void mcr__txm_finish(struct mcr_tx *t, uint32_t mi, const struct mcr_tx_header *h)
{
	struct mcr_txm *m = &t->msgs[mi];
	if (m->segs < 2)
		return;
	/* The headers describe the whole run, as a local GSO send's do: the receiver of an uncut
	 * one checks them, and the cutting takes each datagram's from them. */
	uint8_t *ip = m->hdr + 14, *udp = m->hdr + h->len - 8;
	uint16_t ulen = htons((uint16_t)(m->bytes + 8)), zero = 0;
	if (h->family == 4) {
		uint16_t total = htons((uint16_t)(m->bytes + 28));
		memcpy(ip + 2, &total, 2);
		memcpy(ip + 10, &zero, 2);
		uint16_t ipsum = mcr__csum_fold(mcr__csum_add(ip, 20, 0));
		memcpy(ip + 10, &ipsum, 2);
	} else {
		memcpy(ip + 4, &ulen, 2);
	}
	memcpy(udp + 4, &ulen, 2);
	uint16_t usum = (uint16_t)~mcr__csum_fold(h->pseudo + ulen);
	memcpy(udp + 6, &usum, 2);
}
