/* A point-to-point IP link made of two tun devices, for the tests of interfaces without an
 * Ethernet header: `tunpair NS_A IF_A NS_B IF_B` creates the tun device IF_A in the network
 * namespace NS_A and IF_B in NS_B (names under /run/netns), prints "ready" on stderr, then moves
 * every IP packet read from one device to the other, as a userspace VPN (wireguard-go, Tailscale)
 * moves them between its tun device and the wire, until SIGTERM or stdin closes. It then prints
 * {"ab":N,"ba":M} (packets moved each way) on stdout and exits 0; the devices go with it.
 * Exit 1 on error. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

static volatile sig_atomic_t stop;

static void on_term(int sig)
{
	(void)sig;
	stop = 1;
}

/* A tun device (IP packets, no packet information header) named ifname in namespace ns. The
 * device belongs to the namespace the process is in when /dev/net/tun is opened. */
static int tun_in(const char *ns, const char *ifname)
{
	char path[256];
	snprintf(path, sizeof(path), "/run/netns/%s", ns);
	int nsfd = open(path, O_RDONLY | O_CLOEXEC);
	if (nsfd < 0 || setns(nsfd, CLONE_NEWNET) < 0) {
		fprintf(stderr, "tunpair: %s: %s\n", path, strerror(errno));
		return -1;
	}
	close(nsfd);
	int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC | O_NONBLOCK);
	struct ifreq ifr;
	memset(&ifr, 0, sizeof(ifr));
	ifr.ifr_flags = IFF_TUN | IFF_NO_PI;
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
	if (fd < 0 || ioctl(fd, TUNSETIFF, &ifr) < 0) {
		fprintf(stderr, "tunpair: %s in %s: %s\n", ifname, ns, strerror(errno));
		return -1;
	}
	return fd;
}

/* Moves what from holds to to; the count moved, or -1. A packet the other side cannot take now
 * (its queue full) is lost, as on a wire, and not counted. */
static long move(int from, int to)
{
	static unsigned char buf[65536];
	long n = 0;
	for (;;) {
		ssize_t len = read(from, buf, sizeof(buf));
		if (len < 0)
			return errno == EAGAIN || errno == EINTR ? n : -1;
		if (write(to, buf, (size_t)len) == len)
			n++;
	}
}

int main(int argc, char **argv)
{
	if (argc != 5) {
		fprintf(stderr, "usage: tunpair NS_A IF_A NS_B IF_B\n");
		return 1;
	}
	int a = tun_in(argv[1], argv[2]), b = a < 0 ? -1 : tun_in(argv[3], argv[4]);
	if (a < 0 || b < 0)
		return 1;
	struct sigaction sa = { .sa_handler = on_term };
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	fprintf(stderr, "ready\n");
	long ab = 0, ba = 0;
	while (!stop) {
		struct pollfd p[3] = { { a, POLLIN, 0 }, { b, POLLIN, 0 }, { 0, POLLIN, 0 } };
		if (poll(p, 3, 1000) < 0) {
			if (errno == EINTR)
				continue;
			perror("tunpair: poll");
			return 1;
		}
		long n1 = p[0].revents & POLLIN ? move(a, b) : 0;
		long n2 = p[1].revents & POLLIN ? move(b, a) : 0;
		if (n1 < 0 || n2 < 0) {
			perror("tunpair: read");
			return 1;
		}
		ab += n1, ba += n2;
		if (p[2].revents & (POLLIN | POLLHUP)) {
			char c;
			if (read(0, &c, 1) <= 0)
				break;
		}
	}
	printf("{\"ab\":%ld,\"ba\":%ld}\n", ab, ba);
	return 0;
}
