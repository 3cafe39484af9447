/* Table installs: an output the kernel refuses fails alone (its reason readable) while the rest
 * of the table forwards, later tables install, and a table with many outputs on an interface
 * without a transmit ring installs in bounded time. In a network namespace of its own.
 * Exit 0 pass, 1 fail, 77 skip. */
#include "lab.h"
#include <arpa/inet.h>
#include "../mcr_shim.h"

/* An IPv4 address (network order, as a uint32_t holds it) as the 16 IPv4-mapped bytes of a table
 * entry's initializer. */

#define P_BAD 41101
#define P_GOOD 41102
#define P_OTHER 41103
#define MANY 1000

static int lo;
static uint32_t localhost;

static int relayed(struct mcr_worker *w, int tx, int rx, uint16_t port)
{
	struct sockaddr_in to = { .sin_family = AF_INET,
				  .sin_port = htons(port),
				  .sin_addr.s_addr = localhost };
	const char msg[] = "per-output install";
	sendto(tx, msg, sizeof(msg), 0, (struct sockaddr *)&to, sizeof(to));
	for (int i = 0; i < 10; i++)
		mcr_worker_poll(w, 10, 64);
	char buf[64];
	ssize_t n = recv(rx, buf, sizeof(buf), MSG_DONTWAIT);
	return n == sizeof(msg) && memcmp(buf, msg, sizeof(msg)) == 0;
}

int main(void)
{
	int r = lab_enter_private_lo();
	CHECK(r == 0, "private lo: %d", r);
	static uint64_t mem[MCR_COUNTERS_LEN(4, 4)];
	uint64_t *c = mem, *oc = mem + MCR_C__COUNT + 4 * 2;
	struct mcr_worker *w = NULL;
	r = mcr_worker_new(4, 4, 1 << 20, mem, &w);
	if (r == -EPERM || r == -ENOSYS)
		return 77;
	CHECK(r == 0, "mcr_worker_new: %d", r);
	if (!w)
		return 1;
	lo = (int)if_nametoindex("lo");
	localhost = htonl(INADDR_LOOPBACK);
	CHECK(mcr_worker_input_add(w, lo, -1) >= 0, "input on lo");

	int rx = socket(AF_INET, SOCK_DGRAM, 0), tx = socket(AF_INET, SOCK_DGRAM, 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = localhost };
	socklen_t alen = sizeof(a);
	bind(rx, (struct sockaddr *)&a, sizeof(a));
	getsockname(rx, (struct sockaddr *)&a, &alen);

	/* Rule 0 sends to lo's directed broadcast (connect refuses it: EACCES), rule 1 to rx. */
	struct mcr_output_entry outs[2] = {
		{ .ifindex = (uint32_t)lo,
		  .source = V4(localhost),
		  .dest = V4(htonl(0x7fffffffu)),
		  .family = 4,
		  .port = 9,
		  .ttl = 1,
		  .counter_slot = 0 },
		{ .ifindex = (uint32_t)lo,
		  .source = V4(localhost),
		  .dest = V4(localhost),
		  .family = 4,
		  .port = ntohs(a.sin_port),
		  .ttl = 1,
		  .counter_slot = 1 },
	};
	struct mcr_rule_entry rules[2] = {
		{ .in_ifindex = (uint32_t)lo,
		  .group = V4(localhost),
		  .family = 4,
		  .source_len = 96,
		  .source = V4(0u),
		  .port = P_BAD,
		  .n_outputs = 1,
		  .first_output = 0,
		  .counter_slot = 0 },
		{ .in_ifindex = (uint32_t)lo,
		  .group = V4(localhost),
		  .family = 4,
		  .source_len = 96,
		  .source = V4(0u),
		  .port = P_GOOD,
		  .n_outputs = 1,
		  .first_output = 1,
		  .counter_slot = 1 },
	};
	r = mcr_worker_rules_set(w, rules, 2, outs, 2);
	CHECK(r == 0, "a table with one unusable output: %d", r);
	int32_t errs[4] = { 1, 1, 1, 1 };
	r = mcr_worker_output_errors(w, errs, 4);
	CHECK(r == 2 && errs[0] < 0 && errs[1] == 0, "output errors: %d outputs, %d %d", r, errs[0],
	      errs[1]);
	CHECK(relayed(w, tx, rx, P_GOOD), "the good rule does not forward");
	CHECK(!relayed(w, tx, rx, P_BAD), "the bad output delivered something");
	CHECK(oc[0 * 3 + 2] == 1 && oc[0 * 3] == 0 && c[MCR_C_DROPS + MCR_DROP_SEND_ERROR] == 1,
	      "the failed output's datagram: errors %lu, send_error %lu", (unsigned long)oc[2],
	      (unsigned long)c[MCR_C_DROPS + MCR_DROP_SEND_ERROR]);

	/* A later table still installs: the good rule moves to another port. */
	rules[1].port = P_OTHER;
	r = mcr_worker_rules_set(w, rules, 2, outs, 2);
	CHECK(r == 0, "the next table: %d", r);
	CHECK(relayed(w, tx, rx, P_OTHER), "the next table does not forward");
	CHECK(!relayed(w, tx, rx, P_GOOD), "the old rule still forwards");

	/* Many multicast outputs on lo, which has no transmit ring: bounded time per install. */
	static struct mcr_output_entry many[MANY];
	for (int i = 0; i < MANY; i++)
		many[i] = (struct mcr_output_entry){ .ifindex = (uint32_t)lo,
						     .source = V4(localhost),
						     .dest = V4(htonl(0xef010101u)),
						     .family = 4,
						     .port = 5000,
						     .ttl = 1,
						     .counter_slot = 2 };
	struct mcr_rule_entry mrule = { .in_ifindex = (uint32_t)lo,
					.group = V4(localhost),
					.family = 4,
					.source_len = 96,
					.source = V4(0u),
					.port = P_GOOD,
					.n_outputs = MANY,
					.first_output = 0,
					.counter_slot = 2 };
	for (int round = 0; round < 2; round++) {
		double t0 = lab_now_ms();
		r = mcr_worker_rules_set(w, &mrule, 1, many, MANY);
		double ms = lab_now_ms() - t0;
		CHECK(r == 0, "%d multicast outputs on lo: %d", MANY, r);
		CHECK(ms < 250, "install %d of %d outputs on lo took %.0f ms", round, MANY, ms);
	}
	close(rx);
	close(tx);
	mcr_worker_free(w);
	if (failures)
		fprintf(stderr, "test_install: %d failures\n", failures);
	return failures ? 1 : 0;
}
