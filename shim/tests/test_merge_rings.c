/* A worker's merge rings, one for each merge mode (MCR_INPUT_MERGE_RTP, _FAILOVER): with rings of
 * blocks chosen, an rtp merge's legs are read from a ring of blocks, as large again for each of
 * one merge's legs it carries; a failover's from a ring of frames. Each ring takes its own mode's
 * legs and no other: the datagrams of both merges, sent on lo, reach each merge once.
 * Exit 0 pass, 1 fail, 77 skip. */
#include "lab.h"
#include <arpa/inet.h>
#include <netinet/in.h>
#include "../mcr_shim.h"

#define PORT 41003
#define SENT 20

static uint64_t mem[MCR_COUNTERS_LEN(4, 4)];
static uint64_t merge_mem[2 * MCR_MERGE_COUNTERS];

static const char *const GROUPS[4] = { "239.1.1.1", "239.1.2.1", "239.1.1.2", "239.1.2.2" };

static int set_lo_mtu(int mtu)
{
	int fd = socket(AF_INET, SOCK_DGRAM, 0);
	struct ifreq ifr = { .ifr_mtu = mtu };
	strcpy(ifr.ifr_name, "lo");
	int r = ioctl(fd, SIOCSIFMTU, &ifr) < 0 ? -errno : 0;
	close(fd);
	return r;
}

/* The ring's blocks' bytes (0: frames), or -errno from opening it. */
static int64_t ring_blocks(struct mcr_worker *w, int lo, int kind, int *slot)
{
	*slot = mcr_worker_input_add(w, lo, kind);
	if (*slot < 0)
		return *slot;
	uint32_t bytes = 0, fsize = 0, bsize = 0;
	mcr_worker_input_info(w, *slot, &bytes, &fsize, &bsize);
	return bsize;
}

static void send_rtp(int fd, const char *group, uint16_t seq)
{
	uint8_t p[64] = { 0x80, 96, (uint8_t)(seq >> 8), (uint8_t)seq, [8] = 0x5e, 0xed, 0, 1 };
	struct sockaddr_in to = { .sin_family = AF_INET, .sin_port = htons(PORT) };
	inet_pton(AF_INET, group, &to.sin_addr);
	sendto(fd, p, sizeof(p), 0, (struct sockaddr *)&to, sizeof(to));
}

int main(void)
{
	if (lab_enter_private_lo() < 0)
		return 1;
	/* lo's 64 KiB MTU makes every frame, and so every block, 128 KiB: a small one tells. */
	CHECK(set_lo_mtu(1500) == 0, "lo mtu");
	struct mcr_worker *w = NULL;
	int r = mcr_worker_new(4, 4, 1 << 20, mem, &w);
	if (r == -EPERM || r == -ENOSYS)
		return 77;
	CHECK(r == 0 && w, "mcr_worker_new: %d", r);
	if (!w)
		return 1;
	CHECK(mcr_worker_rx_mode_set(w, MCR_RX_BLOCKS) == 0, "blocks");
	CHECK(mcr_worker_merge_counters(w, merge_mem, 2) == 0, "merge counters");
	struct mcr_merge_entry merges[2] = {
		{ .counter_slot = 0, .mode = MCR_MERGE_RTP, .n_legs = 2, .window_ms = 50 },
		{ .counter_slot = 1,
		  .mode = MCR_MERGE_FAILOVER,
		  .n_legs = 2,
		  .failover_ms = 1000,
		  .revert_ms = 5000 },
	};
	CHECK(mcr_worker_merges_set(w, merges, 2) == 0, "merges_set");
	int lo = (int)if_nametoindex("lo");
	struct mcr_rule_entry rules[4];
	for (int i = 0; i < 4; i++) {
		rules[i] = (struct mcr_rule_entry){ .in_ifindex = (uint32_t)lo,
						    .family = 4,
						    .source_len = 96,
						    .port = PORT,
						    .counter_slot = (uint32_t)(i / 2),
						    .flags = MCR_RULE_MERGE,
						    .leg = (uint8_t)(i % 2),
						    .merge = (uint16_t)(i / 2) };
		rules[i].group[10] = rules[i].group[11] = 0xff;
		rules[i].source[10] = rules[i].source[11] = 0xff; /* any IPv4 source */
		inet_pton(AF_INET, GROUPS[i], rules[i].group + 12);
	}
	CHECK((r = mcr_worker_rules_set(w, rules, 4, NULL, 0)) == 0, "rules_set: %d", r);

	int rtp_slot, fo_slot, bad;
	int64_t b = ring_blocks(w, lo, MCR_INPUT_MERGE | MCR_INPUT_MERGE_RTP, &rtp_slot);
	CHECK(b == 2 * 32768, "rtp ring: blocks of %ld bytes, not 2 x 32 KiB (two legs)", (long)b);
	b = ring_blocks(w, lo, MCR_INPUT_MERGE | MCR_INPUT_MERGE_FAILOVER, &fo_slot);
	CHECK(b == 0, "failover ring: blocks of %ld bytes, not frames", (long)b);
	b = ring_blocks(w, lo, MCR_INPUT_MERGE | MCR_INPUT_MERGE_RTP | MCR_INPUT_MERGE_FAILOVER,
			&bad);
	CHECK(b == -EINVAL, "both modes' flags: %ld", (long)b);
	b = ring_blocks(w, lo, MCR_INPUT_MERGE, &bad);
	CHECK(b == -EINVAL, "a merge ring of no mode: %ld", (long)b);
	b = ring_blocks(w, lo, MCR_INPUT_MERGE_RTP, &bad);
	CHECK(b == -EINVAL, "a mode without MCR_INPUT_MERGE: %ld", (long)b);

	int tx = socket(AF_INET, SOCK_DGRAM, 0);
	struct in_addr lo_addr = { htonl(INADDR_LOOPBACK) };
	CHECK(setsockopt(tx, IPPROTO_IP, IP_MULTICAST_IF, &lo_addr, sizeof(lo_addr)) == 0,
	      "multicast on lo");
	for (uint16_t seq = 1; seq <= SENT; seq++)
		for (int i = 0; i < 4; i++)
			send_rtp(tx, GROUPS[i], seq);
	/* The ring of blocks hands its block over at the retire timer (1 ms). */
	double until = lab_now_ms() + 2000;
	const uint64_t *rtp_legs = merge_mem + MCR_MC__RULE, *fo = merge_mem + MCR_MERGE_COUNTERS,
		       *fo_legs = fo + MCR_MC__RULE;
	while (lab_now_ms() < until &&
	       (rtp_legs[MCR_ML_PACKETS] + rtp_legs[MCR_ML__COUNT + MCR_ML_PACKETS] < 2 * SENT ||
		fo_legs[MCR_ML_PACKETS] + fo_legs[MCR_ML__COUNT + MCR_ML_PACKETS] < 2 * SENT))
		mcr_worker_poll(w, 10, 256);
	for (int leg = 0; leg < 2; leg++) {
		CHECK(rtp_legs[leg * MCR_ML__COUNT + MCR_ML_PACKETS] == SENT, "rtp leg %d: %lu",
		      leg, (unsigned long)rtp_legs[leg * MCR_ML__COUNT + MCR_ML_PACKETS]);
		CHECK(fo_legs[leg * MCR_ML__COUNT + MCR_ML_PACKETS] == SENT, "failover leg %d: %lu",
		      leg, (unsigned long)fo_legs[leg * MCR_ML__COUNT + MCR_ML_PACKETS]);
	}
	CHECK(merge_mem[MCR_MC_OUT] == SENT && fo[MCR_MC_OUT] == SENT, "out: rtp %lu failover %lu",
	      (unsigned long)merge_mem[MCR_MC_OUT], (unsigned long)fo[MCR_MC_OUT]);
	CHECK(mem[MCR_C_RX_FOREIGN] == 0, "foreign %lu", (unsigned long)mem[MCR_C_RX_FOREIGN]);
	CHECK(mem[MCR_C_RX_FRAMES] == 4 * SENT, "frames %lu", (unsigned long)mem[MCR_C_RX_FRAMES]);
	close(tx);
	mcr_worker_free(w);
	return failures ? 1 : 0;
}
