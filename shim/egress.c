/* Egress sockets: one connected UDP socket per output. The kernel does routing (once, at
 * connect), ARP for unicast outputs, checksums and fragmentation; io_uring (worker.c) batches
 * the sends. */
#include <errno.h>
#include <unistd.h>
#include <sys/socket.h>
#include <arpa/inet.h>
#include "internal.h"

#ifndef SO_BINDTOIFINDEX
#define SO_BINDTOIFINDEX 62
#endif

#define SNDBUF_BYTES (4 << 20)

int mcr__egress_open(struct mcr_egress_sock *s)
{
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), zero = 0, ttl = s->ttl;
	int pmtu = IP_PMTUDISC_DONT;
	if (fd < 0)
		return -errno;
	struct ip_mreqn mreq = { .imr_ifindex = (int)s->ifindex };
	mreq.imr_address.s_addr = s->source;
	struct sockaddr_in src = { .sin_family = AF_INET, .sin_addr.s_addr = s->source };
	struct sockaddr_in dst = { .sin_family = AF_INET,
				   .sin_port = htons(s->port),
				   .sin_addr.s_addr = s->dest };
	mcr__sndbuf_set(fd, SNDBUF_BYTES);
	if (setsockopt(fd, SOL_SOCKET, SO_BINDTOIFINDEX, &s->ifindex, sizeof(s->ifindex)) < 0 ||
	    bind(fd, (struct sockaddr *)&src, sizeof(src)) < 0 ||
	    setsockopt(fd, IPPROTO_IP, IP_MULTICAST_IF, &mreq, sizeof(mreq)) < 0 ||
	    setsockopt(fd, IPPROTO_IP, IP_MULTICAST_TTL, &ttl, sizeof(ttl)) < 0 ||
	    setsockopt(fd, IPPROTO_IP, IP_TTL, &ttl, sizeof(ttl)) < 0 ||
	    /* No copy back to local listeners: the relay is not a receiver. */
	    setsockopt(fd, IPPROTO_IP, IP_MULTICAST_LOOP, &zero, sizeof(zero)) < 0 ||
	    /* A datagram larger than the egress MTU is fragmented rather than refused. */
	    setsockopt(fd, IPPROTO_IP, IP_MTU_DISCOVER, &pmtu, sizeof(pmtu)) < 0 ||
	    connect(fd, (struct sockaddr *)&dst, sizeof(dst)) < 0) {
		int err = -errno;
		close(fd);
		return err;
	}
	s->fd = fd;
	return 0;
}
