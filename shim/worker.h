/* The worker's state, shared by its data path (worker.c), its setup (worker_setup.c) and the
 * installing of rule tables (table.c); not part of the API. */
#ifndef MCR_WORKER_H
#define MCR_WORKER_H

#include <time.h>
#include <liburing.h>
#include "internal.h"
#include "merge.h"

#define SQ_DEPTH 1024
#define MCR_MAX_TX 32
#define TX_RING_BYTES (4u << 20)
#define KICK (1ull << 63) /* user_data of a transmit ring's send */
/* user_data of a sendmsg on a packet socket (MCR_EGRESS_SENDMSG, MCR_EGRESS_GSO):
 * FRAME | ring index << 48 | message index << 32 | output counter slot */
#define FRAME (1ull << 62)

struct out {
	int fd; /* UDP socket connected to the output's destination; -1: it could not be opened */
	int err; /* then why (-errno): its datagrams are counted as send errors */
	int tx; /* transmit ring for multicast outputs, -1: the UDP socket carries everything */
	uint32_t slot;
	uint8_t path; /* the path of its last datagram: PATH_RING or PATH_SOCKET */
	uint64_t path_epoch; /* the flush that datagram goes out with */
	struct mcr_tx_header hdr;
	struct mcr_output_entry e; /* to build hdr again when the interface's MTU changes */
	struct mcr_lease rate; /* e.rate != 0 */
	uint32_t
		gso_open; /* MCR_EGRESS_GSO: 1 + the message its next datagrams may join; 0: none */
};

/* A UDP socket's send with the frame's TOS and TTL (cmsg): one per queued send, kept until the
 * batch's flush completes it. */
struct msg_slot {
	struct msghdr mh;
	struct iovec iov;
	union {
		char buf[CMSG_SPACE(sizeof(int)) * 2];
		struct cmsghdr align;
	} c;
};

enum { PATH_NONE, PATH_RING, PATH_SOCKET };

/* The outputs a merge's stream goes to: its legs' (the same for each). */
struct merge_out {
	uint32_t first, n;
};

/* An installed rule table: immutable once built; replaced whole by mcr_worker_rules_set. */
struct table {
	uint32_t n_rules;
	struct mcr_rule_entry *rules;
	struct out *outs;
	uint32_t n_outs;
	struct mcr_match match;
	uint64_t vlans[4096 / 64]; /* bit v: some rule takes VLAN v (bit 0, untagged, always) */
	struct mcr_egress_sock *socks;
	uint32_t n_socks;
	struct mcr_merge **merges; /* by mcr_rule_entry.merge; kept across tables (same settings) */
	struct merge_out *merge_outs; /* this table's outputs of each merge */
	uint32_t n_merges;
};

/* Whether input rx takes the frames of rule entry e of table t: a fanout ring takes every rule's
 * but the merge legs; a merge ring the legs of its mode's merges. */
static inline int mcr__ring_takes(const struct mcr_rx *rx, const struct table *t,
				  const struct mcr_rule_entry *e)
{
	if (!(e->flags & MCR_RULE_MERGE))
		return !rx->merge_mode;
	const struct mcr_merge *m = e->merge < t->n_merges ? t->merges[e->merge] : NULL;
	return m && m->e.mode == rx->merge_mode;
}

struct mcr_worker {
	struct io_uring ring;
	struct mcr_rx in[MCR_MAX_INPUTS];
	struct mcr_tx tx[MCR_MAX_TX]; /* opened as outputs need them, kept for the worker's life */
	/* Interfaces learned to have a link header the ring does not write (lo, InfiniBand): no
	 * transmit ring is tried for them again (Ethernet and IP-only links have one). A device's
	 * type never changes, and the kernel does not reuse an index soon. */
	int no_ring[MCR_MAX_TX];
	unsigned no_ring_next;
	struct table *table;
	uint32_t ring_bytes;
	uint32_t rule_slots, output_slots;
	uint64_t *counters; /* MCR_C__COUNT, then the two arrays below */
	uint64_t *rule_ctr; /* rule_slots x (packets, bytes) */
	uint64_t *out_ctr; /* output_slots x (packets, bytes, errors) */
	/* The datagrams queued and not yet counted, in the counter memory: a worker killed in a
	 * batch leaves them to whoever reads its counters after it (the supervisor), so that what
	 * it sent is counted even when the kill fell between the kernel's send and our look at its
	 * completion. */
	uint64_t *journal; /* MCR_JOURNAL_LEN entries, MCR_JOURNAL_VALID when in use */
	uint32_t j_n, j_submitted; /* entries in use; of them, marked submitted */
	uint32_t j_owed; /* datagrams in messages not yet queued: entries they will take */
	int own_counters;
	unsigned queued; /* SQEs prepared since the last flush */
	uint64_t flush_epoch; /* flushes so far */
	int poll_mode; /* enum mcr_poll_mode */
	int egress_mode; /* enum mcr_egress_mode */
	int rx_mode; /* enum mcr_rx_mode */
	int fixed_files; /* a sparse file table of MCR_MAX_TX is registered: tx i may sit at index i */
	int64_t spin_ns; /* adaptive mode: how long to watch the rings after a batch */
	uint64_t tx_full[MCR_MAX_TX]; /* 1 + the flush epoch in which that ring was found full */
	int broken; /* -errno: io_uring failed with sends in flight; the worker must not go on */
	int64_t batch_ns; /* the clock at the start of this round of batches: rate limits refill by it */
	uint32_t
		batch_left; /* frames the batch in hand may still take, the one being classified included */
	struct mcr_lease
		*leases; /* rate limits that took tokens in this batch (settled at its end) */
	uint64_t *buckets; /* mcr_worker_buckets_set: the shared rate-limit buckets */
	uint32_t n_buckets;
	/* mcr_worker_own_set: what the relay's own frames come from (looked at for link-local
	 * groups only, whose rules may loop back to their input through another segment). */
	uint32_t n_own_mac, n_own_addr, n_own_addr6;
	uint8_t own_mac[MCR_OWN_MAX][6];
	uint32_t own_addr[MCR_OWN_MAX];
	uint8_t own_addr6[MCR_OWN_MAX][16];
	struct msg_slot msgs[SQ_DEPTH];
	/* mcr_worker_merges_set: the next table's merges; merge_ctr: where merges count. */
	struct mcr_merge_entry *merge_next;
	uint32_t n_merge_next;
	uint64_t *merge_ctr;
	uint32_t merge_slots;
	int own_merge_ctr;
	/* MCR_EGRESS_GSO: outputs with a message still open to more datagrams, queued at the flush
	 * (each one's SQE is counted in queued already, so there are fewer than SQ_DEPTH). */
	struct out *open[SQ_DEPTH];
	unsigned n_open;
	uint64_t mtu_seen[MCR_MAX_TX]; /* 1 + the flush epoch in which a ring's MTU was read */
};

static inline int64_t now_ns(void)
{
	return (int64_t)mcr__clock_ns(CLOCK_MONOTONIC);
}

/* table.c */
/* Attaches to an input the program for the rules of tables a and b (either may be NULL) that
 * read from it. */
int mcr__table_filter(const struct mcr_rx *rx, const struct table *a, const struct table *b);
/* Frees a table, and the egress sockets that keep_socks_of (the table in force) does not use. */
void mcr__table_free(struct table *t, const struct table *keep_socks_of);

/* worker.c */
/* Sends what the merges of a table on its way out hold, in order, holes given up. */
void mcr__worker_merges_retire(struct mcr_worker *w, struct table *old);

#endif
