/* The poll modes: each returns within its budget, only the sleeping ones count wakeups, and a
 * stream of datagrams over loopback is taken in every mode, with the adaptive spin counted.
 * Exit 0 pass, 1 fail, 77 skip (no permission or no io_uring). */
#include "lab.h" /* first: CHECK, and it defines _GNU_SOURCE */
#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include "../mcr_shim.h"

/* An IPv4 address (network order, as a uint32_t holds it) as the 16 IPv4-mapped bytes of a table
 * entry's initializer. */

static double now_ms(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

static uint64_t mem[MCR_COUNTERS_LEN(4, 4)];

/* Sends n datagrams to 127.0.0.1:port, each after the worker took the last (or 5 ms passed),
 * so that every one arrives while the worker waits in its mode; returns the rule's count. */
static uint64_t stream(struct mcr_worker *w, int tx, uint16_t port, int n)
{
	struct sockaddr_in to = { .sin_family = AF_INET,
				  .sin_port = htons(port),
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	uint64_t *rule = mem + MCR_C__COUNT;
	uint64_t before = rule[0];
	for (int i = 0; i < n; i++) {
		sendto(tx, "x", 1, 0, (struct sockaddr *)&to, sizeof(to));
		for (int k = 0; k < 5 && rule[0] - before < (uint64_t)i + 1; k++)
			CHECK(mcr_worker_poll(w, 1, 64) >= 0, "poll");
	}
	return rule[0] - before;
}

int main(void)
{
	struct mcr_worker *w = NULL;
	int r = mcr_worker_new(4, 4, 1 << 20, mem, &w);
	if (r == -EPERM || r == -ENOSYS) {
		fprintf(stderr, "skip: io_uring unavailable (%s)\n", strerror(-r));
		return 77;
	}
	CHECK(r == 0 && w, "mcr_worker_new: %d", r);
	if (!w)
		return 1;
	CHECK(mcr_worker_poll_mode_set(w, 3) == -EINVAL &&
		      mcr_worker_poll_mode_set(w, -1) == -EINVAL,
	      "an unknown mode accepted");

	int lo = (int)if_nametoindex("lo");
	int slot = mcr_worker_input_add(w, lo, -1);
	if (slot == -EPERM) {
		fprintf(stderr, "skip: no CAP_NET_RAW\n");
		mcr_worker_free(w);
		return 77;
	}
	CHECK(slot >= 0, "input on lo: %d", slot);
	int rx = socket(AF_INET, SOCK_DGRAM, 0), tx = socket(AF_INET, SOCK_DGRAM, 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t alen = sizeof(a);
	bind(rx, (struct sockaddr *)&a, sizeof(a));
	getsockname(rx, (struct sockaddr *)&a, &alen);
	struct mcr_output_entry out = { .ifindex = (uint32_t)lo,
					.source = V4(htonl(INADDR_LOOPBACK)),
					.dest = V4(htonl(INADDR_LOOPBACK)),
					.family = 4,
					.port = ntohs(a.sin_port),
					.ttl = 1 };
	struct mcr_rule_entry rule = { .in_ifindex = (uint32_t)lo,
				       .group = V4(htonl(INADDR_LOOPBACK)),
				       .family = 4,
				       .source_len = 96,
				       .source = V4(0u),
				       .port = 40998,
				       .n_outputs = 1 };
	CHECK(mcr_worker_rules_set(w, &rule, 1, &out, 1) == 0, "rules_set");

	uint64_t *c = mem;
	const int modes[] = { MCR_POLL_SLEEP, MCR_POLL_BUSY, MCR_POLL_ADAPTIVE };
	const char *names[] = { "sleep", "busy", "adaptive" };
	for (int m = 0; m < 3; m++) {
		CHECK(mcr_worker_poll_mode_set(w, modes[m]) == 0, "set %s", names[m]);
		/* Idle: back by the budget (with slack for a loaded machine), and only a sleeping
		 * mode counts the wakeup. */
		uint64_t wake0 = c[MCR_C_WAKEUPS];
		double t0 = now_ms();
		CHECK(mcr_worker_poll(w, 20, 64) == 0, "%s: frames from nowhere", names[m]);
		double took = now_ms() - t0;
		CHECK(took >= 19 && took < 500, "%s: an idle poll of 20 ms took %.1f ms", names[m],
		      took);
		if (modes[m] == MCR_POLL_BUSY)
			CHECK(c[MCR_C_WAKEUPS] == wake0, "busy: %lu wakeups",
			      (unsigned long)(c[MCR_C_WAKEUPS] - wake0));
		else
			CHECK(c[MCR_C_WAKEUPS] > wake0, "%s: slept without counting it", names[m]);

		uint64_t spins0 = c[MCR_C_SPINS];
		uint64_t got = stream(w, tx, 40998, 50);
		CHECK(got == 50, "%s: %lu of 50 datagrams taken", names[m], (unsigned long)got);
		/* Only the adaptive mode spins after a batch; the others never count one. */
		if (modes[m] == MCR_POLL_ADAPTIVE)
			CHECK(c[MCR_C_SPINS] > spins0, "adaptive: no spin after 50 batches");
		else
			CHECK(c[MCR_C_SPINS] == spins0, "%s: %lu spins", names[m],
			      (unsigned long)(c[MCR_C_SPINS] - spins0));
	}
	CHECK(c[MCR_C_SPIN_HITS] <= c[MCR_C_SPINS], "more hits (%lu) than spins (%lu)",
	      (unsigned long)c[MCR_C_SPIN_HITS], (unsigned long)c[MCR_C_SPINS]);

	close(rx);
	close(tx);
	mcr_worker_free(w);
	if (failures)
		fprintf(stderr, "test_poll: %d failures\n", failures);
	return failures ? 1 : 0;
}
