/* The frame parser with a round-trip oracle. Input: byte 0 flags, bytes 1-2 the egress MTU (big
 * endian), the rest a frame off the wire. A frame that parses (IPv4 or IPv6) is rewritten into a
 * transmit slot the way the worker relays it (worker.c classify, egress_packet.c), to an IPv4 or
 * an IPv6 output (flag bit 7: a rule may cross families), and parsed back: it must parse, carry
 * the output's addresses and port, the input's source port and payload byte for byte, fit the
 * MTU and the slot, and leave with a UDP checksum that is right exactly when the input's was (or
 * computed anew when the input's was unfinished, none when it had none and the output is IPv4:
 * IPv6 has no "none", so one is computed). */
#include <stdlib.h>
#include <arpa/inet.h>
#include "../../internal.h"
#include "../../csum.h"
#include "fuzz.h"

enum {
	F_CSUM_NOT_READY = 1, /* TP_STATUS_CSUMNOTREADY on input: a local sender's, unfinished */
	F_OUT_V6 = 0x80, /* the output is IPv6 */
};

/* RFC 768's checksum (RFC 8200 8.1 for IPv6), written out independently of the shim's: 1 when
 * the UDP datagram at udp (ulen bytes) under the IP header at ip sums right. A stored 0 means
 * none was given: not right. */
static int udp_sum_right(const uint8_t *ip, int v6, const uint8_t *u, uint32_t ulen)
{
	if (u[6] == 0 && u[7] == 0)
		return 0;
	uint32_t s = IPPROTO_UDP + ulen;
	for (int i = v6 ? 8 : 12; i < (v6 ? 40 : 20); i += 2)
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
	int in6 = fi.family == 6, out6 = (flags & F_OUT_V6) != 0;
	MUST(fi.family == 4 || fi.family == 6);
	MUST(fi.ip_off == 14 || fi.ip_off == 18);
	MUST(in6 ? fi.payload_off >= fi.ip_off + 48u : fi.payload_off == fi.ip_off + 28u);
	MUST((uint32_t)fi.payload_off + fi.payload_len <= len);
	const uint8_t *ip = f + fi.ip_off, *udp = f + fi.payload_off - 8;
	MUST(in6 ? ip[0] >> 4 == 6 : ip[0] == 0x45 && ip[9] == IPPROTO_UDP);
	MUST(((uint32_t)udp[4] << 8 | udp[5]) == fi.payload_len + 8u);
	const uint32_t hlen = out6 ? MCR_TX_HEADER6_LEN : MCR_TX_HEADER_LEN, over = hlen - 14;

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
	if (out6) {
		/* 2001:db8::<flags> to ff3e::<port> */
		static const uint8_t s6[16] = { 0x20, 0x01, 0x0d, 0xb8 }, d6[16] = { 0xff, 0x3e };
		memcpy(source16, s6, 16);
		memcpy(dest16, d6, 16);
		source16[15] = flags;
		dest16[14] = (uint8_t)(fi.port >> 8), dest16[15] = (uint8_t)fi.port;
	} else {
		mcr__addr_v4(source16, (const uint8_t *)&source);
		mcr__addr_v4(dest16, (const uint8_t *)&dest);
	}
	struct mcr_tx_header h;
	mcr__tx_header_init(&h, &t, source16, dest16, port, ttl);
	h.ip_id = (uint16_t)(flags * 0x0101u);
	const uint32_t room = t.frame_size - TPACKET_ALIGN(sizeof(struct tpacket2_hdr));
	MUST(h.len == hlen && h.max_payload + hlen <= room);
	/* Larger datagrams go by the UDP socket, which fragments: not this path. */
	if (fi.payload_len > h.max_payload)
		return 0;
	/* Below the headers' size not even they fit: only an empty datagram gets here. */
	MUST(fi.payload_len + over <= mtu || (mtu < over && h.max_payload == 0));

	/* The worker's view of the input's checksum (worker.c classify). */
	struct mcr_csum_in cs = { .replaced = in6 ? mcr__csum_fields(ip + 8, 32, udp + 2)
						  : mcr__csum_fields(ip + 12, 8, udp + 2) };
	memcpy(&cs.sum, udp + 6, 2);
	cs.mode = (flags & F_CSUM_NOT_READY) ? MCR_CSUM_FULL
		  : cs.sum == 0		     ? MCR_CSUM_NONE
					     : MCR_CSUM_UPDATE;
	int in_right = udp_sum_right(ip, in6, udp, fi.payload_len + 8u);

	const uint8_t tos = (uint8_t)(flags * 7u);
	MUST(mcr__tx_put(&t, &h, fi.sport, f + fi.payload_off, fi.payload_len, 7, &cs, tos, ttl) ==
	     0);
	MUST(t.npend == 1 && pend_slot[0] == 7 && pend_len[0] == fi.payload_len &&
	     pend_hdr[0] == hlen);
	const struct tpacket2_hdr *fh = (const struct tpacket2_hdr *)slot_mem;
	MUST(fh->tp_status == TP_STATUS_SEND_REQUEST);
	MUST(fh->tp_len == fi.payload_len + hlen && fh->tp_len <= room);
	const uint8_t *o = slot_mem + TPACKET_ALIGN(sizeof(struct tpacket2_hdr));

	struct mcr_frame_info fo;
	MUST(mcr__frame_parse(o, fh->tp_len, &fo) == MCR_PARSE_OK); /* IPv4 checksum included */
	MUST(fo.family == (out6 ? 6 : 4) && memcmp(fo.group, dest16, 16) == 0 &&
	     memcmp(fo.source, source16, 16) == 0 && fo.port == port);
	MUST(fo.sport == fi.sport && fo.payload_off == hlen && fo.payload_len == fi.payload_len);
	MUST(memcmp(o + hlen, f + fi.payload_off, fi.payload_len) == 0);
	uint8_t mac[6];
	if (out6)
		mcr__mcast_mac6(dest16, mac);
	else
		mcr__mcast_mac(dest, mac);
	MUST(memcmp(o, mac, 6) == 0 && memcmp(o + 6, t.mac, 6) == 0);
	const uint8_t *oip = o + 14, *oudp = o + hlen - 8;
	if (out6) {
		/* traffic class and hop limit as TOS and TTL; the payload length the datagram's */
		MUST(oip[0] >> 4 == 6 && (uint8_t)(oip[0] << 4 | oip[1] >> 4) == tos &&
		     oip[7] == ttl && oip[6] == IPPROTO_UDP);
		MUST(((uint32_t)oip[4] << 8 | oip[5]) == fi.payload_len + 8u);
	} else {
		MUST(oip[1] == tos && oip[8] == ttl &&
		     ((uint32_t)oip[4] << 8 | oip[5]) == (uint16_t)(h.ip_id - 1));
		MUST(((uint32_t)oip[2] << 8 | oip[3]) == fi.payload_len + 28u);
	}
	int out_right = udp_sum_right(oip, out6, oudp, fi.payload_len + 8u);
	int out_none = oudp[6] == 0 && oudp[7] == 0;
	switch (cs.mode) {
	case MCR_CSUM_FULL:
		MUST(out_right);
		break;
	case MCR_CSUM_NONE:
		MUST(out6 ? out_right : out_none);
		break;
	default:
		MUST(out_right == in_right && !out_none);
	}
	return 0;
}
