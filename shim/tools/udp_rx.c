/* SPDX-License-Identifier: MIT */
/* udp_rx.c: the receiver of `mcr sink`. It drains its sockets with recvmmsg and writes one
 * fixed-size record (struct mcr_udp_record) per datagram into a buffer the caller owns. The
 * accounting (loss, duplicates, reorder, latency) is TypeScript's (src/tools/accounting.ts). */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include "internal.h"

#ifndef SO_RXQ_OVFL
#define SO_RXQ_OVFL 40
#endif
#ifndef IP_MULTICAST_ALL
#define IP_MULTICAST_ALL 49
#endif
#ifndef IPV6_MULTICAST_ALL
#define IPV6_MULTICAST_ALL 29
#endif

#define UDP_RX_VLEN 64u
#define UDP_RX_BUF 65536u
#define UDP_RX_MAX_SOCKS 64u

struct udp_rx_sock {
	int fd;
	int v6; /* an AF_INET6 socket, for the IPv6 entries on its port */
	uint16_t port;
	uint32_t drops; /* SO_RXQ_OVFL: the socket's drop counter, as last reported */
	int rcvbuf;
};

struct mcr_udp_receiver {
	uint32_t n_entries;
	struct mcr_udp_addr *entries;
	uint32_t n_socks;
	struct udp_rx_sock socks[UDP_RX_MAX_SOCKS];
	uint32_t rr; /* the socket to start with next time */
	uint8_t *bufs; /* UDP_RX_VLEN x UDP_RX_BUF */
	struct mmsghdr msgs[UDP_RX_VLEN];
	struct iovec iov[UDP_RX_VLEN];
	uint8_t ctl[UDP_RX_VLEN][256];
	uint64_t st[MCR_UDP_RX__COUNT];
};

static int entry_v6(const struct mcr_udp_addr *e)
{
	return !mcr__addr_is_v4(e->addr);
}

/* The unspecified address of its family (0.0.0.0 or ::): any local address. */
static int entry_any(const struct mcr_udp_addr *e)
{
	static const uint8_t zero[16];
	return entry_v6(e) ? memcmp(e->addr, zero, 16) == 0 : mcr__addr_u32(e->addr) == 0;
}

static int entry_multicast(const struct mcr_udp_addr *e)
{
	return entry_v6(e) ? e->addr[0] == 0xff : IN_MULTICAST(ntohl(mcr__addr_u32(e->addr)));
}

/* Joins the socket's multicast entries: MCAST_JOIN_GROUP by interface index, IGMP or MLD. */
static int rx_join(const struct mcr_udp_receiver *r, int fd, int v6, uint16_t port, int ifindex)
{
	for (uint32_t i = 0; i < r->n_entries; i++) {
		const struct mcr_udp_addr *e = &r->entries[i];
		if (e->port != port || entry_v6(e) != v6 || !entry_multicast(e))
			continue;
		if (v6) {
			struct ipv6_mreq m = { .ipv6mr_interface = (unsigned)ifindex };
			memcpy(&m.ipv6mr_multiaddr, e->addr, 16);
			if (setsockopt(fd, IPPROTO_IPV6, IPV6_ADD_MEMBERSHIP, &m, sizeof(m)) < 0)
				return -errno;
		} else {
			struct ip_mreqn m = { .imr_ifindex = ifindex };
			m.imr_multiaddr.s_addr = mcr__addr_u32(e->addr);
			if (setsockopt(fd, IPPROTO_IP, IP_ADD_MEMBERSHIP, &m, sizeof(m)) < 0)
				return -errno;
		}
	}
	return 0;
}

static int rx_sock_open(struct mcr_udp_receiver *r, int v6, uint16_t port, int ifindex,
			uint32_t rcvbuf)
{
	struct udp_rx_sock *k = &r->socks[r->n_socks];
	struct sockaddr_storage ss = { 0 };
	socklen_t ss_len, sl = sizeof(k->rcvbuf);
	const uint8_t *bind_addr = NULL;
	uint32_t n_here = 0;
	int fd, ret;

	for (uint32_t i = 0; i < r->n_entries; i++) {
		if (r->entries[i].port != port || entry_v6(&r->entries[i]) != v6)
			continue;
		n_here++;
		bind_addr = r->entries[i].addr;
	}
	/* one entry on this port: bind to its address (the group, or the local address), so the socket
	 * sees nothing else; several: bind the wildcard and tell them apart by the packet info */
	if (n_here != 1)
		bind_addr = NULL;
	if (v6) {
		struct sockaddr_in6 *sa = (struct sockaddr_in6 *)&ss;
		sa->sin6_family = AF_INET6;
		sa->sin6_port = htons(port);
		if (bind_addr) {
			memcpy(&sa->sin6_addr, bind_addr, 16);
			/* a link-local group or address means nothing without its interface */
			if (IN6_IS_ADDR_MC_LINKLOCAL(&sa->sin6_addr) ||
			    IN6_IS_ADDR_LINKLOCAL(&sa->sin6_addr))
				sa->sin6_scope_id = (uint32_t)ifindex;
		}
		ss_len = sizeof(*sa);
	} else {
		struct sockaddr_in *sa = (struct sockaddr_in *)&ss;
		sa->sin_family = AF_INET;
		sa->sin_port = htons(port);
		sa->sin_addr.s_addr = bind_addr ? mcr__addr_u32(bind_addr) : 0;
		ss_len = sizeof(*sa);
	}

	fd = socket(v6 ? AF_INET6 : AF_INET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	if ((ret = set_int(fd, SOL_SOCKET, SO_REUSEADDR, 1)) < 0 ||
	    (ret = v6 ? set_int(fd, IPPROTO_IPV6, IPV6_V6ONLY, 1) : 0) < 0 ||
	    (ret = v6 ? set_int(fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, 1)
		      : set_int(fd, IPPROTO_IP, IP_PKTINFO, 1)) < 0 ||
	    (ret = set_int(fd, SOL_SOCKET, SO_TIMESTAMPNS, 1)) < 0 ||
	    (ret = set_int(fd, SOL_SOCKET, SO_RXQ_OVFL, 1)) < 0)
		goto fail;
	/* only the groups joined here */
	(void)(v6 ? set_int(fd, IPPROTO_IPV6, IPV6_MULTICAST_ALL, 0)
		  : set_int(fd, IPPROTO_IP, IP_MULTICAST_ALL, 0));
	if (rcvbuf && set_int(fd, SOL_SOCKET, SO_RCVBUFFORCE, (int)rcvbuf) < 0)
		(void)set_int(fd, SOL_SOCKET, SO_RCVBUF,
			      (int)rcvbuf); /* capped by net.core.rmem_max */
	if (getsockopt(fd, SOL_SOCKET, SO_RCVBUF, &k->rcvbuf, &sl) < 0)
		k->rcvbuf = 0;
	if (bind(fd, (struct sockaddr *)&ss, ss_len) < 0) {
		ret = -errno;
		goto fail;
	}
	if ((ret = rx_join(r, fd, v6, port, ifindex)) < 0)
		goto fail;
	k->fd = fd;
	k->v6 = v6;
	k->port = port;
	r->n_socks++;
	return 0;
fail:
	close(fd);
	return ret;
}

MCR_API int mcr_udp_receiver_open(const struct mcr_udp_addr *entries, uint32_t n_entries,
				  int ifindex, uint32_t rcvbuf, struct mcr_udp_receiver **out)
{
	struct mcr_udp_receiver *r;
	int ret;

	if (!entries || !out || n_entries == 0 || n_entries > 65535)
		return -EINVAL;
	mcr__pattern_init();
	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	for (uint32_t i = 0; i < UDP_RX_MAX_SOCKS; i++)
		r->socks[i].fd = -1;
	r->n_entries = n_entries;
	r->entries = calloc(n_entries, sizeof(*entries));
	r->bufs = malloc((size_t)UDP_RX_VLEN * UDP_RX_BUF);
	if (!r->entries || !r->bufs) {
		ret = -ENOMEM;
		goto fail;
	}
	memcpy(r->entries, entries, n_entries * sizeof(*entries));
	for (uint32_t i = 0; i < n_entries; i++) {
		uint16_t port = entries[i].port;
		int seen = 0, v6 = entry_v6(&entries[i]);
		if (port == 0) {
			ret = -EINVAL;
			goto fail;
		}
		for (uint32_t j = 0; j < r->n_socks; j++)
			seen |= r->socks[j].port == port && r->socks[j].v6 == v6;
		if (seen)
			continue;
		if (r->n_socks == UDP_RX_MAX_SOCKS) {
			ret = -E2BIG;
			goto fail;
		}
		if ((ret = rx_sock_open(r, v6, port, ifindex, rcvbuf)) < 0)
			goto fail;
	}
	for (uint32_t i = 0; i < UDP_RX_VLEN; i++) {
		r->iov[i].iov_base = r->bufs + (size_t)i * UDP_RX_BUF;
		r->iov[i].iov_len = UDP_RX_BUF;
	}
	*out = r;
	return 0;
fail:
	mcr_udp_receiver_close(r);
	return ret;
}

MCR_API void mcr_udp_receiver_close(struct mcr_udp_receiver *r)
{
	if (!r)
		return;
	for (uint32_t i = 0; i < UDP_RX_MAX_SOCKS; i++)
		if (r->socks[i].fd >= 0)
			close(r->socks[i].fd);
	free(r->entries);
	free(r->bufs);
	free(r);
}

/* Which entry a datagram to (dst, port) belongs to, on a socket of family v6: the exact group or
 * address, else a wildcard (0.0.0.0 or ::) entry on the port, else 0xffff. dst: 16 bytes. */
static uint16_t entry_of(const struct mcr_udp_receiver *r, const uint8_t *dst, int v6,
			 uint16_t port)
{
	uint32_t any = 0xffff;
	for (uint32_t i = 0; i < r->n_entries; i++) {
		const struct mcr_udp_addr *e = &r->entries[i];
		if (e->port != port || entry_v6(e) != v6)
			continue;
		if (memcmp(e->addr, dst, 16) == 0)
			return (uint16_t)i;
		if (entry_any(e) && any == 0xffff)
			any = i;
	}
	return (uint16_t)any;
}

static void parse_one(const struct mcr_udp_receiver *r, const struct udp_rx_sock *k,
		      struct mmsghdr *m, struct mcr_udp_record *rec, uint64_t now_rt,
		      struct udp_rx_sock *kw)
{
	const uint8_t *p = m->msg_hdr.msg_iov->iov_base;
	uint32_t len = m->msg_len;
	uint64_t rx_ns = 0, tx_ns, seq;
	uint8_t dst[16] = { 0 };
	uint32_t claimed, ssrc = 0;
	uint16_t hlen;
	struct cmsghdr *c;

	for (c = CMSG_FIRSTHDR(&m->msg_hdr); c; c = CMSG_NXTHDR(&m->msg_hdr, c)) {
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_TIMESTAMPNS) {
			struct timespec ts;
			memcpy(&ts, CMSG_DATA(c), sizeof(ts));
			rx_ns = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
		} else if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SO_RXQ_OVFL) {
			memcpy(&kw->drops, CMSG_DATA(c), sizeof(uint32_t));
		} else if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO) {
			struct in_pktinfo pi;
			memcpy(&pi, CMSG_DATA(c), sizeof(pi));
			dst[10] = dst[11] = 0xff;
			memcpy(dst + 12, &pi.ipi_addr.s_addr, 4);
		} else if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_PKTINFO) {
			struct in6_pktinfo pi;
			memcpy(&pi, CMSG_DATA(c), sizeof(pi));
			memcpy(dst, &pi.ipi6_addr, 16);
		}
	}
	memset(rec, 0, sizeof(*rec));
	rec->length = len;
	rec->entry = r->n_socks == 1 && r->n_entries == 1 ? 0 : entry_of(r, dst, k->v6, k->port);
	if (rx_ns)
		rec->flags |= MCR_UDP_REC_KERNEL_TS;
	else
		rx_ns = now_rt;

	/* RTP (gen's MCR1 magic starts with 0x4d: version 1, never an RTP header) */
	if (len >= MCR_RTP_HDR_LEN && (p[0] >> 6) == 2) {
		rec->flags |= MCR_UDP_REC_RTP;
		rec->rtp_seq = get_be16(p + 2);
		ssrc = get_be32(p + 8);
		rec->run_id = ssrc;
		if (len < MCR_RTP_HDR_LEN + MCR_UDP_HDR_LEN ||
		    get_be32(p + MCR_RTP_HDR_LEN) != MCR_UDP_MAGIC) {
			rec->status = MCR_UDP_FOREIGN;
			return;
		}
		p += MCR_RTP_HDR_LEN; /* a gen payload behind it: checked as any */
		len -= MCR_RTP_HDR_LEN;
	} else if (len < MCR_UDP_HDR_LEN || get_be32(p) != MCR_UDP_MAGIC) {
		rec->status = MCR_UDP_FOREIGN;
		return;
	}
	hlen = get_be16(p + 6);
	if (hlen < MCR_UDP_HDR_LEN) {
		rec->status = MCR_UDP_FOREIGN;
		return;
	}
	seq = get_be64(p + 8);
	tx_ns = get_be64(p + 16);
	claimed = get_be32(p + 28);
	rec->stream = get_be16(p + 4);
	rec->seq = (double)seq;
	rec->run_id = get_be32(p + 24);
	rec->latency_ns = (double)(int64_t)(rx_ns - tx_ns);
	if ((m->msg_hdr.msg_flags & MSG_TRUNC) || claimed != len || hlen > len) {
		rec->status = MCR_UDP_TRUNCATED;
		return;
	}
	if (memcmp(p + hlen, mcr__pattern + ((seq + hlen) & 0xff), len - hlen) != 0) {
		rec->status = MCR_UDP_CORRUPT;
		return;
	}
	if ((rec->flags & MCR_UDP_REC_RTP) && ssrc != rec->run_id) {
		rec->run_id = ssrc; /* the stream it claims to be, by its RTP header */
		rec->status = MCR_UDP_CORRUPT;
		return;
	}
	rec->status = MCR_UDP_OK;
}

/* Drains one socket into recs: returns the records written, or -errno. */
static int drain(struct mcr_udp_receiver *r, struct udp_rx_sock *k, struct mcr_udp_record *recs,
		 uint32_t max)
{
	uint32_t got = 0;

	while (got < max) {
		uint32_t vlen = max - got < UDP_RX_VLEN ? max - got : UDP_RX_VLEN;
		uint64_t now_rt;
		int n;

		for (uint32_t i = 0; i < vlen; i++) {
			struct msghdr *h = &r->msgs[i].msg_hdr;
			h->msg_name = NULL;
			h->msg_namelen = 0;
			h->msg_iov = &r->iov[i];
			h->msg_iovlen = 1;
			h->msg_control = r->ctl[i];
			h->msg_controllen = sizeof(r->ctl[i]);
			h->msg_flags = 0;
		}
		n = recvmmsg(k->fd, r->msgs, vlen, MSG_DONTWAIT, NULL);
		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			if (errno == EINTR)
				continue;
			return got > 0 ? (int)got : -errno;
		}
		if (n == 0)
			break;
		now_rt = mcr__clock_ns(CLOCK_REALTIME);
		r->st[MCR_UDP_RX_SYSCALLS]++;
		for (int i = 0; i < n; i++) {
			parse_one(r, k, &r->msgs[i], &recs[got + (uint32_t)i], now_rt, k);
			r->st[MCR_UDP_RX_BYTES] += r->msgs[i].msg_len;
		}
		r->st[MCR_UDP_RX_DATAGRAMS] += (uint64_t)n;
		got += (uint32_t)n;
		if ((uint32_t)n < vlen)
			break; /* drained */
	}
	return (int)got;
}

MCR_API int mcr_udp_receiver_recv(struct mcr_udp_receiver *r, struct mcr_udp_record *recs,
				  uint32_t max, int timeout_ms)
{
	struct pollfd pfd[UDP_RX_MAX_SOCKS];
	uint32_t got = 0;

	if (!r || !recs || max == 0)
		return -EINVAL;
	for (int pass = 0; pass < 2; pass++) {
		for (uint32_t j = 0; j < r->n_socks && got < max; j++) {
			struct udp_rx_sock *k = &r->socks[(r->rr + j) % r->n_socks];
			int n = drain(r, k, recs + got, max - got);
			if (n < 0)
				return got > 0 ? (int)got : n;
			got += (uint32_t)n;
		}
		r->rr = r->n_socks ? (r->rr + 1) % r->n_socks : 0;
		if (got > 0 || timeout_ms == 0 || pass == 1)
			break;
		for (uint32_t j = 0; j < r->n_socks; j++) {
			pfd[j].fd = r->socks[j].fd;
			pfd[j].events = POLLIN;
			pfd[j].revents = 0;
		}
		r->st[MCR_UDP_RX_WAITS]++;
		if (poll(pfd, r->n_socks, timeout_ms) < 0 && errno != EINTR)
			return -errno;
	}
	return (int)got;
}

MCR_API int mcr_udp_receiver_stats(const struct mcr_udp_receiver *r, uint64_t *out, uint32_t n)
{
	uint64_t st[MCR_UDP_RX__COUNT];
	uint64_t drops = 0, rcvbuf = 0;

	if (!r || !out)
		return -EINVAL;
	memcpy(st, r->st, sizeof(st));
	for (uint32_t i = 0; i < r->n_socks; i++) {
		drops += r->socks[i].drops;
		if (!rcvbuf || (uint64_t)r->socks[i].rcvbuf < rcvbuf)
			rcvbuf = (uint64_t)r->socks[i].rcvbuf;
	}
	st[MCR_UDP_RX_SOCKET_DROPS] = drops;
	st[MCR_UDP_RX_RCVBUF] = rcvbuf;
	st[MCR_UDP_RX_SOCKETS] = r->n_socks;
	if (n > MCR_UDP_RX__COUNT)
		n = MCR_UDP_RX__COUNT;
	memcpy(out, st, n * sizeof(uint64_t));
	return (int)n;
}
