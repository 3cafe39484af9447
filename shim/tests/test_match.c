/* The rule lookup (match.c) and the rate limit's token bucket: pure functions, no sockets.
 * Exit 0 pass, 1 fail. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include "../internal.h"

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

static struct mcr_rule_entry rule(uint32_t group, uint16_t port, uint16_t vlan, const char *src,
				  uint8_t len)
{
	struct mcr_rule_entry e = { .in_ifindex = 3, .group = htonl(group), .port = port };
	e.vlan = vlan;
	e.source = src ? inet_addr(src) : 0;
	e.source_len = len;
	return e;
}

static int find(const struct mcr_match *m, uint32_t group, uint16_t port, uint16_t vlan,
		const char *src)
{
	return mcr__match_find(m, 3, htonl(group), port, vlan, inet_addr(src));
}

static void test_match(void)
{
	const uint32_t g = 0xe8010101u; /* 232.1.1.1 */
	struct mcr_rule_entry r[] = {
		rule(g, 5000, 0, "10.0.0.1", 32), /* 0 */
		rule(g, 5000, 0, "10.0.0.2", 32), /* 1 */
		rule(g, 5000, 0, "10.1.0.0", 16), /* 2 */
		rule(g, 5000, 0, NULL, 0), /* 3: any other source */
		rule(g, 5000, 20, NULL, 0), /* 4: VLAN 20 */
		rule(g, 5001, 0, "10.0.0.1", 32), /* 5 */
	};
	struct mcr_match m;
	CHECK(mcr__match_build(&m, r, 6) == 0, "build");
	CHECK(find(&m, g, 5000, 0, "10.0.0.1") == 0, "exact source 1");
	CHECK(find(&m, g, 5000, 0, "10.0.0.2") == 1, "exact source 2");
	CHECK(find(&m, g, 5000, 0, "10.1.77.3") == 2, "prefix");
	CHECK(find(&m, g, 5000, 0, "10.2.0.1") == 3, "any source takes the rest");
	CHECK(find(&m, g, 5000, 20, "10.0.0.1") == 4, "VLAN 20 is its own rule");
	CHECK(find(&m, g, 5000, 21, "10.0.0.1") == -1, "VLAN 21: none");
	CHECK(find(&m, g, 5001, 0, "10.0.0.1") == 5, "other port");
	CHECK(find(&m, g, 5001, 0, "10.0.0.2") == -1, "other port, unnamed source: none");
	CHECK(find(&m, g + 1, 5000, 0, "10.0.0.1") == -1, "other group");
	mcr__match_free(&m);

	struct mcr_rule_entry dup[] = { r[0], r[0] };
	CHECK(mcr__match_build(&m, dup, 2) == -EINVAL, "a repeated key accepted");
	struct mcr_rule_entry host_bits = rule(g, 5000, 0, "10.1.0.1", 16);
	CHECK(mcr__match_build(&m, &host_bits, 1) == -EINVAL, "a prefix with host bits accepted");
	struct mcr_rule_entry vlan = rule(g, 5000, 4095, NULL, 0);
	CHECK(mcr__match_build(&m, &vlan, 1) == -EINVAL, "VLAN 4095 accepted");
}

/* 1,000 (S,G) rules: a lookup probes once per prefix length in use, whatever the table. */
static void test_match_many(void)
{
	enum { N = 1000 };
	struct mcr_rule_entry *r = calloc(N, sizeof(*r));
	for (uint32_t i = 0; i < N; i++) {
		char a[20];
		snprintf(a, sizeof(a), "10.9.%u.%u", i / 250, i % 250 + 1);
		r[i] = rule(0xe8000000u | (i % 7), 5000, 0, a, 32);
	}
	struct mcr_match m;
	CHECK(mcr__match_build(&m, r, N) == 0, "build 1000");
	CHECK(m.lens == 1ull << 32, "one prefix length in use: %llx", (unsigned long long)m.lens);
	int ok = 0;
	for (uint32_t i = 0; i < N; i++) {
		char a[20];
		snprintf(a, sizeof(a), "10.9.%u.%u", i / 250, i % 250 + 1);
		ok += find(&m, 0xe8000000u | (i % 7), 5000, 0, a) == (int)i;
	}
	CHECK(ok == N, "found %d of %d", ok, N);
	CHECK(find(&m, 0xe8000000u, 5000, 0, "10.9.0.2") == -1, "a source of another group");
	mcr__match_free(&m);
	free(r);
}

static void test_bucket(void)
{
	/* rate 2000/s, burst 200: a full bucket of 200, then 2 per millisecond. */
	struct mcr_bucket b = { 0 };
	int64_t t = 1000000000;
	int sent = 0;
	for (int i = 0; i < 1000; i++)
		sent += mcr__bucket_take(&b, t, 2000, 200);
	CHECK(sent == 200, "burst: %d", sent);
	/* 5,000 packets over one second, in batches of 5 each millisecond. */
	sent = 0;
	for (int ms = 1; ms <= 1000; ms++)
		for (int k = 0; k < 5; k++)
			sent += mcr__bucket_take(&b, t + ms * 1000000ll, 2000, 200);
	CHECK(sent == 2000, "one second at 2000/s: %d", sent);
	/* Idle for an hour: full again, not more. */
	sent = 0;
	for (int i = 0; i < 1000; i++)
		sent += mcr__bucket_take(&b, t + 3600ll * 1000000000, 2000, 200);
	CHECK(sent == 200, "after idling: %d", sent);
	/* A clock that does not move gives nothing back; 10M/s with burst 1 works in 64 bits. */
	struct mcr_bucket c = { 0 };
	CHECK(mcr__bucket_take(&c, t, 10000000, 1) == 1 &&
		      mcr__bucket_take(&c, t, 10000000, 1) == 0,
	      "burst 1");
	CHECK(mcr__bucket_take(&c, t + 100, 10000000, 1) == 1, "100 ns at 10M/s is one packet");
}

int main(void)
{
	test_match();
	test_match_many();
	test_bucket();
	if (failures)
		fprintf(stderr, "test_match: %d failures\n", failures);
	return failures ? 1 : 0;
}
