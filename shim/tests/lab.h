/* What the shim's tests share: CHECK, and a network namespace of the test's own with lo up, so
 * that nobody else's traffic on the host's loopback reaches the rings under test. */
#ifndef MCR_TEST_LAB_H
#define MCR_TEST_LAB_H

#define _GNU_SOURCE
#include <errno.h>
#include <net/if.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* An IPv4 address (network order, as a uint32_t holds it) as the 16 IPv4-mapped bytes of a table
 * entry's initializer. */
#define V4(a)                                                                                      \
	{                                                                                          \
		[10] = 0xff, [11] = 0xff, [12] = (uint8_t)(a), [13] = (uint8_t)((a) >> 8),         \
		[14] = (uint8_t)((a) >> 16), [15] = (uint8_t)((a) >> 24)                           \
	}

static int failures;
#define CHECK(cond, ...)                                                                           \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			failures++;                                                                \
			fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);                       \
			fprintf(stderr, __VA_ARGS__);                                              \
			fputc('\n', stderr);                                                       \
		}                                                                                  \
	} while (0)

/* 0, or -errno: the caller skips (77) on -EPERM. */
static inline int lab_private_lo(void)
{
	if (unshare(CLONE_NEWNET) < 0)
		return -errno;
	int fd = socket(AF_INET, SOCK_DGRAM, 0);
	if (fd < 0)
		return -errno;
	struct ifreq ifr;
	memset(&ifr, 0, sizeof(ifr));
	strcpy(ifr.ifr_name, "lo");
	int r = ioctl(fd, SIOCGIFFLAGS, &ifr);
	ifr.ifr_flags |= IFF_UP;
	if (r == 0)
		r = ioctl(fd, SIOCSIFFLAGS, &ifr);
	r = r < 0 ? -errno : 0;
	close(fd);
	return r;
}

/* lab_private_lo, or the test skips (exit 77) where it may not make a namespace. 0 or -errno. */
static inline int lab_enter_private_lo(void)
{
	int r = lab_private_lo();
	if (r == -EPERM) {
		fprintf(stderr, "skip: cannot make a network namespace\n");
		exit(77);
	}
	return r;
}

static inline double lab_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

#endif
