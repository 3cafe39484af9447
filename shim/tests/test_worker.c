/* The worker object: creation, rule tables that must be refused, a ring on loopback, and
 * forwarding one datagram over loopback through the whole path (its send journal left empty).
 * Exit 0 pass, 1 fail, 77 skip (no permission or no io_uring). */
#include "lab.h" /* first: CHECK, and it defines _GNU_SOURCE */
#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include "../mcr_shim.h"

/* An IPv4 address (network order, as a uint32_t holds it) as the 16 IPv4-mapped bytes of a table
 * entry's initializer. */

int main(void)
{
	struct mcr_worker *w = NULL;
	/* Counters in memory the test owns, as the supervisor's shared region would be. */
	static uint64_t mem[MCR_COUNTERS_LEN(16, 16)];
	int r = mcr_worker_new(16, 16, 1 << 20, mem, &w);
	if (r == -EPERM || r == -ENOSYS) {
		fprintf(stderr, "skip: io_uring unavailable (%s)\n", strerror(-r));
		return 77;
	}
	CHECK(r == 0 && w, "mcr_worker_new: %d", r);
	if (!w)
		return 1;

	int lo = (int)if_nametoindex("lo");
	uint32_t localhost = htonl(INADDR_LOOPBACK);
	struct mcr_output_entry out = { .ifindex = (uint32_t)lo,
					.source = V4(localhost),
					.dest = V4(localhost),
					.family = 4,
					.port = 0,
					.ttl = 1,
					.counter_slot = 0 };
	struct mcr_rule_entry rule = { .in_ifindex = (uint32_t)lo,
				       .group = V4(localhost),
				       .family = 4,
				       .source_len = 96,
				       .source = V4(0u),
				       .port = 0,
				       .n_outputs = 1,
				       .first_output = 0,
				       .counter_slot = 0 };

	/* Tables that point outside themselves are refused, and the old table stays. */
	struct mcr_rule_entry bad = rule;
	bad.first_output = 1;
	CHECK(mcr_worker_rules_set(w, &bad, 1, &out, 1) == -EINVAL,
	      "output index out of range accepted");
	bad = rule;
	bad.counter_slot = 16;
	CHECK(mcr_worker_rules_set(w, &bad, 1, &out, 1) == -EINVAL,
	      "rule slot out of range accepted");
	struct mcr_rule_entry dup[2] = { rule, rule };
	CHECK(mcr_worker_rules_set(w, dup, 2, &out, 1) == -EINVAL, "duplicate rule accepted");
	struct mcr_output_entry zero_ttl = out;
	zero_ttl.ttl = 0;
	CHECK(mcr_worker_rules_set(w, &rule, 1, &zero_ttl, 1) == -EINVAL, "ttl 0 accepted");
	CHECK(mcr_worker_rules_set(w, NULL, 0, NULL, 0) == 0, "empty table refused");

	int slot = mcr_worker_input_add(w, lo, -1);
	if (slot == -EPERM) {
		fprintf(stderr, "skip: no CAP_NET_RAW\n");
		mcr_worker_free(w);
		return 77;
	}
	CHECK(slot >= 0, "input on lo: %d", slot);
	uint32_t bytes = 0, fsize = 0, bsize = 1;
	CHECK(mcr_worker_input_info(w, slot, &bytes, &fsize, &bsize) == 0 && bytes >= (1u << 20) &&
		      fsize >= 2048 && bsize == 0,
	      "ring %u frame %u block %u", bytes, fsize, bsize);
	CHECK(mcr_worker_input_add(w, 999999, -1) < 0, "ring on a missing interface");

	/* A receiver on 127.0.0.1; the rule maps 127.0.0.1:P1 -> 127.0.0.1:P2. */
	int rx = socket(AF_INET, SOCK_DGRAM, 0), tx = socket(AF_INET, SOCK_DGRAM, 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = localhost };
	socklen_t alen = sizeof(a);
	bind(rx, (struct sockaddr *)&a, sizeof(a));
	getsockname(rx, (struct sockaddr *)&a, &alen);
	out.port = ntohs(a.sin_port);
	rule.port = 40999;
	CHECK(mcr_worker_rules_set(w, &rule, 1, &out, 1) == 0, "rules_set");

	struct sockaddr_in in = { .sin_family = AF_INET,
				  .sin_port = htons(40999),
				  .sin_addr.s_addr = localhost };
	const char msg[] = "through the shim";
	sendto(tx, msg, sizeof(msg), 0, (struct sockaddr *)&in, sizeof(in));
	int got = 0;
	for (int i = 0; i < 50 && got == 0; i++) {
		r = mcr_worker_poll(w, 20, 64);
		CHECK(r >= 0, "poll: %d", r);
		got = r;
	}
	/* lo shows each datagram once as incoming (outgoing ones are ignored). */
	/* The datagram, and possibly the kernel's ICMP port-unreachable for it (nobody listens on
	 * the input port): that one is not UDP and is dropped as such. */
	CHECK(got >= 1, "frames taken: %d", got);
	char buf[64] = { 0 };
	struct timeval tv = { .tv_sec = 1 };
	setsockopt(rx, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	ssize_t n = recv(rx, buf, sizeof(buf), 0);
	CHECK(n == sizeof(msg) && memcmp(buf, msg, sizeof(msg)) == 0, "relayed payload (%zd bytes)",
	      n);

	uint64_t *c = mem, *rc = mem + MCR_C__COUNT, *oc = rc + 16 * 2;
	mcr_worker_poll(w, 50, 64);
	CHECK(c[MCR_C_TX_PACKETS] == 1 && rc[0] == 1 && rc[1] == sizeof(msg) && oc[0] == 1 &&
		      oc[1] == sizeof(msg),
	      "counters: tx %lu rule %lu/%lu out %lu", (unsigned long)c[MCR_C_TX_PACKETS],
	      (unsigned long)rc[0], (unsigned long)rc[1], (unsigned long)oc[0]);
	/* On lo the relayed copy comes straight back in: it matches no rule, so the input's filter
	 * turns it away before the ring (no drop), and nothing loops. */
	CHECK(c[MCR_C_DROPS + MCR_DROP_NO_RULE] == 0 && c[MCR_C_RX_FOREIGN] == 0, "no_rule %lu",
	      (unsigned long)c[MCR_C_DROPS + MCR_DROP_NO_RULE]);
	/* The send journal (after the output counters) is empty once the batch is counted: the
	 * supervisor, which counts what a killed worker left there, must find nothing to count twice. */
	const uint64_t *journal = oc + 16 * 3;
	int left = 0;
	for (int j = 0; j < MCR_JOURNAL_LEN; j++)
		left += journal[j] != 0;
	CHECK(left == 0, "%d send journal entries left after the batch", left);
	CHECK(mcr_worker_ring_stats(w) == 0, "ring stats");
	CHECK(mcr_worker_input_remove(w, slot) == 0 && mcr_worker_input_remove(w, slot) == -EBADF,
	      "remove");

	close(rx);
	close(tx);
	mcr_worker_free(w);
	if (failures)
		fprintf(stderr, "test_worker: %d failures\n", failures);
	return failures ? 1 : 0;
}
