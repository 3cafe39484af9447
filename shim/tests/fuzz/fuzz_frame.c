/* The frame parser with a round-trip oracle. Input: byte 0 flags, bytes 1-2 the egress MTU (big
 * endian), the rest a frame off the wire. A frame that parses is rewritten into a transmit slot
 * the way the worker relays it (worker.c classify, egress_packet.c) and parsed back: it must
 * parse, carry the output's addresses and port, the input's source port and payload byte for
 * byte, fit the MTU and the slot, and leave with a UDP checksum that is right exactly when the
 * input's was (or computed anew when the input's was unfinished, none when it had none). */
#include <stdlib.h>
#include <arpa/inet.h>
#include "../../internal.h"
#include "../../csum.h"
#include "fuzz.h"

enum {
	F_CSUM_NOT_READY = 1, /* TP_STATUS_CSUMNOTREADY on input: a local sender's, unfinished */
};

/* RFC 768's checksum, written out independently of the shim's: 1 when the UDP datagram at ip
 * (IHL 5, ulen bytes of UDP) sums right. A stored 0 means none was given: not right. */
static int udp_sum_right(const uint8_t *ip, uint32_t ulen)
{
	const uint8_t *u = ip + 20;
	if (u[6] == 0 && u[7] == 0)
		return 0;
	uint32_t s = IPPROTO_UDP + ulen;
	for (int i = 12; i < 20; i += 2)
		s += (uint32_t)ip[i] << 8 | ip[i + 1];
	for (uint32_t i = 0; i < ulen; i++)
		s += i % 2 ? u[i] : (uint32_t)u[i] << 8;
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return s == 0xffff;
}

static uint8_t *slot_mem;
static size_t slot_cap;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 3 || size > 70000)
		return 0;
	uint8_t flags = data[0];
	uint32_t mtu = (uint32_t)data[1] << 8 | data[2];
	const uint8_t *f = data + 3;
	uint32_t len = (uint32_t)(size - 3);

	struct mcr_frame_info fi;
	if (mcr__frame_parse(f, len, &fi) != MCR_PARSE_OK)
		return 0;
	/* The egress writes IPv4 only so far: an IPv6 datagram's round trip waits for it. */
	if (fi.family != 4)
		return 0;
	MUST(fi.payload_off == 42 || fi.payload_off == 46);
	MUST((uint32_t)fi.payload_off + fi.payload_len <= len);
	const uint8_t *ip = f + fi.payload_off - 28, *udp = ip + 20;
	MUST(ip[0] == 0x45 && ip[9] == IPPROTO_UDP);
	MUST(((uint32_t)udp[4] << 8 | udp[5]) == fi.payload_len + 8u);

	/* A transmit ring of one slot, as mcr__tx_open sizes it for this MTU. */
	struct mcr_tx t = { .fd = -1, .mtu = mtu, .frame_nr = 1 };
	t.frame_size = mcr__frame_size(mtu);
	memcpy(t.mac, "\x02\x00\x00\x00\x00\x07", 6);
	if (slot_cap < t.frame_size) {
		free(slot_mem);
		slot_mem = malloc(t.frame_size);
		slot_cap = t.frame_size;
		MUST(slot_mem);
	}
	memset(slot_mem, 0, t.frame_size); /* TP_STATUS_AVAILABLE */
	uint32_t pend_slot[1];
	uint16_t pend_len[1];
	uint8_t pend_hdr[1];
	t.map = slot_mem;
	t.map_len = t.frame_size;
	t.pend_slot = pend_slot;
	t.pend_len = pend_len;
	t.pend_hdr = pend_hdr;

	uint32_t source = htonl(0x0a000001u + flags), dest = htonl(0xef010000u | fi.port);
	uint16_t port = (uint16_t)(fi.port ^ 0x5a5a);
	uint8_t ttl = (uint8_t)(1 + (flags >> 1));
	uint8_t source16[16], dest16[16];
	mcr__addr_v4(source16, (const uint8_t *)&source);
	mcr__addr_v4(dest16, (const uint8_t *)&dest);
	struct mcr_tx_header h;
	mcr__tx_header_init(&h, &t, source16, dest16, port, ttl);
	h.ip_id = (uint16_t)(flags * 0x0101u);
	const uint32_t room = t.frame_size - TPACKET_ALIGN(sizeof(struct tpacket2_hdr));
	MUST(h.max_payload + MCR_TX_HEADER_LEN <= room);
	/* Larger datagrams go by the UDP socket, which fragments: not this path. */
	if (fi.payload_len > h.max_payload)
		return 0;
	/* Below 28 bytes not even the headers fit: only an empty datagram gets here. */
	MUST(fi.payload_len + 28u <= mtu || (mtu < 28 && h.max_payload == 0));

	/* The worker's view of the input's checksum (worker.c classify). */
	struct mcr_csum_in cs = { .replaced = mcr__csum_fields(ip + 12, 8, udp + 2) };
	memcpy(&cs.sum, udp + 6, 2);
	cs.mode = (flags & F_CSUM_NOT_READY) ? MCR_CSUM_FULL
		  : cs.sum == 0		     ? MCR_CSUM_NONE
					     : MCR_CSUM_UPDATE;
	int in_right = udp_sum_right(ip, fi.payload_len + 8u);

	const uint8_t tos = (uint8_t)(flags * 7u);
	MUST(mcr__tx_put(&t, &h, fi.sport, f + fi.payload_off, fi.payload_len, 7, &cs, tos, ttl) ==
	     0);
	MUST(t.npend == 1 && pend_slot[0] == 7 && pend_len[0] == fi.payload_len &&
	     pend_hdr[0] == MCR_TX_HEADER_LEN);
	const struct tpacket2_hdr *fh = (const struct tpacket2_hdr *)slot_mem;
	MUST(fh->tp_status == TP_STATUS_SEND_REQUEST);
	MUST(fh->tp_len == fi.payload_len + MCR_TX_HEADER_LEN && fh->tp_len <= room);
	const uint8_t *o = slot_mem + TPACKET_ALIGN(sizeof(struct tpacket2_hdr));

	struct mcr_frame_info fo;
	MUST(mcr__frame_parse(o, fh->tp_len, &fo) == MCR_PARSE_OK); /* IPv4 checksum included */
	MUST(fo.family == 4 && mcr__addr_u32(fo.group) == dest &&
	     mcr__addr_u32(fo.source) == source && fo.port == port);
	MUST(fo.sport == fi.sport && fo.payload_off == 42 && fo.payload_len == fi.payload_len);
	MUST(memcmp(o + 42, f + fi.payload_off, fi.payload_len) == 0);
	uint8_t mac[6];
	mcr__mcast_mac(dest, mac);
	MUST(memcmp(o, mac, 6) == 0 && memcmp(o + 6, t.mac, 6) == 0);
	const uint8_t *oip = o + 14;
	MUST(oip[1] == tos && oip[8] == ttl &&
	     ((uint32_t)oip[4] << 8 | oip[5]) == (uint16_t)(h.ip_id - 1));
	MUST(((uint32_t)oip[2] << 8 | oip[3]) == fi.payload_len + 28u);
	int out_right = udp_sum_right(oip, fi.payload_len + 8u);
	int out_none = oip[26] == 0 && oip[27] == 0;
	switch (cs.mode) {
	case MCR_CSUM_FULL:
		MUST(out_right);
		break;
	case MCR_CSUM_NONE:
		MUST(out_none);
		break;
	default:
		MUST(out_right == in_right && !out_none);
	}
	return 0;
}
