/* Puts crafted frames on a wire, for the parser's tests: one frame per line of hex on stdin,
 * sent as is with AF_PACKET on the named interface. Prints the count sent. Exit 0 ok, 1 error. */
#include <arpa/inet.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <errno.h>

static int hexval(int c)
{
	if (c >= '0' && c <= '9') return c - '0';
	if (c >= 'a' && c <= 'f') return c - 'a' + 10;
	if (c >= 'A' && c <= 'F') return c - 'A' + 10;
	return -1;
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: inject IFACE < frames.hex\n");
		return 1;
	}
	int ifindex = (int)if_nametoindex(argv[1]);
	int fd = socket(AF_PACKET, SOCK_RAW, 0);
	if (!ifindex || fd < 0) {
		perror("inject");
		return 1;
	}
	struct sockaddr_ll sll = { .sll_family = AF_PACKET, .sll_ifindex = ifindex, .sll_halen = 6 };
	static char line[40000];
	static unsigned char frame[20000];
	int sent = 0;
	while (fgets(line, sizeof(line), stdin)) {
		size_t n = 0;
		for (char *p = line; p[0] && p[1] && hexval(p[0]) >= 0 && hexval(p[1]) >= 0 && n < sizeof(frame); p += 2)
			frame[n++] = (unsigned char)(hexval(p[0]) << 4 | hexval(p[1]));
		if (n == 0)
			continue;
		memcpy(sll.sll_addr, frame, n >= 6 ? 6 : n);
		if (sendto(fd, frame, n, 0, (struct sockaddr *)&sll, sizeof(sll)) < 0) {
			fprintf(stderr, "inject: frame %d (%zu bytes): %s\n", sent, n, strerror(errno));
			return 1;
		}
		sent++;
	}
	printf("%d\n", sent);
	return 0;
}
