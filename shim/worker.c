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
#include "worker.h"

static void gso_close(struct mcr_worker *w, struct out *o);
static void flush(struct mcr_worker *w);
static void merge_send_held(struct mcr_worker *w, struct table *t, uint32_t i);

void mcr__worker_merges_retire(struct mcr_worker *w, struct table *old)
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
	/* A merge leg's frame on a fanout ring, another rule's on a merge ring, or one merge mode's
	 * leg on the other mode's ring got past a filter coarsened past the kernel's limits: the
	 * other ring takes it; not input here. */
	if (!mcr__ring_takes(rx, t, e)) {
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
		if (w->in[i].fd >= 0 && w->in[i].merge_mode) {
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
		if (w->in[i].fd >= 0 && !w->in[i].merge_mode)
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

MCR_API int mcr_worker_egress_check(struct mcr_worker *w)
{
	for (int i = 0; i < MCR_MAX_TX; i++)
		if (w->tx[i].fd >= 0)
			tx_mtu_check(w, i);
	return 0;
}
