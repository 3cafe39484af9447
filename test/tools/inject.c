/* Puts crafted frames on a wire, for the parser's tests: one frame per line of hex on stdin,
 * sent as is with AF_PACKET on the named interface; or, with `--random N SEED [v4|v6|both]`, N
 * random frames: a quarter pure noise, the rest a valid Ethernet/IPv4/UDP datagram (v4, the
 * default), Ethernet/IPv6/UDP (v6: to ff3e::1:1 port 5001, half of them behind a hop-by-hop
 * header), or either at random (both), with a few bytes of its headers changed and its length
 * cut at random, so that every layer of the parser is reached.
 * No frame carries a VLAN EtherType (the receiving kernel drops a bad tag before any packet
 * socket sees it, and the test counts every frame). With `--legs IFACE...`, frames go on several
 * interfaces in one order: each line is `K HEX` (the K-th interface named, from 0) or `w MS` (a
 * pause of MS milliseconds), so that tests of a merge control how the legs interleave and when
 * one falls silent. Prints the count sent. Exit 0 ok, 1 error. */
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
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static uint64_t rng_state;
static uint32_t rnd(void)
{
	/* xorshift64*: reproducible from the seed */
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return (uint32_t)((rng_state * 0x2545F4914F6CDD1DULL) >> 32);
}

/* A valid IPv4/UDP datagram's first bytes, changed at random. */
static void random_v4(unsigned char *f, size_t len)
{
	static const unsigned char good[42] = {
		0x01, 0x00, 0x5e, 0x01, 0x01, 0x01, 0x02, 0,	0,    0,    0,	  0x03, 0x08, 0x00,
		0x45, 0,    0x00, 0x64, 0x12, 0x34, 0,	  0,	8,    17,   0x3f, 0x5a, 10,   0,
		0,    1,    239,  1,	1,    1,    0x9c, 0x40, 0x13, 0x89, 0x00, 0x50, 0,    0
	};
	memcpy(f, good, len < 42 ? len : 42);
	if (len >= 42 && rnd() % 2) {
		/* lengths that agree with the frame, so the checks past them are reached */
		f[16] = (unsigned char)((len - 14) >> 8), f[17] = (unsigned char)(len - 14);
		f[38] = (unsigned char)((len - 34) >> 8), f[39] = (unsigned char)(len - 34);
	}
	int flips = (int)(rnd() % 4);
	for (int k = 0; k < flips; k++)
		f[12 + rnd() % 30] = (unsigned char)rnd();
	if (len >= 34 && rnd() % 4) {
		/* a right header checksum over whatever the header now says */
		unsigned sum = 0;
		f[24] = f[25] = 0;
		for (int i = 14; i < 34; i += 2)
			sum += (unsigned)(f[i] << 8 | f[i + 1]);
		while (sum >> 16)
			sum = (sum & 0xffff) + (sum >> 16);
		f[24] = (unsigned char)(~sum >> 8), f[25] = (unsigned char)~sum;
	}
}

/* A valid IPv6/UDP datagram (2001:db8::1 to ff3e::1:1, port 5001), half of them behind an empty
 * hop-by-hop header, changed at random. IPv6 has no header checksum to keep right. */
static void random_v6(unsigned char *f, size_t len)
{
	static const unsigned char eth_ip[22] = { 0x33, 0x33, 0x00, 0x01, 0x00, 0x01, 0x02, 0,
						  0,	0,    0,    0x03, 0x86, 0xdd, 0x60, 0,
						  0,	0,    0,    0,	  17,	8 };
	static const unsigned char src[16] = { 0x20, 0x01, 0x0d, 0xb8, [15] = 1 };
	static const unsigned char dst[16] = { 0xff, 0x3e, [13] = 1, [15] = 1 };
	static const unsigned char udp[8] = { 0x9c, 0x40, 0x13, 0x89, 0, 0x50, 0, 0 };
	static const unsigned char hbh[8] = { 17, 0, 1, 4, 0, 0, 0, 0 }; /* UDP next, PadN */
	unsigned char good[70];
	int ext = rnd() % 2;
	size_t n = 0;
	memcpy(good, eth_ip, sizeof(eth_ip));
	n = sizeof(eth_ip);
	memcpy(good + n, src, 16);
	memcpy(good + n + 16, dst, 16);
	n += 32;
	if (ext) {
		good[20] = 0; /* hop-by-hop first */
		memcpy(good + n, hbh, 8);
		n += 8;
	}
	memcpy(good + n, udp, 8);
	n += 8;
	memcpy(f, good, len < n ? len : n);
	if (len >= n && rnd() % 2) {
		/* lengths that agree with the frame */
		size_t pl = len - 54, ul = len - (n - 8);
		f[18] = (unsigned char)(pl >> 8), f[19] = (unsigned char)pl;
		f[n - 4] = (unsigned char)(ul >> 8), f[n - 3] = (unsigned char)ul;
	}
	int flips = (int)(rnd() % 4);
	for (int k = 0; k < flips; k++)
		f[12 + rnd() % (n - 12)] = (unsigned char)rnd();
}

enum family { V4, V6, BOTH };

static size_t random_frame(unsigned char *f, enum family fam)
{
	size_t len = 14 + rnd() % 1501;
	for (size_t i = 0; i < len; i++)
		f[i] = (unsigned char)rnd();
	if (rnd() % 4) {
		if (fam == V6 || (fam == BOTH && rnd() % 2))
			random_v6(f, len);
		else
			random_v4(f, len);
	}
	unsigned type = (unsigned)f[12] << 8 | f[13];
	if (type == 0x8100 || type == 0x88a8 || type == 0x9100)
		f[12] = 0x08, f[13] = 0x00;
	return len;
}

static int legs(int n, char **names)
{
	int fd = socket(AF_PACKET, SOCK_RAW, 0);
	int ifindex[16];
	if (fd < 0 || n > 16) {
		perror("inject");
		return 1;
	}
	for (int i = 0; i < n; i++)
		if (!(ifindex[i] = (int)if_nametoindex(names[i]))) {
			fprintf(stderr, "inject: no interface %s\n", names[i]);
			return 1;
		}
	static char line[40000];
	static unsigned char frame[20000];
	int sent = 0;
	while (fgets(line, sizeof(line), stdin)) {
		if (line[0] == 'w') {
			usleep((useconds_t)(atol(line + 1) * 1000));
			continue;
		}
		char *p;
		long k = strtol(line, &p, 10);
		if (p == line || k < 0 || k >= n || *p != ' ')
			continue;
		size_t len = 0;
		for (p++;
		     p[0] && p[1] && hexval(p[0]) >= 0 && hexval(p[1]) >= 0 && len < sizeof(frame);
		     p += 2)
			frame[len++] = (unsigned char)(hexval(p[0]) << 4 | hexval(p[1]));
		struct sockaddr_ll sll = { .sll_family = AF_PACKET,
					   .sll_ifindex = ifindex[k],
					   .sll_halen = 6 };
		memcpy(sll.sll_addr, frame, 6);
		while (sendto(fd, frame, len, 0, (struct sockaddr *)&sll, sizeof(sll)) < 0) {
			if (errno != ENOBUFS && errno != EAGAIN) {
				fprintf(stderr, "inject: frame %d on %s: %s\n", sent, names[k],
					strerror(errno));
				return 1;
			}
			usleep(100);
		}
		sent++;
	}
	printf("%d\n", sent);
	return 0;
}

int main(int argc, char **argv)
{
	long random_n = -1;
	enum family fam = V4;
	if (argc >= 3 && strcmp(argv[1], "--legs") == 0)
		return legs(argc - 2, argv + 2);
	if ((argc == 5 || argc == 6) && strcmp(argv[2], "--random") == 0) {
		random_n = atol(argv[3]);
		rng_state = (uint64_t)atoll(argv[4]) | 1;
		if (argc == 6 && strcmp(argv[5], "v6") == 0)
			fam = V6;
		else if (argc == 6 && strcmp(argv[5], "both") == 0)
			fam = BOTH;
		else if (argc == 6 && strcmp(argv[5], "v4") != 0)
			random_n = -1, argc = 0; /* a family it does not know: the usage */
	}
	if (random_n < 0 && argc != 2) {
		fprintf(stderr, "usage: inject IFACE < frames.hex | inject IFACE --random N SEED "
				"[v4|v6|both]\n");
		return 1;
	}
	int ifindex = (int)if_nametoindex(argv[1]);
	int fd = socket(AF_PACKET, SOCK_RAW, 0);
	if (!ifindex || fd < 0) {
		perror("inject");
		return 1;
	}
	struct sockaddr_ll sll = { .sll_family = AF_PACKET,
				   .sll_ifindex = ifindex,
				   .sll_halen = 6 };
	static char line[40000];
	static unsigned char frame[20000];
	int sent = 0;
	for (long i = 0; i < random_n; i++) {
		size_t n = random_frame(frame, fam);
		memcpy(sll.sll_addr, frame, 6);
		while (sendto(fd, frame, n, 0, (struct sockaddr *)&sll, sizeof(sll)) < 0) {
			if (errno != ENOBUFS && errno != EAGAIN) {
				fprintf(stderr, "inject: random frame %ld (%zu bytes): %s\n", i, n,
					strerror(errno));
				return 1;
			}
			usleep(100);
		}
		sent++;
		/* Paced a little, so the receiving ring is not what is tested. */
		if (sent % 2048 == 0)
			usleep(2000);
	}
	if (random_n >= 0) {
		printf("%d\n", sent);
		return 0;
	}
	while (fgets(line, sizeof(line), stdin)) {
		size_t n = 0;
		for (char *p = line;
		     p[0] && p[1] && hexval(p[0]) >= 0 && hexval(p[1]) >= 0 && n < sizeof(frame);
		     p += 2)
			frame[n++] = (unsigned char)(hexval(p[0]) << 4 | hexval(p[1]));
		if (n == 0)
			continue;
		memcpy(sll.sll_addr, frame, n >= 6 ? 6 : n);
		if (sendto(fd, frame, n, 0, (struct sockaddr *)&sll, sizeof(sll)) < 0) {
			fprintf(stderr, "inject: frame %d (%zu bytes): %s\n", sent, n,
				strerror(errno));
			return 1;
		}
		sent++;
	}
	printf("%d\n", sent);
	return 0;
}
