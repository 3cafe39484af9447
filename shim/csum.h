/* SPDX-License-Identifier: MIT */
/* The Internet checksum (RFC 1071), the one routine the frame parser, the relay's transmit ring
 * and the traffic generator all use. Sums are of native-order 16-bit loads: RFC 1071's sum does
 * not care about byte order as long as the result is stored back the way it was summed, so a
 * folded sum goes into the header with memcpy, never through htons. Partial sums of pieces that
 * start at even offsets of the checksummed data add up; only the last piece may be odd. */
#ifndef MCR_CSUM_H
#define MCR_CSUM_H

#include <stdint.h>
#include <string.h>

/* Adds the n bytes at p to sum (not folded; a uint64 takes any datagram without overflow). */
static inline uint64_t mcr__csum_add(const uint8_t *p, uint32_t n, uint64_t sum)
{
	while (n >= 8) {
		uint64_t v;
		memcpy(&v, p, 8);
		sum += (v & 0xffffffffu) + (v >> 32);
		p += 8;
		n -= 8;
	}
	if (n >= 4) {
		uint32_t v;
		memcpy(&v, p, 4);
		sum += v;
		p += 4;
		n -= 4;
	}
	if (n >= 2) {
		uint16_t v;
		memcpy(&v, p, 2);
		sum += v;
		p += 2;
		n -= 2;
	}
	if (n) {
		/* the odd byte is the high half of a network-order word, padded with a zero */
		uint8_t pad[2] = { *p, 0 };
		uint16_t v;
		memcpy(&v, pad, 2);
		sum += v;
	}
	return sum;
}

/* The checksum field's value: the folded sum, complemented. 0 over data that holds a correct
 * checksum. */
static inline uint16_t mcr__csum_fold(uint64_t sum)
{
	sum = (sum & 0xffffffffu) + (sum >> 32);
	sum = (sum & 0xffffffffu) + (sum >> 32);
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

#endif
