/* The send journal: a worker that finished its batches leaves it empty, so that the supervisor,
 * which counts what a killed worker left there (src/stats/shared.ts, settleJournal), counts
 * nothing twice.
 * Exit 0 pass, 1 fail, 77 skip (no permission or no io_uring). */
#include "lab.h" /* first: CHECK, and it defines _GNU_SOURCE */
#include <arpa/inet.h>
#include "../internal.h"

#define SLOTS 4
static uint64_t mem[MCR_COUNTERS_LEN(SLOTS, SLOTS)];
static uint64_t *const out_ctr = mem + MCR_C__COUNT + SLOTS * 2;
static uint64_t *const journal = mem + MCR_C__COUNT + SLOTS * 2 + SLOTS * 3;

static int journal_empty(void)
{
	for (int j = 0; j < MCR_JOURNAL_LEN; j++)
		if (journal[j])
			return 0;
	return 1;
}

int main(void)
{
	if (lab_private_lo() < 0)
		return 77;
	struct mcr_worker *w = NULL;
	int r = mcr_worker_new(SLOTS, SLOTS, 1 << 20, mem, &w);
	if (r == -EPERM || r == -ENOSYS)
		return 77;
	CHECK(r == 0 && w, "mcr_worker_new: %d", r);
	if (!w)
		return 1;

	/* A live relay over lo, through a UDP socket output: its journal is empty after each batch. */
	int lo = (int)if_nametoindex("lo");
	uint32_t localhost = htonl(INADDR_LOOPBACK);
	int rx = socket(AF_INET, SOCK_DGRAM, 0), tx = socket(AF_INET, SOCK_DGRAM, 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = localhost };
	socklen_t alen = sizeof(a);
	bind(rx, (struct sockaddr *)&a, sizeof(a));
	getsockname(rx, (struct sockaddr *)&a, &alen);
	struct mcr_output_entry out = { .ifindex = (uint32_t)lo,
					.source = V4(localhost),
					.dest = V4(localhost),
					.family = 4,
					.port = ntohs(a.sin_port),
					.ttl = 1,
					.counter_slot = 3 };
	struct mcr_rule_entry rule = { .in_ifindex = (uint32_t)lo,
				       .group = V4(localhost),
				       .family = 4,
				       .source_len = 96,
				       .source = V4(0u),
				       .port = 40998,
				       .n_outputs = 1,
				       .first_output = 0,
				       .counter_slot = 0 };
	CHECK(mcr_worker_rules_set(w, &rule, 1, &out, 1) == 0, "rules_set");
	r = mcr_worker_input_add(w, lo, -1);
	if (r == -EPERM) {
		mcr_worker_free(w);
		return 77;
	}
	CHECK(r >= 0, "input on lo: %d", r);
	struct sockaddr_in in = { .sin_family = AF_INET,
				  .sin_port = htons(40998),
				  .sin_addr.s_addr = localhost };
	/* One at a time: lo's 64 KiB MTU leaves a 1 MiB ring 8 frames. */
	for (int i = 0; i < 20; i++) {
		CHECK(sendto(tx, "journal", 7, 0, (struct sockaddr *)&in, sizeof(in)) == 7,
		      "sendto");
		for (int k = 0; k < 50 && out_ctr[9] < (uint64_t)i + 1; k++) {
			r = mcr_worker_poll(w, 20, 64);
			CHECK(r >= 0, "poll: %d", r);
			CHECK(journal_empty(), "journal left in use after a batch (%lu sent)",
			      (unsigned long)out_ctr[9]);
		}
	}
	CHECK(out_ctr[9] == 20 && out_ctr[10] == 140, "relayed %lu (%lu bytes)",
	      (unsigned long)out_ctr[9], (unsigned long)out_ctr[10]);
	mcr_worker_free(w);
	close(rx);
	close(tx);
	return failures ? 1 : 0;
}
