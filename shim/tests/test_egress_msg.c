/* The sendmsg egress's messages (egress_msg.c), without a socket: which datagrams may join a GSO
 * run and which may not, and that a message's headers and partial checksum are what a device
 * (or the kernel's software fallback) finishes into a right datagram: for one datagram and for a
 * run the kernel cuts. Exit 0 pass, 1 fail. */
#include "lab.h" /* first: CHECK, and it defines _GNU_SOURCE */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <linux/virtio_net.h>
#include "../internal.h"
#include "../csum.h"

/* What a device does with CHECKSUM_PARTIAL: sums from csum_start to the end into the field at
 * csum_start + csum_offset, which holds the pseudo-header's sum. */
static void device_finish(uint8_t *frame, uint32_t len, const struct mcr_vnet_hdr *v)
{
	uint16_t sum = mcr__csum_fold(mcr__csum_add(frame + v->csum_start, len - v->csum_start, 0));
	memcpy(frame + v->csum_start + v->csum_offset, &sum, 2);
}

/* The frame a message makes, its iovecs past the virtio-net header laid end to end. */
static uint32_t flatten(const struct mcr_txm *m, uint8_t *out)
{
	uint32_t n = 0;
	for (size_t i = 1; i < m->mh.msg_iovlen; i++) {
		memcpy(out + n, m->iov[i].iov_base, m->iov[i].iov_len);
		n += (uint32_t)m->iov[i].iov_len;
	}
	return n;
}

int main(void)
{
	struct mcr_tx t = { .fd = -1, .mtu = 9000, .frame_size = 0x10000 + 256 };
	t.msgs = calloc(MCR_TXM_SLOTS, sizeof(*t.msgs));
	uint8_t src[16] = { [10] = 0xff, [11] = 0xff, 10, 0, 1, 1 };
	uint8_t dst[16] = { [10] = 0xff, [11] = 0xff, 239, 9, 9, 9 };
	struct mcr_tx_header h;
	mcr__tx_header_init(&h, &t, src, dst, 5099, 1);
	static uint8_t payload[MCR_GSO_SEGS + 1][1000], frame[70000];
	for (int i = 0; i <= MCR_GSO_SEGS; i++)
		for (int j = 0; j < 1000; j++)
			payload[i][j] = (uint8_t)(i * 7 + j * 13 + 1);
	struct mcr_csum_in full = { .mode = MCR_CSUM_FULL },
			   verified = { .mode = MCR_CSUM_UPDATE, .valid = 1 },
			   unverified = { .mode = MCR_CSUM_UPDATE },
			   none = { .mode = MCR_CSUM_NONE };

	/* One datagram left to the device: finished, it carries a right checksum. */
	int mi = mcr__txm_put(&t, &h, 4000, payload[0], 999, &full, 0, 1);
	CHECK(mi == 0, "first message index %d", mi);
	struct mcr_txm *m = &t.msgs[mi];
	CHECK(m->vnet.flags == VIRTIO_NET_HDR_F_NEEDS_CSUM && m->vnet.gso_type == 0,
	      "one datagram: flags %u gso %u", m->vnet.flags, m->vnet.gso_type);
	mcr__txm_finish(&t, (uint32_t)mi, &h);
	uint32_t n = flatten(m, frame);
	CHECK(n == 42 + 999, "frame length %u", n);
	device_finish(frame, n, &m->vnet);
	CHECK(mcr__udp_csum_ok(frame + 14, 999 + 8), "device-finished checksum wrong");

	/* What may not join: another TOS, another source port, a checksum that must be carried over
	 * (unverified or none), a longer datagram, an empty one. A verified one may. */
	CHECK(mcr__txm_append(&t, 0, &h, 4000, payload[1], 999, &full, 4, 1) < 0, "TOS joined");
	CHECK(mcr__txm_append(&t, 0, &h, 4001, payload[1], 999, &full, 0, 1) < 0, "port joined");
	CHECK(mcr__txm_append(&t, 0, &h, 4000, payload[1], 999, &unverified, 0, 1) < 0,
	      "an unverified checksum joined: a wrong one would leave right");
	CHECK(mcr__txm_append(&t, 0, &h, 4000, payload[1], 999, &none, 0, 1) < 0,
	      "no checksum joined");
	CHECK(mcr__txm_append(&t, 0, &h, 4000, payload[1], 1000, &full, 0, 1) < 0, "longer joined");
	CHECK(mcr__txm_append(&t, 0, &h, 4000, payload[1], 0, &full, 0, 1) < 0, "empty joined");

	/* A run: 63 more of the same size (one verified), then the run is full. */
	for (int i = 1; i < MCR_GSO_SEGS; i++)
		CHECK(mcr__txm_append(&t, 0, &h, 4000, payload[i], 999, i == 5 ? &verified : &full,
				      0, 1) == 0,
		      "datagram %d did not join", i);
	CHECK(m->segs == MCR_GSO_SEGS && m->bytes == MCR_GSO_SEGS * 999u, "segs %u bytes %u",
	      m->segs, m->bytes);
	CHECK(mcr__txm_append(&t, 0, &h, 4000, payload[64], 999, &full, 0, 1) < 0, "a 65th joined");
	CHECK(m->vnet.gso_type == 5 /* VIRTIO_NET_HDR_GSO_UDP_L4 */ && m->vnet.gso_size == 999,
	      "gso type %u size %u", m->vnet.gso_type, m->vnet.gso_size);

	/* A shorter one ends a run: it joins as the last, and nothing after it. */
	uint16_t id0 = h.ip_id;
	int mj = mcr__txm_put(&t, &h, 4000, payload[0], 500, &full, 0, 1);
	CHECK(mcr__txm_append(&t, (uint32_t)mj, &h, 4000, payload[1], 500, &full, 0, 1) == 0,
	      "same size");
	CHECK(mcr__txm_append(&t, (uint32_t)mj, &h, 4000, payload[2], 300, &full, 0, 1) == 0,
	      "shorter last");
	CHECK(mcr__txm_append(&t, (uint32_t)mj, &h, 4000, payload[3], 300, &full, 0, 1) < 0,
	      "after the shorter");
	CHECK(h.ip_id == (uint16_t)(id0 + 3), "ids: %u after %u", h.ip_id, id0);

	/* The run's headers describe it whole (the receiver of an uncut one checks them), and its
	 * partial sum, cut the way the kernel cuts (the length swapped in the sum), makes each
	 * datagram's right checksum. */
	m = &t.msgs[mj];
	mcr__txm_finish(&t, (uint32_t)mj, &h);
	n = flatten(m, frame);
	uint8_t *ip = frame + 14, *udp = frame + 34;
	CHECK(n == 42 + 1300 && ((uint32_t)ip[2] << 8 | ip[3]) == 20 + 8 + 1300 &&
		      ((uint32_t)udp[4] << 8 | udp[5]) == 8 + 1300,
	      "run headers: frame %u, IP total %u, UDP length %u", n, (uint32_t)ip[2] << 8 | ip[3],
	      (uint32_t)udp[4] << 8 | udp[5]);
	CHECK(mcr__csum_fold(mcr__csum_add(ip, 20, 0)) == 0, "run's IPv4 header checksum wrong");
	uint32_t lens[3] = { 500, 500, 300 }, off = 42;
	for (int s = 0; s < 3; s++) {
		static uint8_t seg[2000];
		uint16_t old_len, new_len = htons((uint16_t)(lens[s] + 8)), check;
		memcpy(seg, frame, 42);
		memcpy(seg + 42, frame + off, lens[s]);
		off += lens[s];
		memcpy(&old_len, udp + 4, 2);
		memcpy(&check, udp + 6, 2);
		/* csum16_add(csum16_sub(check, old_len), new_len), as __udp_gso_segment does */
		uint32_t c = (uint32_t)check + (uint16_t)~old_len;
		c = (c & 0xffff) + (c >> 16);
		c += new_len;
		c = (c & 0xffff) + (c >> 16);
		uint16_t cc = (uint16_t)c;
		memcpy(seg + 34 + 4, &new_len, 2);
		memcpy(seg + 34 + 6, &cc, 2);
		device_finish(seg, 42 + lens[s], &m->vnet);
		CHECK(mcr__udp_csum_ok(seg + 14, lens[s] + 8), "segment %d checksum wrong", s);
		CHECK(memcmp(seg + 42, payload[s], lens[s]) == 0, "segment %d payload", s);
	}

	/* IPv6: the same for one datagram and for a run (payload length, not total length; no
	 * header checksum). */
	uint8_t src6[16] = { 0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1 };
	uint8_t dst6[16] = { 0xff, 0x0e, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x12, 0x34 };
	struct mcr_tx_header h6;
	mcr__tx_header_init(&h6, &t, src6, dst6, 5099, 1);
	t.nmsg = 0;
	int m6 = mcr__txm_put(&t, &h6, 4000, payload[0], 777, &full, 0, 1);
	m = &t.msgs[m6];
	mcr__txm_finish(&t, (uint32_t)m6, &h6);
	n = flatten(m, frame);
	CHECK(n == 62 + 777 && m->vnet.csum_start == 54, "IPv6 frame %u, csum_start %u", n,
	      m->vnet.csum_start);
	device_finish(frame, n, &m->vnet);
	CHECK(mcr__udp6_csum_ok(frame + 14, frame + 54, 777 + 8), "IPv6 checksum wrong");
	m6 = mcr__txm_put(&t, &h6, 4000, payload[0], 400, &full, 0, 1);
	CHECK(mcr__txm_append(&t, (uint32_t)m6, &h6, 4000, payload[1], 400, &verified, 0, 1) == 0,
	      "IPv6 run");
	m = &t.msgs[m6];
	mcr__txm_finish(&t, (uint32_t)m6, &h6);
	n = flatten(m, frame);
	CHECK(((uint32_t)frame[18] << 8 | frame[19]) == 8 + 800, "IPv6 run payload length %u",
	      (uint32_t)frame[18] << 8 | frame[19]);
	for (int s6 = 0; s6 < 2; s6++) {
		static uint8_t seg[2000];
		uint16_t old_len, new_len = htons(408), check;
		memcpy(seg, frame, 62);
		memcpy(seg + 62, frame + 62 + 400 * s6, 400);
		memcpy(&old_len, frame + 58, 2);
		memcpy(&check, frame + 60, 2);
		uint32_t c = (uint32_t)check + (uint16_t)~old_len;
		c = (c & 0xffff) + (c >> 16);
		c += new_len;
		c = (c & 0xffff) + (c >> 16);
		uint16_t cc = (uint16_t)c;
		memcpy(seg + 18, &new_len, 2); /* the kernel sets each segment's payload length */
		memcpy(seg + 58, &new_len, 2);
		memcpy(seg + 60, &cc, 2);
		device_finish(seg, 62 + 400, &m->vnet);
		CHECK(mcr__udp6_csum_ok(seg + 14, seg + 54, 408), "IPv6 segment %d checksum wrong",
		      s6);
	}
	free(t.msgs);
	return failures ? 1 : 0;
}
