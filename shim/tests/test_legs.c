/* SPDX-License-Identifier: MIT */
/* The sender's legs mode (`mcr gen --legs`) and the receiver's RTP records, over loopback: every
 * packet on each leg behind an RTP header, the sequence wrapping, each leg's seeded drops exactly
 * as an independent splitmix64 says, and RTP datagrams that are not gen's (FOREIGN) or that lie
 * about their SSRC (CORRUPT). Exit 0 pass, 1 fail, 77 skip (no loopback). */
#include "lab.h" /* first: it defines _GNU_SOURCE */
#include <arpa/inet.h>
#include <netinet/in.h>
#include "../tools/mcr_tools.h"

#define N 400u
#define SIZE 120u
#define SEQ0 65500u /* wraps after 36 packets */
#define SEED 42u
#define LOSS_PPM 100000u /* 10% */

static uint64_t draw(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static struct mcr_udp_record recs[4 * N];

/* Everything the receiver has, up to max. */
static uint32_t drain(struct mcr_udp_receiver *rx, uint32_t want)
{
	uint32_t got = 0;
	for (int i = 0; i < 30 && got < want; i++) {
		int r = mcr_udp_receiver_recv(rx, recs + got, 4 * N - got, 100);
		if (r < 0)
			return got;
		got += (uint32_t)r;
	}
	/* and anything more that should not be there */
	int r = mcr_udp_receiver_recv(rx, recs + got, 4 * N - got, 50);
	return got + (r > 0 ? (uint32_t)r : 0);
}

static int send_all(struct mcr_udp_sender *tx)
{
	int sent = 0;
	for (int i = 0; i < 200 && sent < (int)N; i++) {
		int r = mcr_udp_sender_send(tx, 10);
		if (r < 0)
			return r;
		sent += r;
	}
	return sent;
}

int main(void)
{
	/* 127.0.0.1, IPv4-mapped */
	struct mcr_udp_addr legs[2] = {
		{ .addr = { [10] = 0xff, [11] = 0xff, [12] = 127, [15] = 1 }, .port = 47621 },
		{ .addr = { [10] = 0xff, [11] = 0xff, [12] = 127, [15] = 1 }, .port = 47622 }
	};
	struct mcr_udp_sender *tx = NULL;
	struct mcr_udp_receiver *rx = NULL;
	uint64_t ls[5];
	int r;

	if (lab_private_lo() < 0)
		fprintf(stderr,
			"note: no namespace of its own; ports 47621-2 on this host's loopback\n");
	r = mcr_udp_receiver_open(legs, 2, 0, 4 << 20, &rx);
	if (r == -EADDRNOTAVAIL || r == -ENODEV) {
		fprintf(stderr, "skip: no loopback (%d)\n", r);
		return 77;
	}
	CHECK(r == 0, "receiver_open: %d", r);
	if (r)
		return 1;

	/* refused: one leg, a payload without room for both headers, loss over 100%, a batch under the legs */
	CHECK(mcr_udp_sender_open(legs, 1, 0, 0, 0, 0, SIZE, 1, 8, 0, &tx) == 0, "open 1");
	CHECK(mcr_udp_sender_legs(tx, NULL, 0, 0, 0) == -EINVAL, "one leg");
	mcr_udp_sender_close(tx);
	CHECK(mcr_udp_sender_open(legs, 2, 0, 0, 0, 0, MCR_UDP_HDR_LEN + 11, 1, 8, 0, &tx) == 0,
	      "open short");
	CHECK(mcr_udp_sender_legs(tx, NULL, 0, 0, 0) == -EINVAL, "no room for the RTP header");
	mcr_udp_sender_close(tx);
	CHECK(mcr_udp_sender_open(legs, 2, 0, 0, 0, 0, SIZE, 1, 1, 0, &tx) == 0, "open batch 1");
	CHECK(mcr_udp_sender_legs(tx, NULL, 0, 0, 0) == -EINVAL, "batch under the legs");
	mcr_udp_sender_close(tx);
	CHECK(mcr_udp_sender_open(legs, 2, 0, 0, 0, 0, SIZE, 1, 8, 0, &tx) == 0, "open");
	CHECK(mcr_udp_sender_legs(tx, NULL, 1000001u, 0, 0) == -EINVAL, "loss over 100%%");
	CHECK(mcr_udp_sender_legs(tx, NULL, 0, 0, 65536) == -EINVAL, "sequence past 16 bits");
	CHECK(mcr_udp_sender_leg_stats(tx, ls, 5) == -EINVAL, "leg stats without legs");
	mcr_udp_sender_close(tx);

	/* no loss: every packet on both legs, the RTP sequence wrapping */
	CHECK(mcr_udp_sender_open(legs, 2, 0, 0, 0, 0, SIZE, 0x5eed0001u, 16, 0, &tx) == 0, "open");
	CHECK(mcr_udp_sender_legs(tx, NULL, 0, SEED, SEQ0) == 0, "legs");
	CHECK(mcr_udp_sender_legs(tx, NULL, 0, SEED, SEQ0) == -EINVAL, "legs twice");
	CHECK(mcr_udp_sender_start(tx, 0, N, 0) == 0, "start");
	CHECK(mcr_udp_sender_legs(tx, NULL, 0, SEED, SEQ0) == -EINVAL, "legs after start");
	CHECK(send_all(tx) == (int)N, "sent");
	uint32_t got = drain(rx, 2 * N);
	CHECK(got == 2 * N, "received %u of %u", got, 2 * N);
	uint32_t next[2] = { 0, 0 };
	for (uint32_t i = 0; i < got; i++) {
		const struct mcr_udp_record *k = &recs[i];
		uint32_t leg = k->entry;
		if (leg > 1) {
			CHECK(0, "record %u: entry %u", i, k->entry);
			continue;
		}
		CHECK(k->status == MCR_UDP_OK && (k->flags & MCR_UDP_REC_RTP) &&
			      k->seq == (double)next[leg] && k->run_id == 0x5eed0001u &&
			      k->stream == 0 && k->length == SIZE &&
			      k->rtp_seq == (uint16_t)(SEQ0 + next[leg]),
		      "leg %u record: status %u flags %u seq %.0f run %x stream %u len %u rtp %u",
		      leg, k->status, k->flags, k->seq, k->run_id, k->stream, k->length,
		      k->rtp_seq);
		next[leg]++;
	}
	CHECK(next[0] == N && next[1] == N, "per leg %u %u", next[0], next[1]);
	CHECK(mcr_udp_sender_leg_stats(tx, ls, 5) == 5 && ls[0] == N && ls[1] == 0 && ls[2] == N &&
		      ls[3] == 0 && ls[4] == 0,
	      "leg stats");
	mcr_udp_sender_close(tx);

	/* 10% loss: what arrives on each leg is what the leg's own stream of draws let through */
	CHECK(mcr_udp_sender_open(legs, 2, 0, 0, 0, 0, SIZE, 0x5eed0002u, 7, 0, &tx) == 0, "open");
	CHECK(mcr_udp_sender_legs(tx, NULL, LOSS_PPM, SEED, 0) == 0, "legs");
	CHECK(mcr_udp_sender_start(tx, 0, N, 0) == 0, "start");
	CHECK(send_all(tx) == (int)N, "sent");
	static uint8_t kept[2][N];
	uint64_t x[2] = { (uint64_t)SEED << 8 | 0, (uint64_t)SEED << 8 | 1 };
	uint64_t thresh = ((uint64_t)LOSS_PPM << 32) / 1000000u;
	uint32_t want[2] = { 0, 0 }, both = 0;
	for (uint32_t i = 0; i < N; i++) {
		for (int l = 0; l < 2; l++) {
			kept[l][i] = (draw(&x[l]) >> 32) >= thresh;
			want[l] += kept[l][i];
		}
		both += !kept[0][i] && !kept[1][i];
	}
	got = drain(rx, want[0] + want[1]);
	CHECK(got == want[0] + want[1], "received %u, the draws let %u through", got,
	      want[0] + want[1]);
	uint32_t at[2] = { 0, 0 };
	for (uint32_t i = 0; i < got; i++) {
		const struct mcr_udp_record *k = &recs[i];
		uint32_t leg = k->entry;
		if (leg > 1)
			continue;
		while (at[leg] < N && !kept[leg][at[leg]])
			at[leg]++;
		CHECK(k->status == MCR_UDP_OK && k->seq == (double)at[leg] &&
			      k->rtp_seq == (uint16_t)at[leg],
		      "leg %u: got seq %.0f, expected %u", leg, k->seq, at[leg]);
		at[leg]++;
	}
	CHECK(want[0] < N && want[1] < N && want[0] > N / 2, "the draws drop some: %u %u", want[0],
	      want[1]);
	CHECK(mcr_udp_sender_leg_stats(tx, ls, 5) == 5 && ls[0] == want[0] &&
		      ls[1] == N - want[0] && ls[2] == want[1] && ls[3] == N - want[1] &&
		      ls[4] == both,
	      "leg stats %llu %llu %llu %llu %llu (both %u)", (unsigned long long)ls[0],
	      (unsigned long long)ls[1], (unsigned long long)ls[2], (unsigned long long)ls[3],
	      (unsigned long long)ls[4], both);
	mcr_udp_sender_close(tx);

	/* RTP that is not gen's: FOREIGN, its SSRC and sequence kept; gen's with another SSRC: CORRUPT */
	int fd = socket(AF_INET, SOCK_DGRAM, 0);
	struct sockaddr_in to = { .sin_family = AF_INET,
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
				  .sin_port = htons(legs[0].port) };
	uint8_t rtp[40] = { 0x80, 96, 0x12, 0x34, 0, 0, 0, 1, 0xca, 0xfe, 0xf0, 0x0d };
	CHECK(sendto(fd, rtp, sizeof(rtp), 0, (struct sockaddr *)&to, sizeof(to)) == sizeof(rtp),
	      "send foreign RTP");
	uint8_t liar[SIZE];
	{
		/* a gen payload behind an RTP header whose SSRC is not its run id */
		uint8_t *g = liar + MCR_RTP_HDR_LEN;
		uint32_t glen = SIZE - MCR_RTP_HDR_LEN;
		memcpy(liar, rtp, MCR_RTP_HDR_LEN);
		uint32_t magic = htonl(MCR_UDP_MAGIC), run = htonl(0x11111111u), len = htonl(glen);
		uint16_t hl = htons(MCR_UDP_HDR_LEN);
		memset(g, 0, MCR_UDP_HDR_LEN);
		memcpy(g, &magic, 4);
		memcpy(g + 6, &hl, 2);
		memcpy(g + 24, &run, 4);
		memcpy(g + 28, &len, 4);
		for (uint32_t i = MCR_UDP_HDR_LEN; i < glen; i++)
			g[i] = (uint8_t)i; /* seq 0 */
	}
	CHECK(sendto(fd, liar, sizeof(liar), 0, (struct sockaddr *)&to, sizeof(to)) == sizeof(liar),
	      "send a lying RTP gen payload");
	close(fd);
	got = drain(rx, 2);
	CHECK(got == 2, "received %u of 2", got);
	CHECK(recs[0].status == MCR_UDP_FOREIGN && (recs[0].flags & MCR_UDP_REC_RTP) &&
		      recs[0].rtp_seq == 0x1234 && recs[0].run_id == 0xcafef00du,
	      "foreign RTP: status %u flags %u seq %u ssrc %x", recs[0].status, recs[0].flags,
	      recs[0].rtp_seq, recs[0].run_id);
	CHECK(recs[1].status == MCR_UDP_CORRUPT && (recs[1].flags & MCR_UDP_REC_RTP) &&
		      recs[1].run_id == 0xcafef00du,
	      "lying SSRC: status %u ssrc %x", recs[1].status, recs[1].run_id);
	mcr_udp_receiver_close(rx);
	if (failures)
		return 1;
	puts("test_legs: ok");
	return 0;
}
