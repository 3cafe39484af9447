/* The rate limit's shared bucket (bucket.c): exact arithmetic at chosen clocks; two processes
 * taking from one word in shared memory at once, at a frozen clock (their grants sum exactly to
 * what the bucket holds) and on the real clock (their grants within the exact bounds of rate x
 * time + burst); a taker that dies holding tokens; and a batch's lease, which takes once for
 * the frames ready and gives back what it did not use. Exit 0 pass, 1 fail. */
#include "lab.h" /* first: CHECK, and it defines _GNU_SOURCE */
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include "../internal.h"

#define SEC 1000000000ll

static uint64_t ticks(int64_t ns, uint64_t rate)
{
	return (uint64_t)((unsigned __int128)(uint64_t)ns * rate / SEC);
}

static uint32_t take_all(uint64_t *b, int64_t t, uint32_t rate, uint32_t burst)
{
	uint32_t n = 0;
	while (mcr__bucket_take(b, t, rate, burst, 1))
		n++;
	return n;
}

static void test_arithmetic(void)
{
	/* rate 2000/s, burst 200: a full bucket of 200, then 2 per millisecond. */
	uint64_t b = 0;
	int64_t t = SEC;
	CHECK(take_all(&b, t, 2000, 200) == 200, "burst");
	uint32_t sent = 0;
	for (int ms = 1; ms <= 1000; ms++)
		for (int k = 0; k < 5; k++)
			sent += mcr__bucket_take(&b, t + ms * 1000000ll, 2000, 200, 1);
	CHECK(sent == 2000, "one second at 2000/s, 5 asked a millisecond: %u", sent);
	/* Idle for an hour: full again, not more. */
	CHECK(take_all(&b, t + 3600 * SEC, 2000, 200) == 200, "after idling");
	/* Several at once: what is there, no more; nothing at a clock that did not move. */
	b = 0;
	CHECK(mcr__bucket_take(&b, t, 2000, 200, 150) == 150, "150 of 200");
	CHECK(mcr__bucket_take(&b, t, 2000, 200, 150) == 50, "the other 50");
	CHECK(mcr__bucket_take(&b, t, 2000, 200, 150) == 0, "none left");
	CHECK(mcr__bucket_take(&b, t + 10000000, 2000, 200, 150) == 20, "10 ms: 20");
	/* Given back, taken again; never below an empty word (a full bucket). */
	mcr__bucket_give(&b, 20);
	CHECK(mcr__bucket_take(&b, t + 10000000, 2000, 200, 150) == 20, "given back");
	uint64_t z = 5;
	mcr__bucket_give(&z, 9);
	CHECK(z == 0, "give below 0: %llu", (unsigned long long)z);
	/* A rate that does not divide a second: 3/s gives a token at each third of a second. */
	b = 0;
	CHECK(mcr__bucket_take(&b, 10 * SEC, 3, 1, 5) == 1, "3/s burst 1");
	CHECK(mcr__bucket_take(&b, 10 * SEC + 333333333, 3, 1, 5) == 0, "before the third");
	CHECK(mcr__bucket_take(&b, 10 * SEC + 333333334, 3, 1, 5) == 1, "at the third");
	/* 10M/s with burst 1 and 4e9/s with a burst of 4e9 stay in 64 bits. */
	b = 0;
	CHECK(mcr__bucket_take(&b, t, 10000000, 1, 1) == 1 &&
		      !mcr__bucket_take(&b, t, 10000000, 1, 1),
	      "burst 1");
	CHECK(mcr__bucket_take(&b, t + 100, 10000000, 1, 1) == 1, "100 ns at 10M/s is one packet");
	b = 0;
	int64_t year = 365ll * 86400 * SEC;
	CHECK(mcr__bucket_take(&b, year, 4000000000u, 4000000000u, 4000000000u) == 4000000000u,
	      "4e9 burst after a year's uptime");
	CHECK(mcr__bucket_take(&b, year + SEC / 4, 4000000000u, 4000000000u, 4000000000u) ==
		      1000000000u,
	      "a quarter second at 4e9/s");
}

/* What two processes share: the bucket, a barrier, and their results. */
struct shared {
	uint64_t bucket;
	pthread_barrier_t barrier;
	int64_t clock_ns; /* the frozen test's clock, set between barriers */
	uint64_t granted[2]; /* net: taken less given back */
	int64_t drain_ns[2];
	uint32_t started; /* the frozen test: takers that made their first take, over all rounds */
};

#define ROUNDS 400
#define RATE 1000000u
#define BURST 300u

/* Round r's clock: steps of 100 us (100 tokens) and, every fifth round, 5 ms (the burst, 300). */
static int64_t round_clock(int r)
{
	int64_t t = 7 * SEC;
	for (int i = 1; i <= r; i++)
		t += i % 5 ? 100000 : 5000000;
	return t;
}

static void frozen_taker(struct shared *s, int me)
{
	unsigned seed = 17u + (unsigned)me;
	for (int r = 0; r < ROUNDS; r++) {
		pthread_barrier_wait(&s->barrier); /* the clock is set */
		/* One token each before either drains the round: otherwise the first to wake from the
		 * barrier takes all 100 to 300 tokens in microseconds, and on a loaded machine the
		 * same process can win every round (CI once saw one take none in 400). */
		uint32_t first = mcr__bucket_take(&s->bucket, s->clock_ns, RATE, BURST, 1);
		s->granted[me] += first;
		__atomic_add_fetch(&s->started, 1, __ATOMIC_SEQ_CST);
		while (__atomic_load_n(&s->started, __ATOMIC_SEQ_CST) < 2u * (unsigned)(r + 1))
			sched_yield();
		for (;;) {
			uint32_t want = 1 + rand_r(&seed) % 16;
			uint32_t got = mcr__bucket_take(&s->bucket, s->clock_ns, RATE, BURST, want);
			/* A batch that used part of its lease: the rest goes back. */
			uint32_t back = got ? rand_r(&seed) % (got + 1) : 0;
			mcr__bucket_give(&s->bucket, back);
			s->granted[me] += got - back;
			if (got == 0)
				break;
		}
		pthread_barrier_wait(&s->barrier); /* both found it empty */
	}
}

static void real_taker(struct shared *s, int me, int64_t until_ns)
{
	unsigned seed = 29u + (unsigned)me;
	pthread_barrier_wait(&s->barrier);
	for (;;) {
		int64_t now = (int64_t)mcr__clock_ns(CLOCK_MONOTONIC);
		if (now >= until_ns)
			break;
		uint32_t want = 1 + rand_r(&seed) % 256;
		uint32_t got = mcr__bucket_take(&s->bucket, now, RATE, RATE, want);
		uint32_t back = got ? rand_r(&seed) % (got + 1) : 0;
		mcr__bucket_give(&s->bucket, back);
		s->granted[me] += got - back;
	}
	/* Last, all that is there: the word is then at this clock's limit. */
	int64_t now = (int64_t)mcr__clock_ns(CLOCK_MONOTONIC);
	s->granted[me] += mcr__bucket_take(&s->bucket, now, RATE, RATE, UINT32_MAX);
	s->drain_ns[me] = now;
}

static pid_t fork_taker(void (*body)(struct shared *, int), struct shared *s, int me)
{
	pid_t p = fork();
	if (p == 0) {
		body(s, me);
		_exit(0);
	}
	return p;
}

static int reap(pid_t p)
{
	int st;
	return waitpid(p, &st, 0) == p && WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

static struct shared *shared_new(void)
{
	struct shared *s =
		mmap(NULL, sizeof(*s), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (s == MAP_FAILED)
		return NULL;
	memset(s, 0, sizeof(*s));
	pthread_barrierattr_t a;
	pthread_barrierattr_init(&a);
	pthread_barrierattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
	pthread_barrier_init(&s->barrier, &a, 3);
	return s;
}

static void child_frozen(struct shared *s, int me)
{
	frozen_taker(s, me);
}

/* Two processes, each taking and giving back at random until the bucket is dry, round after
 * round of a clock that moves only between rounds: together they get exactly what the bucket
 * holds each round, no token twice and none lost to a race. */
static void test_two_processes_frozen(void)
{
	struct shared *s = shared_new();
	CHECK(s, "mmap");
	if (!s)
		return;
	pid_t p[2];
	s->clock_ns = round_clock(0);
	for (int i = 0; i < 2; i++)
		p[i] = fork_taker(child_frozen, s, i);
	uint64_t want = 0;
	int bad = 0;
	for (int r = 0; r < ROUNDS; r++) {
		s->clock_ns = round_clock(r);
		uint64_t due =
			r == 0 ? BURST
			       : ticks(round_clock(r), RATE) - ticks(round_clock(r - 1), RATE);
		want += due < BURST ? due : BURST;
		pthread_barrier_wait(&s->barrier);
		pthread_barrier_wait(&s->barrier);
		/* Each stops at a take that found nothing, after its last give: the bucket is empty. */
		uint64_t got = s->granted[0] + s->granted[1];
		if (got != want && bad++ < 5)
			CHECK(0, "round %d: granted %llu in all, the bucket held %llu", r,
			      (unsigned long long)got, (unsigned long long)want);
	}
	CHECK(reap(p[0]) && reap(p[1]), "takers exited");
	CHECK(s->granted[0] + s->granted[1] == want, "granted %llu, held %llu",
	      (unsigned long long)(s->granted[0] + s->granted[1]), (unsigned long long)want);
	CHECK(s->granted[0] > 0 && s->granted[1] > 0, "both took: %llu, %llu",
	      (unsigned long long)s->granted[0], (unsigned long long)s->granted[1]);
	munmap(s, sizeof(*s));
}

static int64_t real_until;
static void child_real(struct shared *s, int me)
{
	real_taker(s, me, real_until);
}

/* Two processes on the real clock for 300 ms, taking a stock of three quarters of the burst
 * (a second's worth) and then what the clock brings: what they got together is exactly what
 * moved the word, and so within exact bounds from the clocks they drained at.
 *
 * The bucket does not start full (a word of 0): a full bucket's word is at the clock, and a
 * stall of a few microseconds between the first takes, before the takers have run it ahead,
 * loses tokens to the full bucket (CI once saw 24 fewer than the bound). A stock keeps the word
 * 750 ms ahead of the clock from the start, so that no stall short of 450 ms loses one. */
static void test_two_processes_clock(void)
{
	struct shared *s = shared_new();
	CHECK(s, "mmap");
	if (!s)
		return;
	int64_t start = (int64_t)mcr__clock_ns(CLOCK_MONOTONIC);
	uint64_t stock = RATE / 4 * 3;
	s->bucket = ticks(start, RATE) + RATE - stock;
	uint64_t w0 = s->bucket;
	real_until = start + 300000000;
	pid_t p[2];
	for (int i = 0; i < 2; i++)
		p[i] = fork_taker(child_real, s, i);
	pthread_barrier_wait(&s->barrier);
	CHECK(reap(p[0]) && reap(p[1]), "takers exited");
	uint64_t got = s->granted[0] + s->granted[1];
	int64_t drain_min = s->drain_ns[0] < s->drain_ns[1] ? s->drain_ns[0] : s->drain_ns[1];
	int64_t drain_max = s->drain_ns[0] > s->drain_ns[1] ? s->drain_ns[0] : s->drain_ns[1];
	/* The word moved by what was granted, and ends at the limit of a drain's clock: the last
	 * drain's at least, and no take's limit is past the later drain's clock. */
	CHECK(s->bucket - w0 == got, "word moved %llu, granted %llu",
	      (unsigned long long)(s->bucket - w0), (unsigned long long)got);
	uint64_t most = ticks(drain_max, RATE) + RATE - w0;
	uint64_t least = ticks(drain_min, RATE) + RATE - w0;
	CHECK(got <= most, "granted %llu > %llu", (unsigned long long)got,
	      (unsigned long long)most);
	CHECK(got >= least, "granted %llu < %llu", (unsigned long long)got,
	      (unsigned long long)least);
	CHECK(got > stock, "granted %llu, no more than the stock", (unsigned long long)got);
	CHECK(s->granted[0] > 0 && s->granted[1] > 0, "both took");
	printf("two processes, 300 ms at %u/s from a stock of %llu: granted %llu (bounds "
	       "%llu..%llu), split %llu/%llu\n",
	       RATE, (unsigned long long)stock, (unsigned long long)got, (unsigned long long)least,
	       (unsigned long long)most, (unsigned long long)s->granted[0],
	       (unsigned long long)s->granted[1]);
	munmap(s, sizeof(*s));
}

/* A taker killed with tokens in hand: they are gone, the bucket is not stuck; the clock brings
 * the burst back. */
static void test_taker_dies(void)
{
	uint64_t *b = mmap(NULL, 8, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	CHECK(b != MAP_FAILED, "mmap");
	if (b == MAP_FAILED)
		return;
	*b = 0;
	int64_t t = 50 * SEC;
	pid_t p = fork();
	if (p == 0) {
		mcr__bucket_take(b, t, 2000, 200, 120);
		raise(SIGKILL); /* before its batch ends: nothing given back */
		_exit(0);
	}
	int st;
	waitpid(p, &st, 0);
	CHECK(WIFSIGNALED(st), "child killed");
	CHECK(take_all(b, t, 2000, 200) == 80, "what the dead one did not take");
	CHECK(take_all(b, t + 100000000, 2000, 200) == 200, "full again 100 ms later");
	munmap(b, 8);
}

/* A batch's lease on a ring of ready frames: one take for the frames ready, one token per
 * packet, the rest back at the end; a bucket that ran dry is not asked again in that batch. */
static void test_lease(void)
{
	enum { FRAME = 256, NR = 16 };
	uint8_t *map = calloc(NR, FRAME);
	CHECK(map, "calloc");
	if (!map)
		return;
	struct mcr_rx rx = {
		.fd = -1, .map = map, .frame_size = FRAME, .frame_nr = NR, .head = 12
	};
	for (uint32_t i = 0; i < 10; i++) /* frames 12..15 and 0..5 ready, wrapping */
		mcr__rx_frame(&rx, (12 + i) % NR)->tp_status = TP_STATUS_USER;
	CHECK(mcr__rx_ready(&rx, 64) == 10 && mcr__rx_ready(&rx, 4) == 4, "ready frames");
	uint64_t word = 0;
	struct mcr_lease a, c, *held = NULL;
	mcr__lease_init(&a, &word, 2000, 200);
	mcr__lease_init(&c, &word, 2000, 200);
	int64_t t = 9 * SEC;
	int passed = 0;
	for (int i = 0; i < 3; i++)
		passed += mcr__lease_pass(&a, &held, t, &rx, 64);
	CHECK(passed == 3 && a.left == 7 && word == ticks(t, 2000) + 10, "one take of 10, 3 used");
	CHECK(held == &a, "listed once");
	mcr__leases_settle(&held);
	CHECK(word == ticks(t, 2000) + 3 && held == NULL && a.left == 0, "7 given back");
	/* c empties the bucket (197 left); a, in the next batch, finds it dry once and stops asking. */
	CHECK(mcr__bucket_take(&word, t, 2000, 200, 999) == 197, "the rest");
	CHECK(!mcr__lease_pass(&a, &held, t, &rx, 64) && a.dry, "dry");
	mcr__bucket_give(&word, 1); /* another worker's leftover, after a looked */
	CHECK(!mcr__lease_pass(&a, &held, t, &rx, 64), "not asked again in the batch");
	mcr__leases_settle(&held);
	CHECK(mcr__lease_pass(&c, &held, t, &rx, 64) && c.left == 0, "the next batch gets it");
	mcr__leases_settle(&held);
	/* An output without a shared word has its own, full. */
	struct mcr_lease own;
	mcr__lease_init(&own, NULL, 2000, 2);
	CHECK(mcr__lease_pass(&own, &held, t, &rx, 64) && own.left == 1 &&
		      own.own == ticks(t, 2000) + 2,
	      "own bucket");
	mcr__leases_settle(&held);
	CHECK(own.own == ticks(t, 2000) + 1, "own settled");
	free(map);
}

int main(void)
{
	test_arithmetic();
	test_two_processes_frozen();
	test_two_processes_clock();
	test_taker_dies();
	test_lease();
	if (failures)
		return 1;
	printf("test_bucket: ok\n");
	return 0;
}
