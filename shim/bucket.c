/* SPDX-License-Identifier: MIT */
/* An output's rate limit, shared by every worker that sends on it.
 *
 * The bucket is one 64-bit word that all workers of a supervisor map (mcr_worker_buckets_set):
 * the theoretical arrival time of the next packet (GCRA, ITU-T I.371), counted in ticks of
 * 1/rate second since the monotonic clock's origin. A packet may go at tick `now` while the word
 * stays at most `now + burst`; a word at or below `now` is a full bucket, so a word of 0 (a new
 * output) starts full. Taking k tokens moves the word by k with one compare-and-swap: no lock,
 * so a worker that dies anywhere leaves a valid word behind, never a held one. Tokens it had
 * taken and not used are lost, at most one batch's worth, and the clock brings them back.
 *
 * Ticks keep the arithmetic exact: over any span of the clock from t0 to t1 the bucket grants at
 * most floor(t1 x rate) - floor(t0 x rate) + burst tokens (t in seconds), whoever takes them. */
#include "internal.h"

static inline uint64_t ticks(int64_t now_ns, uint32_t rate)
{
	/* 64 bits hold 146 years of ticks at 4e9 per second; the product needs 128. */
	return (uint64_t)((unsigned __int128)(uint64_t)now_ns * rate / 1000000000u);
}

uint32_t mcr__bucket_take(uint64_t *bucket, int64_t now_ns, uint32_t rate, uint32_t burst,
			  uint32_t want)
{
	uint64_t now = ticks(now_ns, rate), limit = now + burst;
	uint64_t old = __atomic_load_n(bucket, __ATOMIC_RELAXED);
	for (;;) {
		/* A word behind the clock is a full bucket: what it would hold past burst is gone. */
		uint64_t base = old > now ? old : now;
		uint64_t avail = limit > base ? limit - base : 0;
		uint32_t got = avail < want ? (uint32_t)avail : want;
		if (got == 0)
			return 0;
		if (__atomic_compare_exchange_n(bucket, &old, base + got, 1, __ATOMIC_RELAXED,
						__ATOMIC_RELAXED))
			return got;
	}
}

void mcr__bucket_give(uint64_t *bucket, uint32_t n)
{
	uint64_t old = __atomic_load_n(bucket, __ATOMIC_RELAXED);
	/* Never below 0: a word the supervisor reset under a late worker stays a full bucket. */
	while (n && !__atomic_compare_exchange_n(bucket, &old, old > n ? old - n : 0, 1,
						 __ATOMIC_RELAXED, __ATOMIC_RELAXED))
		;
}

void mcr__lease_init(struct mcr_lease *l, uint64_t *shared, uint32_t rate, uint32_t burst)
{
	*l = (struct mcr_lease){ .rate = rate, .burst = burst };
	l->bucket = shared ? shared : &l->own;
}

uint32_t mcr__lease_refill(struct mcr_lease *l, struct mcr_lease **held, int64_t now_ns,
			   uint32_t want)
{
	if (!l->listed) {
		l->listed = 1;
		l->next = *held;
		*held = l;
	}
	l->left = mcr__bucket_take(l->bucket, now_ns, l->rate, l->burst, want);
	/* Fewer than asked: the bucket is empty at this clock, and stays so for the batch. */
	l->dry = l->left < want;
	return l->left;
}

void mcr__leases_settle(struct mcr_lease **held)
{
	for (struct mcr_lease *l = *held, *next; l; l = next) {
		next = l->next;
		if (l->left)
			mcr__bucket_give(l->bucket, l->left);
		l->left = 0;
		l->dry = 0;
		l->listed = 0;
		l->next = NULL;
	}
	*held = NULL;
}
