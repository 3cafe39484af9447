/* Group membership for the supervisor: a UDP socket that joins a group by interface index, so
 * that an interface without an address of the group's family is joined too (IP_ADD_MEMBERSHIP by
 * address cannot name it). IGMPv3 for IPv4 groups, MLDv2 for IPv6 ones; with a source, the join
 * is the source-specific one (MCAST_JOIN_SOURCE_GROUP): a switch that snoops IGMPv3/MLDv2
 * delivers an SSM stream only to such a join. The IPv4 socket is bound to 127.0.0.1, the IPv6 one
 * to no port at all (::1 is missing where loopback has IPv6 off): neither is ever handed the
 * stream itself. Closing it leaves. */
#include <errno.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <sys/socket.h>
#include "internal.h"

/* addr: 16 bytes, IPv4 as IPv4-mapped. */
static void sockaddr_of(struct sockaddr_storage *ss, const uint8_t *addr)
{
	memset(ss, 0, sizeof(*ss));
	if (mcr__addr_is_v4(addr)) {
		struct sockaddr_in *sin = (struct sockaddr_in *)ss;
		sin->sin_family = AF_INET;
		sin->sin_addr.s_addr = mcr__addr_u32(addr);
	} else {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;
		sin6->sin6_family = AF_INET6;
		memcpy(&sin6->sin6_addr, addr, 16);
	}
}

/* Returns the socket or -errno. */
MCR_API int mcr_membership_open(int ifindex, const uint8_t *group, const uint8_t *source)
{
	int v6 = !mcr__addr_is_v4(group), r;
	if (source && mcr__addr_is_v4(source) == v6)
		return -EINVAL; /* a source of the other family */
	int level = v6 ? IPPROTO_IPV6 : IPPROTO_IP;
	int fd = socket(v6 ? AF_INET6 : AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (v6) {
		r = 0;
	} else {
		struct sockaddr_in lo = { .sin_family = AF_INET,
					  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
		r = bind(fd, (struct sockaddr *)&lo, sizeof(lo));
	}
	if (r == 0 && !source) {
		struct group_req g = { .gr_interface = (uint32_t)ifindex };
		sockaddr_of(&g.gr_group, group);
		r = setsockopt(fd, level, MCAST_JOIN_GROUP, &g, sizeof(g));
	} else if (r == 0) {
		struct group_source_req g = { .gsr_interface = (uint32_t)ifindex };
		sockaddr_of(&g.gsr_group, group);
		sockaddr_of(&g.gsr_source, source);
		r = setsockopt(fd, level, MCAST_JOIN_SOURCE_GROUP, &g, sizeof(g));
	}
	if (r < 0) {
		int err = -errno;
		close(fd);
		return err;
	}
	return fd;
}
