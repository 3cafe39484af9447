/* The receive side: an AF_PACKET socket with a TPACKET_V2 ring, bound to one interface.
 *
 * V2 rather than V3: a V3 block reaches user space only when it is full or its retire timer
 * (1 ms at the least) fires, which at a few thousand packets per second adds most of a
 * millisecond to every packet. V2 hands over each frame as soon as it is written. */
#include <errno.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/ioctl.h>
#include <net/if.h>
#include <linux/if_ether.h>
#include "internal.h"

#ifndef PACKET_IGNORE_OUTGOING
#define PACKET_IGNORE_OUTGOING 23
#endif

#ifndef PACKET_FANOUT_FLAG_IGNORE_OUTGOING
#define PACKET_FANOUT_FLAG_IGNORE_OUTGOING 0x4000
#endif

#define MIN_RING_BYTES (1u << 20)
#define BLOCK_BYTES (1u << 16)

static int if_mtu(int fd, int ifindex)
{
	struct ifreq ifr;
	memset(&ifr, 0, sizeof(ifr));
	ifr.ifr_ifindex = ifindex;
	if (ioctl(fd, SIOCGIFNAME, &ifr) < 0)
		return -errno;
	if (ioctl(fd, SIOCGIFMTU, &ifr) < 0)
		return -errno;
	return ifr.ifr_mtu;
}

/* Smallest power of two that holds the V2 header, the link header, one tag and an MTU. */
static uint32_t frame_size_for(int mtu)
{
	uint32_t need = (uint32_t)mtu + 14 + 4 + TPACKET_ALIGN(sizeof(struct tpacket2_hdr)) +
			TPACKET_ALIGN(sizeof(struct sockaddr_ll)) + 32;
	uint32_t size = 2048;
	while (size < need)
		size <<= 1;
	return size;
}

static int setup_ring(struct mcr_rx *rx, uint32_t ring_bytes)
{
	uint32_t block = rx->frame_size > BLOCK_BYTES ? rx->frame_size : BLOCK_BYTES;
	/* Shrink and retry: a host short of memory gets a smaller ring rather than no relay. */
	for (uint32_t bytes = ring_bytes; bytes >= MIN_RING_BYTES && bytes >= block; bytes /= 2) {
		struct tpacket_req req = {
			.tp_block_size = block,
			.tp_block_nr = bytes / block,
			.tp_frame_size = rx->frame_size,
			.tp_frame_nr = (bytes / block) * (block / rx->frame_size),
		};
		if (setsockopt(rx->fd, SOL_PACKET, PACKET_RX_RING, &req, sizeof(req)) < 0) {
			if (errno == ENOMEM)
				continue;
			return -errno;
		}
		size_t len = (size_t)req.tp_block_size * req.tp_block_nr;
		void *map = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, rx->fd, 0);
		if (map == MAP_FAILED) {
			int err = -errno;
			struct tpacket_req none = { 0 };
			setsockopt(rx->fd, SOL_PACKET, PACKET_RX_RING, &none, sizeof(none));
			if (err == -ENOMEM || err == -EAGAIN)
				continue;
			return err;
		}
		rx->map = map;
		rx->map_len = len;
		rx->frame_nr = req.tp_frame_nr;
		return 0;
	}
	return -ENOMEM;
}

int mcr__rx_open(struct mcr_rx *rx, int ifindex, int fanout_id, uint32_t ring_bytes)
{
	int one = 1, ver = TPACKET_V2, err;
	memset(rx, 0, sizeof(*rx));
	rx->ifindex = ifindex;
	/* Protocol 0: the socket sees nothing until bind() names the interface, so no frame of
	 * another interface slips into the ring meanwhile. */
	rx->fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
	if (rx->fd < 0)
		return -errno;
	err = if_mtu(rx->fd, ifindex);
	if (err < 0)
		goto fail;
	rx->frame_size = frame_size_for(err);
	if (setsockopt(rx->fd, SOL_PACKET, PACKET_VERSION, &ver, sizeof(ver)) < 0)
		goto fail_errno;
	/* Our own egress on this interface must not come back in. */
	if (setsockopt(rx->fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof(one)) < 0)
		goto fail_errno;
	err = setup_ring(rx, ring_bytes);
	if (err < 0)
		goto fail;
	struct sockaddr_ll sll = {
		.sll_family = AF_PACKET,
		.sll_protocol = htons(ETH_P_ALL),
		.sll_ifindex = ifindex,
	};
	if (bind(rx->fd, (struct sockaddr *)&sll, sizeof(sll)) < 0)
		goto fail_errno;
	if (fanout_id >= 0) {
		/* Hash mode keeps a flow on one worker: order is kept and nothing is sent twice.
		 * A fanout group has one hook of its own, so it needs its own "ignore outgoing"; kernels
		 * before 5.19 do not know that flag, and then join without it. */
		int arg = (fanout_id & 0xffff) | ((PACKET_FANOUT_HASH | PACKET_FANOUT_FLAG_IGNORE_OUTGOING) << 16);
		if (setsockopt(rx->fd, SOL_PACKET, PACKET_FANOUT, &arg, sizeof(arg)) < 0) {
			arg = (fanout_id & 0xffff) | (PACKET_FANOUT_HASH << 16);
			if (setsockopt(rx->fd, SOL_PACKET, PACKET_FANOUT, &arg, sizeof(arg)) < 0)
				goto fail_errno;
		}
	}
	return 0;
fail_errno:
	err = -errno;
fail:
	mcr__rx_close(rx);
	return err;
}

void mcr__rx_close(struct mcr_rx *rx)
{
	if (rx->map)
		munmap(rx->map, rx->map_len);
	if (rx->fd >= 0)
		close(rx->fd);
	memset(rx, 0, sizeof(*rx));
	rx->fd = -1;
}
