/* Group membership for the supervisor: a UDP socket that joins a group by interface index, so
 * that an interface without an IPv4 address is joined too (IP_ADD_MEMBERSHIP by address cannot
 * name it). Bound to 127.0.0.1, the socket is never handed the stream itself; closing it leaves. */
#include <errno.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <sys/socket.h>
#include "internal.h"

/* group: the IPv4 group in network byte order. Returns the socket (>= 0) or -errno. */
MCR_API int mcr_membership_open(int ifindex, uint32_t group)
{
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	struct sockaddr_in lo = { .sin_family = AF_INET,
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct ip_mreqn m = { .imr_multiaddr.s_addr = group, .imr_ifindex = ifindex };
	if (bind(fd, (struct sockaddr *)&lo, sizeof(lo)) < 0 ||
	    setsockopt(fd, IPPROTO_IP, IP_ADD_MEMBERSHIP, &m, sizeof(m)) < 0) {
		int err = -errno;
		close(fd);
		return err;
	}
	return fd;
}
