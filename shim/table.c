/* Installing a rule table: the outputs' sockets and transmit rings, the merges, each input's
 * kernel filter, and the swap that leaves the outputs and merges that stay undisturbed. Runs
 * between two calls of mcr_worker_poll, never in the data path. */
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>
#include <net/if_arp.h>
#include "worker.h"

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

int mcr__table_filter(const struct mcr_rx *rx, const struct table *a, const struct table *b)
{
	uint32_t n = (a ? a->n_rules : 0) + (b ? b->n_rules : 0), k = 0;
	struct mcr_filter_key *keys = malloc(sizeof(*keys) * (n ? n : 1));
	if (!keys)
		return -ENOMEM;
	for (const struct table *t = a; t; t = t == a ? b : NULL)
		for (uint32_t i = 0; i < t->n_rules; i++)
			if (t->rules[i].in_ifindex == (uint32_t)rx->ifindex &&
			    mcr__ring_takes(rx, t, &t->rules[i])) {
				keys[k] = (struct mcr_filter_key){ .port = t->rules[i].port,
								   .vlan = t->rules[i].vlan };
				memcpy(keys[k++].group, t->rules[i].group, 16);
			}
	int r = mcr__filter_attach(rx->fd, rx->ip_only, keys, k);
	free(keys);
	return r < 0 ? r : 0;
}

void mcr__table_free(struct table *t, const struct table *keep_socks_of)
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
		if (w->in[i].fd >= 0 && (err = mcr__table_filter(&w->in[i], old, t)) < 0) {
			while (--i >= 0) /* the old table stays: so does its filter */
				if (w->in[i].fd >= 0)
					mcr__table_filter(&w->in[i], old, NULL);
			goto fail;
		}
	/* A merge that goes (its rule removed, or its settings changed) sends what it holds first:
	 * those packets were wanted, and a new merge starts empty. */
	merges_unshare(old, t);
	mcr__worker_merges_retire(w, old);
	/* Between two calls of mcr_worker_poll nothing is in flight: the swap is whole. */
	w->table = t;
	mcr__table_free(old, t);
	/* Should this fail, the union stays: a superset, whose extra frames count as no_rule. */
	for (int i = 0; i < MCR_MAX_INPUTS; i++)
		if (w->in[i].fd >= 0)
			mcr__table_filter(&w->in[i], t, NULL);
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
	mcr__table_free(t, old);
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
