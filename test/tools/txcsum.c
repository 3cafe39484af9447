/* Turns an interface's transmit checksum offload on or off (what `ethtool -K IFACE tx off` does,
 * without ethtool): with it off, the kernel sums a CHECKSUM_PARTIAL datagram in software before
 * the device, so a test can see that what a relay left to the device sums right.
 * `txcsum IFACE on|off`. Exit 0 ok, 1 error. */
#include <errno.h>
#include <linux/ethtool.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	if (argc != 3 || (strcmp(argv[2], "on") != 0 && strcmp(argv[2], "off") != 0) ||
	    strlen(argv[1]) >= IFNAMSIZ) {
		fprintf(stderr, "usage: txcsum IFACE on|off\n");
		return 1;
	}
	struct ethtool_value v = { .cmd = ETHTOOL_STXCSUM, .data = strcmp(argv[2], "on") == 0 };
	struct ifreq ifr;
	memset(&ifr, 0, sizeof(ifr));
	strcpy(ifr.ifr_name, argv[1]);
	ifr.ifr_data = (void *)&v;
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || ioctl(fd, SIOCETHTOOL, &ifr) < 0) {
		fprintf(stderr, "txcsum: %s: %s\n", argv[1], strerror(errno));
		return 1;
	}
	close(fd);
	return 0;
}
