/* Reads frames off a wire for the tests, where a UDP socket cannot tell what they need (the IPv4
 * TOS and TTL, the IPv6 traffic class and hop limit a datagram arrived with: Bun's sockets give
 * none of them). `capture IFACE COUNT IDLE_MS`: an AF_PACKET socket on IFACE takes the IPv4/UDP
 * and IPv6/UDP (UDP right after the fixed header) frames that arrive there (not those this host
 * sends) and prints each as one line of hex, from its Ethernet
 * header on (a VLAN tag the kernel took off is put back, so the line is the frame on the wire);
 * it stops after COUNT frames or IDLE_MS without one. "listening" goes to stderr once bound.
 * Exit 0 ok, 1 error. */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	if (argc != 4) {
		fprintf(stderr, "usage: capture IFACE COUNT IDLE_MS\n");
		return 1;
	}
	int ifindex = (int)if_nametoindex(argv[1]);
	long want = atol(argv[2]);
	int idle_ms = atoi(argv[3]);
	int fd = socket(AF_PACKET, SOCK_RAW, htons(ETH_P_ALL));
	if (!ifindex || fd < 0) {
		perror("capture");
		return 1;
	}
	int one = 1, rcvbuf = 32 << 20;
	struct sockaddr_ll sll = { .sll_family = AF_PACKET,
				   .sll_protocol = htons(ETH_P_ALL),
				   .sll_ifindex = ifindex };
	if (bind(fd, (struct sockaddr *)&sll, sizeof(sll)) < 0 ||
	    setsockopt(fd, SOL_PACKET, PACKET_AUXDATA, &one, sizeof(one)) < 0) {
		perror("capture");
		return 1;
	}
	setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof(rcvbuf));
	fprintf(stderr, "listening\n");
	static unsigned char f[70000];
	static char line[2 * sizeof(f) + 16];
	union {
		char buf[CMSG_SPACE(sizeof(struct tpacket_auxdata))];
		struct cmsghdr align;
	} c;
	long got = 0;
	while (got < want) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		int r = poll(&p, 1, idle_ms);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		/* Room for a tag in front of the EtherType, should the kernel have taken one off. */
		struct sockaddr_ll from;
		struct iovec iov[2] = { { .iov_base = f, .iov_len = 12 },
					{ .iov_base = f + 16, .iov_len = sizeof(f) - 16 } };
		struct msghdr mh = { .msg_name = &from,
				     .msg_namelen = sizeof(from),
				     .msg_iov = iov,
				     .msg_iovlen = 2,
				     .msg_control = c.buf,
				     .msg_controllen = sizeof(c.buf) };
		ssize_t n = recvmsg(fd, &mh, 0);
		if (n < 0) {
			perror("capture");
			return 1;
		}
		if (from.sll_pkttype == PACKET_OUTGOING || n < 12)
			continue;
		size_t len = (size_t)n + 4;
		int tagged = 0;
		for (struct cmsghdr *cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm)) {
			if (cm->cmsg_level != SOL_PACKET || cm->cmsg_type != PACKET_AUXDATA)
				continue;
			struct tpacket_auxdata a;
			memcpy(&a, CMSG_DATA(cm), sizeof(a));
			if (a.tp_status & TP_STATUS_VLAN_VALID) {
				uint16_t tpid = (a.tp_status & TP_STATUS_VLAN_TPID_VALID)
							? a.tp_vlan_tpid
							: ETH_P_8021Q;
				f[12] = (unsigned char)(tpid >> 8), f[13] = (unsigned char)tpid;
				f[14] = (unsigned char)(a.tp_vlan_tci >> 8);
				f[15] = (unsigned char)a.tp_vlan_tci;
				tagged = 1;
			}
		}
		if (!tagged) {
			memmove(f + 12, f + 16, (size_t)n - 12);
			len = (size_t)n;
		}
		/* IPv4/UDP and IPv6/UDP only (ARP, IGMP, neighbour discovery and MLD are not what a
		 * test counts). */
		size_t ip = 14;
		if (len >= 18 &&
		    ((f[12] == 0x81 && f[13] == 0x00) || (f[12] == 0x88 && f[13] == 0xa8)))
			ip = 18;
		int v4 =
			len >= ip + 20 && f[ip - 2] == 0x08 && f[ip - 1] == 0x00 && f[ip + 9] == 17;
		int v6 =
			len >= ip + 48 && f[ip - 2] == 0x86 && f[ip - 1] == 0xdd && f[ip + 6] == 17;
		if (!v4 && !v6)
			continue;
		for (size_t i = 0; i < len; i++)
			sprintf(line + 2 * i, "%02x", f[i]);
		puts(line);
		got++;
	}
	fflush(stdout);
	return 0;
}
