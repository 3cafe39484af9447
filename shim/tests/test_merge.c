/* The merge engine with a fake clock: every sequence number that some leg brings goes out once,
 * in sequence order (the 16-bit wrap, holes filled by another leg, holes given up after the
 * window or once every leg has gone past them, late and duplicate copies counted), SSRC changes
 * and jumps taken up without a hole, and failover with its revert. No sockets. Exit 0 pass, 1 fail. */
#include "lab.h"
#include <stdint.h>
#include <stdlib.h>
#include "../merge.h"

#define MS 1000000ll
#define OUT_MAX 200000

static uint64_t ctr[MCR_MERGE_COUNTERS];
static int32_t out[OUT_MAX]; /* the sequence numbers sent, in order */
static uint8_t out_leg[OUT_MAX];
static int n_out;
static uint64_t epoch = 1;
static int bad_bytes;

static uint64_t leg(unsigned l, int which)
{
	return ctr[MCR_MC__RULE + l * MCR_ML__COUNT + which];
}

static void payload(uint8_t p[64], uint32_t ssrc, uint16_t seq, unsigned l)
{
	memset(p, 0, 64);
	p[0] = 0x80;
	p[1] = 96;
	p[2] = (uint8_t)(seq >> 8);
	p[3] = (uint8_t)seq;
	p[8] = (uint8_t)(ssrc >> 24);
	p[9] = (uint8_t)(ssrc >> 16);
	p[10] = (uint8_t)(ssrc >> 8);
	p[11] = (uint8_t)ssrc;
	p[12] = (uint8_t)l; /* which leg's copy: the bytes that go out say so */
	for (int i = 13; i < 64; i++)
		p[i] = (uint8_t)(seq * 7 + i);
}

static void sent(const uint8_t *p, uint32_t len)
{
	if (n_out >= OUT_MAX)
		return;
	uint8_t want[64];
	uint16_t seq = (uint16_t)(p[2] << 8 | p[3]);
	uint32_t ssrc = (uint32_t)p[8] << 24 | (uint32_t)p[9] << 16 | (uint32_t)p[10] << 8 | p[11];
	payload(want, ssrc, seq, p[12]);
	if (len != 64 || memcmp(p, want, 64) != 0)
		bad_bytes++;
	out_leg[n_out] = p[12];
	out[n_out++] = seq;
}

static void drain(struct mcr_merge *m, int64_t now)
{
	const struct mcr_merge_slot *s;
	while ((s = mcr__merge_pop(m, now, epoch)))
		sent(s->data, s->len);
}

/* What the worker does with one frame of a leg. */
static int feed(struct mcr_merge *m, unsigned l, uint32_t ssrc, uint16_t seq, int64_t now)
{
	uint8_t p[64];
	payload(p, ssrc, seq, l);
	struct mcr_merge_meta meta = { 0 };
	for (;;) {
		int a = mcr__merge_in(m, l, p, sizeof(p), &meta, now, epoch);
		if (a == MCR_MERGE_BUSY) {
			epoch++; /* the worker's flush */
			continue;
		}
		if (a == MCR_MERGE_DRAIN) {
			drain(m, now);
			continue;
		}
		if (a == MCR_MERGE_SEND)
			sent(p, sizeof(p));
		/* A duplicate too: it may take the last leg past a hole. */
		if (a == MCR_MERGE_SEND || a == MCR_MERGE_HELD || a == MCR_MERGE_DUP)
			drain(m, now);
		return a;
	}
}

static void tick(struct mcr_merge *m, int64_t now)
{
	while (mcr__merge_expire(m, now))
		drain(m, now);
}

static struct mcr_merge *fresh(uint8_t mode, uint32_t window_ms, uint32_t window_packets,
			       uint32_t failover_ms, uint32_t revert_ms)
{
	memset(ctr, 0, sizeof(ctr));
	n_out = 0;
	bad_bytes = 0;
	struct mcr_merge_entry e = { .mode = mode,
				     .n_legs = 2,
				     .window_ms = window_ms,
				     .window_packets = window_packets,
				     .failover_ms = failover_ms,
				     .revert_ms = revert_ms };
	struct mcr_merge *m = NULL;
	int r = mcr__merge_new(&e, ctr, &m);
	CHECK(r == 0, "merge_new: %d", r);
	if (r != 0)
		exit(1);
	return m;
}

/* out[] is first, first+1, ... (mod 2^16), n of them. */
static int in_order(uint16_t first, int n)
{
	if (n_out != n)
		return 0;
	for (int i = 0; i < n; i++)
		if (out[i] != (uint16_t)(first + i))
			return 0;
	return 1;
}

/* Two legs with independent random loss, one of them later by `lag` packets: every sequence
 * present on a leg goes out once, in order; the lost count is exactly the sequences both lost. */
static void random_loss(int lag, uint16_t first, int n)
{
	struct mcr_merge *m = fresh(MCR_MERGE_RTP, 50, 0, 0, 0);
	srand(7);
	uint8_t *keep0 = malloc((size_t)n), *keep1 = malloc((size_t)n);
	int both = 0, some = 0;
	for (int i = 0; i < n; i++) {
		keep0[i] = rand() % 100 >= 5;
		keep1[i] = rand() % 100 >= 5;
		both += !keep0[i] && !keep1[i];
	}
	/* The stream starts with a packet both legs have, as a receiver would see it. */
	keep0[0] = 1;
	int last = n - 1;
	while (!keep0[last] && !keep1[last])
		last--;
	/* One packet every 0.1 ms on each leg. */
	for (int t = 0; t < n + lag; t++) {
		int64_t now = (int64_t)t * MS / 10;
		if (t < n && keep0[t])
			feed(m, 0, 0x1234, (uint16_t)(first + t), now);
		if (t >= lag && keep1[t - lag])
			feed(m, 1, 0x1234, (uint16_t)(first + t - lag), now);
		tick(m, now);
	}
	tick(m, (int64_t)(n + lag) * MS / 10 + 100 * MS);
	for (int i = 0; i < n; i++)
		some += keep0[i] || keep1[i];
	CHECK(n_out == some, "lag %d: %d out, %d present on some leg", lag, n_out, some);
	int k = 0, ordered = 1;
	for (int i = 0; i < n && k < n_out; i++)
		if (keep0[i] || keep1[i])
			ordered &= out[k++] == (uint16_t)(first + i);
	CHECK(ordered, "lag %d: not in sequence order", lag);
	CHECK(bad_bytes == 0, "lag %d: %d payloads not as sent", lag, bad_bytes);
	/* Holes after the last packet present are not holes yet. */
	int lost_inside = 0;
	for (int i = 0; i <= last; i++)
		lost_inside += !keep0[i] && !keep1[i];
	CHECK(ctr[MCR_MC_LOST] == (uint64_t)lost_inside, "lag %d: lost %lu, want %d", lag,
	      (unsigned long)ctr[MCR_MC_LOST], lost_inside);
	CHECK(ctr[MCR_MC_OUT] == (uint64_t)some, "lag %d: out counter", lag);
	CHECK(leg(0, MCR_ML_UNIQUE) + leg(1, MCR_ML_UNIQUE) == (uint64_t)some,
	      "lag %d: unique contributions", lag);
	CHECK(leg(0, MCR_ML_LATE) + leg(1, MCR_ML_LATE) == 0, "lag %d: late %lu", lag,
	      (unsigned long)(leg(0, MCR_ML_LATE) + leg(1, MCR_ML_LATE)));
	int kept0 = 0, kept1 = 0;
	for (int i = 0; i < n; i++)
		kept0 += keep0[i], kept1 += keep1[i];
	CHECK(leg(0, MCR_ML_PACKETS) == (uint64_t)kept0 &&
		      leg(1, MCR_ML_PACKETS) == (uint64_t)kept1,
	      "lag %d: packets per leg", lag);
	CHECK(leg(0, MCR_ML_DUPLICATES) + leg(1, MCR_ML_DUPLICATES) ==
		      (uint64_t)(kept0 + kept1 - some),
	      "lag %d: duplicates", lag);
	CHECK(ctr[MCR_MC_HELD] == 0, "lag %d: still held %lu", lag,
	      (unsigned long)ctr[MCR_MC_HELD]);
	(void)both;
	free(keep0);
	free(keep1);
	mcr__merge_free(m);
}

static void wrap(void)
{
	struct mcr_merge *m = fresh(MCR_MERGE_RTP, 50, 0, 0, 0);
	/* Leg 0 loses 65535 and 1; leg 1 brings them later. */
	for (int i = 0; i < 12; i++) {
		uint16_t seq = (uint16_t)(65530 + i);
		if (seq != 65535 && seq != 1)
			feed(m, 0, 9, seq, i * MS);
	}
	for (int i = 0; i < 12; i++)
		feed(m, 1, 9, (uint16_t)(65530 + i), (12 + i) * MS);
	CHECK(in_order(65530, 12), "wrap: %d out", n_out);
	CHECK(ctr[MCR_MC_LOST] == 0 && bad_bytes == 0, "wrap: lost or bytes");
	CHECK(leg(1, MCR_ML_UNIQUE) == 2 && leg(1, MCR_ML_DUPLICATES) == 10, "wrap: leg 1 counts");
	CHECK(leg(0, MCR_ML_GAPS) == 2 && leg(1, MCR_ML_GAPS) == 0, "wrap: gaps %lu",
	      (unsigned long)leg(0, MCR_ML_GAPS));
	mcr__merge_free(m);
}

static void hold_and_expire(void)
{
	struct mcr_merge *m = fresh(MCR_MERGE_RTP, 50, 0, 0, 0);
	feed(m, 0, 5, 1, 0);
	feed(m, 0, 5, 2, 1 * MS);
	CHECK(feed(m, 0, 5, 4, 2 * MS) == MCR_MERGE_HELD, "4 is held behind the hole at 3");
	CHECK(feed(m, 0, 5, 5, 3 * MS) == MCR_MERGE_HELD, "5 too");
	CHECK(n_out == 2 && ctr[MCR_MC_HELD] == 2, "two out, two held");
	CHECK(mcr__merge_deadline(m) == 52 * MS, "deadline %ld", (long)mcr__merge_deadline(m));
	tick(m, 51 * MS);
	CHECK(n_out == 2, "nothing given up before the window");
	tick(m, 52 * MS);
	CHECK(n_out == 4 && out[2] == 4 && out[3] == 5, "after the window: 4 and 5");
	CHECK(ctr[MCR_MC_LOST] == 1 && ctr[MCR_MC_HELD] == 0, "3 lost on every leg");
	CHECK(mcr__merge_deadline(m) == INT64_MAX, "nothing held, no deadline");
	CHECK(feed(m, 1, 5, 3, 60 * MS) == MCR_MERGE_LATE, "3 after its hole was given up: late");
	CHECK(feed(m, 1, 5, 4, 61 * MS) == MCR_MERGE_LATE,
	      "4 again, 59 ms after its first copy: late");
	/* A copy that waited and then went out is a duplicate within the window of its arrival. */
	CHECK(feed(m, 0, 5, 7, 70 * MS) == MCR_MERGE_HELD, "7 held behind 6");
	CHECK(feed(m, 1, 5, 6, 80 * MS) == MCR_MERGE_SEND && n_out == 6, "6 from leg 1, then 7");
	CHECK(feed(m, 1, 5, 7, 119 * MS) == MCR_MERGE_DUP,
	      "7 again, 49 ms after it came: duplicate");
	CHECK(feed(m, 0, 5, 6, 131 * MS) == MCR_MERGE_LATE, "6 again 51 ms after it came: late");
	CHECK(leg(1, MCR_ML_LATE) == 2 && leg(1, MCR_ML_DUPLICATES) == 1, "leg 1: 2 late, 1 dup");
	mcr__merge_free(m);
}

/* A hole every leg has gone past goes at once, not after the window: what waits behind it goes
 * on without a stall. A leg never heard from, or behind the hole, is waited for; a leg silent
 * for the window is not. */
static void passed_hole(void)
{
	struct mcr_merge *m = fresh(MCR_MERGE_RTP, 50, 0, 0, 0);
	feed(m, 0, 5, 1, 0);
	CHECK(feed(m, 0, 5, 3, 1 * MS) == MCR_MERGE_HELD && n_out == 1,
	      "3 held: leg 1, never heard from, may bring 2");
	CHECK(feed(m, 1, 5, 1, 2 * MS) == MCR_MERGE_DUP && n_out == 1 && ctr[MCR_MC_HELD] == 1,
	      "leg 1 behind the hole: 3 still held");
	CHECK(feed(m, 1, 5, 3, 3 * MS) == MCR_MERGE_DUP, "leg 1's 3: a copy of the held one");
	CHECK(n_out == 2 && out[1] == 3 && ctr[MCR_MC_LOST] == 1 && ctr[MCR_MC_HELD] == 0,
	      "both legs past 2: given up at 3 ms, 3 out (%d out, lost %lu)", n_out,
	      (unsigned long)ctr[MCR_MC_LOST]);
	CHECK(feed(m, 1, 5, 2, 4 * MS) == MCR_MERGE_LATE, "2 after that: late");
	CHECK(feed(m, 0, 5, 4, 5 * MS) == MCR_MERGE_SEND && n_out == 3, "4 at once");
	/* Leg 1 silent since 4 ms; leg 0 loses 5. */
	CHECK(feed(m, 0, 5, 6, 30 * MS) == MCR_MERGE_HELD && n_out == 3,
	      "6 held: leg 1, silent 26 ms, may still bring 5");
	CHECK(feed(m, 0, 5, 7, 54 * MS) == MCR_MERGE_HELD && n_out == 5 && out[3] == 6 &&
		      out[4] == 7 && ctr[MCR_MC_LOST] == 2,
	      "leg 1 silent for the window: not waited for, 5 given up (%d out)", n_out);
	CHECK(mcr__merge_deadline(m) == INT64_MAX, "nothing held");
	mcr__merge_free(m);
}

static void ssrc_change(void)
{
	struct mcr_merge *m = fresh(MCR_MERGE_RTP, 50, 0, 0, 0);
	/* Leg 0 loses 108 of the old stream, which no leg brings: the held 109 goes, the hole
	 * given up, before the new stream's first packet. */
	for (int i = 0; i < 10; i++)
		if (i != 8)
			feed(m, 0, 0xaaaa, (uint16_t)(100 + i), i * MS);
	CHECK(n_out == 8 && ctr[MCR_MC_HELD] == 1, "109 held behind 108");
	for (int i = 0; i < 5; i++)
		feed(m, 0, 0xbbbb, (uint16_t)(40000 + i), (10 + i) * MS);
	CHECK(n_out == 14, "old stream's rest, then the new stream: %d", n_out);
	CHECK(out[8] == 109 && out[9] == 40000 && out[13] == 40004, "in that order");
	CHECK(ctr[MCR_MC_RESTARTS] == 1 && ctr[MCR_MC_LOST] == 1, "one restart, 108 lost");
	/* The old stream still on a lagging leg: late, never a restart back. */
	CHECK(feed(m, 1, 0xaaaa, 105, 16 * MS) == MCR_MERGE_LATE, "old SSRC later: late");
	CHECK(feed(m, 1, 0xbbbb, 40003, 17 * MS) == MCR_MERGE_DUP, "new SSRC on leg 1: dup");
	CHECK(feed(m, 1, 0xbbbb, 40005, 18 * MS) == MCR_MERGE_SEND, "and on");
	CHECK(ctr[MCR_MC_RESTARTS] == 1 && ctr[MCR_MC_LOST] == 1, "still one restart");
	mcr__merge_free(m);
}

static void jump(void)
{
	struct mcr_merge *m = fresh(MCR_MERGE_RTP, 50, 0, 0, 0);
	for (int i = 0; i < 10; i++) {
		feed(m, 0, 7, (uint16_t)(1000 + i), i * MS);
		feed(m, 1, 7, (uint16_t)(1000 + i), i * MS);
	}
	/* Both legs jump by 20000 (same SSRC): leg 0 first, then leg 1 with the same packets. */
	CHECK(feed(m, 0, 7, 21000, 10 * MS) == MCR_MERGE_LATE, "one leg alone beyond: not yet");
	CHECK(feed(m, 1, 7, 21000, 10 * MS) == MCR_MERGE_SEND, "both legs there: taken up");
	for (int i = 1; i < 10; i++) {
		feed(m, 0, 7, (uint16_t)(21000 + i), (10 + i) * MS);
		feed(m, 1, 7, (uint16_t)(21000 + i), (10 + i) * MS);
	}
	CHECK(n_out == 20 && out[10] == 21000 && out[19] == 21009, "no hole: %d out", n_out);
	CHECK(ctr[MCR_MC_LOST] == 0 && ctr[MCR_MC_RESTARTS] == 1, "no loss, one restart");
	/* One leg lagging far behind (beyond the window) while the other is in it: late only. */
	for (int i = 0; i < 300; i++)
		feed(m, 1, 7, (uint16_t)(17000 + i), (20 + i) * MS / 100);
	CHECK(ctr[MCR_MC_RESTARTS] == 1 && n_out == 20, "a lagging leg never restarts it");
	/* A single live leg that jumps: the second packet in sequence confirms it. */
	struct mcr_merge *s = fresh(MCR_MERGE_RTP, 50, 0, 0, 0);
	mcr__merge_free(m);
	for (int i = 0; i < 5; i++)
		feed(s, 0, 7, (uint16_t)(10 + i), i * MS);
	CHECK(feed(s, 0, 7, 30000, 5 * MS) == MCR_MERGE_LATE, "a stray far packet: late");
	CHECK(feed(s, 0, 7, 30001, 6 * MS) == MCR_MERGE_SEND, "confirmed: taken up");
	CHECK(feed(s, 0, 7, 30002, 7 * MS) == MCR_MERGE_SEND, "and on");
	mcr__merge_free(s);
}

static void window_packets(void)
{
	struct mcr_merge *m = fresh(MCR_MERGE_RTP, 0, 8, 0, 0);
	feed(m, 0, 3, 0, 0);
	for (int i = 2; i < 9; i++)
		CHECK(feed(m, 0, 3, (uint16_t)i, 0) == MCR_MERGE_HELD, "%d held", i);
	CHECK(n_out == 1, "1 missing: 2..8 held");
	feed(m, 0, 3, 9, 0); /* 8 ahead of the hole: given up */
	CHECK(in_order(0, 1) == 0 && n_out == 9 && out[1] == 2 && out[8] == 9, "%d out", n_out);
	CHECK(ctr[MCR_MC_LOST] == 1, "1 lost");
	CHECK(feed(m, 1, 3, 5, 0) == MCR_MERGE_DUP, "5 within 8: duplicate");
	for (int i = 10; i < 40; i++)
		feed(m, 0, 3, (uint16_t)i, 0);
	CHECK(feed(m, 1, 3, 20, 0) == MCR_MERGE_LATE, "20, 19 behind: late");
	/* Held packets of a stream that stops go after MCR_MERGE_HOLD_PACKETS_MS. */
	feed(m, 0, 3, 41, MS);
	tick(m, MCR_MERGE_HOLD_PACKETS_MS * MS);
	CHECK(out[n_out - 1] == 39, "41 still held");
	tick(m, (MCR_MERGE_HOLD_PACKETS_MS + 1) * MS);
	CHECK(out[n_out - 1] == 41 && ctr[MCR_MC_LOST] == 2, "then it goes, 40 lost");
	mcr__merge_free(m);
}

static void not_rtp(void)
{
	struct mcr_merge *m = fresh(MCR_MERGE_RTP, 50, 0, 0, 0);
	struct mcr_merge_meta meta = { 0 };
	uint8_t p[64];
	payload(p, 1, 1, 0);
	p[0] = 0x40; /* version 1 */
	CHECK(mcr__merge_in(m, 0, p, 64, &meta, 0, epoch) == MCR_MERGE_NOT_RTP, "version 1");
	payload(p, 1, 1, 0);
	CHECK(mcr__merge_in(m, 0, p, 11, &meta, 0, epoch) == MCR_MERGE_NOT_RTP, "11 bytes");
	p[0] = 0x8f; /* 15 CSRCs: 72 bytes of header */
	CHECK(mcr__merge_in(m, 1, p, 64, &meta, 0, epoch) == MCR_MERGE_NOT_RTP, "CSRCs cut");
	CHECK(leg(0, MCR_ML_NOT_RTP) == 2 && leg(1, MCR_ML_NOT_RTP) == 1, "counted per leg");
	CHECK(n_out == 0 && ctr[MCR_MC_OUT] == 0, "nothing out");
	mcr__merge_free(m);
}

/* A held copy that a send of this flush epoch reads is not overwritten. */
static void busy(void)
{
	struct mcr_merge *m = fresh(MCR_MERGE_RTP, 0, 16, 0, 0);
	uint32_t slots = m->mask + 1;
	struct mcr_merge_meta meta = { 0 };
	uint8_t p[64];
	feed(m, 0, 1, 0, 0);
	feed(m, 0, 1, 2, 0); /* held, in slot 2 */
	feed(m, 1, 1, 1, 0); /* 1 goes, then 2 from its copy, this epoch */
	CHECK(n_out == 3, "0 1 2");
	for (uint32_t i = 3; i < slots; i++)
		feed(m, 0, 1, (uint16_t)i, 0);
	/* slots + 2 lands in slot 2, ahead of a hole at slots: it must wait for the flush. */
	payload(p, 1, (uint16_t)(slots + 2), 0);
	int a = mcr__merge_in(m, 0, p, 64, &meta, 0, epoch);
	CHECK(a == MCR_MERGE_BUSY, "slot in use: %d", a);
	CHECK(mcr__merge_in(m, 0, p, 64, &meta, 0, epoch + 1) == MCR_MERGE_HELD, "after: held");
	epoch++;
	mcr__merge_free(m);
}

static void failover(void)
{
	struct mcr_merge *m = fresh(MCR_MERGE_FAILOVER, 0, 0, 200, 500);
	int64_t t = 0;
	/* Both legs every ms; leg 0 forwarded. */
	for (; t < 100; t++) {
		feed(m, 0, 1, (uint16_t)t, t * MS);
		feed(m, 1, 1, (uint16_t)t, t * MS);
	}
	CHECK(n_out == 100 && leg(0, MCR_ML_UNIQUE) == 100 && leg(1, MCR_ML_DUPLICATES) == 100,
	      "primary forwarded, the other standing by");
	/* Leg 0 silent from 99 ms: after 200 ms of it, leg 1. */
	for (; t < 400; t++)
		feed(m, 1, 1, (uint16_t)t, t * MS);
	CHECK(ctr[MCR_MC_SWITCHES] == 1 && ctr[MCR_MC_ACTIVE] == 1, "one switch to leg 1");
	CHECK(n_out == 100 + (400 - 299), "leg 1 from 299 ms: %d", n_out);
	/* Leg 0 back at 400 ms: leg 1 stays until leg 0 has been steady for 500 ms. */
	for (; t < 1000; t++) {
		feed(m, 0, 1, (uint16_t)t, t * MS);
		feed(m, 1, 1, (uint16_t)t, t * MS);
		if (t == 899)
			CHECK(ctr[MCR_MC_ACTIVE] == 1, "not steady for long enough yet");
	}
	CHECK(ctr[MCR_MC_SWITCHES] == 2 && ctr[MCR_MC_ACTIVE] == 0, "back to leg 0 at 900 ms");
	CHECK(n_out == 100 + 101 + 600, "no packet twice, none missing once switched: %d", n_out);
	for (int i = 1; i < n_out; i++)
		CHECK(out[i] == out[i - 1] + 1 || i == 100, "gap at %d: %d after %d", i, out[i],
		      out[i - 1]);
	CHECK(out_leg[900 - 299 + 100 - 1] == 1 && out_leg[n_out - 1] == 0, "legs in turn");
	mcr__merge_free(m);
	/* A primary never heard from: the other leg after the silence, counted from its start. */
	m = fresh(MCR_MERGE_FAILOVER, 0, 0, 200, 500);
	for (t = 0; t < 300; t++)
		feed(m, 1, 1, (uint16_t)t, (1000 + t) * MS);
	CHECK(ctr[MCR_MC_SWITCHES] == 1 && n_out == 100, "from 200 ms on: %d", n_out);
	mcr__merge_free(m);
}

/* Three legs: leg 0 and leg 1 silent, leg 2 forwarded; then leg 1 back, and leg 2 silent: the
 * next live leg after 2 in leg order is 1 (0 still silent). */
static void three_legs(void)
{
	memset(ctr, 0, sizeof(ctr));
	n_out = 0;
	struct mcr_merge_entry e = {
		.mode = MCR_MERGE_FAILOVER, .n_legs = 3, .failover_ms = 100, .revert_ms = 1000
	};
	struct mcr_merge *m;
	CHECK(mcr__merge_new(&e, ctr, &m) == 0, "three legs");
	int64_t t = 0;
	for (; t < 50; t++)
		for (unsigned l = 0; l < 3; l++)
			feed(m, l, 1, (uint16_t)t, t * MS);
	for (; t < 300; t++)
		feed(m, 2, 1, (uint16_t)t, t * MS);
	CHECK(ctr[MCR_MC_ACTIVE] == 2 && ctr[MCR_MC_SWITCHES] == 1, "to leg 2: %lu",
	      (unsigned long)ctr[MCR_MC_ACTIVE]);
	for (; t < 500; t++)
		feed(m, 1, 1, (uint16_t)t, t * MS);
	CHECK(ctr[MCR_MC_ACTIVE] == 1 && ctr[MCR_MC_SWITCHES] == 2, "then to leg 1");
	CHECK(n_out == 50 + (300 - 149) + (500 - 399), "%d out", n_out);
	mcr__merge_free(m);
	/* rtp over three legs, each missing every third packet in turn: nothing lost. */
	struct mcr_merge_entry r = { .mode = MCR_MERGE_RTP, .n_legs = 3, .window_ms = 50 };
	memset(ctr, 0, sizeof(ctr));
	n_out = 0;
	CHECK(mcr__merge_new(&r, ctr, &m) == 0, "rtp, three legs");
	for (int i = 0; i < 300; i++)
		for (unsigned l = 0; l < 3; l++)
			if (i % 3 != (int)l || i == 0)
				feed(m, l, 2, (uint16_t)i, i * MS / 10);
	CHECK(in_order(0, 300) && ctr[MCR_MC_LOST] == 0, "three legs: %d out", n_out);
	mcr__merge_free(m);
}

/* 150,000 packets a second with a 50 ms window: a hole that both legs lost cannot be waited on
 * for the whole window (the ring holds 2048 ahead): it is given up once the ring is full, and the
 * stream goes on, every other packet out, in order. */
static void ring_full(void)
{
	struct mcr_merge *m = fresh(MCR_MERGE_RTP, 50, 0, 0, 0);
	int n = 20000, lost = 0;
	for (int i = 0; i < n; i++) {
		int64_t now = (int64_t)i * 6667;
		if (i % 5000 == 2500) {
			lost++; /* on both legs */
			continue;
		}
		feed(m, 0, 4, (uint16_t)i, now);
		feed(m, 1, 4, (uint16_t)i, now);
		if (i % 64 == 0)
			tick(m, now);
	}
	tick(m, (int64_t)n * 6667 + 100 * MS);
	CHECK(n_out == n - lost, "%d out of %d", n_out, n - lost);
	int ordered = 1;
	for (int i = 1; i < n_out; i++)
		ordered &= (uint16_t)(out[i] - out[i - 1]) == 1 ||
			   (uint16_t)(out[i] - out[i - 1]) == 2;
	CHECK(ordered, "in order");
	CHECK(ctr[MCR_MC_LOST] == (uint64_t)lost && ctr[MCR_MC_RESTARTS] == 0, "lost %lu",
	      (unsigned long)ctr[MCR_MC_LOST]);
	CHECK(leg(0, MCR_ML_LATE) + leg(1, MCR_ML_LATE) == 0, "none late");
	mcr__merge_free(m);
}

static void bad_entries(void)
{
	struct mcr_merge *m;
	struct mcr_merge_entry e = { .mode = MCR_MERGE_RTP, .n_legs = 2, .window_ms = 50 };
	CHECK(mcr__merge_new(&e, ctr, &m) == 0, "a good one");
	mcr__merge_free(m);
	e.window_packets = 10;
	CHECK(mcr__merge_new(&e, ctr, &m) == -EINVAL, "both windows");
	e = (struct mcr_merge_entry){ .mode = MCR_MERGE_RTP, .n_legs = 5, .window_ms = 50 };
	CHECK(mcr__merge_new(&e, ctr, &m) == -EINVAL, "five legs");
	e = (struct mcr_merge_entry){ .mode = MCR_MERGE_FAILOVER, .n_legs = 2 };
	CHECK(mcr__merge_new(&e, ctr, &m) == -EINVAL, "failover without its time");
	e = (struct mcr_merge_entry){ .mode = MCR_MERGE_RTP, .n_legs = 2, .window_packets = 5000 };
	CHECK(mcr__merge_new(&e, ctr, &m) == -EINVAL, "window past the most");
}

int main(void)
{
	random_loss(0, 0, 50000);
	random_loss(200, 65000, 50000); /* one leg 20 ms behind, through the wrap */
	wrap();
	hold_and_expire();
	passed_hole();
	ssrc_change();
	jump();
	window_packets();
	not_rtp();
	busy();
	failover();
	three_legs();
	ring_full();
	bad_entries();
	if (failures)
		fprintf(stderr, "test_merge: %d failures\n", failures);
	return failures ? 1 : 0;
}
