/* Table installs (mcr_worker_rules_set) with arbitrary tables: a sequence of up to 6 per input,
 * each a header byte (rules in bits 0-2, outputs in bits 3-5), 6 bytes per rule and 7 per output
 * chosen among values that matter (ranges past the output table, first_output near 2^32, counter
 * slots past the end, ttl 0, duplicate keys and outputs, interfaces with and without a transmit
 * ring or none at all, sources and destinations the kernel refuses). Each install returns 0 or
 * -EINVAL exactly when the table is well formed or not; a refused table leaves the previous one
 * in force; every output of an installed table is 0 or -errno, and one on a missing interface
 * failed; after an empty table, every socket the tables opened is closed again (ASan sees leaked
 * memory). In a network namespace of its own with lo and a dummy Ethernet device. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include "../../mcr_shim.h"
#include "fuzz.h"

#define RULE_SLOTS 8
#define OUTPUT_SLOTS 8
#define MISSING 999 /* an interface index nobody has */

static struct mcr_worker *w;
static int base_fds;
static int dummy; /* ifindex of the dummy device, 0 without one */

static int open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	int n = 0;
	if (!d)
		return -1;
	while (readdir(d))
		n++;
	closedir(d);
	return n;
}

static int lo_up(void)
{
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	struct ifreq ifr = { .ifr_name = "lo" };
	int r = fd < 0 || ioctl(fd, SIOCGIFFLAGS, &ifr) < 0 ? -1 : 0;
	ifr.ifr_flags |= IFF_UP;
	if (r == 0)
		r = ioctl(fd, SIOCSIFFLAGS, &ifr);
	if (fd >= 0)
		close(fd);
	return r;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	if (unshare(CLONE_NEWNET) < 0) {
		fprintf(stderr, "skip: cannot make a network namespace: %s\n", strerror(errno));
		exit(77);
	}
	MUST(lo_up() == 0);
	/* An Ethernet device, so that multicast outputs get a transmit ring; without `ip` the
	 * outputs meant for it go to a missing interface instead. */
	if (system("ip link add mcrfz0 type dummy && ip link set mcrfz0 up && "
		   "ip addr add 10.9.0.1/24 dev mcrfz0") == 0)
		dummy = (int)if_nametoindex("mcrfz0");
	int r = mcr_worker_new(RULE_SLOTS, OUTPUT_SLOTS, 1 << 20, NULL, &w);
	if (r == -EPERM || r == -ENOSYS) {
		fprintf(stderr, "skip: no io_uring here: %s\n", strerror(-r));
		exit(77);
	}
	MUST(r == 0);
	MUST(mcr_worker_input_add(w, (int)if_nametoindex("lo"), -1) >= 0);
	base_fds = open_fds();
	return 0;
}

static uint32_t pick_ifindex(uint8_t v)
{
	const uint32_t lo = 1;
	switch (v & 3) {
	case 0:
		return lo;
	case 1:
		return dummy ? (uint32_t)dummy : MISSING;
	case 2:
		return MISSING;
	default:
		return v & 0x80 ? 0 : lo;
	}
}

static uint32_t pick_addr(uint8_t v)
{
	static const uint32_t a[8] = { 0x7f000001, 0x0a090001, 0x0a0900ff, 0xef010101,
				       0xef010102, 0x00000000, 0xffffffff, 0x0a090909 };
	return htonl(a[v & 7]);
}

/* An IPv4 address (network order) IPv4-mapped, as the tables hold it. */
static void v4(uint8_t out[16], uint32_t a_be)
{
	memset(out, 0, 10);
	out[10] = out[11] = 0xff;
	memcpy(out + 12, &a_be, 4);
}

/* Whether the worker must take the table (table.c's checks, written out again). */
static int well_formed(const struct mcr_rule_entry *r, uint32_t nr,
		       const struct mcr_output_entry *o, uint32_t no)
{
	for (uint32_t i = 0; i < nr; i++) {
		if ((uint64_t)r[i].first_output + r[i].n_outputs > no ||
		    r[i].counter_slot >= RULE_SLOTS)
			return 0;
		for (uint32_t j = 0; j < i; j++)
			if (r[j].in_ifindex == r[i].in_ifindex &&
			    memcmp(r[j].group, r[i].group, 16) == 0 && r[j].port == r[i].port)
				return 0;
	}
	for (uint32_t i = 0; i < no; i++)
		if (o[i].counter_slot >= OUTPUT_SLOTS || o[i].ttl == 0)
			return 0;
	return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct bytes b = { data, size };
	int32_t prev[8], errs[8];
	int n_prev = mcr_worker_output_errors(w, prev, 8);
	MUST(n_prev == 0);
	for (int tables = 0; tables < 6 && b.n > 0; tables++) {
		uint8_t head = take8(&b);
		uint32_t nr = head & 7, no = (head >> 3) & 7;
		struct mcr_rule_entry r[8];
		struct mcr_output_entry o[8];
		for (uint32_t i = 0; i < nr; i++) {
			uint8_t k = take8(&b), first = take8(&b);
			r[i] = (struct mcr_rule_entry){
				.in_ifindex = pick_ifindex(k),
				.port = (uint16_t)(5000 + (k >> 4 & 3)),
				.n_outputs = take8(&b) & 15,
				.first_output = k & 0x40 ? 0xffffffffu - first : first & 15,
				.counter_slot = take8(&b) & 15,
				.source_len = 96, /* any source */
				.family = 4,
			};
			v4(r[i].group, htonl(0xef010100u | (k >> 2 & 3)));
			v4(r[i].source, 0);
			take16(&b); /* room for later fields */
		}
		for (uint32_t i = 0; i < no; i++) {
			uint8_t where = take8(&b), addrs = take8(&b);
			o[i] = (struct mcr_output_entry){
				.ifindex = pick_ifindex(where),
				.port = take16(&b),
				.ttl = take8(&b),
				.counter_slot = take8(&b) & 15,
				.family = 4,
			};
			v4(o[i].source, where & 4 ? pick_addr(addrs) : 0);
			v4(o[i].dest, pick_addr(addrs >> 3));
			take8(&b);
		}
		int ok = well_formed(r, nr, o, no);
		int ret = mcr_worker_rules_set(w, r, nr, o, no);
		MUST(ret == (ok ? 0 : -EINVAL));
		int n = mcr_worker_output_errors(w, errs, 8);
		if (ret < 0) {
			/* The previous table stays, outputs and all. */
			MUST(n == n_prev && memcmp(errs, prev, sizeof(*errs) * (uint32_t)n) == 0);
			continue;
		}
		MUST(n == (int)no);
		for (uint32_t i = 0; i < no; i++) {
			MUST(errs[i] <= 0 && errs[i] > -4096);
			MUST(o[i].ifindex != MISSING || errs[i] < 0);
		}
		MUST(mcr_worker_poll(w, 0, 8) >= 0);
		memcpy(prev, errs, sizeof(errs));
		n_prev = n;
	}
	/* An empty table closes every socket and ring the others opened. */
	MUST(mcr_worker_rules_set(w, NULL, 0, NULL, 0) == 0);
	MUST(mcr_worker_output_errors(w, errs, 8) == 0);
	MUST(open_fds() == base_fds);
	return 0;
}
