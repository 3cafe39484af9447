/* SPDX-License-Identifier: MIT */
/* The one Internet checksum (csum.h) against RFC 1071 written out word by word in network order:
 * every length up to 300 at every alignment, pieces summed apart and added, and a known header.
 * Exit 0 pass, 1 fail. */
#include "lab.h" /* first: CHECK, and it defines _GNU_SOURCE */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include "../csum.h"

/* RFC 1071 section 4.1, on big-endian words: the value as it reads on the wire. */
static uint16_t reference(const uint8_t *p, uint32_t n)
{
	uint32_t sum = 0;
	for (uint32_t i = 0; i + 1 < n; i += 2)
		sum += (uint32_t)p[i] << 8 | p[i + 1];
	if (n & 1)
		sum += (uint32_t)p[n - 1] << 8;
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

/* csum.h's result as stored in the header, read back in network order. */
static uint16_t stored(uint16_t folded)
{
	uint16_t v;
	memcpy(&v, &folded, 2);
	return ntohs(v);
}

int main(void)
{
	static uint8_t buf[512];
	srand(1071);
	for (uint32_t i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)rand();

	for (uint32_t off = 0; off < 8; off++)
		for (uint32_t n = 0; n <= 300; n++) {
			uint16_t want = reference(buf + off, n);
			uint16_t got = stored(mcr__csum_fold(mcr__csum_add(buf + off, n, 0)));
			CHECK(got == want, "offset %u length %u: %04x, want %04x", off, n, got,
			      want);
		}

	/* Pieces that start at even offsets add up to the whole; only the last may be odd. */
	for (uint32_t cut = 0; cut <= 200; cut += 2)
		for (uint32_t n = cut; n <= 201; n += 7) {
			uint64_t s = mcr__csum_add(buf + cut, n - cut, mcr__csum_add(buf, cut, 0));
			CHECK(stored(mcr__csum_fold(s)) == reference(buf, n), "cut %u of %u", cut,
			      n);
		}

	/* All ones: the sum wraps many times before the fold. */
	memset(buf, 0xff, sizeof(buf));
	CHECK(stored(mcr__csum_fold(mcr__csum_add(buf, sizeof(buf), 0))) ==
		      reference(buf, sizeof(buf)),
	      "all ones");

	/* An IPv4 header with its checksum in place sums to 0 (the parser's test). */
	uint8_t ip[20] = { 0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11,
			   0xb8, 0x61, 0xc0, 0xa8, 0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7 };
	CHECK(mcr__csum_fold(mcr__csum_add(ip, 20, 0)) == 0, "a correct header sums to 0");
	ip[11] ^= 1;
	CHECK(mcr__csum_fold(mcr__csum_add(ip, 20, 0)) != 0, "a wrong one does not");

	if (failures)
		return 1;
	puts("test_csum: ok");
	return 0;
}
