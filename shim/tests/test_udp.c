/* SPDX-License-Identifier: MIT */
/* The traffic tools over loopback, IPv4 (127.0.0.1) and IPv6 (::1): a sender in socket mode and a
 * receiver, record by record, and the arguments the sender refuses. As root the test runs in a network namespace of its own, so
 * its fixed port meets no one else's. Exit 0 pass, 1 fail, 77 skip (no loopback). */
#include "lab.h" /* first: it defines _GNU_SOURCE */
#include <arpa/inet.h>
#include "../tools/mcr_tools.h"

#define N 50u

/* Sends N datagrams to `to` and receives them there, record by record. 77: no such loopback. */
static int round_trip(const struct mcr_udp_addr *to, const char *what)
{
	struct mcr_udp_sender *tx = NULL;
	struct mcr_udp_receiver *rx = NULL;
	static struct mcr_udp_record recs[2 * N];
	uint64_t st[MCR_UDP_TX__COUNT], seq[1];
	int r;

	r = mcr_udp_receiver_open(to, 1, 0, 1 << 20, &rx);
	if (r == -EADDRNOTAVAIL || r == -ENODEV || r == -EAFNOSUPPORT) {
		fprintf(stderr, "skip %s: no loopback (%d)\n", what, r);
		return 77;
	}
	CHECK(r == 0, "%s: receiver_open: %d", what, r);
	r = mcr_udp_sender_open(to, 1, NULL, 0, 0, 0, 101, 0xabcdef, 16, 0, &tx);
	CHECK(r == 0, "%s: sender_open: %d", what, r);
	if (r != 0 || !rx)
		return 1;
	CHECK(mcr_udp_sender_send(tx, 0) == -EINVAL, "%s: send before start", what);
	CHECK(mcr_udp_sender_start(tx, 0, N, 0) == 0, "%s: start", what);
	int sent = 0;
	for (int i = 0; i < 100 && sent < (int)N; i++) {
		r = mcr_udp_sender_send(tx, 10);
		CHECK(r >= 0, "%s: send: %d", what, r);
		if (r < 0)
			break;
		sent += r;
	}
	CHECK(sent == (int)N, "%s: sent %d of %u", what, sent, N);
	CHECK(mcr_udp_sender_stats(tx, st, MCR_UDP_TX__COUNT) == MCR_UDP_TX__COUNT, "stats");
	CHECK(st[MCR_UDP_TX_PACKETS] == N && st[MCR_UDP_TX_BYTES] == N * 101u &&
		      st[MCR_UDP_TX_ERRORS] == 0,
	      "%s: tx counters %llu %llu %llu", what, (unsigned long long)st[MCR_UDP_TX_PACKETS],
	      (unsigned long long)st[MCR_UDP_TX_BYTES], (unsigned long long)st[MCR_UDP_TX_ERRORS]);
	CHECK(mcr_udp_sender_seq(tx, seq, 1) == 1 && seq[0] == N, "%s: next seq %llu", what,
	      (unsigned long long)seq[0]);

	uint32_t got = 0;
	for (int i = 0; i < 20 && got < N; i++) {
		r = mcr_udp_receiver_recv(rx, recs + got, 2 * N - got, 100);
		CHECK(r >= 0, "%s: recv: %d", what, r);
		if (r < 0)
			break;
		got += (uint32_t)r;
	}
	CHECK(got == N, "%s: received %u of %u", what, got, N);
	for (uint32_t i = 0; i < got; i++) {
		const struct mcr_udp_record *k = &recs[i];
		CHECK(k->status == MCR_UDP_OK && k->seq == (double)i && k->run_id == 0xabcdef &&
			      k->stream == 0 && k->entry == 0 && k->length == 101,
		      "%s: record %u: status %u seq %.0f run %x stream %u entry %u length %u", what,
		      i, k->status, k->seq, k->run_id, k->stream, k->entry, k->length);
	}
	uint64_t rs[MCR_UDP_RX__COUNT];
	CHECK(mcr_udp_receiver_stats(rx, rs, MCR_UDP_RX__COUNT) == MCR_UDP_RX__COUNT, "rx stats");
	CHECK(rs[MCR_UDP_RX_DATAGRAMS] == N && rs[MCR_UDP_RX_BYTES] == N * 101u &&
		      rs[MCR_UDP_RX_SOCKETS] == 1,
	      "%s: rx counters", what);
	mcr_udp_sender_close(tx);
	mcr_udp_receiver_close(rx);
	return 0;
}

int main(void)
{
	/* 127.0.0.1 and ::1, 16 bytes each (IPv4 as ::ffff:127.0.0.1) */
	struct mcr_udp_addr to = { .addr = { [10] = 0xff, [11] = 0xff, 127, 0, 0, 1 },
				   .port = 47611 };
	struct mcr_udp_addr to6 = { .addr = { [15] = 1 }, .port = 47612 };
	struct mcr_udp_sender *tx = NULL;

	if (lab_private_lo() < 0)
		fprintf(stderr,
			"note: no namespace of its own; ports %u, %u on this host's loopback\n",
			to.port, to6.port);
	/* refused arguments: a payload shorter than the header, no destination, batch 0, a source
	 * of the other family */
	CHECK(mcr_udp_sender_open(&to, 1, NULL, 0, 0, 0, MCR_UDP_HDR_LEN - 1, 1, 8, 0, &tx) ==
		      -EINVAL,
	      "short payload");
	CHECK(mcr_udp_sender_open(&to, 0, NULL, 0, 0, 0, 100, 1, 8, 0, &tx) == -EINVAL, "no dest");
	CHECK(mcr_udp_sender_open(&to, 1, NULL, 0, 0, 0, 100, 1, 0, 0, &tx) == -EINVAL, "batch 0");
	CHECK(mcr_udp_sender_open(&to, 1, to6.addr, 0, 0, 0, 100, 1, 8, 0, &tx) == -EAFNOSUPPORT,
	      "an IPv6 source for an IPv4 destination");
	CHECK(mcr_udp_sender_open(&to6, 1, to.addr, 0, 0, 0, 100, 1, 8, 0, &tx) == -EAFNOSUPPORT,
	      "an IPv4 source for an IPv6 destination");
	CHECK(mcr_udp_sender_send(NULL, 0) == -EINVAL, "no sender");

	int r4 = round_trip(&to, "IPv4"), r6 = round_trip(&to6, "IPv6");
	if (r4 == 77 && r6 == 77)
		return 77;
	if (failures || r4 == 1 || r6 == 1)
		return 1;
	puts("test_udp: ok");
	return 0;
}
