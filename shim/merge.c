/* The merge engine: the legs of one merge rule made into one stream.
 *
 * rtp (SMPTE ST 2022-7): per SSRC, the first copy of each sequence number goes out and later
 * copies are duplicates. Output is in sequence order exactly: a packet that comes while the one
 * before it is missing on every leg so far is copied into a slot of the rule's ring (allocated
 * with the table, never per packet) and goes out once the hole fills from another leg, or when
 * the hole has been waited on for the window (then it is lost on every leg). The ring is indexed
 * by sequence number; half of it lies ahead of `next` (what may be held), half behind (what went
 * out, to tell a duplicate from a late packet).
 *
 * failover: the first leg is forwarded while it is live; after failover_ms of silence the next
 * live leg is; the first is back once it has been sending, without such a silence, for
 * revert_ms.
 *
 * Times are the worker's batch clock, passed in: one clock read per round, and a fake clock in
 * the tests. */
#include <errno.h>
#include <stdlib.h>
#include "merge.h"

enum { SLOT_EMPTY, SLOT_HELD, SLOT_DONE, SLOT_LOST };

static inline uint64_t *leg_ctr(struct mcr_merge *m, unsigned leg)
{
	return m->ctr + MCR_MC__RULE + leg * MCR_ML__COUNT;
}

static int entry_ok(const struct mcr_merge_entry *e)
{
	if (e->n_legs < 2 || e->n_legs > MCR_MERGE_LEGS_MAX || e->pad != 0)
		return 0;
	if (e->mode == MCR_MERGE_FAILOVER)
		return e->failover_ms > 0 && e->window_ms == 0 && e->window_packets == 0;
	if (e->mode != MCR_MERGE_RTP || e->failover_ms != 0 || e->revert_ms != 0)
		return 0;
	/* One window or the other. */
	if ((e->window_ms == 0) == (e->window_packets == 0))
		return 0;
	return e->window_ms <= 60000 && e->window_packets <= MCR_MERGE_WINDOW_PACKETS_MAX;
}

int mcr__merge_new(const struct mcr_merge_entry *e, uint64_t *ctr, struct mcr_merge **out)
{
	if (!entry_ok(e))
		return -EINVAL;
	struct mcr_merge *m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	m->e = *e;
	m->ctr = ctr;
	if (e->mode == MCR_MERGE_RTP) {
		m->window_ns = (int64_t)e->window_ms * 1000000;
		m->hold_ns =
			e->window_ms ? m->window_ns : (int64_t)MCR_MERGE_HOLD_PACKETS_MS * 1000000;
		/* A window in packets gives a hole up once a packet that far ahead is held: the
		 * ring holds twice that, so that such a packet is not beyond it. */
		m->span = e->window_packets ? 2 * e->window_packets : MCR_MERGE_SPAN_DEFAULT;
		if (m->span < 32)
			m->span = 32;
		uint32_t n = 64;
		while (n < 2 * m->span)
			n *= 2;
		m->mask = n - 1;
		m->slots = calloc(n, sizeof(*m->slots));
		m->bytes = malloc((size_t)n * MCR_MERGE_SLOT_BYTES);
		if (!m->slots || !m->bytes) {
			mcr__merge_free(m);
			return -ENOMEM;
		}
		for (uint32_t i = 0; i < n; i++)
			m->slots[i].data = m->bytes + (size_t)i * MCR_MERGE_SLOT_BYTES;
	}
	m->ctr[MCR_MC_ACTIVE] = 0;
	m->ctr[MCR_MC_HELD] = 0;
	*out = m;
	return 0;
}

void mcr__merge_free(struct mcr_merge *m)
{
	if (!m)
		return;
	free(m->slots);
	free(m->bytes);
	free(m);
}

int mcr__merge_same(const struct mcr_merge *m, const struct mcr_merge_entry *e)
{
	return memcmp(&m->e, e, sizeof(*e)) == 0;
}

/* ---- failover ---- */

static int live(const struct mcr_merge *m, unsigned leg, int64_t now, int64_t silence)
{
	return m->legs[leg].last_ns != 0 && now - m->legs[leg].last_ns < silence;
}

static int failover_in(struct mcr_merge *m, unsigned leg, int64_t now)
{
	struct mcr_merge_leg *lg = &m->legs[leg];
	int64_t silence = (int64_t)m->e.failover_ms * 1000000;
	if (lg->last_ns == 0 || now - lg->last_ns >= silence)
		lg->steady_since = now;
	lg->last_ns = now;
	if (m->t0_ns == 0)
		m->t0_ns = now;
	unsigned a = m->active;
	if (leg != a) {
		int64_t heard = m->legs[a].last_ns > m->t0_ns ? m->legs[a].last_ns : m->t0_ns;
		unsigned to = a;
		if (now - heard >= silence) {
			/* The forwarded leg fell silent: the next live one after it, in leg order. */
			for (unsigned k = 1; k < m->e.n_legs && to == a; k++) {
				unsigned j = (a + k) % m->e.n_legs;
				if (live(m, j, now, silence))
					to = j;
			}
		} else if (leg == 0 &&
			   now - lg->steady_since >= (int64_t)m->e.revert_ms * 1000000) {
			to = 0; /* the primary has been steady long enough */
		}
		if (to != a) {
			m->active = (uint8_t)to;
			m->ctr[MCR_MC_SWITCHES]++;
			m->ctr[MCR_MC_ACTIVE] = to;
		}
	}
	if (leg != m->active) {
		leg_ctr(m, leg)[MCR_ML_DUPLICATES]++;
		return MCR_MERGE_STANDBY;
	}
	leg_ctr(m, leg)[MCR_ML_UNIQUE]++;
	m->ctr[MCR_MC_OUT]++;
	return MCR_MERGE_SEND;
}

/* ---- rtp ---- */

static void start(struct mcr_merge *m, uint32_t ssrc, uint16_t seq)
{
	if (m->live)
		m->ctr[MCR_MC_RESTARTS]++;
	m->live = 1;
	m->ssrc = ssrc;
	m->next = seq;
	m->top = seq;
	m->held = 0;
	m->ctr[MCR_MC_HELD] = 0;
	/* What went out of the old stream says nothing of the new one's sequence numbers; the
	 * slots' copies may still be read by sends of this epoch (copied stays). */
	for (uint32_t i = 0; i <= m->mask; i++)
		if (m->slots[i].state != SLOT_EMPTY)
			m->slots[i].state = SLOT_LOST, m->slots[i].seq = (uint16_t)(seq - 1);
	for (unsigned j = 0; j < MCR_MERGE_LEGS_MAX; j++)
		m->legs[j].far = 0;
}

/* A packet beyond the window (either way): the stream restarted there when every other live
 * leg's last packet is beyond it too and near this one (all legs jumped), or when this leg is
 * the only one live and has confirmed the jump with a second packet in sequence. A leg that
 * lags or leads by more than the window while another is in it never restarts the stream. */
static int far_restarts(struct mcr_merge *m, unsigned leg, uint16_t seq, int64_t now)
{
	struct mcr_merge_leg *lg = &m->legs[leg];
	int run = lg->far && (uint16_t)(lg->far_seq + 1) == seq;
	lg->far = 1;
	lg->far_seq = seq;
	lg->far_run = run ? (uint8_t)(lg->far_run < 255 ? lg->far_run + 1 : 255) : 1;
	unsigned others = 0;
	for (unsigned j = 0; j < m->e.n_legs; j++) {
		if (j == leg || !live(m, j, now, m->hold_ns))
			continue;
		others++;
		int16_t d = (int16_t)(uint16_t)(seq - m->legs[j].far_seq);
		if (!m->legs[j].far || d >= (int32_t)m->span || d <= -(int32_t)m->span)
			return 0;
	}
	return others > 0 || lg->far_run >= 2;
}

static void leg_seen(struct mcr_merge *m, unsigned leg, uint32_t ssrc, uint16_t seq)
{
	struct mcr_merge_leg *lg = &m->legs[leg];
	if (lg->ssrc == ssrc && lg->last_ns != 0) {
		int16_t d = (int16_t)(uint16_t)(seq - lg->last_seq);
		if (d <= 0)
			return;
		if (d > 1 && (uint32_t)d <= m->span)
			leg_ctr(m, leg)[MCR_ML_GAPS] += (uint64_t)(d - 1);
	}
	lg->ssrc = ssrc;
	lg->last_seq = seq;
}

int mcr__merge_in(struct mcr_merge *m, unsigned leg, const uint8_t *p, uint32_t len,
		  const struct mcr_merge_meta *meta, int64_t now, uint64_t epoch)
{
	uint64_t *lc = leg_ctr(m, leg);
	if (m->e.mode == MCR_MERGE_FAILOVER) {
		lc[MCR_ML_PACKETS]++;
		lc[MCR_ML_LAST_NS] = (uint64_t)now;
		return failover_in(m, leg, now);
	}
	/* Version 2, and the CSRC list within the datagram. */
	if (len < 12 || (p[0] >> 6) != 2 || 12u + 4u * (p[0] & 15) > len) {
		lc[MCR_ML_NOT_RTP]++;
		return MCR_MERGE_NOT_RTP;
	}
	uint16_t seq = (uint16_t)(p[2] << 8 | p[3]);
	uint32_t ssrc = (uint32_t)p[8] << 24 | (uint32_t)p[9] << 16 | (uint32_t)p[10] << 8 | p[11];
	/* Counted once, however often the call is repeated (BUSY, DRAIN): by the time it returns
	 * anything else. */
	struct mcr_merge_leg *lg = &m->legs[leg];
	if (!m->live) {
		start(m, ssrc, seq);
	} else if (ssrc != m->ssrc) {
		if (m->prev_valid && ssrc == m->prev_ssrc) {
			lc[MCR_ML_PACKETS]++;
			lc[MCR_ML_LAST_NS] = (uint64_t)now;
			lc[MCR_ML_LATE]++; /* the stream before, on a leg that lags */
			return MCR_MERGE_LATE;
		}
		m->prev_ssrc = m->ssrc;
		m->prev_valid = 1;
		if (m->held) {
			m->retire = 1;
			return MCR_MERGE_DRAIN;
		}
		start(m, ssrc, seq);
	}
	int32_t d = (int16_t)(uint16_t)(seq - m->next);
	int32_t behind = (int32_t)(m->mask + 1 - m->span);
	/* The stream goes on past what the ring can hold back while a hole waits (a window in ms
	 * at a high rate): the hole is given up early, making room, rather than the stream
	 * dropped. A packet far from the held ones too is a jump (below). */
	if (d >= (int32_t)m->span && m->held > 0) {
		int32_t past_top = (int16_t)(uint16_t)(seq - m->top);
		if (past_top > 0 && past_top < (int32_t)m->span) {
			m->room = 1;
			m->room_to = (uint16_t)(seq - m->span + 1);
			return MCR_MERGE_DRAIN;
		}
	}
	if (d >= (int32_t)m->span || d < -behind) {
		if (!far_restarts(m, leg, seq, now)) {
			lc[MCR_ML_PACKETS]++;
			lc[MCR_ML_LAST_NS] = (uint64_t)now;
			lg->last_ns = now;
			lc[MCR_ML_LATE]++;
			return MCR_MERGE_LATE;
		}
		if (m->held) {
			m->retire = 1;
			return MCR_MERGE_DRAIN;
		}
		start(m, ssrc, seq);
		d = 0;
	}
	struct mcr_merge_slot *s = &m->slots[seq & m->mask];
	if (d > 0 && s->state != SLOT_HELD && s->copied && s->epoch == epoch)
		return MCR_MERGE_BUSY;
	lc[MCR_ML_PACKETS]++;
	lc[MCR_ML_LAST_NS] = (uint64_t)now;
	lg->last_ns = now;
	lg->far = 0;
	leg_seen(m, leg, ssrc, seq);
	if (d < 0) {
		int dup = s->seq == seq && s->state == SLOT_DONE &&
			  (m->window_ns ? now - s->at_ns <= m->window_ns
					: -d <= (int32_t)m->e.window_packets);
		lc[dup ? MCR_ML_DUPLICATES : MCR_ML_LATE]++;
		return dup ? MCR_MERGE_DUP : MCR_MERGE_LATE;
	}
	if (s->state == SLOT_HELD && s->seq == seq) {
		lc[MCR_ML_DUPLICATES]++;
		return MCR_MERGE_DUP;
	}
	if (d == 0) {
		/* copied and epoch stay: a send of this epoch may still read the slot's copy. */
		s->seq = seq;
		s->state = SLOT_DONE;
		s->leg = (uint8_t)leg;
		s->at_ns = now;
		m->next++;
		lc[MCR_ML_UNIQUE]++;
		m->ctr[MCR_MC_OUT]++;
		return MCR_MERGE_SEND;
	}
	if (len > MCR_MERGE_SLOT_BYTES) {
		m->ctr[MCR_MC_TOO_LARGE]++;
		return MCR_MERGE_TOO_LARGE;
	}
	memcpy(s->data, p, len);
	s->seq = seq;
	s->state = SLOT_HELD;
	s->leg = (uint8_t)leg;
	s->len = (uint16_t)len;
	s->copied = 0;
	s->at_ns = now;
	s->meta = *meta;
	m->last_held = s;
	if (m->held++ == 0)
		m->deadline_ns = now + m->hold_ns;
	m->ctr[MCR_MC_HELD] = m->held;
	if ((int16_t)(uint16_t)(seq - m->top) > 0 || m->held == 1)
		m->top = seq;
	return MCR_MERGE_HELD;
}

/* Whether every leg that could still fill the hole at next has gone past it, so that a copy of
 * it can only come late: then waiting out the window would hold back what follows for nothing
 * (a loss on both legs stalled the output for the whole window, then let it go as one burst). A
 * leg never heard from may yet start (a path differential at start-up); one silent for the hold
 * time is not waited for; one on another stream, or behind the hole, is. */
static int hole_passed(const struct mcr_merge *m, int64_t now)
{
	for (unsigned j = 0; j < m->e.n_legs; j++) {
		const struct mcr_merge_leg *lg = &m->legs[j];
		if (lg->last_ns == 0)
			return 0;
		if (now - lg->last_ns >= m->hold_ns)
			continue;
		if (lg->ssrc != m->ssrc || (int16_t)(uint16_t)(lg->last_seq - m->next) <= 0)
			return 0;
	}
	return 1;
}

/* Gives up the hole at next: lost on every leg. */
static void skip(struct mcr_merge *m, int64_t now)
{
	struct mcr_merge_slot *s = &m->slots[m->next & m->mask];
	s->seq = m->next;
	s->state = SLOT_LOST;
	s->at_ns = now;
	m->next++;
	m->ctr[MCR_MC_LOST]++;
}

struct mcr_merge_slot *mcr__merge_pop(struct mcr_merge *m, int64_t now, uint64_t epoch)
{
	for (;;) {
		if (m->room && (int16_t)(uint16_t)(m->room_to - m->next) <= 0)
			m->room = 0;
		if (m->held == 0) {
			/* Room made past the last held packet: what lies between was lost too. */
			while (m->room && m->next != m->room_to)
				skip(m, now);
			m->room = 0;
			if (m->retire) {
				m->retire = 0;
				m->live = 0; /* the caller's packet starts the next stream */
				m->ctr[MCR_MC_RESTARTS]++;
			}
			return NULL;
		}
		struct mcr_merge_slot *s = &m->slots[m->next & m->mask];
		if (s->state == SLOT_HELD && s->seq == m->next) {
			/* at_ns stays its arrival: a later copy is a duplicate within the window
			 * of the first copy's arrival, not of its going out. */
			s->state = SLOT_DONE;
			s->copied = 1;
			s->epoch = epoch;
			m->next++;
			m->ctr[MCR_MC_HELD] = --m->held;
			leg_ctr(m, s->leg)[MCR_ML_UNIQUE]++;
			m->ctr[MCR_MC_OUT]++;
			return s;
		}
		/* A hole. A window in packets gives it up once a packet that far ahead is held; a
		 * stream that restarts gives up all of its holes; so does every leg's having gone
		 * past it. */
		if (!m->retire && !m->room &&
		    !(m->e.window_packets &&
		      (int16_t)(uint16_t)(m->top - m->next) >= (int32_t)m->e.window_packets) &&
		    !hole_passed(m, now))
			return NULL;
		skip(m, now);
	}
}

int mcr__merge_expire(struct mcr_merge *m, int64_t now)
{
	if (m->e.mode != MCR_MERGE_RTP || m->held == 0 || now < m->deadline_ns)
		return 0;
	for (uint32_t k = 0; k <= m->span; k++) {
		uint16_t seq = (uint16_t)(m->next + k);
		const struct mcr_merge_slot *s = &m->slots[seq & m->mask];
		if (s->state != SLOT_HELD || s->seq != seq)
			continue;
		if (now - s->at_ns < m->hold_ns) {
			m->deadline_ns = s->at_ns + m->hold_ns;
			return 0;
		}
		while (m->next != seq)
			skip(m, now);
		return 1;
	}
	/* Held packets beyond the span cannot be: the count is wrong; say nothing is held. */
	m->held = 0;
	m->ctr[MCR_MC_HELD] = 0;
	return 0;
}
