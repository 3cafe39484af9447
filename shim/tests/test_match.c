/* The rule lookup (match.c): pure functions, no sockets (test_bucket.c has the rate limit's).
 * Exit 0 pass, 1 fail. */
#include "lab.h" /* first: CHECK, and it defines _GNU_SOURCE */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include "../internal.h"

static struct mcr_rule_entry rule(uint32_t group, uint16_t port, uint16_t vlan, const char *src,
				  uint8_t len)
{
	struct mcr_rule_entry e = { .in_ifindex = 3, .port = port, .family = 4 };
	uint32_t g = htonl(group), a = src ? inet_addr(src) : 0;
	mcr__addr_v4(e.group, (const uint8_t *)&g);
	mcr__addr_v4(e.source, (const uint8_t *)&a);
	e.vlan = vlan;
	e.source_len = (uint8_t)(96 + len); /* IPv4-mapped */
	return e;
}

static int find(const struct mcr_match *m, uint32_t group, uint16_t port, uint16_t vlan,
		const char *src)
{
	uint8_t g16[16], s16[16];
	uint32_t g = htonl(group), a = inet_addr(src);
	mcr__addr_v4(g16, (const uint8_t *)&g);
	mcr__addr_v4(s16, (const uint8_t *)&a);
	return mcr__match_find(m, 3, g16, port, vlan, s16, 4);
}

/* IPv6 rules: a /128, a /48 and any, longest first; beside an IPv4 rule of the same port. */
static void test_match_v6(void)
{
	struct mcr_rule_entry r[4] = { 0 };
	static const uint8_t grp[16] = { 0xff, 0x3e, [14] = 1, [15] = 1 };
	static const uint8_t host[16] = { 0x20, 0x01, 0x0d, 0xb8, 0, 1, [15] = 5 };
	for (int i = 0; i < 3; i++) {
		r[i] = (struct mcr_rule_entry){ .in_ifindex = 3, .port = 5001, .family = 6 };
		memcpy(r[i].group, grp, 16);
	}
	memcpy(r[0].source, host, 16), r[0].source_len = 128;
	memcpy(r[1].source, host, 6), r[1].source_len = 48;
	r[3] = rule(0xef010101u, 5001, 0, NULL, 0);
	struct mcr_match m;
	CHECK(mcr__match_build(&m, r, 4) == 0, "build v6");
	uint8_t s[16];
	memcpy(s, host, 16);
	CHECK(mcr__match_find(&m, 3, grp, 5001, 0, s, 6) == 0, "v6 exact source");
	s[15] = 6;
	CHECK(mcr__match_find(&m, 3, grp, 5001, 0, s, 6) == 1, "v6 /48");
	s[5] = 2;
	CHECK(mcr__match_find(&m, 3, grp, 5001, 0, s, 6) == 2, "v6 any");
	CHECK(mcr__match_find(&m, 3, grp, 5002, 0, s, 6) == -1, "v6 other port");
	CHECK(find(&m, 0xef010101u, 5001, 0, "10.0.0.1") == 3, "the IPv4 rule beside");
	mcr__match_free(&m);
	/* A v6 group marked family 4, or a v4 source prefix under /96: refused. */
	r[2].family = 4;
	CHECK(mcr__match_build(&m, r, 3) == -EINVAL, "family not the group's");
	r[2].family = 6;
	r[3].source_len = 95;
	CHECK(mcr__match_build(&m, r + 3, 1) == -EINVAL, "IPv4 prefix under the mapped /96");
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
	CHECK(m.lens[0][2] == 1ull << (128 - 128) && m.lens[0][0] == 0 && m.lens[0][1] == 0 &&
		      m.lens[1][0] == 0,
	      "one prefix length in use: %llx", (unsigned long long)m.lens[0][2]);
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

int main(void)
{
	test_match();
	test_match_many();
	test_match_v6();
	if (failures)
		fprintf(stderr, "test_match: %d failures\n", failures);
	return failures ? 1 : 0;
}
