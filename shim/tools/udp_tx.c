/* SPDX-License-Identifier: MIT */
/* udp_tx.c: the sender of `mcr gen`. It stamps sequence numbers and send times into its payloads
 * (the format: mcr_tools.h, src/tools/payload.ts) and paces them on an absolute schedule with
 * sendmmsg.
 *
 * Two ways out:
 * - socket mode: one connected UDP socket per destination, sendmmsg. The kernel's whole UDP/IP
 *   output path runs per packet (for a multicast group that includes a route lookup and a fresh
 *   dst: a connected socket does not keep one for multicast).
 * - packet mode (MCR_UDP_TX_PACKET, multicast only): whole Ethernet/IPv4/UDP or Ethernet/IPv6/UDP
 *   frames built here and sent with sendmmsg on an AF_PACKET socket bound to the interface, past
 *   the qdisc. About half the CPU per packet; what a receiver sees is the same datagram.
 * Destinations may be of both families, each with its own socket (socket mode) or header (packet
 * mode). */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <linux/if_packet.h>
#include <arpa/inet.h>
#include "../csum.h"
#include "internal.h"

#define UDP_BATCH_MAX 256u
#define SNDBUF_BYTES (4 << 20) /* a burst after a late wake-up must not block on the buffer */
#define FRAME_HDR4 42u /* Ethernet 14 + IPv4 20 + UDP 8 */
#define FRAME_HDR6 62u /* Ethernet 14 + IPv6 40 + UDP 8 */
#define FRAME_HDR FRAME_HDR6 /* room for either in front of each payload */

struct tx_dest {
	uint8_t addr[16]; /* network order, IPv4 as IPv4-mapped */
	int v6;
	uint16_t port; /* host order */
	uint8_t mac[6]; /* packet mode: the group's multicast MAC */
	uint64_t ip_sum; /* packet mode, IPv4: RFC 1071 sum of the header without id and checksum */
	uint64_t udp_sum; /* packet mode: pseudo-header + UDP header, without the payload */
};

struct mcr_udp_sender {
	uint32_t n_dests;
	uint32_t size; /* UDP payload bytes */
	uint32_t run_id;
	uint32_t batch;
	int packet; /* packet mode */
	uint32_t off; /* payload offset in a buffer: FRAME_HDR in packet mode (a frame starts
		       * FRAME_HDR - its header's length in), else 0 */
	uint32_t n_fds;
	int *fds; /* socket mode: per destination; packet mode: one */
	struct tx_dest *dests;
	uint64_t *seq; /* next sequence number, per destination */
	uint8_t *bufs; /* batch x (off + size) */
	struct mmsghdr *msgs;
	struct iovec *iov;
	uint8_t tmpl[FRAME_HDR4]; /* packet mode: the IPv4 frame's headers */
	uint8_t tmpl6[FRAME_HDR6]; /* ... the IPv6 frame's */
	uint16_t ip_id;
	uint64_t filler_sum
		[256]; /* packet mode: sum of the filler, by (seq + MCR_UDP_HDR_LEN) & 0xff */
	/* legs mode (mcr_udp_sender_legs): every packet to each destination, behind an RTP header */
	uint32_t n_legs; /* 0: round-robin over the destinations */
	uint32_t
		hdr; /* bytes before the filler: MCR_UDP_HDR_LEN, plus MCR_RTP_HDR_LEN in legs mode */
	uint64_t loss_thresh; /* a leg drops a packet when its draw's high 32 bits are below this */
	uint64_t rng[MCR_UDP_MAX_LEGS]; /* splitmix64 state per leg */
	uint32_t rtp_seq0;
	uint64_t leg_dropped[MCR_UDP_MAX_LEGS];
	uint64_t lost_all; /* packets dropped on every leg */
	/* schedule */
	double rate; /* packets per second over all destinations; 0 = as fast as possible */
	uint64_t count; /* 0 = unlimited */
	uint64_t next; /* index of the next packet to send (over all destinations) */
	uint64_t t0; /* CLOCK_MONOTONIC ns: packet i is due at t0 + i / rate */
	uint64_t tick_ns; /* the shortest sleep */
	int started;
	uint64_t st[MCR_UDP_TX__COUNT];
};

static int tx_sock_open4(int fd, const struct mcr_udp_addr *dest, const uint8_t *source,
			 uint16_t source_port, int ifindex, int ttl, uint32_t flags)
{
	uint32_t src_addr = source ? mcr__addr_u32(source) : 0;
	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_addr.s_addr = mcr__addr_u32(dest->addr),
				  .sin_port = htons(dest->port) };
	int ret;

	if (source || source_port) {
		struct sockaddr_in src = { .sin_family = AF_INET,
					   .sin_addr.s_addr = src_addr,
					   .sin_port = htons(source_port) };
		/* several destinations share the source port */
		if ((ret = set_int(fd, SOL_SOCKET, SO_REUSEADDR, 1)) < 0)
			return ret;
		if (bind(fd, (struct sockaddr *)&src, sizeof(src)) < 0)
			return -errno;
	}
	if (ifindex > 0 || source) {
		struct ip_mreqn m = { .imr_address.s_addr = src_addr, .imr_ifindex = ifindex };
		if (setsockopt(fd, IPPROTO_IP, IP_MULTICAST_IF, &m, sizeof(m)) < 0)
			return -errno;
	}
	/* no copy to this host's own sockets unless asked: it costs a clone and a local delivery per packet */
	if ((ret = set_int(fd, IPPROTO_IP, IP_MULTICAST_LOOP, !!(flags & MCR_UDP_TX_LOOP))) < 0)
		return ret;
	if (ttl > 0) {
		if ((ret = set_int(fd, IPPROTO_IP, IP_MULTICAST_TTL, ttl)) < 0 ||
		    (ret = set_int(fd, IPPROTO_IP, IP_TTL, ttl)) < 0)
			return ret;
	}
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return -errno;
	return 0;
}

/* As tx_sock_open4; the interface is an index (IPv6 names no interface by an address), and it is
 * the scope of a link-local destination or source too. */
static int tx_sock_open6(int fd, const struct mcr_udp_addr *dest, const uint8_t *source,
			 uint16_t source_port, int ifindex, int ttl, uint32_t flags)
{
	struct sockaddr_in6 sa = { .sin6_family = AF_INET6,
				   .sin6_port = htons(dest->port),
				   .sin6_scope_id = ifindex > 0 ? (uint32_t)ifindex : 0 };
	int ret;

	memcpy(&sa.sin6_addr, dest->addr, 16);
	if ((ret = set_int(fd, IPPROTO_IPV6, IPV6_V6ONLY, 1)) < 0)
		return ret;
	if (source || source_port) {
		struct sockaddr_in6 src = { .sin6_family = AF_INET6,
					    .sin6_port = htons(source_port),
					    .sin6_scope_id = sa.sin6_scope_id };
		if (source)
			memcpy(&src.sin6_addr, source, 16);
		if ((ret = set_int(fd, SOL_SOCKET, SO_REUSEADDR, 1)) < 0)
			return ret;
		if (bind(fd, (struct sockaddr *)&src, sizeof(src)) < 0)
			return -errno;
	}
	if (ifindex > 0 && (ret = set_int(fd, IPPROTO_IPV6, IPV6_MULTICAST_IF, ifindex)) < 0)
		return ret;
	if ((ret = set_int(fd, IPPROTO_IPV6, IPV6_MULTICAST_LOOP, !!(flags & MCR_UDP_TX_LOOP))) < 0)
		return ret;
	if (ttl > 0) {
		if ((ret = set_int(fd, IPPROTO_IPV6, IPV6_MULTICAST_HOPS, ttl)) < 0 ||
		    (ret = set_int(fd, IPPROTO_IPV6, IPV6_UNICAST_HOPS, ttl)) < 0)
			return ret;
	}
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return -errno;
	return 0;
}

static int tx_sock_open(const struct mcr_udp_addr *dest, const uint8_t *source,
			uint16_t source_port, int ifindex, int ttl, uint32_t flags)
{
	int v6 = !mcr__addr_is_v4(dest->addr), fd, ret;

	if (source && mcr__addr_is_v4(source) == v6)
		return -EAFNOSUPPORT; /* a source of the other family */
	fd = socket(v6 ? AF_INET6 : AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	mcr__sndbuf_set(fd, SNDBUF_BYTES);
	ret = v6 ? tx_sock_open6(fd, dest, source, source_port, ifindex, ttl, flags)
		 : tx_sock_open4(fd, dest, source, source_port, ifindex, ttl, flags);
	if (ret < 0) {
		close(fd);
		return ret;
	}
	return fd;
}

/* The interface's IPv6 address to send to a group from: its first global one, or for a link-local
 * group (ff02::) its first link-local one. 0 or -EADDRNOTAVAIL. */
static int if_addr6(int ifindex, int link_local, uint8_t out[16])
{
	char name[IF_NAMESIZE];
	struct ifaddrs *all, *a;
	int ret = -EADDRNOTAVAIL;

	if (!if_indextoname((unsigned)ifindex, name))
		return -errno;
	if (getifaddrs(&all) < 0)
		return -errno;
	for (a = all; a; a = a->ifa_next) {
		const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)a->ifa_addr;
		if (!a->ifa_addr || a->ifa_addr->sa_family != AF_INET6 || strcmp(a->ifa_name, name))
			continue;
		if (IN6_IS_ADDR_LINKLOCAL(&sin6->sin6_addr) != link_local ||
		    IN6_IS_ADDR_LOOPBACK(&sin6->sin6_addr))
			continue;
		memcpy(out, &sin6->sin6_addr, 16);
		ret = 0;
		break;
	}
	freeifaddrs(all);
	return ret;
}

/* Packet mode, IPv6: the headers of the frames to d (the template's addresses, lengths, hop
 * limit) and the sum of the pseudo-header and UDP header. No header checksum, no identification;
 * the flow label 0. */
static void tx_header6(struct mcr_udp_sender *s, struct tx_dest *d, const uint8_t *source,
		       uint16_t sport, int ttl)
{
	uint8_t *t = s->tmpl6, ph[40];
	memcpy(t + 6, s->tmpl + 6, 6); /* the interface's MAC */
	put_be16(t + 12, 0x86dd);
	t[14] = 0x60;
	put_be16(t + 18, (uint16_t)(8 + s->size));
	t[20] = IPPROTO_UDP;
	t[21] = (uint8_t)(ttl > 0 ? ttl : 1); /* 1: the kernel's multicast default */
	memcpy(t + 22, source, 16);
	put_be16(t + 54, sport);
	put_be16(t + 58, (uint16_t)(8 + s->size));
	mcr__mcast_mac6(d->addr, d->mac);
	/* pseudo-header (RFC 8200 8.1: source, destination, UDP length, next header) and the UDP
	 * header with dport */
	memcpy(ph, source, 16);
	memcpy(ph + 16, d->addr, 16);
	put_be32(ph + 32, 8 + s->size);
	put_be32(ph + 36, IPPROTO_UDP);
	put_be16(t + 56, d->port);
	d->udp_sum = mcr__csum_add(t + 54, 8, mcr__csum_add(ph, 40, 0));
	memset(t + 56, 0, 2);
}

/* Packet mode: the AF_PACKET socket and the frame templates (addresses from the interface). */
static int tx_packet_open(struct mcr_udp_sender *s, const uint8_t *source, uint16_t source_port,
			  int ifindex, int ttl)
{
	struct sockaddr_ll ll = { .sll_family = AF_PACKET, .sll_ifindex = ifindex };
	struct ifreq ifr = { 0 };
	struct mcr_if_facts facts;
	uint8_t *t = s->tmpl;
	uint16_t sport = source_port ? source_port : (uint16_t)(49152 + s->run_id % 16384);
	uint32_t source4 = 0, need = 28;
	int fd, io, ret, any4 = 0;

	if (ifindex <= 0)
		return -EINVAL;
	for (uint32_t i = 0; i < s->n_dests; i++) {
		const struct tx_dest *d = &s->dests[i];
		/* a unicast destination needs its neighbour's MAC: socket mode */
		if (d->v6 ? d->addr[0] != 0xff : !IN_MULTICAST(ntohl(mcr__addr_u32(d->addr))))
			return -EOPNOTSUPP;
		if (source && mcr__addr_is_v4(source) == d->v6)
			return -EAFNOSUPPORT;
		any4 |= !d->v6;
		if (d->v6)
			need = 48;
	}
	io = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (io < 0)
		return -errno;
	if ((ret = mcr__if_facts(io, ifindex, &facts)) < 0)
		goto fail_io;
	/* the stack drops a looped-back frame from 127.0.0.1 as a martian: lo needs socket mode */
	if (facts.arptype == ARPHRD_LOOPBACK) {
		ret = -EOPNOTSUPP;
		goto fail_io;
	}
	if (facts.mtu < s->size + need) {
		ret = -EMSGSIZE;
		goto fail_io;
	}
	memcpy(t + 6, facts.mac, 6);
	if (source && !any4) {
		/* IPv6 only: no IPv4 address to find */
	} else if (source) {
		source4 = mcr__addr_u32(source);
	} else if (any4) {
		ifr.ifr_ifindex = ifindex;
		if (ioctl(io, SIOCGIFNAME, &ifr) < 0) {
			ret = -errno;
			goto fail_io;
		}
		ifr.ifr_addr.sa_family = AF_INET;
		if (ioctl(io, SIOCGIFADDR, &ifr) < 0) {
			ret = -errno;
			goto fail_io;
		}
		source4 = ((struct sockaddr_in *)&ifr.ifr_addr)->sin_addr.s_addr;
	}
	close(io);

	put_be16(t + 12, 0x0800);
	t[14] = 0x45;
	put_be16(t + 16, (uint16_t)(20 + 8 + s->size));
	put_be16(t + 20, 0x4000); /* DF: never fragmented, the size was checked against the MTU */
	t[22] = (uint8_t)(ttl > 0 ? ttl : 1); /* 1: the kernel's multicast default */
	t[23] = IPPROTO_UDP;
	memcpy(t + 26, &source4, 4);
	put_be16(t + 34, sport);
	put_be16(t + 38, (uint16_t)(8 + s->size));
	for (uint32_t i = 0; i < s->n_dests; i++) {
		struct tx_dest *d = &s->dests[i];
		uint8_t ph[12];
		if (d->v6) {
			uint8_t src6[16] = { 0 };
			if (source)
				memcpy(src6, source, 16);
			else if ((ret = if_addr6(ifindex, d->addr[1] == 0x02, src6)) < 0)
				return ret;
			tx_header6(s, d, src6, sport, ttl);
			continue;
		}
		mcr__mcast_mac(mcr__addr_u32(d->addr), d->mac);
		memcpy(t + 30, d->addr + 12, 4);
		/* IPv4 header with id and checksum 0 */
		d->ip_sum = mcr__csum_add(t + 14, 20, 0);
		/* pseudo-header (source, destination, protocol, UDP length) and the UDP header with dport */
		memcpy(ph, &source4, 4);
		memcpy(ph + 4, d->addr + 12, 4);
		ph[8] = 0;
		ph[9] = IPPROTO_UDP;
		put_be16(ph + 10, (uint16_t)(8 + s->size));
		put_be16(t + 36, d->port);
		d->udp_sum = mcr__csum_add(t + 34, 8, mcr__csum_add(ph, 12, 0));
	}
	memset(t + 30, 0, 4);
	memset(t + 36, 0, 2);
	/* the filler's sum depends only on (seq + header length) & 0xff: 256 sums, once */
	for (uint32_t o = 0; o < 256; o++)
		s->filler_sum[o] = mcr__csum_add(mcr__pattern + o, s->size - MCR_UDP_HDR_LEN, 0);

	fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC,
		    0); /* protocol 0: sends only, receives nothing */
	if (fd < 0)
		return -errno;
	if (bind(fd, (struct sockaddr *)&ll, sizeof(ll)) < 0) {
		ret = -errno;
		close(fd);
		return ret;
	}
	(void)set_int(fd, SOL_PACKET, PACKET_QDISC_BYPASS, 1);
	mcr__sndbuf_set(fd, SNDBUF_BYTES);
	return fd;
fail_io:
	close(io);
	return ret;
}

MCR_API int mcr_udp_sender_open(const struct mcr_udp_addr *dests, uint32_t n_dests,
				const uint8_t *source, uint16_t source_port, int ifindex, int ttl,
				uint32_t size, uint32_t run_id, uint32_t batch, uint32_t flags,
				struct mcr_udp_sender **out)
{
	struct mcr_udp_sender *s;
	uint32_t buf_len;
	int ret;

	if (!dests || !out || n_dests == 0 || n_dests > MCR_UDP_MAX_DESTS ||
	    size < MCR_UDP_HDR_LEN || size > UDP_MAX_PAYLOAD || ttl < 0 || ttl > 255 ||
	    batch == 0 || batch > UDP_BATCH_MAX)
		return -EINVAL;
	mcr__pattern_init();
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->n_dests = n_dests;
	s->size = size;
	s->run_id = run_id;
	s->batch = batch;
	s->packet = !!(flags & MCR_UDP_TX_PACKET);
	s->off = s->packet ? FRAME_HDR : 0;
	s->n_fds = s->packet ? 1 : n_dests;
	s->hdr = MCR_UDP_HDR_LEN;
	buf_len = s->off + size;
	s->fds = malloc(s->n_fds * sizeof(*s->fds));
	s->dests = calloc(n_dests, sizeof(*s->dests));
	s->seq = calloc(n_dests, sizeof(*s->seq));
	s->bufs = calloc(batch, buf_len);
	s->msgs = calloc(batch, sizeof(*s->msgs));
	s->iov = calloc(batch, sizeof(*s->iov));
	if (!s->fds || !s->dests || !s->seq || !s->bufs || !s->msgs || !s->iov) {
		free(s->fds);
		s->fds = NULL;
		ret = -ENOMEM;
		goto fail;
	}
	for (uint32_t i = 0; i < s->n_fds; i++)
		s->fds[i] = -1;
	for (uint32_t i = 0; i < n_dests; i++) {
		memcpy(s->dests[i].addr, dests[i].addr, 16);
		s->dests[i].v6 = !mcr__addr_is_v4(dests[i].addr);
		s->dests[i].port = dests[i].port;
	}
	/* packet mode: each send_batch points a slot's iov at its frame's start */
	for (uint32_t i = 0; i < batch; i++) {
		s->iov[i].iov_base = s->bufs + (size_t)i * buf_len;
		s->iov[i].iov_len = buf_len;
	}
	if (s->packet) {
		if ((ret = tx_packet_open(s, source, source_port, ifindex, ttl)) < 0)
			goto fail;
		s->fds[0] = ret;
	} else {
		for (uint32_t i = 0; i < n_dests; i++) {
			if ((ret = tx_sock_open(&dests[i], source, source_port, ifindex, ttl,
						flags)) < 0)
				goto fail;
			s->fds[i] = ret;
		}
	}
	*out = s;
	return 0;
fail:
	mcr_udp_sender_close(s);
	return ret;
}

MCR_API void mcr_udp_sender_close(struct mcr_udp_sender *s)
{
	if (!s)
		return;
	for (uint32_t i = 0; s->fds && i < s->n_fds; i++)
		if (s->fds[i] >= 0)
			close(s->fds[i]);
	free(s->fds);
	free(s->dests);
	free(s->seq);
	free(s->bufs);
	free(s->msgs);
	free(s->iov);
	free(s);
}

MCR_API int mcr_udp_sender_start(struct mcr_udp_sender *s, double rate, double count,
				 uint32_t tick_us)
{
	if (!s || !(rate >= 0) || !(count >= 0) || count > 9007199254740992.0 || tick_us > 1000000)
		return -EINVAL;
	s->tick_ns = (uint64_t)tick_us * 1000;
	s->rate = rate;
	s->count = (uint64_t)count;
	s->next = 0;
	s->t0 = mcr__clock_ns(CLOCK_MONOTONIC);
	s->started = 1;
	return 0;
}

/* Errors that say the configuration is wrong: the caller should stop and say so. The rest
 * (ENOBUFS, EAGAIN, ECONNREFUSED after an ICMP error...) cost one packet each and are counted. */
static int fatal_send_errno(int e)
{
	return e == EBADF || e == EINVAL || e == ENETUNREACH || e == EHOSTUNREACH || e == EACCES ||
	       e == EPERM || e == EADDRNOTAVAIL || e == EMSGSIZE || e == ENOTSOCK ||
	       e == EDESTADDRREQ || e == ENODEV || e == ENETDOWN || e == ENXIO;
}

/* sendmmsg of msgs[0..n) on fd; a packet the kernel refuses is counted and skipped. */
static int send_group(struct mcr_udp_sender *s, int fd, struct mmsghdr *msgs, uint32_t n)
{
	uint32_t done = 0;

	while (done < n) {
		int r = sendmmsg(fd, msgs + done, n - done, 0);
		if (r > 0) {
			done += (uint32_t)r;
			s->st[MCR_UDP_TX_PACKETS] += (uint64_t)r;
			s->st[MCR_UDP_TX_BYTES] += (uint64_t)r * s->size;
			s->st[MCR_UDP_TX_SYSCALLS]++;
			continue;
		}
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && fatal_send_errno(errno) && s->st[MCR_UDP_TX_PACKETS] == 0)
			return -errno;
		s->st[MCR_UDP_TX_ERRORS]++;
		s->st[MCR_UDP_TX_LAST_ERRNO] = r < 0 ? (uint64_t)errno : 0;
		done++;
	}
	return 0;
}

/* Packet mode: the Ethernet, IP and UDP headers in front of the payload at p; returns where the
 * frame starts (p less the header's length). */
static uint8_t *fill_frame(struct mcr_udp_sender *s, uint8_t *p, const struct tx_dest *d,
			   uint64_t seq)
{
	uint16_t sum;
	uint8_t *f;

	if (d->v6) {
		f = p - FRAME_HDR6;
		memcpy(f, s->tmpl6, FRAME_HDR6);
		memcpy(f, d->mac, 6);
		memcpy(f + 38, d->addr, 16);
		put_be16(f + 56, d->port);
		sum = mcr__csum_fold(mcr__csum_add(p, s->hdr, d->udp_sum) +
				     s->filler_sum[(seq + MCR_UDP_HDR_LEN) & 0xff]);
		if (sum == 0)
			sum = 0xffff; /* 0 would mean "no checksum", which IPv6 does not allow */
		memcpy(f + 60, &sum, 2);
		return f;
	}
	uint16_t id = htons(s->ip_id++);
	f = p - FRAME_HDR4;
	memcpy(f, s->tmpl, FRAME_HDR4);
	memcpy(f, d->mac, 6);
	/* sums of native-order loads: the id goes in, and the sums come out, as stored */
	memcpy(f + 18, &id, 2);
	sum = mcr__csum_fold(d->ip_sum + id);
	memcpy(f + 24, &sum, 2);
	memcpy(f + 30, d->addr + 12, 4);
	put_be16(f + 36, d->port);
	sum = mcr__csum_fold(mcr__csum_add(p, s->hdr, d->udp_sum) +
			     s->filler_sum[(seq + MCR_UDP_HDR_LEN) & 0xff]);
	if (sum == 0)
		sum = 0xffff; /* 0 would mean "no checksum" */
	memcpy(f + 40, &sum, 2);
	return f;
}

/* The gen header (and in legs mode the RTP header before it) and the filler of packet seq. */
static void fill_payload(struct mcr_udp_sender *s, uint8_t *p, uint16_t stream, uint64_t seq,
			 uint64_t now_rt)
{
	if (s->n_legs) {
		p[0] = 0x80; /* version 2, no padding, no extension, no CSRC */
		p[1] = MCR_RTP_PT;
		put_be16(p + 2, (uint16_t)(s->rtp_seq0 + seq));
		put_be32(p + 4, (uint32_t)(now_rt / 100000u * 9u)); /* 90 kHz */
		put_be32(p + 8, s->run_id);
		p += MCR_RTP_HDR_LEN;
	}
	put_be32(p + 0, MCR_UDP_MAGIC);
	put_be16(p + 4, stream);
	put_be16(p + 6, MCR_UDP_HDR_LEN);
	put_be64(p + 8, seq);
	put_be64(p + 16, now_rt);
	put_be32(p + 24, s->run_id);
	put_be32(p + 28, s->size - (s->hdr - MCR_UDP_HDR_LEN)); /* the gen part's length */
	memcpy(p + MCR_UDP_HDR_LEN, mcr__pattern + ((seq + MCR_UDP_HDR_LEN) & 0xff),
	       s->size - s->hdr);
}

/* splitmix64: one draw of a leg's loss stream. */
static uint64_t leg_draw(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* Legs mode: packets next .. next+n-1 (n * legs <= batch) to every leg that does not drop them.
 * The frames are laid out leg by leg, so that each leg's go in one sendmmsg (socket mode). */
static int send_legs(struct mcr_udp_sender *s, uint32_t n)
{
	uint64_t now_rt = mcr__clock_ns(CLOCK_REALTIME);
	uint32_t buf_len = s->off + s->size;
	uint32_t all = (1u << s->n_legs) - 1;
	uint8_t dropped[UDP_BATCH_MAX];
	uint32_t start[MCR_UDP_MAX_LEGS + 1];
	uint32_t m = 0;
	int ret;

	memset(dropped, 0, n);
	/* each leg draws once per packet, in packet order: the batching never changes what drops */
	for (uint32_t k = 0; k < n; k++)
		for (uint32_t l = 0; l < s->n_legs; l++)
			if ((leg_draw(&s->rng[l]) >> 32) < s->loss_thresh)
				dropped[k] |= (uint8_t)(1u << l);
	for (uint32_t l = 0; l < s->n_legs; l++) {
		start[l] = m;
		for (uint32_t k = 0; k < n; k++) {
			uint64_t seq = s->next + k;
			uint8_t *f = s->bufs + (size_t)m * buf_len;

			if (dropped[k] & (1u << l)) {
				s->leg_dropped[l]++;
				continue;
			}
			uint8_t *p = f + s->off;

			fill_payload(s, p, 0, seq, now_rt);
			if (s->packet) {
				uint8_t *start = fill_frame(s, p, &s->dests[l], seq);
				s->iov[m].iov_base = start;
				s->iov[m].iov_len = (size_t)(p - start) + s->size;
			}
			memset(&s->msgs[m], 0, sizeof(s->msgs[m]));
			s->msgs[m].msg_hdr.msg_iov = &s->iov[m];
			s->msgs[m].msg_hdr.msg_iovlen = 1;
			s->seq[l]++;
			m++;
		}
	}
	start[s->n_legs] = m;
	for (uint32_t k = 0; k < n; k++)
		if (dropped[k] == all)
			s->lost_all++;
	if (s->packet) {
		if (m > 0 && (ret = send_group(s, s->fds[0], s->msgs, m)) < 0)
			return ret;
	} else {
		for (uint32_t l = 0; l < s->n_legs; l++) {
			uint32_t c = start[l + 1] - start[l];
			if (c > 0 && (ret = send_group(s, s->fds[l], s->msgs + start[l], c)) < 0)
				return ret;
		}
	}
	if (!s->st[MCR_UDP_TX_FIRST_NS])
		s->st[MCR_UDP_TX_FIRST_NS] = now_rt;
	s->st[MCR_UDP_TX_LAST_NS] = mcr__clock_ns(CLOCK_REALTIME);
	s->st[MCR_UDP_TX_BATCHES]++;
	s->next += n;
	return (int)n;
}

/* Fills and sends packets next .. next+n-1 (n <= batch). Returns n, or -errno on a fatal error
 * before anything was ever sent. */
static int send_batch(struct mcr_udp_sender *s, uint32_t n)
{
	uint64_t now_rt = mcr__clock_ns(CLOCK_REALTIME);
	uint32_t buf_len = s->off + s->size;
	int ret;

	for (uint32_t k = 0; k < n; k++) {
		uint64_t i = s->next + k;
		uint32_t d = (uint32_t)(i % s->n_dests);
		uint64_t seq = s->seq[d]++;
		uint8_t *f = s->bufs + (size_t)k * buf_len;

		uint8_t *p = f + s->off;

		fill_payload(s, p, (uint16_t)d, seq, now_rt);
		if (s->packet) {
			uint8_t *start = fill_frame(s, p, &s->dests[d], seq);
			s->iov[k].iov_base = start;
			s->iov[k].iov_len = (size_t)(p - start) + s->size;
		}
	}
	if (s->packet) {
		for (uint32_t k = 0; k < n; k++) {
			memset(&s->msgs[k], 0, sizeof(s->msgs[k]));
			s->msgs[k].msg_hdr.msg_iov = &s->iov[k];
			s->msgs[k].msg_hdr.msg_iovlen = 1;
		}
		if ((ret = send_group(s, s->fds[0], s->msgs, n)) < 0)
			return ret;
	} else {
		/* slot k goes to destination (next + k) % n_dests: group g holds slots g, g + n_dests, ... */
		uint32_t groups = n < s->n_dests ? n : s->n_dests;
		uint32_t m = 0;
		for (uint32_t g = 0; g < groups; g++) {
			uint32_t first = m;
			for (uint32_t k = g; k < n; k += s->n_dests) {
				memset(&s->msgs[m], 0, sizeof(s->msgs[m]));
				s->msgs[m].msg_hdr.msg_iov = &s->iov[k];
				s->msgs[m].msg_hdr.msg_iovlen = 1;
				m++;
			}
			ret = send_group(s, s->fds[(s->next + g) % s->n_dests], s->msgs + first,
					 m - first);
			if (ret < 0)
				return ret;
		}
	}
	if (!s->st[MCR_UDP_TX_FIRST_NS])
		s->st[MCR_UDP_TX_FIRST_NS] = now_rt;
	s->st[MCR_UDP_TX_LAST_NS] = mcr__clock_ns(CLOCK_REALTIME);
	s->st[MCR_UDP_TX_BATCHES]++;
	s->next += n;
	return (int)n;
}

static inline uint64_t due_ns(const struct mcr_udp_sender *s, uint64_t i)
{
	double ns = (double)i * 1e9 / s->rate;
	uint64_t t = (uint64_t)ns;
	return s->t0 + t + ((double)t < ns);
}

MCR_API int mcr_udp_sender_send(struct mcr_udp_sender *s, int budget_ms)
{
	uint64_t deadline;
	int total = 0;

	if (!s || !s->started || budget_ms < 0)
		return -EINVAL;
	deadline = mcr__clock_ns(CLOCK_MONOTONIC) + (uint64_t)budget_ms * 1000000ull;
	for (;;) {
		uint64_t now, n;
		int r;

		if (s->count && s->next >= s->count)
			return total;
		now = mcr__clock_ns(CLOCK_MONOTONIC);
		if (s->rate > 0) {
			/* packets 0 .. due-1 are due now: packet i at t0 + i/rate */
			uint64_t due = (uint64_t)((double)(now - s->t0) * s->rate / 1e9) + 1;
			if (s->count && due > s->count)
				due = s->count;
			if (due <= s->next) {
				uint64_t wake = due_ns(s, s->next);
				struct timespec ts;
				/* sleep at least one tick: fewer wake-ups, packets due meanwhile go out together */
				if (wake < now + s->tick_ns)
					wake = now + s->tick_ns;
				if (wake > deadline) {
					if (now >= deadline)
						return total;
					wake = deadline;
				}
				ts.tv_sec = (time_t)(wake / 1000000000ull);
				ts.tv_nsec = (long)(wake % 1000000000ull);
				while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) ==
				       EINTR)
					;
				s->st[MCR_UDP_TX_SLEEPS]++;
				continue;
			}
			n = due - s->next;
			{
				uint64_t t = due_ns(s, s->next);
				if (now > t && now - t > s->st[MCR_UDP_TX_MAX_LAG_NS])
					s->st[MCR_UDP_TX_MAX_LAG_NS] = now - t;
			}
		} else {
			if (now >= deadline)
				return total;
			n = s->batch;
			if (s->count && s->count - s->next < n)
				n = s->count - s->next;
		}
		if (n > s->batch / (s->n_legs ? s->n_legs : 1))
			n = s->batch / (s->n_legs ? s->n_legs : 1);
		r = s->n_legs ? send_legs(s, (uint32_t)n) : send_batch(s, (uint32_t)n);
		if (r < 0)
			return total > 0 ? total : r;
		total += r;
		if (now >= deadline)
			return total;
	}
}

MCR_API int mcr_udp_sender_stats(const struct mcr_udp_sender *s, uint64_t *out, uint32_t n)
{
	if (!s || !out)
		return -EINVAL;
	if (n > MCR_UDP_TX__COUNT)
		n = MCR_UDP_TX__COUNT;
	memcpy(out, s->st, n * sizeof(uint64_t));
	return (int)n;
}

/* The next sequence number of each destination (= packets handled per destination). */
MCR_API int mcr_udp_sender_seq(const struct mcr_udp_sender *s, uint64_t *out, uint32_t n)
{
	if (!s || !out)
		return -EINVAL;
	if (n > s->n_dests)
		n = s->n_dests;
	memcpy(out, s->seq, n * sizeof(uint64_t));
	return (int)n;
}

MCR_API int mcr_udp_sender_legs(struct mcr_udp_sender *s, const int32_t *ifindex, uint32_t loss_ppm,
				uint32_t seed, uint32_t rtp_seq0)
{
	if (!s || s->started || s->n_legs || s->n_dests < 2 || s->n_dests > MCR_UDP_MAX_LEGS ||
	    s->batch < s->n_dests || loss_ppm > 1000000u || rtp_seq0 > 0xffffu ||
	    s->size < MCR_UDP_HDR_LEN + MCR_RTP_HDR_LEN)
		return -EINVAL;
	for (uint32_t l = 0; ifindex && l < s->n_dests; l++) {
		if (ifindex[l] <= 0)
			continue;
		if (s->packet) {
			struct sockaddr_ll ll;
			socklen_t len = sizeof(ll);
			/* one AF_PACKET socket, bound to one interface */
			if (getsockname(s->fds[0], (struct sockaddr *)&ll, &len) < 0)
				return -errno;
			if (ll.sll_ifindex != ifindex[l])
				return -EOPNOTSUPP;
		} else if (s->dests[l].v6) {
			struct sockaddr_in6 sa = { .sin6_family = AF_INET6,
						   .sin6_port = htons(s->dests[l].port),
						   .sin6_scope_id = (uint32_t)ifindex[l] };
			memcpy(&sa.sin6_addr, s->dests[l].addr, 16);
			int r = set_int(s->fds[l], IPPROTO_IPV6, IPV6_MULTICAST_IF, ifindex[l]);
			if (r < 0)
				return r;
			/* connected again: the route (and so the interface) is chosen at connect */
			if (connect(s->fds[l], (struct sockaddr *)&sa, sizeof(sa)) < 0)
				return -errno;
		} else {
			struct ip_mreqn mr = { .imr_ifindex = ifindex[l] };
			struct sockaddr_in sa = { .sin_family = AF_INET,
						  .sin_addr.s_addr =
							  mcr__addr_u32(s->dests[l].addr),
						  .sin_port = htons(s->dests[l].port) };
			if (setsockopt(s->fds[l], IPPROTO_IP, IP_MULTICAST_IF, &mr, sizeof(mr)) < 0)
				return -errno;
			/* connected again: the route (and so the interface) is chosen at connect */
			if (connect(s->fds[l], (struct sockaddr *)&sa, sizeof(sa)) < 0)
				return -errno;
		}
	}
	s->n_legs = s->n_dests;
	s->hdr = MCR_UDP_HDR_LEN + MCR_RTP_HDR_LEN;
	s->loss_thresh = ((uint64_t)loss_ppm << 32) / 1000000u;
	s->rtp_seq0 = rtp_seq0;
	for (uint32_t l = 0; l < s->n_legs; l++)
		s->rng[l] = (uint64_t)seed << 8 | l;
	if (s->packet) /* the filler is shorter by the RTP header */
		for (uint32_t o = 0; o < 256; o++)
			s->filler_sum[o] = mcr__csum_add(mcr__pattern + o, s->size - s->hdr, 0);
	return 0;
}

MCR_API int mcr_udp_sender_leg_stats(const struct mcr_udp_sender *s, uint64_t *out, uint32_t n)
{
	uint32_t w = 0;

	if (!s || !out || !s->n_legs)
		return -EINVAL;
	for (uint32_t l = 0; l < s->n_legs && w + 2 <= n; l++) {
		out[w++] = s->seq[l];
		out[w++] = s->leg_dropped[l];
	}
	if (w < n && w == 2 * s->n_legs)
		out[w++] = s->lost_all;
	return (int)w;
}
