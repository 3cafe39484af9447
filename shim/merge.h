/* The merge engine (merge.c): the legs of one merge rule made into one stream, SMPTE ST 2022-7
 * style (mode rtp) or by failing over between them (mode failover). Not part of the API: the
 * worker (worker.c) feeds it the frames of a rule's legs; shim/tests/test_merge.c drives it with
 * a fake clock. Nothing here makes a system call or allocates, apart from new and free. */
#ifndef MCR_MERGE_H
#define MCR_MERGE_H

#include <stdint.h>
#include "internal.h"

/* A held packet's copy takes at most this many bytes: a datagram of a 1500-byte MTU fits
 * (IPv4 UDP payload 1472). A longer one that would have to wait is counted (TOO_LARGE). */
#define MCR_MERGE_SLOT_BYTES 2048
/* The slots a window in milliseconds gets: the sequence span it can hold back and tell apart.
 * A hole still open when packets this far ahead arrive is given up early (counted lost). */
#define MCR_MERGE_SPAN_DEFAULT 2048
/* How long a window in packets lets a held packet wait when the stream stops behind a hole. */
#define MCR_MERGE_HOLD_PACKETS_MS 1000
/* Merge counter slots of a worker that was given no counter memory. */
#define MCR_MERGE_OWN_SLOTS 256

/* What the merge of an in-window packet says to do with it (mcr__merge_in). */
enum {
	MCR_MERGE_SEND, /* send it now, then whatever mcr__merge_pop hands out */
	MCR_MERGE_HELD, /* copied into the rule's ring, to go out once the hole before it fills;
			 * then whatever mcr__merge_pop hands out (a window in packets may give a
			 * hole up now) */
	MCR_MERGE_DUP, /* another leg's copy went out already */
	MCR_MERGE_LATE, /* beyond the window (or its hole given up): counted, dropped */
	MCR_MERGE_NOT_RTP, /* no RTP version 2 header: counted, dropped */
	MCR_MERGE_TOO_LARGE, /* had to wait, and no slot holds it: counted, dropped */
	MCR_MERGE_STANDBY, /* failover: a leg that is not the one forwarded */
	MCR_MERGE_BUSY, /* its slot's copy is still read by a send in flight: flush, then again */
	MCR_MERGE_DRAIN, /* the stream restarts, or runs past the ring while a hole waits: send what
			  * mcr__merge_pop hands out, then again */
};

/* What a held packet needs to go out later as classify() would have sent it. */
struct mcr_merge_meta {
	struct mcr_csum_in cs;
	uint16_t sport;
	uint8_t tos, ttl;
	uint16_t head; /* its headers' checksum sum (mcr__udp_head_sum), for a UDP socket path */
};

struct mcr_merge_slot {
	uint16_t seq;
	uint8_t state; /* SLOT_* in merge.c */
	uint8_t leg;
	uint16_t len;
	uint8_t copied; /* DONE from a held copy: a send reads data until flush epoch `epoch` ends */
	int64_t at_ns; /* HELD or DONE: when its first copy came; LOST: when it was given up */
	uint64_t epoch;
	struct mcr_merge_meta meta;
	uint8_t *data;
};

struct mcr_merge_leg {
	int64_t last_ns; /* its last packet (0: none yet) */
	int64_t steady_since; /* failover: since when it has been sending without a silence */
	uint32_t ssrc;
	uint16_t last_seq; /* the highest sequence seen on it (gaps) */
	uint16_t far_seq; /* its last packet, when that was beyond the window */
	uint8_t far; /* its last packet was beyond the window */
	uint8_t far_run; /* consecutive such packets */
};

struct mcr_merge {
	struct mcr_merge_entry e;
	uint64_t *ctr; /* MCR_MERGE_COUNTERS words: this rule's, then MCR_MERGE_LEGS_MAX legs' */
	struct mcr_merge_leg legs[MCR_MERGE_LEGS_MAX];
	/* rtp */
	int64_t window_ns; /* 0: the window is e.window_packets */
	int64_t hold_ns; /* how long a held packet may wait for the hole before it */
	uint32_t span; /* how far ahead of next a packet may be held */
	uint32_t mask; /* slots - 1 */
	struct mcr_merge_slot *slots;
	uint8_t *bytes;
	uint8_t live; /* a stream (ssrc) is being merged */
	struct mcr_merge_slot *last_held; /* the slot of the packet mcr__merge_in held last */
	uint8_t retire; /* it restarts: its held packets go out (holes given up), then the new one */
	uint8_t prev_valid;
	uint8_t room; /* the stream runs past the ring: holes before room_to are given up */
	uint16_t room_to;
	uint32_t ssrc, prev_ssrc;
	uint16_t next; /* the sequence that goes out next */
	uint16_t top; /* the highest sequence held */
	uint32_t held;
	int64_t deadline_ns; /* held: the earliest time mcr__merge_expire may give up a hole */
	/* failover */
	uint8_t active;
	int64_t t0_ns; /* the first packet on any leg: a leg never heard from is silent since */
};

/* A merge for entry e (validated: mode, legs, window), counting into ctr. -EINVAL, -ENOMEM. */
int mcr__merge_new(const struct mcr_merge_entry *e, uint64_t *ctr, struct mcr_merge **out);
void mcr__merge_free(struct mcr_merge *m);
/* Whether m was made for exactly e (then a new table keeps it, held packets and all). */
int mcr__merge_same(const struct mcr_merge *m, const struct mcr_merge_entry *e);

/* A datagram's payload on leg `leg` at now_ns; epoch: the worker's flush epoch (a copy that a
 * send of this epoch reads is not overwritten). An MCR_MERGE_* above; counted here. */
int mcr__merge_in(struct mcr_merge *m, unsigned leg, const uint8_t *payload, uint32_t len,
		  const struct mcr_merge_meta *meta, int64_t now_ns, uint64_t epoch);
/* The next held packet that may go out now, in sequence order (its data stays put until the
 * flush of `epoch` completed), or NULL. */
struct mcr_merge_slot *mcr__merge_pop(struct mcr_merge *m, int64_t now_ns, uint64_t epoch);
/* Gives up the hole before the first held packet when that has waited the window: 1 when it
 * did (then pop hands out what follows; call again), 0 when nothing is due. */
int mcr__merge_expire(struct mcr_merge *m, int64_t now_ns);
/* When mcr__merge_expire next has something to do (INT64_MAX: nothing held). */
static inline int64_t mcr__merge_deadline(const struct mcr_merge *m)
{
	return m->held ? m->deadline_ns : INT64_MAX;
}

#endif
