/* Sizes at their limits: a 4 GiB ring asked for, an MTU near 2^31, output ranges that wrap.
 * Exit 0 pass, 1 fail, 77 skip. */
#include "lab.h"
#include <arpa/inet.h>
#include "../internal.h"

/* An IPv4 address (network order, as a uint32_t holds it) as the 16 IPv4-mapped bytes of a table
 * entry's initializer. */

int main(void)
{
	/* --ring-mb 4096: 2^32 bytes, which a 32-bit size turns into 0. */
	uint32_t got = mcr__ring_bytes(4096ull << 20);
	CHECK(got >= (4095u << 20), "a 4096 MiB ring asked for gives %u bytes", got);
	CHECK(mcr__ring_bytes(64ull << 20) == (64u << 20), "64 MiB: %u",
	      mcr__ring_bytes(64ull << 20));
	CHECK(mcr__ring_bytes(1ull << 40) == got, "1 TiB: %u", mcr__ring_bytes(1ull << 40));

	/* An MTU no IPv4 datagram can fill: the frame needs no more than the largest datagram. */
	double t0 = lab_now_ms();
	uint32_t big = mcr__frame_size(0x7fffffffu), max = mcr__frame_size(0xffffffffu);
	CHECK(lab_now_ms() - t0 < 100, "frame size took %.0f ms", lab_now_ms() - t0);
	CHECK(big == mcr__frame_size(65535) && max == big && big >= 65535 + 14 && big <= (1u << 17),
	      "frame size for MTU 2^31-1: %u, 2^32-1: %u", big, max);
	CHECK(mcr__frame_size(1500) == 2048 && mcr__frame_size(9000) == 16384, "usual MTUs: %u %u",
	      mcr__frame_size(1500), mcr__frame_size(9000));

	/* A rule whose output range wraps past 2^32 must be refused, not read out of bounds. */
	static uint64_t mem[MCR_COUNTERS_LEN(4, 4)];
	struct mcr_worker *w = NULL;
	int r = mcr_worker_new(4, 4, 1 << 20, mem, &w);
	if (r == -EPERM || r == -ENOSYS)
		return 77;
	CHECK(r == 0, "mcr_worker_new: %d", r);
	if (!w)
		return 1;
	uint32_t lo = if_nametoindex("lo"), localhost = htonl(INADDR_LOOPBACK);
	struct mcr_output_entry out = { .ifindex = lo,
					.source = V4(localhost),
					.dest = V4(localhost),
					.family = 4,
					.port = 9,
					.ttl = 1 };
	struct mcr_rule_entry rule = { .in_ifindex = lo,
				       .group = V4(localhost),
				       .family = 4,
				       .source_len = 96,
				       .source = V4(0u),
				       .port = 9,
				       .n_outputs = 2,
				       .first_output = 0xffffffffu,
				       .counter_slot = 0 };
	CHECK(mcr_worker_rules_set(w, &rule, 1, &out, 1) == -EINVAL, "a wrapping output range");
	rule.n_outputs = 0xffff;
	rule.first_output = 0xffff0002u;
	CHECK(mcr_worker_rules_set(w, &rule, 1, &out, 1) == -EINVAL, "a wrapping output range");
	/* More rules than a hash of 32-bit size can hold twice over. */
	CHECK(mcr_worker_rules_set(w, &rule, 0x80000001u, &out, 1) == -EINVAL, "2^31 rules");
	mcr_worker_free(w);
	if (failures)
		fprintf(stderr, "test_limits: %d failures\n", failures);
	return failures ? 1 : 0;
}
