/* Group membership for the supervisor: a UDP socket that joins a group by interface index, so
 * that an interface without an IPv4 address is joined too (IP_ADD_MEMBERSHIP by address cannot
 * name it). With a source, the join is IGMPv3's source-specific one (MCAST_JOIN_SOURCE_GROUP):
 * a switch that snoops IGMPv3 delivers an SSM stream only to such a join. Bound to 127.0.0.1, the
 * socket is never handed the stream itself; closing it leaves. */
#include <errno.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <sys/socket.h>
#include "internal.h"

/* group, source: IPv4 in network byte order (source 0: any). Returns the socket or -errno. */
MCR_API int mcr_membership_open(int ifindex, uint32_t group, uint32_t source)
{
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), r;
	if (fd < 0)
		return -errno;
	struct sockaddr_in lo = { .sin_family = AF_INET,
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	r = bind(fd, (struct sockaddr *)&lo, sizeof(lo));
	if (r == 0 && source == 0) {
		struct ip_mreqn m = { .imr_multiaddr.s_addr = group, .imr_ifindex = ifindex };
		r = setsockopt(fd, IPPROTO_IP, IP_ADD_MEMBERSHIP, &m, sizeof(m));
	} else if (r == 0) {
		struct group_source_req g = { .gsr_interface = (uint32_t)ifindex };
		struct sockaddr_in *gr = (struct sockaddr_in *)&g.gsr_group,
				   *sr = (struct sockaddr_in *)&g.gsr_source;
		gr->sin_family = sr->sin_family = AF_INET;
		gr->sin_addr.s_addr = group;
		sr->sin_addr.s_addr = source;
		r = setsockopt(fd, IPPROTO_IP, MCAST_JOIN_SOURCE_GROUP, &g, sizeof(g));
	}
	if (r < 0) {
		int err = -errno;
		close(fd);
		return err;
	}
	return fd;
}
