/* Two workers relaying the same datagrams (both read lo, no fanout, so each sees every one)
 * through an output with rate=1 burst=10: with the output's bucket shared (the same word in
 * memory both were given, mcr_worker_buckets_set) the two together pass exactly the burst; with a
 * bucket each, each passes its own. Everything else is counted as rate_limited. A table naming
 * a bucket past the region is refused, and the region cannot change under a table using it.
 * In a network namespace of its own. Exit 0 pass, 1 fail, 77 skip. */
#include "lab.h"
#include <arpa/inet.h>
#include "../mcr_shim.h"

#define V4(a)                                                                                      \
	{                                                                                          \
		[10] = 0xff, [11] = 0xff, [12] = (uint8_t)(a), [13] = (uint8_t)((a) >> 8),         \
		[14] = (uint8_t)((a) >> 16), [15] = (uint8_t)((a) >> 24)                           \
	}

#define P_IN 41201
#define N 40
#define BURST 10

static uint64_t mem[2][MCR_COUNTERS_LEN(2, 2)];
static uint64_t buckets[4 * MCR_BUCKET_WORDS];

/* Sends N datagrams to P_IN, a few at a time (lo's frames are 64 KiB: the rings hold few), lets
 * both workers take each few, and returns how many reached rx. */
static int send_and_count(struct mcr_worker *w[2], int tx, int rx, uint32_t localhost)
{
	struct sockaddr_in to = { .sin_family = AF_INET,
				  .sin_port = htons(P_IN),
				  .sin_addr.s_addr = localhost };
	int got = 0, v;
	for (int i = 0; i < N; i++) {
		sendto(tx, &i, sizeof(i), 0, (struct sockaddr *)&to, sizeof(to));
		if (i % 4 == 3)
			for (int k = 0; k < 3; k++)
				for (int j = 0; j < 2; j++)
					mcr_worker_poll(w[j], 2, 8);
		while (recv(rx, &v, sizeof(v), MSG_DONTWAIT) == sizeof(v))
			got++;
	}
	return got;
}

static uint64_t limited(int i)
{
	return mem[i][MCR_C_DROPS + MCR_DROP_RATE_LIMITED];
}

int main(void)
{
	int r = lab_enter_private_lo();
	CHECK(r == 0, "private lo: %d", r);
	struct mcr_worker *w[2] = { NULL, NULL };
	for (int i = 0; i < 2; i++) {
		r = mcr_worker_new(2, 2, 4 << 20, mem[i], &w[i]);
		if (r == -EPERM || r == -ENOSYS)
			return 77;
		CHECK(r == 0, "mcr_worker_new: %d", r);
	}
	if (!w[0] || !w[1])
		return 1;
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
					.rate = 1,
					.burst = BURST,
					.bucket = 2 }; /* buckets[1] */
	struct mcr_rule_entry rule = { .in_ifindex = (uint32_t)lo,
				       .group = V4(localhost),
				       .family = 4,
				       .source_len = 96,
				       .source = V4(0u),
				       .port = P_IN,
				       .n_outputs = 1 };

	/* No region yet: a table naming a bucket is refused; so is one past the region. */
	CHECK(mcr_worker_rules_set(w[0], &rule, 1, &out, 1) == -EINVAL, "bucket without a region");
	for (int i = 0; i < 2; i++)
		CHECK(mcr_worker_buckets_set(w[i], buckets, 4) == 0, "buckets_set");
	out.bucket = 5;
	CHECK(mcr_worker_rules_set(w[0], &rule, 1, &out, 1) == -EINVAL, "bucket past the region");
	out.bucket = 2;
	for (int i = 0; i < 2; i++) {
		CHECK(mcr_worker_rules_set(w[i], &rule, 1, &out, 1) == 0, "table %d", i);
		CHECK(mcr_worker_input_add(w[i], lo, -1) >= 0, "input on lo");
	}
	CHECK(mcr_worker_buckets_set(w[0], buckets, 2) == -EBUSY, "region swapped under its table");

	/* Shared: the two pass the burst between them, and at most what one second adds. */
	double t0 = lab_now_ms();
	int got = send_and_count(w, tx, rx, localhost);
	double t1 = lab_now_ms();
	int most = BURST + (int)((uint64_t)(t1 / 1000) - (uint64_t)(t0 / 1000));
	CHECK(got >= BURST && got <= most, "shared bucket: %d relayed (%d..%d)", got, BURST, most);
	CHECK((int)(limited(0) + limited(1)) == 2 * N - got, "rate_limited %llu + %llu, relayed %d",
	      (unsigned long long)limited(0), (unsigned long long)limited(1), got);
	CHECK(limited(0) > 0 && limited(1) > 0 &&
		      mem[0][MCR_C_TX_PACKETS] + mem[1][MCR_C_TX_PACKETS] == (uint64_t)got,
	      "both limited, sends %llu + %llu", (unsigned long long)mem[0][MCR_C_TX_PACKETS],
	      (unsigned long long)mem[1][MCR_C_TX_PACKETS]);
	CHECK(buckets[MCR_BUCKET_WORDS] != 0 && buckets[0] == 0 &&
		      buckets[2 * MCR_BUCKET_WORDS] == 0,
	      "only bucket 1 moved");

	/* A bucket each (bucket 0): each worker passes its own burst. */
	out.bucket = 0;
	for (int i = 0; i < 2; i++) {
		CHECK(mcr_worker_rules_set(w[i], &rule, 1, &out, 1) == 0, "own table %d", i);
		mem[i][MCR_C_DROPS + MCR_DROP_RATE_LIMITED] = 0;
	}
	t0 = lab_now_ms();
	got = send_and_count(w, tx, rx, localhost);
	t1 = lab_now_ms();
	most = 2 * (BURST + (int)((uint64_t)(t1 / 1000) - (uint64_t)(t0 / 1000)));
	CHECK(got >= 2 * BURST && got <= most, "own buckets: %d relayed (%d..%d)", got, 2 * BURST,
	      most);
	CHECK((int)(limited(0) + limited(1)) == 2 * N - got, "own: rate_limited %llu + %llu",
	      (unsigned long long)limited(0), (unsigned long long)limited(1));
	/* The region may change now that no table names it. */
	CHECK(mcr_worker_buckets_set(w[0], NULL, 0) == 0, "region dropped");

	for (int i = 0; i < 2; i++)
		mcr_worker_free(w[i]);
	close(rx);
	close(tx);
	if (failures)
		return 1;
	printf("test_bucket_workers: ok\n");
	return 0;
}
