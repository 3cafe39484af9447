/* The relayed UDP checksum (egress_packet.c mcr__udp_csum): the RFC 1624 update from the input's
 * equals a full recompute over random datagrams, keeps a wrong checksum wrong, and the checker
 * (frame.c mcr__udp_csum_ok) agrees, as does the check of a merge's held copy (the headers' sum
 * kept, the payload summed later from wherever it was copied). Exit 0 pass, 1 fail. */
#include "lab.h" /* first: CHECK, and it defines _GNU_SOURCE */
#include <stdio.h>
#include <string.h>
#include <arpa/inet.h>
#include "../internal.h"

static uint64_t st = 0x243f6a8885a308d3ull;
static uint32_t rnd(void)
{
	st ^= st << 13, st ^= st >> 7, st ^= st << 17;
	return (uint32_t)(st >> 16);
}

/* A plain RFC 768 checksum, byte by byte: the reference. */
static uint16_t reference(const uint8_t *ip, const uint8_t *udp, uint32_t ulen)
{
	uint32_t sum = IPPROTO_UDP + ulen;
	for (int i = 12; i < 20; i += 2)
		sum += (uint32_t)ip[i] << 8 | ip[i + 1];
	for (uint32_t i = 0; i < ulen; i++)
		sum += i == 6 || i == 7 ? 0 : (uint32_t)udp[i] << (i % 2 ? 0 : 8);
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	uint16_t c = (uint16_t)~sum;
	return c == 0 ? 0xffff : c;
}

int main(void)
{
	static uint8_t in[20 + 8 + 2048], out[20 + 8 + 2048];
	int updates = 0;
	for (int n = 0; n < 100000; n++) {
		uint32_t len = rnd() % 2000;
		uint8_t *ip = in, *udp = in + 20, *payload = in + 28;
		memset(in, 0, 28);
		ip[0] = 0x45;
		ip[9] = IPPROTO_UDP;
		uint32_t src = rnd(), dst = rnd() | 0xe0000000u;
		memcpy(ip + 12, &src, 4);
		memcpy(ip + 16, &dst, 4);
		uint16_t sport = (uint16_t)rnd(), dport = (uint16_t)rnd(),
			 ulen = (uint16_t)(len + 8);
		udp[0] = (uint8_t)(sport >> 8), udp[1] = (uint8_t)sport;
		udp[2] = (uint8_t)(dport >> 8), udp[3] = (uint8_t)dport;
		udp[4] = (uint8_t)(ulen >> 8), udp[5] = (uint8_t)ulen;
		for (uint32_t i = 0; i < len; i++)
			payload[i] = (uint8_t)rnd();
		uint16_t right = reference(ip, udp, ulen);
		int wrong = n % 3 == 0;
		uint16_t stored = wrong ? (uint16_t)(right ^ (1 + rnd() % 0xfffe)) : right;
		if (stored == 0) /* "no checksum", not a wrong one */
			stored = right ^ 1;
		udp[6] = (uint8_t)(stored >> 8), udp[7] = (uint8_t)stored;
		CHECK(mcr__udp_csum_ok(ip, ulen) == !wrong, "datagram %d: checker says %d", n,
		      mcr__udp_csum_ok(ip, ulen));
		/* A held copy: the payload alone, at an odd address, its headers' sum kept and
		 * the headers gone when it is checked. */
		static uint8_t held[1 + 2048];
		uint8_t headers[28];
		memcpy(held + 1, payload, len);
		memcpy(headers, in, 28);
		uint16_t head = mcr__udp_head_sum(ip, udp, 0, ulen);
		memset(in, 0xa5, 28);
		CHECK(mcr__udp_sum_ok(head, held + 1, len) == !wrong,
		      "datagram %d: held copy says %d", n, mcr__udp_sum_ok(head, held + 1, len));
		memcpy(in, headers, 28);

		/* The output: another source, group and port; every other one IPv6 (the update
		 * crosses families: the pseudo-headers differ only in their addresses). */
		struct mcr_tx t = { .mtu = 9000, .frame_size = 16384, .mac = { 2, 0, 0, 0, 0, 9 } };
		struct mcr_tx_header h;
		uint8_t osrc[16], grp[16];
		int v6 = n % 2;
		if (v6) {
			for (int i = 0; i < 16; i++)
				osrc[i] = (uint8_t)rnd(), grp[i] = (uint8_t)rnd();
			osrc[0] = 0x20, grp[0] = 0xff, grp[1] = 0x3e;
		} else {
			uint32_t s4 = htonl(rnd()), g4 = htonl(0xef000000u | rnd());
			mcr__addr_v4(osrc, (const uint8_t *)&s4);
			mcr__addr_v4(grp, (const uint8_t *)&g4);
		}
		mcr__tx_header_init(&h, &t, osrc, grp, (uint16_t)rnd(), 8);
		struct mcr_csum_in cs = { .mode = MCR_CSUM_UPDATE,
					  .replaced = mcr__csum_fields(ip + 12, 8, udp + 2) };
		memcpy(&cs.sum, udp + 6, 2);
		uint16_t sp = htons(sport), ul = htons(ulen);
		uint16_t upd = mcr__udp_csum(&h, sp, ul, payload, len, &cs);
		struct mcr_csum_in full = { .mode = MCR_CSUM_FULL };
		uint16_t whole = mcr__udp_csum(&h, sp, ul, payload, len, &full);

		/* The output datagram: its IP header from the template, UDP, payload. */
		uint32_t iph = v6 ? 40 : 20;
		memcpy(out, h.bytes + 14, iph + 8);
		uint8_t *ou = out + iph;
		memcpy(ou, &sp, 2);
		memcpy(ou + 4, &ul, 2);
		memcpy(ou + 8, payload, len);
#define OUT_OK() (v6 ? mcr__udp6_csum_ok(out, ou, ulen) : mcr__udp_csum_ok(out, ulen))
		memcpy(ou + 6, &whole, 2);
		CHECK(whole != 0 && OUT_OK(), "datagram %d: full sum %04x wrong", n, ntohs(whole));
		if (!v6) {
			uint16_t want = reference(out, out + 20, ulen);
			CHECK(ntohs(whole) == want, "datagram %d: full sum %04x, reference %04x", n,
			      ntohs(whole), want);
		}
		memcpy(ou + 6, &upd, 2);
		/* The output's held-copy check, IPv6 included, agrees with the whole one. */
		uint16_t ohead = mcr__udp_head_sum(out, ou, v6, ulen);
		memcpy(held + 1, payload, len);
		CHECK(mcr__udp_sum_ok(ohead, held + 1, len) == OUT_OK(),
		      "datagram %d: held check of the output differs", n);
		if (!wrong) {
			CHECK(upd == whole, "datagram %d: update %04x, full %04x", n, ntohs(upd),
			      ntohs(whole));
			CHECK(OUT_OK(), "datagram %d: updated sum is wrong", n);
		} else {
			CHECK(!OUT_OK(),
			      "datagram %d: a wrong input sum left right (in %04x, out %04x)", n,
			      stored, ntohs(upd));
		}
		struct mcr_csum_in none = { .mode = MCR_CSUM_NONE };
		uint16_t nsum = mcr__udp_csum(&h, sp, ul, payload, len, &none);
		if (v6) {
			/* IPv6 requires one: made whole. */
			CHECK(nsum == whole, "IPv6: no sum in, %04x out (whole %04x)", ntohs(nsum),
			      ntohs(whole));
		} else {
			CHECK(nsum == 0, "no sum in, a sum out");
		}
		updates++;
	}
	CHECK(updates == 100000, "%d datagrams", updates);
	if (failures)
		fprintf(stderr, "%d failures\n", failures);
	return failures ? 1 : 0;
}
