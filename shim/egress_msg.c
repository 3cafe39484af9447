/* Layer-2 egress by sendmsg (MCR_EGRESS_SENDMSG): the transmit ring's packet socket without the
 * ring. Each frame is one io_uring SENDMSG (worker.c queues them; one io_uring_enter a batch) of
 * three pieces: a virtio-net header, the Ethernet/IP/UDP headers built here, and the payload read
 * where it lies in the receive ring.
 *
 * Why (bench/README.md, egress paths): a transmit ring frame costs a copy of the payload into the
 * ring in user space, and on veth the kernel copies it once more at delivery (the ring's pages are
 * zero-copy fragments, skb_copy_ubufs). A sendmsg is copied once, by the kernel, into a linear skb
 * that the receiver takes as it is. PACKET_VNET_HDR lets a datagram whose input checksum was
 * unfinished (a local sender's, TP_STATUS_CSUMNOTREADY) leave as CHECKSUM_PARTIAL: a NIC sums it
 * in hardware, veth's receiver trusts it, and a device without offload sums it in the kernel. A
 * complete input checksum is still updated (RFC 1624), so a wrong one stays wrong. */
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

#define SNDBUF_BYTES (4 << 20) /* as the UDP sockets': a batch's frames fit */

struct mcr_txm {
	struct msghdr mh;
	struct iovec iov[3];
	struct virtio_net_hdr vnet;
	uint8_t hdr[MCR_TX_HEADER6_LEN];
};

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

struct msghdr *mcr__txm_put(struct mcr_tx *t, struct mcr_tx_header *h, uint16_t sport,
			    const uint8_t *payload, uint32_t len, const struct mcr_csum_in *csum,
			    uint8_t tos, uint8_t ttl)
{
	if (t->nmsg == MCR_TXM_SLOTS)
		return NULL;
	struct mcr_txm *m = &t->msgs[t->nmsg++];
	uint16_t ulen = htons((uint16_t)(len + 8)), sp = htons(sport), usum;
	memcpy(m->hdr, h->bytes, h->len);
	mcr__tx_fill(m->hdr, h, sp, ulen, len, tos, ttl);
	if (csum->mode == MCR_CSUM_FULL) {
		/* The device sums from the UDP header to the end into a field that holds the
		 * pseudo-header's sum (folded, not complemented). */
		usum = (uint16_t)~mcr__csum_fold(h->pseudo + ulen);
		m->vnet = (struct virtio_net_hdr){
			.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM,
			.gso_type = VIRTIO_NET_HDR_GSO_NONE,
			.hdr_len = htole16(h->len),
			.csum_start = htole16((uint16_t)(h->len - 8)),
			.csum_offset = htole16(6),
		};
	} else {
		usum = mcr__udp_csum(h, sp, ulen, payload, len, csum);
		m->vnet = (struct virtio_net_hdr){ .gso_type = VIRTIO_NET_HDR_GSO_NONE };
	}
	memcpy(m->hdr + h->len - 2, &usum, 2);
	m->iov[0] = (struct iovec){ .iov_base = &m->vnet, .iov_len = sizeof(m->vnet) };
	m->iov[1] = (struct iovec){ .iov_base = m->hdr, .iov_len = h->len };
	m->iov[2] = (struct iovec){ .iov_base = (void *)payload, .iov_len = len };
	m->mh = (struct msghdr){ .msg_iov = m->iov, .msg_iovlen = 3 };
	return &m->mh;
}
