/* SPDX-License-Identifier: MIT */
/* Shared between the traffic tools' files; not part of the API. */
#ifndef MCR_TOOLS_INTERNAL_H
#define MCR_TOOLS_INTERNAL_H

#include <endian.h>
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include "../common.h"
#include "mcr_tools.h"

#define UDP_MAX_PAYLOAD 65507u

/* The filler: byte i (from the payload's start) is (seq + i) & 0xff, so a payload's filler is a
 * copy from this table at (seq + i0) & 0xff (payload.c). */
#define MCR_PATTERN_LEN (UDP_MAX_PAYLOAD + 256u)
extern uint8_t mcr__pattern[MCR_PATTERN_LEN];
void mcr__pattern_init(void);

static inline void put_be16(uint8_t *p, uint16_t v)
{
	v = htobe16(v);
	memcpy(p, &v, 2);
}
static inline void put_be32(uint8_t *p, uint32_t v)
{
	v = htobe32(v);
	memcpy(p, &v, 4);
}
static inline void put_be64(uint8_t *p, uint64_t v)
{
	v = htobe64(v);
	memcpy(p, &v, 8);
}
static inline uint16_t get_be16(const uint8_t *p)
{
	uint16_t v;
	memcpy(&v, p, 2);
	return be16toh(v);
}
static inline uint32_t get_be32(const uint8_t *p)
{
	uint32_t v;
	memcpy(&v, p, 4);
	return be32toh(v);
}
static inline uint64_t get_be64(const uint8_t *p)
{
	uint64_t v;
	memcpy(&v, p, 8);
	return be64toh(v);
}

static inline int set_int(int fd, int level, int opt, int v)
{
	return setsockopt(fd, level, opt, &v, sizeof(v)) < 0 ? -errno : 0;
}

#endif
