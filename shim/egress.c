/* Egress sockets: one connected UDP socket per output. The kernel does routing (once, at
 * connect), ARP or neighbour discovery for unicast outputs, checksums and fragmentation; io_uring
 * (worker.c) batches the sends. An IPv6 output gets an AF_INET6 socket. */
#include <errno.h>
#include <unistd.h>
#include <sys/socket.h>
#include <arpa/inet.h>
#include "internal.h"

#ifndef SO_BINDTOIFINDEX
#define SO_BINDTOIFINDEX 62
#endif

#define SNDBUF_BYTES (4 << 20)

static int open4(const struct mcr_egress_sock *s, int fd)
{
	int zero = 0, ttl = s->ttl, pmtu = IP_PMTUDISC_DONT;
	struct ip_mreqn mreq = { .imr_ifindex = (int)s->ifindex };
	mreq.imr_address.s_addr = mcr__addr_u32(s->source);
	struct sockaddr_in src = { .sin_family = AF_INET,
				   .sin_addr.s_addr = mcr__addr_u32(s->source) };
	struct sockaddr_in dst = { .sin_family = AF_INET,
				   .sin_port = htons(s->port),
				   .sin_addr.s_addr = mcr__addr_u32(s->dest) };
	if (bind(fd, (struct sockaddr *)&src, sizeof(src)) < 0 ||
	    setsockopt(fd, IPPROTO_IP, IP_MULTICAST_IF, &mreq, sizeof(mreq)) < 0 ||
	    setsockopt(fd, IPPROTO_IP, IP_MULTICAST_TTL, &ttl, sizeof(ttl)) < 0 ||
	    setsockopt(fd, IPPROTO_IP, IP_TTL, &ttl, sizeof(ttl)) < 0 ||
	    /* No copy back to local listeners: the relay is not a receiver. */
	    setsockopt(fd, IPPROTO_IP, IP_MULTICAST_LOOP, &zero, sizeof(zero)) < 0 ||
	    /* A datagram larger than the egress MTU is fragmented rather than refused. */
	    setsockopt(fd, IPPROTO_IP, IP_MTU_DISCOVER, &pmtu, sizeof(pmtu)) < 0 ||
	    connect(fd, (struct sockaddr *)&dst, sizeof(dst)) < 0)
		return -errno;
	return 0;
}

static int open6(const struct mcr_egress_sock *s, int fd)
{
	int zero = 0, one = 1, hops = s->ttl, pmtu = IPV6_PMTUDISC_DONT, ifindex = (int)s->ifindex;
	/* A link-local source (an ff02:: group's) means nothing without its interface. */
	struct sockaddr_in6 src = { .sin6_family = AF_INET6, .sin6_scope_id = s->ifindex };
	struct sockaddr_in6 dst = { .sin6_family = AF_INET6,
				    .sin6_port = htons(s->port),
				    .sin6_scope_id = s->ifindex };
	memcpy(&src.sin6_addr, s->source, 16);
	memcpy(&dst.sin6_addr, s->dest, 16);
	if (setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) < 0 ||
	    bind(fd, (struct sockaddr *)&src, sizeof(src)) < 0 ||
	    setsockopt(fd, IPPROTO_IPV6, IPV6_MULTICAST_IF, &ifindex, sizeof(ifindex)) < 0 ||
	    setsockopt(fd, IPPROTO_IPV6, IPV6_MULTICAST_HOPS, &hops, sizeof(hops)) < 0 ||
	    setsockopt(fd, IPPROTO_IPV6, IPV6_UNICAST_HOPS, &hops, sizeof(hops)) < 0 ||
	    setsockopt(fd, IPPROTO_IPV6, IPV6_MULTICAST_LOOP, &zero, sizeof(zero)) < 0 ||
	    /* Larger than the path MTU: fragmented here (IPv6 routers never do) rather than refused. */
	    setsockopt(fd, IPPROTO_IPV6, IPV6_MTU_DISCOVER, &pmtu, sizeof(pmtu)) < 0 ||
	    connect(fd, (struct sockaddr *)&dst, sizeof(dst)) < 0)
		return -errno;
	return 0;
}

int mcr__egress_open(struct mcr_egress_sock *s)
{
	int fd = socket(s->family == 6 ? AF_INET6 : AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), err;
	if (fd < 0)
		return -errno;
	mcr__sndbuf_set(fd, SNDBUF_BYTES);
	if (setsockopt(fd, SOL_SOCKET, SO_BINDTOIFINDEX, &s->ifindex, sizeof(s->ifindex)) < 0)
		err = -errno;
	else
		err = s->family == 6 ? open6(s, fd) : open4(s, fd);
	if (err < 0) {
		close(fd);
		return err;
	}
	s->fd = fd;
	return 0;
}
