/* Making and freeing a worker, and opening and closing its inputs: what happens before, after
 * and between the calls of mcr_worker_poll (worker.c). */
#include <errno.h>
#include <stdlib.h>
#include <sys/socket.h>
#include "worker.h"

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
	mcr__table_free(w->table, NULL);
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

/* The most legs of one merge of this mode that come in on ifindex in table t (at least 1). */
static int legs_on(const struct table *t, int ifindex, int mode)
{
	int most = 1;
	uint8_t *n = t && t->n_merges ? calloc(t->n_merges, 1) : NULL;
	for (uint32_t i = 0; n && i < t->n_rules; i++) {
		const struct mcr_rule_entry *e = &t->rules[i];
		if (!(e->flags & MCR_RULE_MERGE) || e->in_ifindex != (uint32_t)ifindex ||
		    e->merge >= t->n_merges || !t->merges[e->merge] ||
		    t->merges[e->merge]->e.mode != mode)
			continue;
		if (++n[e->merge] > most)
			most = n[e->merge];
	}
	free(n);
	return most;
}

/* The merge mode (enum mcr_merge_mode) whose legs an input with this fanout_id takes (0: a fanout
 * ring); -EINVAL for a merge ring that names no mode, or both. */
static int merge_mode_of(int fanout_id)
{
	int flags =
		fanout_id < 0 ? 0 : fanout_id & (MCR_INPUT_MERGE_RTP | MCR_INPUT_MERGE_FAILOVER);
	if (fanout_id < 0 || !(fanout_id & MCR_INPUT_MERGE))
		return flags ? -EINVAL : 0;
	return flags == MCR_INPUT_MERGE_RTP	   ? MCR_MERGE_RTP
	       : flags == MCR_INPUT_MERGE_FAILOVER ? MCR_MERGE_FAILOVER
						   : -EINVAL;
}

MCR_API int mcr_worker_input_add(struct mcr_worker *w, int ifindex, int fanout_id)
{
	int mode = merge_mode_of(fanout_id);
	if (mode < 0)
		return mode;
	for (int i = 0; i < MCR_MAX_INPUTS; i++) {
		if (w->in[i].fd >= 0)
			continue;
		/* A failover's ring is a ring of frames in either mode: failover takes its legs'
		 * frames in the order they arrived across the rings (rx_merge_batch), and rings of
		 * blocks hand theirs over each on its own timer, a leg's block up to a timer's span
		 * after another's (a revert then sent a packet twice). An rtp merge orders by
		 * sequence number, whatever the order it reads its legs in. */
		int blocks = w->rx_mode == MCR_RX_BLOCKS && mode != MCR_MERGE_FAILOVER;
		/* A ring that reads k legs of one merge gets blocks k times as large: it hands one
		 * over, and wakes the worker, as often for each packet sent as a fanout ring does
		 * (half as often: its merge cost 1.22x a plain rule's CPU per packet, 1.08x with
		 * these; bench/README.md). */
		if (blocks && mode)
			blocks = legs_on(w->table, ifindex, mode);
		int err = mcr__rx_open(&w->in[i], ifindex, mode ? -1 : fanout_id, w->ring_bytes,
				       blocks);
		if (err < 0)
			return err;
		w->in[i].merge_mode = (uint8_t)mode;
		/* The ring opened taking nothing, and is in its fanout group: now the table's frames. */
		err = mcr__table_filter(&w->in[i], w->table, NULL);
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
				  uint32_t *frame_size, uint32_t *block_bytes)
{
	if (slot < 0 || slot >= MCR_MAX_INPUTS || w->in[slot].fd < 0)
		return -EBADF;
	*ring_bytes = (uint32_t)w->in[slot].map_len;
	*frame_size = w->in[slot].frame_size;
	*block_bytes = w->in[slot].blocks ? w->in[slot].block_size : 0;
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

MCR_API int mcr_worker_counter_count(void)
{
	return MCR_C__COUNT;
}
