/* SPDX-License-Identifier: MIT */
/* What the data plane and the traffic tools (tools/) share: the export marker, an interface's
 * facts (ring.c), 16-byte addresses (IPv4 as IPv4-mapped), the multicast MACs, the clock and the
 * send-buffer setting. Not part of the API. */
#ifndef MCR_COMMON_H
#define MCR_COMMON_H

#include <stdint.h>
#include <string.h>
#include <time.h>
#include <sys/socket.h>

#define MCR_API __attribute__((visibility("default")))

struct mcr_if_facts {
	uint32_t mtu;
	uint8_t mac[6];
	int arptype; /* ARPHRD_* */
};

/* MTU, MAC and link type of ifindex, read with ioctls on any socket fd. */
int mcr__if_facts(int fd, int ifindex, struct mcr_if_facts *out);

/* The IPv4 address of an IPv4-mapped one, network order. */
static inline uint32_t mcr__addr_u32(const uint8_t a[16])
{
	uint32_t v;
	memcpy(&v, a + 12, 4);
	return v;
}

/* 1 when a is IPv4-mapped (::ffff:0:0/96). */
static inline int mcr__addr_is_v4(const uint8_t a[16])
{
	static const uint8_t pre[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
	return memcmp(a, pre, 12) == 0;
}

/* RFC 1112: a group's Ethernet address is its low 23 bits under 01:00:5e. group: network order. */
static inline void mcr__mcast_mac(uint32_t group, uint8_t mac[6])
{
	const uint8_t *g = (const uint8_t *)&group;
	mac[0] = 0x01;
	mac[1] = 0x00;
	mac[2] = 0x5e;
	mac[3] = g[1] & 0x7f;
	mac[4] = g[2];
	mac[5] = g[3];
}

/* RFC 2464: an IPv6 group's Ethernet address is its low 32 bits under 33:33. */
static inline void mcr__mcast_mac6(const uint8_t group[16], uint8_t mac[6])
{
	mac[0] = mac[1] = 0x33;
	memcpy(mac + 2, group + 12, 4);
}

static inline uint64_t mcr__clock_ns(clockid_t c)
{
	struct timespec ts;
	clock_gettime(c, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* A deep send buffer: root may raise it past wmem_max; otherwise take what the sysctl allows. */
static inline void mcr__sndbuf_set(int fd, int bytes)
{
	if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &bytes, sizeof(bytes)) < 0)
		(void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &bytes, sizeof(bytes));
}

#endif
