/* The receive side: an AF_PACKET socket with a TPACKET_V2 ring of frames, or a TPACKET_V3 ring of
 * blocks (enum mcr_rx_mode), bound to one interface.
 *
 * V2 by default: a V3 block reaches user space only when it is full or its retire timer (1 ms at
 * the least; a kernel whose timer counts in clock ticks rounds it up to one) fires, which at a few
 * thousand packets per second adds most of a millisecond to every packet (0.6 ms median measured
 * at 10k pps). V2 hands over each frame as soon as it is written, but the kernel then reads and
 * writes each frame's status word (last written by the worker on another CPU) and wakes a waiting
 * worker for each frame: the sender's CPU pays for that (bench/README.md).
 *
 * A SOCK_RAW socket reads a frame from its link header on: on an interface without one (tun,
 * WireGuard, IPIP, GRE) that is the IP header, so the input remembers which it reads (ip_only), for
 * its filter and its parser. */
#include <errno.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <linux/if_ether.h>
#include "internal.h"

#ifndef PACKET_IGNORE_OUTGOING
#define PACKET_IGNORE_OUTGOING 23
#endif

#ifndef PACKET_FANOUT_FLAG_IGNORE_OUTGOING
#define PACKET_FANOUT_FLAG_IGNORE_OUTGOING 0x4000
#endif

#ifndef PACKET_FANOUT_FLAG_UNIQUEID
#define PACKET_FANOUT_FLAG_UNIQUEID 0x2000
#endif

int mcr__rx_open(struct mcr_rx *rx, int ifindex, int fanout_id, uint32_t ring_bytes, int blocks)
{
	int one = 1, ver = blocks ? TPACKET_V3 : TPACKET_V2, err;
	memset(rx, 0, sizeof(*rx));
	rx->ifindex = ifindex;
	/* Protocol 0: the socket sees nothing until bind() names the interface, so no frame of
	 * another interface slips into the ring meanwhile. */
	rx->fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
	if (rx->fd < 0)
		return -errno;
	struct mcr_if_facts facts;
	err = mcr__if_facts(rx->fd, ifindex, &facts);
	if (err < 0)
		goto fail;
	rx->frame_size = mcr__frame_size(facts.mtu);
	rx->ip_only = (uint8_t)mcr__ip_only(facts.arptype);
	if (setsockopt(rx->fd, SOL_PACKET, PACKET_VERSION, &ver, sizeof(ver)) < 0)
		goto fail_errno;
	/* Our own egress on this interface must not come back in. */
	if (setsockopt(rx->fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof(one)) < 0)
		goto fail_errno;
	struct mcr_ring ring;
	err = mcr__ring_map(rx->fd, PACKET_RX_RING, rx->frame_size, ring_bytes, blocks, &ring);
	if (err < 0)
		goto fail;
	rx->map = ring.map;
	rx->map_len = ring.map_len;
	rx->blocks = (uint8_t)(blocks != 0);
	rx->frame_nr = blocks ? ring.block_nr : ring.frame_nr;
	rx->block_size = ring.block_size;
	/* Nothing enters the ring until the caller attaches the table's program: between bind() and
	 * joining the fanout group every frame would reach this socket and the group both (relayed
	 * twice), and before a table is installed no frame has a rule. */
	err = mcr__filter_attach(rx->fd, rx->ip_only, NULL, 0);
	if (err < 0)
		goto fail;
	struct sockaddr_ll sll = {
		.sll_family = AF_PACKET,
		.sll_protocol = htons(ETH_P_ALL),
		.sll_ifindex = ifindex,
	};
	if (bind(rx->fd, (struct sockaddr *)&sll, sizeof(sll)) < 0)
		goto fail_errno;
	rx->fanout_id = -1;
	if (fanout_id >= 0) {
		/* Hash mode keeps a flow on one worker: order is kept and nothing is sent twice.
		 * A fanout group has one hook of its own, so it needs its own "ignore outgoing"; kernels
		 * before 5.19 do not know that flag, and then join without it. MCR_FANOUT_NEW: a new
		 * group whose id the kernel picks among those no group in this namespace has, so
		 * another relay's group is never joined by chance. */
		int fresh = fanout_id == MCR_FANOUT_NEW;
		int id = fresh ? 0 : fanout_id & 0xffff;
		int mode = PACKET_FANOUT_HASH | (fresh ? PACKET_FANOUT_FLAG_UNIQUEID : 0);
		int arg = id | ((mode | PACKET_FANOUT_FLAG_IGNORE_OUTGOING) << 16);
		if (setsockopt(rx->fd, SOL_PACKET, PACKET_FANOUT, &arg, sizeof(arg)) < 0) {
			arg = id | (mode << 16);
			if (setsockopt(rx->fd, SOL_PACKET, PACKET_FANOUT, &arg, sizeof(arg)) < 0)
				goto fail_errno;
		}
		socklen_t len = sizeof(arg);
		if (getsockopt(rx->fd, SOL_PACKET, PACKET_FANOUT, &arg, &len) < 0)
			goto fail_errno;
		rx->fanout_id = arg & 0xffff;
	}
	return 0;
fail_errno:
	err = -errno;
fail:
	mcr__rx_close(rx);
	return err;
}

void mcr__rx_give_back(struct mcr_rx *rx)
{
	uint32_t i = (rx->head + rx->frame_nr - rx->taken) % rx->frame_nr;
	for (; rx->taken; rx->taken--) {
		uint32_t *status = rx->blocks ? &mcr__rx_block(rx, i)->hdr.bh1.block_status
					      : &mcr__rx_frame(rx, i)->tp_status;
		__atomic_store_n(status, TP_STATUS_KERNEL, __ATOMIC_RELEASE);
		i = i + 1 == rx->frame_nr ? 0 : i + 1;
	}
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
