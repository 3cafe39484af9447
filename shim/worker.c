/* The per-core data plane: take a batch of frames off each ring, classify them against the rule
 * table, queue one send per output copy on io_uring, submit the batch with one syscall, count
 * every completion, then hand the frames back to the kernel.
 *
 * Per packet there is no syscall, no allocation and no FFI crossing: the caller (the TypeScript
 * worker) makes one call per batch. Frames stay owned by user space until every send that points
 * into them has completed, because a send punted to io_uring's workers reads the payload late. */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <unistd.h>
#include <sys/socket.h>
#include <net/if_arp.h>
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

static int tx_for(struct mcr_worker *w, int ifindex, int family, int probe_fd);
static void tx_unregister(struct mcr_worker *w, int i);
static void gso_close(struct mcr_worker *w, struct out *o);

static inline int64_t now_ns(void)
{
	return (int64_t)mcr__clock_ns(CLOCK_MONOTONIC);
}

/* Attaches to an input the program for the rules of tables a and b (either may be NULL) that
 * read from it. */
static int input_filter(const struct mcr_rx *rx, const struct table *a, const struct table *b)
{
	uint32_t n = (a ? a->n_rules : 0) + (b ? b->n_rules : 0), k = 0;
	struct mcr_filter_key *keys = malloc(sizeof(*keys) * (n ? n : 1));
	if (!keys)
		return -ENOMEM;
	for (const struct table *t = a; t; t = t == a ? b : NULL)
		for (uint32_t i = 0; i < t->n_rules; i++)
			if (t->rules[i].in_ifindex == (uint32_t)rx->ifindex &&
			    !(t->rules[i].flags & MCR_RULE_MERGE) == !rx->merge_only) {
				keys[k] = (struct mcr_filter_key){ .port = t->rules[i].port,
								   .vlan = t->rules[i].vlan };
				memcpy(keys[k++].group, t->rules[i].group, 16);
			}
	int r = mcr__filter_attach(rx->fd, rx->ip_only, keys, k);
	free(keys);
	return r < 0 ? r : 0;
}

static void table_free(struct table *t, const struct table *keep_socks_of)
{
	if (!t)
		return;
	for (uint32_t i = 0; i < t->n_socks; i++) {
		int shared = 0;
		for (uint32_t j = 0; keep_socks_of && j < keep_socks_of->n_socks; j++)
			shared |= keep_socks_of->socks[j].fd == t->socks[i].fd;
		if (!shared && t->socks[i].fd >= 0)
			close(t->socks[i].fd);
	}
	free(t->rules);
	free(t->outs);
	mcr__match_free(&t->match);
	free(t->socks);
	for (uint32_t i = 0; i < t->n_merges; i++)
		mcr__merge_free(t->merges[i]);
	free(t->merges);
	free(t->merge_outs);
	free(t);
}

static int same_sock(const struct mcr_egress_sock *a, const struct mcr_egress_sock *b)
{
	return a->ifindex == b->ifindex && a->ttl == b->ttl && a->port == b->port &&
	       memcmp(a->source, b->source, 16) == 0 && memcmp(a->dest, b->dest, 16) == 0;
}

/* The egress socket for an output: shared with an identical output, reused from the old table
 * (so a table change does not disturb the outputs that stay), or opened. */
static int sock_for(struct table *t, const struct table *old, const struct mcr_output_entry *o)
{
	/* Each send says its TTL (cmsg); the socket's is for anything else it sends. */
	struct mcr_egress_sock s = { .fd = -1,
				     .ifindex = o->ifindex,
				     .ttl = o->ttl ? o->ttl : 1,
				     .port = o->port,
				     .family = o->family };
	memcpy(s.source, o->source, 16);
	memcpy(s.dest, o->dest, 16);
	for (uint32_t i = 0; i < t->n_socks; i++)
		if (same_sock(&t->socks[i], &s))
			return t->socks[i].fd;
	for (uint32_t i = 0; old && i < old->n_socks; i++)
		if (same_sock(&old->socks[i], &s))
			s.fd = old->socks[i].fd;
	if (s.fd < 0) {
		int err = mcr__egress_open(&s);
		if (err < 0)
			return err;
	}
	t->socks[t->n_socks++] = s;
	return s.fd;
}

/* An output's family is its addresses': IPv4 ones IPv4-mapped, IPv6 ones not. */
static int out_family_ok(const struct mcr_output_entry *o)
{
	int v4 = mcr__addr_is_v4(o->dest);
	return (o->family == 4 || o->family == 6) && v4 == (o->family == 4) &&
	       mcr__addr_is_v4(o->source) == v4;
}

static int out_multicast(const struct mcr_output_entry *o)
{
	return o->family == 4 ? IN_MULTICAST(ntohl(mcr__addr_u32(o->dest))) : o->dest[0] == 0xff;
}

/* An output the table cannot serve: the rest of the table is installed all the same. */
static void out_failed(struct out *o, uint32_t slot, int err)
{
	*o = (struct out){ .fd = -1, .err = err, .tx = -1, .slot = slot };
}

/* A rule entry's merge fields: a merge leg names a staged merge and one of its legs; any other
 * entry leaves them 0. */
static int entry_merge_ok(const struct mcr_worker *w, const struct mcr_rule_entry *e)
{
	if (!(e->flags & MCR_RULE_MERGE))
		return e->flags == 0 && e->leg == 0 && e->merge == 0;
	return e->flags == MCR_RULE_MERGE && e->merge < w->n_merge_next &&
	       e->leg < w->merge_next[e->merge].n_legs;
}

/* The merges of table t (mcr_worker_merges_set): one of the table in force with the same
 * settings is kept, held packets and all; the others are made. Every leg of a merge must send
 * to the same outputs. */
static int merges_build(struct mcr_worker *w, struct table *t, const struct table *old)
{
	uint32_t n = w->n_merge_next;
	if (n == 0)
		return 0;
	t->merges = calloc(n, sizeof(*t->merges));
	t->merge_outs = calloc(n, sizeof(*t->merge_outs));
	if (!t->merges || !t->merge_outs) {
		free(t->merges);
		free(t->merge_outs);
		t->merges = NULL;
		t->merge_outs = NULL;
		return -ENOMEM;
	}
	t->n_merges = n;
	for (uint32_t i = 0; i < n; i++) {
		const struct mcr_merge_entry *e = &w->merge_next[i];
		if (e->counter_slot >= w->merge_slots)
			return -EINVAL;
		for (uint32_t j = 0; old && j < old->n_merges && !t->merges[i]; j++)
			if (old->merges[j] && mcr__merge_same(old->merges[j], e))
				t->merges[i] = old->merges[j];
		for (uint32_t j = 0; j < i && t->merges[i]; j++)
			if (t->merges[j] == t->merges[i])
				return -EINVAL; /* two merges on one counter slot */
		if (!t->merges[i]) {
			uint64_t *ctr = w->merge_ctr + (size_t)e->counter_slot * MCR_MERGE_COUNTERS;
			int err = mcr__merge_new(e, ctr, &t->merges[i]);
			if (err < 0)
				return err;
		}
		t->merge_outs[i].n = UINT32_MAX; /* no leg seen yet */
	}
	for (uint32_t i = 0; i < t->n_rules; i++) {
		const struct mcr_rule_entry *e = &t->rules[i];
		if (!(e->flags & MCR_RULE_MERGE))
			continue;
		struct merge_out *o = &t->merge_outs[e->merge];
		if (o->n == UINT32_MAX) {
			o->first = e->first_output;
			o->n = e->n_outputs;
		} else if (o->first != e->first_output || o->n != e->n_outputs) {
			return -EINVAL;
		}
	}
	for (uint32_t i = 0; i < n; i++)
		if (t->merge_outs[i].n == UINT32_MAX)
			t->merge_outs[i].n = 0;
	return 0;
}

/* Forgets in `from` the merges that `other` holds too, so that freeing `from` keeps them. */
static void merges_unshare(struct table *from, const struct table *other)
{
	for (uint32_t i = 0; from && other && i < from->n_merges; i++)
		for (uint32_t j = 0; j < other->n_merges; j++)
			if (from->merges[i] == other->merges[j])
				from->merges[i] = NULL;
}

static void flush(struct mcr_worker *w);
static void merge_send_held(struct mcr_worker *w, struct table *t, uint32_t i);

/* Sends what the merges of a table on its way out hold, in order, holes given up. */
static void merges_retire(struct mcr_worker *w, struct table *old)
{
	int sent = 0;
	for (uint32_t i = 0; old && i < old->n_merges; i++) {
		struct mcr_merge *m = old->merges[i];
		if (!m || m->held == 0)
			continue;
		m->retire = 1;
		merge_send_held(w, old, i);
		sent = 1;
	}
	if (sent) {
		mcr__leases_settle(&w->leases);
		flush(w);
	}
}

MCR_API int mcr_worker_merges_set(struct mcr_worker *w, const struct mcr_merge_entry *merges,
				  uint32_t n)
{
	if (n > 65536)
		return -EINVAL;
	if (n && !w->merge_ctr) {
		int err = mcr_worker_merge_counters(w, NULL, MCR_MERGE_OWN_SLOTS);
		if (err < 0)
			return err;
	}
	struct mcr_merge_entry *copy = malloc(sizeof(*copy) * (n ? n : 1));
	if (!copy)
		return -ENOMEM;
	if (n)
		memcpy(copy, merges, sizeof(*copy) * n);
	free(w->merge_next);
	w->merge_next = copy;
	w->n_merge_next = n;
	return 0;
}

MCR_API int mcr_worker_merge_counters(struct mcr_worker *w, uint64_t *counters, uint32_t slots)
{
	if (w->table && w->table->n_merges)
		return -EBUSY; /* merges in force count where they count */
	int own = counters == NULL;
	if (own && !(counters = calloc((size_t)slots * MCR_MERGE_COUNTERS + 1, sizeof(uint64_t))))
		return -ENOMEM;
	if (w->own_merge_ctr)
		free(w->merge_ctr);
	w->own_merge_ctr = own;
	w->merge_ctr = counters;
	w->merge_slots = slots;
	return 0;
}

MCR_API int mcr_worker_rules_set(struct mcr_worker *w, const struct mcr_rule_entry *rules,
				 uint32_t n_rules, const struct mcr_output_entry *outputs,
				 uint32_t n_outputs)
{
	struct table *t = calloc(1, sizeof(*t));
	struct table *old = w->table;
	int err = -ENOMEM;
	if (!t)
		return -ENOMEM;
	if (n_rules > MCR_MATCH_MAX) {
		free(t);
		return -EINVAL;
	}
	t->rules = malloc(sizeof(*rules) * (n_rules ? n_rules : 1));
	t->outs = malloc(sizeof(*t->outs) * (n_outputs ? n_outputs : 1));
	t->socks = malloc(sizeof(*t->socks) * (n_outputs ? n_outputs : 1));
	if (!t->rules || !t->outs || !t->socks)
		goto fail;
	err = -EINVAL;
	t->vlans[0] = 1;
	for (uint32_t i = 0; i < n_rules; i++) {
		const struct mcr_rule_entry *e = &rules[i];
		/* In 64 bits: first_output near 2^32 must not wrap into range. */
		if ((uint64_t)e->first_output + e->n_outputs > n_outputs ||
		    e->counter_slot >= w->rule_slots || e->vlan > 4094 || !entry_merge_ok(w, e))
			goto fail;
		t->rules[i] = *e;
		t->vlans[e->vlan / 64] |= 1ull << (e->vlan % 64);
	}
	/* The caller refuses duplicates; a table with one is a bug. */
	if ((err = mcr__match_build(&t->match, t->rules, n_rules)) < 0)
		goto fail;
	t->n_rules = n_rules;
	if ((err = merges_build(w, t, old)) < 0)
		goto fail;
	err = -EINVAL;
	for (uint32_t i = 0; i < n_outputs; i++) {
		const struct mcr_output_entry *o = &outputs[i];
		int ttl_input = o->flags & MCR_OUT_TTL_INPUT;
		if (o->counter_slot >= w->output_slots || (o->ttl == 0) != (ttl_input != 0) ||
		    (o->flags & ~(MCR_OUT_TTL_INPUT | MCR_OUT_DSCP_SET)) || o->dscp > 63 ||
		    (o->rate != 0 && o->burst == 0) || !out_family_ok(o) ||
		    o->bucket > w->n_buckets)
			goto fail;
		t->n_outs = i + 1;
		/* One output the kernel refuses (a broadcast address, a source address gone) fails
		 * alone, with its reason; every other output is installed. */
		int fd = sock_for(t, old, o);
		if (fd < 0) {
			out_failed(&t->outs[i], o->counter_slot, fd);
			continue;
		}
		t->outs[i] = (struct out){ .fd = fd, .tx = -1, .slot = o->counter_slot, .e = *o };
		if (o->rate)
			mcr__lease_init(
				&t->outs[i].rate,
				o->bucket ? &w->buckets[(size_t)(o->bucket - 1) * MCR_BUCKET_WORDS]
					  : NULL,
				o->rate, o->burst);
		if (out_multicast(o) &&
		    (w->egress_mode == MCR_EGRESS_RING || w->egress_mode == MCR_EGRESS_SENDMSG ||
		     w->egress_mode == MCR_EGRESS_GSO)) {
			t->outs[i].tx = tx_for(w, (int)o->ifindex, o->family, fd);
			if (t->outs[i].tx >= 0)
				mcr__tx_header_init(&t->outs[i].hdr, &w->tx[t->outs[i].tx],
						    o->source, o->dest, o->port, o->ttl);
		}
	}
	/* Each input's filter passes the old table's frames and the new one's while the table is
	 * swapped, then the new one's only: a frame of a rule that stays is never turned away. */
	for (int i = 0; i < MCR_MAX_INPUTS; i++)
		if (w->in[i].fd >= 0 && (err = input_filter(&w->in[i], old, t)) < 0) {
			while (--i >= 0) /* the old table stays: so does its filter */
				if (w->in[i].fd >= 0)
					input_filter(&w->in[i], old, NULL);
			goto fail;
		}
	/* A merge that goes (its rule removed, or its settings changed) sends what it holds first:
	 * those packets were wanted, and a new merge starts empty. */
	merges_unshare(old, t);
	merges_retire(w, old);
	/* Between two calls of mcr_worker_poll nothing is in flight: the swap is whole. */
	w->table = t;
	table_free(old, t);
	/* Should this fail, the union stays: a superset, whose extra frames count as no_rule. */
	for (int i = 0; i < MCR_MAX_INPUTS; i++)
		if (w->in[i].fd >= 0)
			input_filter(&w->in[i], t, NULL);
	/* A ring no output uses any more (its interface went, or was re-created under a new index)
	 * is closed. */
	for (int i = 0; i < MCR_MAX_TX; i++) {
		int used = 0;
		for (uint32_t k = 0; k < t->n_outs && !used; k++)
			used = t->outs[k].tx == i;
		if (w->tx[i].fd >= 0 && !used) {
			tx_unregister(w, i);
			mcr__tx_close(&w->tx[i]);
		}
	}
	return 0;
fail:
	merges_unshare(t, old);
	table_free(t, old);
	return err;
}

MCR_API int mcr_worker_buckets_set(struct mcr_worker *w, uint64_t *buckets, uint32_t n)
{
	/* The table's outputs point into the region: it may change only under a table that names
	 * none of its buckets. */
	for (uint32_t i = 0; w->table && i < w->table->n_outs; i++)
		if (w->table->outs[i].e.rate && w->table->outs[i].e.bucket)
			return -EBUSY;
	if (n > UINT16_MAX || (n && !buckets))
		return -EINVAL;
	w->buckets = buckets;
	w->n_buckets = n;
	return 0;
}

MCR_API int mcr_worker_own_set(struct mcr_worker *w, const uint8_t *macs, uint32_t n_macs,
			       const uint32_t *addrs, uint32_t n_addrs)
{
	if (n_macs > MCR_OWN_MAX || n_addrs > MCR_OWN_MAX)
		return -EINVAL;
	if (n_macs)
		memcpy(w->own_mac, macs, (size_t)n_macs * 6);
	if (n_addrs)
		memcpy(w->own_addr, addrs, (size_t)n_addrs * 4);
	w->n_own_mac = n_macs;
	w->n_own_addr = n_addrs;
	return 0;
}

MCR_API int mcr_worker_own6_set(struct mcr_worker *w, const uint8_t *addrs, uint32_t n)
{
	if (n > MCR_OWN_MAX)
		return -EINVAL;
	if (n)
		memcpy(w->own_addr6, addrs, (size_t)n * 16);
	w->n_own_addr6 = n;
	return 0;
}

/* 224.0.0.0/24 or ff02::/16. */
static inline int link_local(const struct mcr_frame_info *fi)
{
	if (fi->family == 4)
		return (mcr__addr_u32(fi->group) & htonl(0xffffff00)) == htonl(0xe0000000);
	return fi->group[0] == 0xff && (fi->group[1] & 0x0f) == 2;
}

/* Whether a frame to a link-local group is the relay's own: its source MAC or address is (an
 * IPv6 one's source is the relay's link-local address, which a reflector that rewrites the MAC
 * keeps). */
static int own_frame(const struct mcr_worker *w, const struct mcr_rx *rx, const uint8_t *f,
		     const struct mcr_frame_info *fi)
{
	for (uint32_t i = 0; fi->family == 4 && i < w->n_own_addr; i++)
		if (w->own_addr[i] == mcr__addr_u32(fi->source))
			return 1;
	for (uint32_t i = 0; fi->family == 6 && i < w->n_own_addr6; i++)
		if (memcmp(w->own_addr6[i], fi->source, 16) == 0)
			return 1;
	for (uint32_t i = 0; !rx->ip_only && i < w->n_own_mac; i++)
		if (memcmp(w->own_mac[i], f + 6, 6) == 0)
			return 1;
	return 0;
}

/* The transmit ring of an interface (of an IP-only one, for the family): open, or opened now.
 * -1 when it cannot be (neither Ethernet nor IP-only, no memory): that output's datagrams then go
 * by its UDP socket. Its link type is asked on probe_fd (the output's UDP socket) and remembered:
 * opening and closing a packet socket to find out costs ~12 ms, for every such output of every
 * install. */
static int tx_for(struct mcr_worker *w, int ifindex, int family, int probe_fd)
{
	int free_slot = -1;
	for (int i = 0; i < MCR_MAX_TX; i++) {
		/* An IP-only interface has a ring per family (egress_packet.c). */
		if (w->tx[i].fd >= 0 && w->tx[i].ifindex == ifindex &&
		    (!w->tx[i].ip_only || w->tx[i].family == family))
			return i;
		if (w->tx[i].fd < 0 && free_slot < 0)
			free_slot = i;
	}
	for (int i = 0; i < MCR_MAX_TX; i++)
		if (w->no_ring[i] == ifindex)
			return -1;
	struct mcr_if_facts facts;
	if (mcr__if_facts(probe_fd, ifindex, &facts) < 0)
		return -1;
	if (facts.arptype != ARPHRD_ETHER && !mcr__ip_only(facts.arptype)) {
		w->no_ring[w->no_ring_next++ % MCR_MAX_TX] = ifindex;
		return -1;
	}
	if (free_slot < 0 ||
	    mcr__tx_open(&w->tx[free_slot], ifindex, family, TX_RING_BYTES, w->egress_mode) < 0)
		return -1;
	/* A send a frame (sendmsg) names its socket by index: no file reference taken and dropped
	 * per send. Without the table (an old kernel) it names the fd. */
	struct mcr_tx *t = &w->tx[free_slot];
	if (t->mode != MCR_EGRESS_RING && w->fixed_files)
		t->fixed = io_uring_register_files_update(&w->ring, (unsigned)free_slot, &t->fd,
							  1) == 1;
	return free_slot;
}

/* Takes a ring's socket out of the file table before it closes (nothing is in flight between
 * batches). */
static void tx_unregister(struct mcr_worker *w, int i)
{
	int none = -1;
	if (w->tx[i].fixed)
		io_uring_register_files_update(&w->ring, (unsigned)i, &none, 1);
	w->tx[i].fixed = 0;
}

/* A datagram an output lost: a send error, or its egress had no room (EGRESS_FULL). */
static void count_drop(struct mcr_worker *w, uint32_t slot, enum mcr_drop why)
{
	w->out_ctr[slot * 3 + 2]++;
	w->counters[MCR_C_TX_ERRORS]++;
	w->counters[MCR_C_DROPS + why]++;
}

static void count_sent(struct mcr_worker *w, uint32_t slot, int64_t res)
{
	uint64_t *o = &w->out_ctr[slot * 3];
	if (res >= 0) {
		o[0]++;
		o[1] += (uint64_t)res;
		w->counters[MCR_C_TX_PACKETS]++;
		w->counters[MCR_C_TX_BYTES] += (uint64_t)res;
	} else {
		/* Sends never wait (MSG_DONTWAIT): a socket buffer that is full is a full egress. */
		count_drop(w, slot,
			   res == -EAGAIN || res == -ENOBUFS ? MCR_DROP_EGRESS_FULL
							     : MCR_DROP_SEND_ERROR);
	}
}

/* A queued datagram's journal entry; the caller flushed first if the journal was full. */
static inline uint32_t journal_add(struct mcr_worker *w, uint32_t slot, uint32_t len)
{
	uint32_t j = w->j_n++;
	w->journal[j] =
		MCR_JOURNAL_VALID | (uint64_t)slot << MCR_JOURNAL_SLOT_SHIFT | (len & 0xffff);
	return j;
}

/* Its send's completion is being counted: the entry goes first, so that a kill in between
 * loses that one count rather than counting it twice. Returns the output slot. */
static inline uint32_t journal_take(struct mcr_worker *w, uint32_t j)
{
	uint32_t slot = (uint32_t)(w->journal[j] >> MCR_JOURNAL_SLOT_SHIFT);
	__atomic_store_n(&w->journal[j], 0, __ATOMIC_RELAXED);
	return slot;
}

/* Before a submit: every entry so far goes to the kernel with it. A signal takes effect only when
 * the syscall returns, so a worker killed from here on had its sends made. */
static void journal_submitting(struct mcr_worker *w)
{
	for (uint32_t j = w->j_submitted; j < w->j_n; j++)
		w->journal[j] |= MCR_JOURNAL_SUBMITTED;
	w->j_submitted = w->j_n;
	__atomic_thread_fence(__ATOMIC_RELEASE);
}

static inline struct tpacket2_hdr *tx_frame(const struct mcr_tx *t, uint32_t i)
{
	return (struct tpacket2_hdr *)(t->map + (size_t)i * t->frame_size);
}

/* Reads the interface's MTU again; when it changed, the outputs on this ring get headers (and
 * the largest payload the ring may carry) for the new one. */
static void tx_mtu_check(struct mcr_worker *w, int ti)
{
	struct mcr_tx *t = &w->tx[ti];
	struct mcr_if_facts facts;
	if (mcr__if_facts(t->fd, t->ifindex, &facts) < 0 || facts.mtu == t->mtu)
		return;
	t->mtu = facts.mtu;
	struct table *tb = w->table;
	for (uint32_t i = 0; tb && i < tb->n_outs; i++) {
		struct out *o = &tb->outs[i];
		if (o->tx != ti)
			continue;
		uint16_t id = o->hdr.ip_id;
		mcr__tx_header_init(&o->hdr, t, o->e.source, o->e.dest, o->e.port, o->e.ttl);
		o->hdr.ip_id = id;
	}
}

/* A ring's send completed. The kernel takes the pending frames in ring order and stops at the
 * first it cannot send (its socket buffer full, the device gone): that one and those after it
 * are still marked for sending. They are dropped here, counted, and their frames taken back, so
 * that none leaves later uncounted or holds the ring. Frames the kernel skipped as too large for
 * the device (PACKET_LOSS; the MTU was lowered) look sent: the byte count it returns tells. */
static void count_kick(struct mcr_worker *w, int ti, int res)
{
	struct mcr_tx *t = &w->tx[ti];
	uint32_t first = (t->head + t->frame_nr - t->npend) % t->frame_nr, taken = 0;
	uint64_t bytes = 0;
	for (; taken < t->npend; taken++) {
		uint32_t st = __atomic_load_n(
			&tx_frame(t, (first + taken) % t->frame_nr)->tp_status, __ATOMIC_ACQUIRE);
		if (st == TP_STATUS_SEND_REQUEST || st == TP_STATUS_WRONG_FORMAT)
			break;
		bytes += t->pend_len[taken] + t->pend_hdr[taken];
	}
	int check = res >= 0 && (uint64_t)res != bytes;
	if (check)
		tx_mtu_check(w, ti);
	for (uint32_t i = 0; i < taken; i++) {
		/* The IP datagram (payload and headers past any Ethernet header) against the MTU. */
		uint32_t slot = journal_take(w, t->pend_slot[i]);
		if (check &&
		    t->pend_len[i] + t->pend_hdr[i] - (t->ip_only ? 0u : MCR_ETH_HLEN) > t->mtu)
			count_drop(w, slot, MCR_DROP_SEND_ERROR);
		else
			count_sent(w, slot, t->pend_len[i]);
	}
	for (uint32_t i = taken; i < t->npend; i++) {
		count_drop(w, journal_take(w, t->pend_slot[i]),
			   res >= 0 || res == -EAGAIN || res == -ENOBUFS ? MCR_DROP_EGRESS_FULL
									 : MCR_DROP_SEND_ERROR);
		__atomic_store_n(&tx_frame(t, (first + i) % t->frame_nr)->tp_status,
				 TP_STATUS_AVAILABLE, __ATOMIC_RELEASE);
	}
	/* The kernel's position in the ring is the first frame it did not take: ours too. */
	if (taken < t->npend)
		t->head = (first + taken) % t->frame_nr;
	t->npend = 0;
	t->kicked = 0;
}

static void count_cqe(struct mcr_worker *w, const struct io_uring_cqe *cqe)
{
	if (cqe->user_data & KICK) {
		count_kick(w, (int)(cqe->user_data & ~KICK), cqe->res);
		return;
	}
	if (cqe->user_data & FRAME) {
		/* One send, one or more datagrams; the counters count their payload bytes. */
		const struct mcr_tx *t = &w->tx[cqe->user_data >> 48 & 0x3fff];
		const struct mcr_txm *m = &t->msgs[cqe->user_data >> 32 & 0xffff];
		uint32_t slot = (uint32_t)cqe->user_data;
		for (uint32_t i = 0; i < m->segs; i++)
			journal_take(w, m->j0 + i);
		if (cqe->res >= 0) {
			uint64_t *o = &w->out_ctr[slot * 3];
			o[0] += m->segs;
			o[1] += m->bytes;
			w->counters[MCR_C_TX_PACKETS] += m->segs;
			w->counters[MCR_C_TX_BYTES] += m->bytes;
		} else {
			for (uint32_t i = 0; i < m->segs; i++)
				count_sent(w, slot, cqe->res);
		}
		return;
	}
	count_sent(w, journal_take(w, (uint32_t)cqe->user_data), cqe->res);
}

/* An SQE; when the submission queue is full, what it holds is submitted first. */
static struct io_uring_sqe *get_sqe(struct mcr_worker *w)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&w->ring);
	if (!sqe) {
		journal_submitting(w);
		io_uring_submit(&w->ring);
		sqe = io_uring_get_sqe(&w->ring);
	}
	return sqe;
}

/* Sends every transmit ring's pending frames, submits what is queued and waits for every
 * completion. If io_uring fails meanwhile, sends may still be in flight, reading frames: the
 * worker is marked broken, keeps its frames, and mcr_worker_poll says so (the process exits). */
static void flush(struct mcr_worker *w)
{
	if (w->broken)
		return;
	for (unsigned i = 0; i < w->n_open; i++)
		if (w->open[i]->gso_open)
			gso_close(w, w->open[i]);
	w->n_open = 0;
	for (int i = 0; i < MCR_MAX_TX; i++) {
		struct mcr_tx *t = &w->tx[i];
		if (t->fd < 0 || t->npend == 0 || t->kicked)
			continue;
		struct io_uring_sqe *sqe = get_sqe(w);
		if (!sqe) {
			count_kick(w, i, -EBUSY); /* nothing was sent: the frames are taken back */
			continue;
		}
		/* With a transmit ring, any send takes every frame marked for sending. Never waiting
		 * for the device: a slow one must not hold up the other outputs. */
		if (t->ip_only) /* the address names the frames' protocol (egress_packet.c) */
			io_uring_prep_sendmsg(sqe, t->fd, &t->kick, MSG_DONTWAIT);
		else
			io_uring_prep_send(sqe, t->fd, NULL, 0, MSG_DONTWAIT);
		io_uring_sqe_set_data64(sqe, KICK | (uint64_t)i);
		t->kicked = 1;
		w->queued++;
	}
	unsigned left = w->queued;
	journal_submitting(w);
	while (left > 0) {
		int r = io_uring_submit_and_wait(&w->ring, 1);
		if (r < 0 && r != -EINTR && r != -EAGAIN && r != -EBUSY) {
			w->broken = r;
			return;
		}
		struct io_uring_cqe *cqe;
		unsigned head, seen = 0;
		io_uring_for_each_cqe(&w->ring, head, cqe)
		{
			/* A zero-copy send completes twice: its result (F_MORE: a notification
			 * follows), then the notification that the kernel let go of the payload. */
			if (!(cqe->flags & IORING_CQE_F_NOTIF))
				count_cqe(w, cqe);
			if (cqe->flags & IORING_CQE_F_MORE)
				left++;
			seen++;
		}
		io_uring_cq_advance(&w->ring, seen);
		left -= seen < left ? seen : left;
	}
	/* Every send completed: the sendmsg frames' slots are free again. */
	for (int i = 0; i < MCR_MAX_TX; i++)
		w->tx[i].nmsg = 0;
	w->queued = 0;
	w->j_n = w->j_submitted = 0; /* every entry was taken */
	w->flush_epoch++;
}

/* The ring's send goes after the socket sends of a batch, so an output whose datagrams take
 * both paths (one larger than the MTU among them) would see them reordered: when it changes path
 * with a datagram of the other path still to go, that one goes first. */
static inline void keep_order(struct mcr_worker *w, struct out *o, uint8_t path)
{
	if (o->path != path && o->path != PATH_NONE && o->path_epoch == w->flush_epoch)
		flush(w);
	o->path = path;
	o->path_epoch = w->flush_epoch;
}

static inline void queue_send(struct mcr_worker *w, const struct out *o, uint8_t *payload,
			      uint32_t len, uint8_t tos, uint8_t ttl)
{
	if (o->fd < 0) {
		count_sent(w, o->slot, o->err);
		return;
	}
	if (w->queued >= SQ_DEPTH - MCR_MAX_TX || w->j_n == MCR_JOURNAL_LEN)
		flush(w); /* room for the rings' sends, and in the journal */
	struct io_uring_sqe *sqe = w->broken ? NULL : get_sqe(w);
	if (!sqe) {
		count_drop(w, o->slot, MCR_DROP_SEND_ERROR);
		return;
	}
	/* The frame's TOS and TTL go with the datagram; the slot lives until the flush. */
	struct msg_slot *m = &w->msgs[w->queued++];
	m->iov = (struct iovec){ .iov_base = payload, .iov_len = len };
	m->mh = (struct msghdr){ .msg_iov = &m->iov,
				 .msg_iovlen = 1,
				 .msg_control = m->c.buf,
				 .msg_controllen = sizeof(m->c.buf) };
	struct cmsghdr *c = CMSG_FIRSTHDR(&m->mh);
	int v = tos, v6 = o->e.family == 6;
	c->cmsg_level = v6 ? IPPROTO_IPV6 : IPPROTO_IP;
	c->cmsg_type = v6 ? IPV6_TCLASS : IP_TOS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &v, sizeof(v));
	c = CMSG_NXTHDR(&m->mh, c);
	v = ttl;
	c->cmsg_level = v6 ? IPPROTO_IPV6 : IPPROTO_IP;
	c->cmsg_type = v6 ? IPV6_HOPLIMIT : IP_TTL;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &v, sizeof(v));
	/* A full socket buffer is a drop, counted as EGRESS_FULL, not a wait for the device. */
	if (w->egress_mode == MCR_EGRESS_ZC)
		io_uring_prep_sendmsg_zc(sqe, o->fd, &m->mh, MSG_DONTWAIT);
	else
		io_uring_prep_sendmsg(sqe, o->fd, &m->mh, MSG_DONTWAIT);
	io_uring_sqe_set_data64(sqe, journal_add(w, o->slot, len));
}

/* Message mi of the output's ring onto io_uring (its SQE already counted in queued). */
static void queue_msg(struct mcr_worker *w, struct out *o, uint32_t mi)
{
	struct mcr_tx *t = &w->tx[o->tx];
	struct mcr_txm *m = &t->msgs[mi];
	mcr__txm_finish(t, mi, &o->hdr);
	/* One entry a datagram, as the transmit ring's: a worker killed before their completion has
	 * them counted by the supervisor (queue_frame_msg kept room for them). */
	m->j0 = w->j_n;
	for (uint32_t i = 0; i < m->segs; i++)
		journal_add(w, o->slot,
			    i + 1 < m->segs ? m->seg_len : m->bytes - (m->segs - 1) * m->seg_len);
	w->j_owed -= m->segs;
	struct io_uring_sqe *sqe = get_sqe(w);
	if (!sqe) {
		w->queued--;
		for (uint32_t i = 0; i < m->segs; i++)
			count_drop(w, journal_take(w, m->j0 + i), MCR_DROP_SEND_ERROR);
		return;
	}
	/* Never waiting for the device: a slow one must not hold up the other outputs. */
	io_uring_prep_sendmsg(sqe, t->fixed ? o->tx : t->fd, &t->msgs[mi].mh, MSG_DONTWAIT);
	if (t->fixed)
		sqe->flags |= IOSQE_FIXED_FILE;
	io_uring_sqe_set_data64(sqe, FRAME | (uint64_t)o->tx << 48 | (uint64_t)mi << 32 | o->slot);
}

/* A run is one packet to the device, which drops it whole and uncounted when its datagrams
 * outgrew a lowered MTU (the kernel checks only a single datagram's length against it). So a
 * ring's MTU is read once in a flush that sends a run, and a run too large for it is counted as
 * send errors, not sent. */
static void gso_close(struct mcr_worker *w, struct out *o)
{
	uint32_t mi = o->gso_open - 1;
	struct mcr_txm *m = &w->tx[o->tx].msgs[mi];
	o->gso_open = 0;
	if (m->segs > 1 && w->mtu_seen[o->tx] != w->flush_epoch + 1) {
		w->mtu_seen[o->tx] = w->flush_epoch + 1;
		tx_mtu_check(w, o->tx);
	}
	if (m->segs > 1 && m->seg_len > o->hdr.max_payload) {
		w->queued--;
		w->j_owed -= m->segs;
		for (uint32_t i = 0; i < m->segs; i++)
			count_drop(w, o->slot, MCR_DROP_SEND_ERROR);
		return;
	}
	queue_msg(w, o, mi);
}

/* A datagram for a multicast output in MCR_EGRESS_SENDMSG or MCR_EGRESS_GSO: its headers in a
 * slot of the interface's, its payload read from the receive ring by the send. */
static inline void queue_frame_msg(struct mcr_worker *w, struct out *o, uint16_t sport,
				   const uint8_t *payload, uint32_t len,
				   const struct mcr_csum_in *cs, uint8_t tos, uint8_t ttl)
{
	struct mcr_tx *t = &w->tx[o->tx];
	/* Room in the journal for this datagram's entry, besides those owed already. */
	if (w->j_n + w->j_owed >= MCR_JOURNAL_LEN)
		flush(w);
	if (o->gso_open &&
	    mcr__txm_append(t, o->gso_open - 1, &o->hdr, sport, payload, len, cs, tos, ttl) == 0) {
		w->j_owed++;
		return;
	}
	if (t->nmsg == MCR_TXM_SLOTS || w->queued >= SQ_DEPTH - MCR_MAX_TX)
		flush(w); /* queues the open messages too */
	else if (o->gso_open)
		gso_close(w, o); /* this datagram cannot join: the message goes as it is */
	if (w->broken) {
		count_drop(w, o->slot, MCR_DROP_SEND_ERROR);
		return;
	}
	int mi = mcr__txm_put(t, &o->hdr, sport, payload, len, cs, tos, ttl);
	w->queued++; /* its SQE, now or at the flush */
	w->j_owed++;
	if (t->mode == MCR_EGRESS_GSO) {
		o->gso_open = (uint32_t)mi + 1;
		w->open[w->n_open++] = o;
	} else {
		queue_msg(w, o, (uint32_t)mi);
	}
}

/* A datagram for a multicast output: built into the interface's transmit ring. */
static inline void queue_frame(struct mcr_worker *w, struct out *o, uint16_t sport,
			       const uint8_t *payload, uint32_t len, const struct mcr_csum_in *cs,
			       uint8_t tos, uint8_t ttl)
{
	struct mcr_tx *t = &w->tx[o->tx];
	if (t->mode != MCR_EGRESS_RING) {
		queue_frame_msg(w, o, sport, payload, len, cs, tos, ttl);
		return;
	}
	if (w->j_n == MCR_JOURNAL_LEN)
		flush(w);
	/* The ring keeps the journal entry's index; the entry, the output's slot. */
	if (mcr__tx_put(t, &o->hdr, sport, payload, len, w->j_n, cs, tos, ttl) == 0) {
		journal_add(w, o->slot, len);
		return;
	}
	/* The ring is full: send what is pending (on veth that frees frames at once) and try once
	 * more. Past that the output drops, counted, without waiting for the device: a slow output
	 * must not hold up the others. Found full once, it drops until the next flush. */
	if (w->tx_full[o->tx] != w->flush_epoch + 1) {
		flush(w);
		if (mcr__tx_put(t, &o->hdr, sport, payload, len, w->j_n, cs, tos, ttl) == 0) {
			journal_add(w, o->slot, len);
			return;
		}
		w->tx_full[o->tx] = w->flush_epoch + 1;
	}
	count_drop(w, o->slot, MCR_DROP_EGRESS_FULL);
}

/* The VLAN a frame came on: the kernel's tag, or else a single tag left in the frame over IPv4
 * (the parser steps over it); 0: untagged (or priority-tagged). -1: not input, a frame of another
 * host, or a tag in the frame behind the kernel's (QinQ: another VLAN's datagram). Nested or cut
 * tags are the parser's to count (vlan_nested, vlan_truncated). */
static inline int frame_vlan(const struct mcr_rx_frame *v)
{
	const uint8_t *f = v->f;
	if (v->sll->sll_pkttype == PACKET_OTHERHOST)
		return -1;
	int kernel = (v->status & TP_STATUS_VLAN_VALID) != 0;
	int vid = kernel ? v->vlan_tci & 0x0fff : 0;
	if (v->snaplen < 18)
		return vid;
	uint32_t outer = (uint32_t)f[12] << 8 | f[13], inner = (uint32_t)f[16] << 8 | f[17];
	if ((outer == 0x8100 || outer == 0x88a8) && inner != 0x8100 && inner != 0x88a8)
		return kernel ? -1 : (int)((uint32_t)f[14] << 8 | f[15]) & 0x0fff;
	return vid;
}

/* A datagram for a rule's outputs: a frame's, or a merge's held copy. */
struct copy_src {
	uint8_t *payload;
	uint32_t len;
	uint16_t sport;
	uint8_t tos, ttl; /* the input's */
	struct mcr_csum_in cs;
	int wrong; /* is the input's checksum wrong: -1 until a UDP socket needs to know */
	const uint8_t *ip, *udp; /* a frame's headers, to work that out; ip NULL: a held copy's */
	uint16_t
		head; /* a held copy: its headers' sum (mcr__udp_head_sum), kept when it was held */
	int v6;
	const struct mcr_rx *rx; /* the ring it came from; NULL: a merge's held packet */
};

/* A sum left unfinished or absent, or one the kernel or the NIC verified, is never wrong. */
static inline int copy_checked(const struct copy_src *c)
{
	return c->cs.mode == MCR_CSUM_UPDATE && !c->cs.valid;
}

static inline uint16_t copy_head(const struct copy_src *c)
{
	return mcr__udp_head_sum(c->ip, c->udp, c->v6, c->len + 8u);
}

static inline int copy_wrong(struct copy_src *c)
{
	if (c->wrong < 0)
		c->wrong = copy_checked(c) &&
			   !mcr__udp_sum_ok(c->ip ? copy_head(c) : c->head, c->payload, c->len);
	return c->wrong;
}

static inline void send_copies(struct mcr_worker *w, struct table *t, uint32_t first, uint32_t n,
			       struct copy_src *c)
{
	for (uint32_t k = 0; k < n; k++) {
		struct out *o = &t->outs[first + k];
		/* DSCP and ECN kept from the input unless the output sets DSCP (ECN kept still). */
		uint8_t tos = (o->e.flags & MCR_OUT_DSCP_SET)
				      ? (uint8_t)(o->e.dscp << 2 | (c->tos & 3))
				      : c->tos,
			ttl = o->e.ttl;
		if (o->e.flags & MCR_OUT_TTL_INPUT) {
			if (c->ttl <= 1) {
				count_drop(w, o->slot, MCR_DROP_TTL_EXPIRED);
				continue;
			}
			ttl = c->ttl - 1;
		}
		if (o->e.rate &&
		    !mcr__lease_pass(&o->rate, &w->leases, w->batch_ns, c->rx, w->batch_left)) {
			count_drop(w, o->slot, MCR_DROP_RATE_LIMITED);
			continue;
		}
		if (o->tx >= 0 && c->len <= o->hdr.max_payload) {
			keep_order(w, o, PATH_RING);
			queue_frame(w, o, c->sport, c->payload, c->len, &c->cs, tos, ttl);
		} else {
			/* A UDP socket gives the datagram a right checksum whatever the input's: a wrong
			 * one (that the device did not vouch for) is not relayed there. */
			if (copy_wrong(c)) {
				w->counters[MCR_C_DROPS + MCR_DROP_UDP_CHECKSUM]++;
				continue;
			}
			keep_order(w, o, PATH_SOCKET);
			queue_send(w, o, c->payload, c->len, tos, ttl);
		}
	}
}

/* A merge's held packets that may go now, in sequence order. A send reads a copy until the flush
 * of the epoch it was queued in: the slot says which (send_copies may flush on the way). */
static void merge_send_held(struct mcr_worker *w, struct table *t, uint32_t i)
{
	struct mcr_merge *m = t->merges[i];
	const struct merge_out *o = &t->merge_outs[i];
	struct mcr_merge_slot *s;
	while ((s = mcr__merge_pop(m, w->batch_ns, w->flush_epoch))) {
		struct copy_src c = { .payload = s->data,
				      .len = s->len,
				      .sport = s->meta.sport,
				      .tos = s->meta.tos,
				      .ttl = s->meta.ttl,
				      .cs = s->meta.cs,
				      .wrong = -1,
				      .head = s->meta.head };
		send_copies(w, t, o->first, o->n, &c);
		s->epoch = w->flush_epoch;
	}
}

/* A frame of a merge leg: the engine says whether it goes now, waits, or was another leg's. */
static void merge_frame(struct mcr_worker *w, struct table *t, const struct mcr_rule_entry *e,
			struct copy_src *c)
{
	struct mcr_merge *m = t->merges[e->merge];
	struct mcr_merge_meta meta = {
		.cs = c->cs, .sport = c->sport, .tos = c->tos, .ttl = c->ttl
	};
	for (;;) {
		int a = mcr__merge_in(m, e->leg, c->payload, c->len, &meta, w->batch_ns,
				      w->flush_epoch);
		switch (a) {
		case MCR_MERGE_BUSY:
			if (w->broken)
				return;
			flush(w);
			continue;
		case MCR_MERGE_DRAIN:
			merge_send_held(w, t, e->merge);
			continue;
		case MCR_MERGE_SEND:
			send_copies(w, t, e->first_output, e->n_outputs, c);
			merge_send_held(w, t, e->merge);
			return;
		case MCR_MERGE_HELD:
			/* A copy that waits keeps no headers: their sum is kept, so that a UDP socket
			 * path can still check the copy's checksum when it goes. The payload is summed
			 * then, if a socket path needs it: a copy that leaves by a packet path (which
			 * keeps a wrong sum wrong) never is (summing every held copy cost the merge
			 * worker 1.4% of its time at 70k pps a leg). */
			if (copy_checked(c))
				m->last_held->meta.head = copy_head(c);
			merge_send_held(w, t, e->merge);
			return;
		case MCR_MERGE_NOT_RTP:
			w->counters[MCR_C_DROPS + MCR_DROP_NOT_RTP]++;
			return;
		case MCR_MERGE_DUP:
			/* The copy may have taken the last leg past a hole: what waits behind it goes. */
			if (m->held)
				merge_send_held(w, t, e->merge);
			return;
		default: /* duplicates, late, standing by: the leg's counters say */
			return;
		}
	}
}

/* Held packets whose hole has been waited on for the window go, once per round. */
static void merge_expire_all(struct mcr_worker *w)
{
	struct table *t = w->table;
	int sent = 0;
	for (uint32_t i = 0; t && i < t->n_merges; i++) {
		struct mcr_merge *m = t->merges[i];
		if (w->batch_ns < mcr__merge_deadline(m))
			continue;
		while (mcr__merge_expire(m, w->batch_ns)) {
			merge_send_held(w, t, i);
			sent = 1;
		}
	}
	if (sent) {
		mcr__leases_settle(&w->leases);
		flush(w);
	}
}

/* The earliest time a merge has held packets to give up on (INT64_MAX: none): the worker's
 * waits end by then. */
static int64_t merge_due(const struct mcr_worker *w)
{
	const struct table *t = w->table;
	int64_t due = INT64_MAX;
	for (uint32_t i = 0; t && i < t->n_merges; i++) {
		int64_t d = mcr__merge_deadline(t->merges[i]);
		if (d < due)
			due = d;
	}
	return due;
}

static inline void classify(struct mcr_worker *w, const struct mcr_rx *rx,
			    const struct mcr_rx_frame *v)
{
	uint8_t *f = v->f;
	struct mcr_frame_info fi;
	/* Frames leaving this host (our own egress among them) are not input, whatever
	 * PACKET_IGNORE_OUTGOING managed to filter in the kernel. */
	if (v->sll->sll_pkttype == PACKET_OUTGOING)
		return;
	/* A VLAN no rule asks for is not input (the filter turns it away unless coarsened). */
	struct table *t = w->table;
	/* A link without a header (tun, WireGuard, IPIP, GRE) has no tags. */
	int vlan = rx->ip_only ? 0 : frame_vlan(v);
	if (vlan < 0 || (vlan > 0 && !(t && (t->vlans[vlan / 64] >> (vlan % 64) & 1)))) {
		w->counters[MCR_C_RX_FOREIGN]++;
		return;
	}
	w->counters[MCR_C_RX_FRAMES]++;
	w->counters[MCR_C_RX_BYTES] += v->len;
	if (v->snaplen < v->len) {
		w->counters[MCR_C_DROPS + MCR_DROP_FRAME_TRUNCATED]++;
		return;
	}
	int r = rx->ip_only ? mcr__frame_parse_ip(f, v->snaplen, &fi)
			    : mcr__frame_parse(f, v->snaplen, &fi);
	if (r != MCR_PARSE_OK) {
		w->counters[MCR_C_DROPS + r]++;
		return;
	}
	int32_t ri = t ? mcr__match_find(&t->match, (uint32_t)rx->ifindex, fi.group, fi.port,
					 (uint32_t)vlan, fi.source, fi.family)
		       : -1;
	if (ri < 0) {
		w->counters[MCR_C_DROPS + MCR_DROP_NO_RULE]++;
		return;
	}
	/* One compare for every other group: only a link-local rule sends back to a segment that
	 * may reflect to its input (it must use another interface, but a bridge or a loop joins
	 * them), and then the relay would take its own frames again, without end. */
	if (link_local(&fi) && own_frame(w, rx, f, &fi)) {
		w->counters[MCR_C_DROPS + MCR_DROP_LOOP]++;
		return;
	}
	const struct mcr_rule_entry *e = &t->rules[ri];
	/* A merge leg's frame on a fanout ring, or another rule's on a merge ring, got past a
	 * filter coarsened past the kernel's limits: the other ring takes it; not input here. */
	if (!(e->flags & MCR_RULE_MERGE) != !rx->merge_only) {
		w->counters[MCR_C_RX_FRAMES]--;
		w->counters[MCR_C_RX_BYTES] -= v->len;
		w->counters[MCR_C_RX_FOREIGN]++;
		return;
	}
	uint64_t *rc = &w->rule_ctr[e->counter_slot * 2];
	rc[0]++;
	rc[1] += fi.payload_len;
	/* The output's UDP checksum comes from the input's (egress_packet.c, mcr__udp_csum). */
	const uint8_t *ip = f + fi.ip_off, *udp = f + fi.payload_off - 8;
	int v6 = fi.family == 6;
	struct copy_src c = { .payload = f + fi.payload_off,
			      .len = fi.payload_len,
			      .sport = fi.sport,
			      .wrong = -1,
			      .ip = ip,
			      .udp = udp,
			      .v6 = v6,
			      .rx = rx };
	c.cs.replaced =
		v6 ? mcr__csum_fields(ip + 8, 32, udp + 2) : mcr__csum_fields(ip + 12, 8, udp + 2);
	/* TOS and TTL, or traffic class and hop limit: they map one to one. */
	c.tos = v6 ? (uint8_t)(ip[0] << 4 | ip[1] >> 4) : ip[1];
	c.ttl = v6 ? ip[7] : ip[8];
	memcpy(&c.cs.sum, udp + 6, 2);
	c.cs.valid = (v->status & TP_STATUS_CSUM_VALID) != 0;
	c.cs.mode = (v->status & TP_STATUS_CSUMNOTREADY) ? MCR_CSUM_FULL
		    : c.cs.sum == 0			 ? MCR_CSUM_NONE
							 : MCR_CSUM_UPDATE;
	if (e->flags & MCR_RULE_MERGE)
		merge_frame(w, t, e, &c);
	else
		send_copies(w, t, e->first_output, e->n_outputs, &c);
}

/* After a batch: tokens it did not use go back to the buckets, its sends are made and completed,
 * and only then its frames go back to the kernel (sends read them). */
static void batch_end(struct mcr_worker *w, struct mcr_rx **r, int nr)
{
	mcr__leases_settle(&w->leases);
	flush(w);
	if (w->broken)
		return; /* sends may still read these frames: they never go back */
	for (int k = 0; k < nr; k++)
		mcr__rx_give_back(r[k]);
	w->counters[MCR_C_BATCHES]++;
}

/* One batch from one ring. Returns the frames taken. */
static int rx_batch(struct mcr_worker *w, struct mcr_rx *rx, int batch_max)
{
	struct mcr_rx_frame v;
	int n = 0;
	while (n < batch_max && mcr__rx_peek(rx, &v)) {
		w->batch_left = (uint32_t)(batch_max - n);
		classify(w, rx, &v);
		mcr__rx_step(rx);
		n++;
	}
	if (n)
		batch_end(w, &rx, 1);
	return n;
}

/* The merge rings' frames in the order they arrived, across the rings: a failover that reverts
 * at one leg's frame must have read the other leg's copies that came before it (ring by ring,
 * the copy of a packet that came between two of the first ring's frames was read after the
 * switch: lost), and rtp holds fewer copies for holes the other leg has filled already. */
static int rx_merge_batch(struct mcr_worker *w, int batch_max)
{
	struct mcr_rx *r[MCR_MAX_INPUTS];
	struct mcr_rx_frame v[MCR_MAX_INPUTS];
	int ready[MCR_MAX_INPUTS], nr = 0, n = 0;
	for (int i = 0; i < MCR_MAX_INPUTS; i++)
		if (w->in[i].fd >= 0 && w->in[i].merge_only) {
			r[nr] = &w->in[i];
			ready[nr] = mcr__rx_peek(r[nr], &v[nr]);
			nr++;
		}
	while (n < batch_max) {
		int best = -1;
		for (int k = 0; k < nr; k++)
			if (ready[k] && (best < 0 || v[k].ns < v[best].ns))
				best = k;
		if (best < 0)
			break;
		w->batch_left = (uint32_t)(batch_max - n);
		classify(w, r[best], &v[best]);
		mcr__rx_step(r[best]);
		ready[best] = mcr__rx_peek(r[best], &v[best]);
		n++;
	}
	if (n)
		batch_end(w, r, nr);
	return n;
}

static int process_ready(struct mcr_worker *w, int batch_max)
{
	int total = 0;
	w->batch_ns = now_ns(); /* one clock read a round, whatever the frames */
	for (int i = 0; i < MCR_MAX_INPUTS; i++)
		if (w->in[i].fd >= 0 && !w->in[i].merge_only)
			total += rx_batch(w, &w->in[i], batch_max);
	total += rx_merge_batch(w, batch_max);
	/* After the rings: a copy already waiting in another leg's ring fills its hole before the
	 * hole is given up, however late the worker came round to it. */
	merge_expire_all(w);
	return total;
}

static int have_inputs(const struct mcr_worker *w)
{
	for (int i = 0; i < MCR_MAX_INPUTS; i++)
		if (w->in[i].fd >= 0)
			return 1;
	return 0;
}

/* Whether a frame waits on some input: one load of the next frame's status per ring. */
static inline int frames_waiting(const struct mcr_worker *w)
{
	for (int i = 0; i < MCR_MAX_INPUTS; i++)
		if (w->in[i].fd >= 0 && mcr__rx_any(&w->in[i]))
			return 1;
	return 0;
}

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield");
#endif
}

/* Watches the rings until a frame comes or the clock reaches until_ns. Returns 1 if one came. */
static int spin(const struct mcr_worker *w, int64_t until_ns)
{
	for (;;) {
		/* A few looks per clock read: the clock costs more than a look. */
		for (int i = 0; i < 16; i++) {
			if (frames_waiting(w))
				return 1;
			cpu_relax();
		}
		if (now_ns() >= until_ns)
			return 0;
	}
}

/* The adaptive spin budget follows how long the worker waited for frames after a batch (the way
 * KVM's halt polling sizes its window): a wait the spin covered keeps the budget; a wait longer
 * than the budget but within SPIN_MAX_NS means a longer spin would have saved the sleep, so the
 * budget grows; a wait beyond SPIN_MAX_NS means the stream is too sparse for spinning to pay,
 * so it shrinks (to nothing: then the worker sleeps at once, as in sleep mode). A steady stream
 * that comes faster than SPIN_MAX_NS is then taken without a wakeup per frame, and an idle
 * worker costs one short spin per burst at most. */
#define SPIN_START_NS 10000
#define SPIN_MAX_NS 50000

static void spin_adapt(struct mcr_worker *w, int64_t waited_ns)
{
	if (waited_ns <= w->spin_ns)
		return;
	if (waited_ns <= SPIN_MAX_NS) {
		int64_t grown = w->spin_ns ? w->spin_ns * 2 : SPIN_START_NS;
		w->spin_ns = grown < SPIN_MAX_NS ? grown : SPIN_MAX_NS;
	} else {
		w->spin_ns /= 2;
		if (w->spin_ns < SPIN_START_NS)
			w->spin_ns = 0;
	}
}

/* Waits for frames on every input for up to timeout_ms (0: only looks); -ENETDOWN when an
 * input reported an error. A wait that may sleep counts as a wakeup when it returns. */
static int wait_ready(struct mcr_worker *w, int timeout_ms)
{
	struct pollfd pfd[MCR_MAX_INPUTS];
	nfds_t nfds = 0;
	for (int i = 0; i < MCR_MAX_INPUTS; i++)
		if (w->in[i].fd >= 0)
			pfd[nfds++] =
				(struct pollfd){ .fd = w->in[i].fd, .events = POLLIN | POLLRDNORM };
	int r = poll(pfd, nfds, timeout_ms);
	if (timeout_ms != 0)
		w->counters[MCR_C_WAKEUPS]++;
	if (r < 0)
		return errno == EINTR ? 0 : -errno;
	int down = 0;
	for (nfds_t i = 0; i < nfds; i++) {
		if (!(pfd[i].revents & (POLLERR | POLLNVAL)))
			continue;
		/* The interface went down or away: the kernel set the socket's error, which polls as
		 * POLLERR until read. Read it, and let the caller look at its interfaces. */
		int soerr = 0;
		socklen_t len = sizeof(soerr);
		getsockopt(pfd[i].fd, SOL_SOCKET, SO_ERROR, &soerr, &len);
		down = 1;
	}
	return down ? -ENETDOWN : r;
}

MCR_API int mcr_worker_egress_mode_set(struct mcr_worker *w, int mode)
{
	if (mode < MCR_EGRESS_RING || mode > MCR_EGRESS_GSO)
		return -EINVAL;
	/* Rings and headers are made for the mode when a table is installed. */
	if (w->table)
		return -EBUSY;
	w->egress_mode = mode;
	return 0;
}

MCR_API int mcr_worker_rx_mode_set(struct mcr_worker *w, int mode)
{
	if (mode != MCR_RX_FRAMES && mode != MCR_RX_BLOCKS)
		return -EINVAL;
	if (have_inputs(w))
		return -EBUSY;
	w->rx_mode = mode;
	return 0;
}

MCR_API int mcr_worker_poll_mode_set(struct mcr_worker *w, int mode)
{
	if (mode != MCR_POLL_ADAPTIVE && mode != MCR_POLL_BUSY && mode != MCR_POLL_SLEEP)
		return -EINVAL;
	w->poll_mode = mode;
	w->spin_ns = mode == MCR_POLL_ADAPTIVE ? SPIN_START_NS : 0;
	return 0;
}

/* Runs the data plane for up to budget_ms, then returns to the caller, whose event loop reads
 * control messages in between. Going back to JavaScript after every wake-up would cost more than
 * the sends themselves at a few packets per wake-up. */
MCR_API int mcr_worker_poll(struct mcr_worker *w, int budget_ms, int batch_max)
{
	if (batch_max <= 0)
		batch_max = 256;
	int64_t deadline = now_ns() + (int64_t)budget_ms * 1000000;
	int total = 0;
	int after_batch = 0; /* the last look found frames: the stream may be running */
	for (;;) {
		if (w->broken)
			return w->broken;
		/* The supervisor watches this move: a worker stuck anywhere stops it. */
		__atomic_store_n(&w->counters[MCR_C_HEARTBEAT], w->counters[MCR_C_HEARTBEAT] + 1,
				 __ATOMIC_RELAXED);
		int n = process_ready(w, batch_max);
		total += n;
		int64_t now = now_ns(), left = deadline - now;
		if (left <= 0)
			break;
		if (n > 0) {
			after_batch = 1;
			continue;
		}
		int timeout_ms = (int)((left + 999999) / 1000000);
		/* A merge's held packets go when their window ends, whatever comes in meanwhile. */
		int64_t due = merge_due(w);
		if (due < INT64_MAX) {
			int64_t ms = due <= now ? 0 : (due - now + 999999) / 1000000;
			if (ms < timeout_ms)
				timeout_ms = (int)ms;
		}
		if (w->poll_mode == MCR_POLL_BUSY && have_inputs(w)) {
			if (spin(w, due < deadline ? due : deadline))
				continue;
			timeout_ms = 0; /* never sleeps, but still sees an input's error */
		} else if (w->poll_mode == MCR_POLL_ADAPTIVE && after_batch) {
			after_batch = 0;
			if (w->spin_ns > 0) {
				w->counters[MCR_C_SPINS]++;
				int64_t until =
					now + w->spin_ns < deadline ? now + w->spin_ns : deadline;
				if (spin(w, until)) {
					w->counters[MCR_C_SPIN_HITS]++;
					spin_adapt(w, now_ns() - now);
					continue;
				}
			}
			int r = wait_ready(w, timeout_ms);
			if (r < 0)
				return total > 0 ? total : r;
			/* Frames ready when it woke: the wait tells how long the spin should have been. */
			if (r > 0)
				spin_adapt(w, now_ns() - now);
			continue;
		}
		int r = wait_ready(w, timeout_ms);
		if (r < 0)
			return total > 0 ? total : r;
	}
	return total;
}

MCR_API int mcr_worker_new(uint32_t rule_slots, uint32_t output_slots, uint64_t ring_bytes,
			   uint64_t *counters, struct mcr_worker **out)
{
	struct mcr_worker *w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	for (int i = 0; i < MCR_MAX_INPUTS; i++)
		w->in[i].fd = -1;
	for (int i = 0; i < MCR_MAX_TX; i++)
		w->tx[i].fd = -1;
	w->rule_slots = rule_slots;
	w->output_slots = output_slots;
	w->ring_bytes = mcr__ring_bytes(ring_bytes);
	/* Measured (bench/README.md, poll modes): sleeping at once cost the least CPU and gave the
	 * best tail latency on these machines; adaptive and busy are there to choose. */
	mcr_worker_poll_mode_set(w, MCR_POLL_SLEEP);
	/* Counters live in memory the caller may share with the supervisor, which then reads them
	 * in place, even after this process died. Without it, they are private. */
	w->own_counters = counters == NULL;
	if (w->own_counters)
		counters = calloc(MCR_COUNTERS_LEN(rule_slots, output_slots), sizeof(uint64_t));
	int err = -ENOMEM;
	if (!counters)
		goto fail;
	w->counters = counters;
	w->rule_ctr = counters + MCR_C__COUNT;
	w->out_ctr = w->rule_ctr + (size_t)rule_slots * 2;
	w->journal = w->out_ctr + (size_t)output_slots * 3;
	/* One issuer (the worker's JS thread); cooperative task running saves an IPI per
	 * completion. Older kernels refuse the flags: fall back to a plain ring. */
	struct io_uring_params p = { .flags = IORING_SETUP_SINGLE_ISSUER |
					      IORING_SETUP_COOP_TASKRUN };
	err = io_uring_queue_init_params(SQ_DEPTH, &w->ring, &p);
	if (err == -EINVAL)
		err = io_uring_queue_init(SQ_DEPTH, &w->ring, 0);
	if (err < 0)
		goto fail;
	w->fixed_files = io_uring_register_files_sparse(&w->ring, MCR_MAX_TX) == 0;
	*out = w;
	return 0;
fail:
	if (w->own_counters)
		free(counters);
	free(w);
	return err;
}

MCR_API void mcr_worker_free(struct mcr_worker *w)
{
	if (!w)
		return;
	for (int i = 0; i < MCR_MAX_INPUTS; i++)
		if (w->in[i].fd >= 0)
			mcr__rx_close(&w->in[i]);
	table_free(w->table, NULL);
	for (int i = 0; i < MCR_MAX_TX; i++)
		if (w->tx[i].fd >= 0)
			mcr__tx_close(&w->tx[i]);
	io_uring_queue_exit(&w->ring);
	if (w->own_counters)
		free(w->counters);
	if (w->own_merge_ctr)
		free(w->merge_ctr);
	free(w->merge_next);
	free(w);
}

MCR_API int mcr_worker_input_add(struct mcr_worker *w, int ifindex, int fanout_id)
{
	for (int i = 0; i < MCR_MAX_INPUTS; i++) {
		if (w->in[i].fd >= 0)
			continue;
		int merge_only = fanout_id >= 0 && (fanout_id & MCR_INPUT_MERGE);
		/* A merge's rings are rings of frames in either mode: failover takes its legs'
		 * frames in the order they arrived across the rings (rx_merge_batch), and rings of
		 * blocks hand theirs over each on its own timer, a leg's block up to a timer's span
		 * after another's (a revert then sent a packet twice). */
		int blocks = w->rx_mode == MCR_RX_BLOCKS && !merge_only;
		int err = mcr__rx_open(&w->in[i], ifindex, merge_only ? -1 : fanout_id,
				       w->ring_bytes, blocks);
		if (err < 0)
			return err;
		w->in[i].merge_only = merge_only;
		/* The ring opened taking nothing, and is in its fanout group: now the table's frames. */
		err = input_filter(&w->in[i], w->table, NULL);
		if (err < 0) {
			mcr__rx_close(&w->in[i]);
			return err;
		}
		return i;
	}
	return -EMFILE;
}

MCR_API int mcr_worker_input_remove(struct mcr_worker *w, int slot)
{
	if (slot < 0 || slot >= MCR_MAX_INPUTS || w->in[slot].fd < 0)
		return -EBADF;
	mcr_worker_ring_stats(w); /* keep what the kernel counted for this ring */
	mcr__rx_close(&w->in[slot]);
	return 0;
}

MCR_API int mcr_worker_input_info(struct mcr_worker *w, int slot, uint32_t *ring_bytes,
				  uint32_t *frame_size)
{
	if (slot < 0 || slot >= MCR_MAX_INPUTS || w->in[slot].fd < 0)
		return -EBADF;
	*ring_bytes = (uint32_t)w->in[slot].map_len;
	*frame_size = w->in[slot].frame_size;
	return 0;
}

MCR_API int mcr_worker_input_fanout(struct mcr_worker *w, int slot)
{
	if (slot < 0 || slot >= MCR_MAX_INPUTS || w->in[slot].fd < 0)
		return -EBADF;
	return w->in[slot].fanout_id >= 0 ? w->in[slot].fanout_id : -ENOENT;
}

MCR_API int mcr_worker_ring_stats(struct mcr_worker *w)
{
	for (int i = 0; i < MCR_MAX_INPUTS; i++) {
		if (w->in[i].fd < 0)
			continue;
		struct tpacket_stats st;
		socklen_t len = sizeof(st);
		/* The kernel zeroes these on every read: add them up here. */
		if (getsockopt(w->in[i].fd, SOL_PACKET, PACKET_STATISTICS, &st, &len) < 0)
			return -errno;
		w->counters[MCR_C_RING_PACKETS] += st.tp_packets;
		w->counters[MCR_C_RING_DROPS] += st.tp_drops;
	}
	return 0;
}

MCR_API int mcr_worker_output_errors(struct mcr_worker *w, int32_t *errs, uint32_t n)
{
	const struct table *t = w->table;
	uint32_t k = t ? t->n_outs : 0;
	for (uint32_t i = 0; i < k && i < n; i++)
		errs[i] = t->outs[i].err;
	return (int)k;
}

MCR_API int mcr_worker_egress_check(struct mcr_worker *w)
{
	for (int i = 0; i < MCR_MAX_TX; i++)
		if (w->tx[i].fd >= 0)
			tx_mtu_check(w, i);
	return 0;
}

MCR_API int mcr_worker_counter_count(void)
{
	return MCR_C__COUNT;
}
