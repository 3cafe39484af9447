/* What the receive and transmit rings share: the interface's facts and link type, the frame size
 * for its MTU, and a TPACKET_V2 ring (or a V3 receive ring) set up and mapped with
 * shrink-and-retry. */
#include <errno.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <net/if.h>
#include <net/if_arp.h>
#include "internal.h"

#define MIN_RING_BYTES (1u << 20)
#define BLOCK_BYTES (1u << 16)
/* A V3 block is handed over full or at its retire timer: 32 KiB is about 28 frames of 1024-byte
 * datagrams (190 us at 150k pps) and 180 of 64-byte ones; the timer's least is 1 ms (a kernel
 * whose timer counts in clock ticks rounds it up to one). */
#define V3_BLOCK_BYTES (1u << 15)
#define V3_RETIRE_MS 1

int mcr__if_facts(int fd, int ifindex, struct mcr_if_facts *out)
{
	struct ifreq ifr;
	memset(&ifr, 0, sizeof(ifr));
	ifr.ifr_ifindex = ifindex;
	if (ioctl(fd, SIOCGIFNAME, &ifr) < 0 || ioctl(fd, SIOCGIFHWADDR, &ifr) < 0)
		return -errno;
	out->arptype = ifr.ifr_hwaddr.sa_family;
	memcpy(out->mac, ifr.ifr_hwaddr.sa_data, 6);
	if (ioctl(fd, SIOCGIFMTU, &ifr) < 0)
		return -errno;
	out->mtu = (uint32_t)ifr.ifr_mtu;
	return 0;
}

/* Newer than glibc's <net/if_arp.h>: the kernel's numbers (linux/if_arp.h). */
#ifndef ARPHRD_RAWIP
#define ARPHRD_RAWIP 519
#endif
#ifndef ARPHRD_IP6GRE
#define ARPHRD_IP6GRE 823
#endif

int mcr__ip_only(int arptype)
{
	switch (arptype) {
	case ARPHRD_NONE: /* tun, WireGuard */
	case ARPHRD_TUNNEL: /* IPIP */
	case ARPHRD_TUNNEL6: /* ip6tnl */
	case ARPHRD_SIT:
	/* GRE with a fixed unicast remote; one without (NBMA) or with a multicast remote puts
	 * the outer IPv4 and GRE headers in front, which this does not read. */
	case ARPHRD_IPGRE:
	case ARPHRD_IP6GRE:
	case ARPHRD_RAWIP: /* cellular modems (rmnet, qmi_wwan) */
		return 1;
	}
	/* Not PPP yet: it reads as IP, but its hard header length (4) makes the kernel take a
	 * transmit ring frame's first bytes for a link header. */
	return 0;
}

/* Smallest power of two that holds the V2 header, the link header, one tag and an MTU. An MTU
 * past the largest IPv4 datagram (lo allows up to 2^31) needs no more than that datagram: past
 * it the size would wrap and the doubling below never end. */
uint32_t mcr__frame_size(uint32_t mtu)
{
	if (mtu > 65535)
		mtu = 65535;
	uint32_t need = mtu + 14 + 4 + TPACKET_ALIGN(sizeof(struct tpacket2_hdr)) +
			TPACKET_ALIGN(sizeof(struct sockaddr_ll)) + 32;
	uint32_t size = 2048;
	while (size < need)
		size <<= 1;
	return size;
}

uint32_t mcr__ring_bytes(uint64_t asked)
{
	/* Whole blocks of the largest frame (128 KiB), below 2^32. */
	const uint64_t max = UINT32_MAX & ~((uint64_t)(1u << 17) - 1);
	return (uint32_t)(asked > max ? max : asked);
}

int mcr__ring_map(int fd, int which, uint32_t frame_size, uint32_t bytes, int blocks,
		  struct mcr_ring *r)
{
	uint32_t want = blocks > 0 ? V3_BLOCK_BYTES * (uint32_t)blocks : BLOCK_BYTES;
	uint32_t block = frame_size > want ? frame_size : want;
	/* Shrink and retry: a host short of memory gets a smaller ring rather than no relay. */
	for (; bytes >= MIN_RING_BYTES && bytes >= block; bytes /= 2) {
		/* V2 reads the first four fields (struct tpacket_req), V3 all of them. */
		struct tpacket_req3 req = {
			.tp_block_size = block,
			.tp_block_nr = bytes / block,
			.tp_frame_size = frame_size,
			.tp_frame_nr = (bytes / block) * (block / frame_size),
			.tp_retire_blk_tov = blocks ? V3_RETIRE_MS : 0,
		};
		socklen_t len = blocks ? sizeof(req) : sizeof(struct tpacket_req);
		if (setsockopt(fd, SOL_PACKET, which, &req, len) < 0) {
			if (errno == ENOMEM)
				continue;
			return -errno;
		}
		size_t map_len = (size_t)req.tp_block_size * req.tp_block_nr;
		void *map = mmap(NULL, map_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE,
				 fd, 0);
		if (map == MAP_FAILED) {
			int err = -errno;
			struct tpacket_req3 none = { 0 };
			setsockopt(fd, SOL_PACKET, which, &none, len);
			if (err == -ENOMEM || err == -EAGAIN)
				continue;
			return err;
		}
		r->map = map;
		r->map_len = map_len;
		r->frame_size = frame_size;
		r->frame_nr = req.tp_frame_nr;
		r->block_size = req.tp_block_size;
		r->block_nr = req.tp_block_nr;
		return 0;
	}
	return -ENOMEM;
}
