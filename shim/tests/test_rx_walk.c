/* A receive ring with fewer frames than the batch: every frame is taken once, never walked past
 * the ring's start. lo (MTU 65536) with the smallest ring gives 8 frames of 128 KiB, or (blocks)
 * 8 blocks of 128 KiB, each holding two datagrams of 60,000 bytes.
 * Exit 0 pass, 1 fail, 77 skip. */
#include "lab.h"
#include <arpa/inet.h>
#include "../mcr_shim.h"

/* An IPv4 address (network order, as a uint32_t holds it) as the 16 IPv4-mapped bytes of a table
 * entry's initializer. */

#define PORT 41001

static uint64_t mem[MCR_COUNTERS_LEN(4, 4)];

/* One mode's run: a ring of `frames` frames (blocks: of 2 frames a block, with datagrams of
 * `size` bytes) filled past full, then read. Returns 0, or 77 to skip. */
static int walk(int mode, uint32_t size)
{
	memset(mem, 0, sizeof(mem));
	struct mcr_worker *w = NULL;
	int r = mcr_worker_new(4, 4, 1 << 20, mem, &w);
	if (r == -EPERM || r == -ENOSYS)
		return 77;
	CHECK(r == 0, "mcr_worker_new: %d", r);
	if (!w)
		return 1;
	CHECK(mcr_worker_rx_mode_set(w, mode) == 0, "rx mode %d", mode);
	int lo = (int)if_nametoindex("lo");
	int slot = mcr_worker_input_add(w, lo, -1);
	CHECK(slot >= 0, "input on lo: %d", slot);
	CHECK(mcr_worker_rx_mode_set(w, mode) == -EBUSY, "rx mode set after an input");
	uint32_t bytes = 0, fsize = 0, bsize = 0;
	mcr_worker_input_info(w, slot, &bytes, &fsize, &bsize);
	CHECK((bsize != 0) == (mode == MCR_RX_BLOCKS), "blocks of %u bytes", bsize);
	/* A block of 128 KiB holds two datagrams of 60,000 bytes. */
	uint32_t frames = fsize ? bytes / fsize * (mode == MCR_RX_BLOCKS ? 2 : 1) : 0;
	CHECK(frames > 0 && frames < 256, "ring of %u frames: not smaller than the batch", frames);

	/* A rule with no outputs: its counter says how often each datagram was taken. */
	struct mcr_rule_entry rule = { .in_ifindex = (uint32_t)lo,
				       .group = V4(htonl(INADDR_LOOPBACK)),
				       .family = 4,
				       .source_len = 96,
				       .source = V4(0u),
				       .port = PORT,
				       .n_outputs = 0,
				       .counter_slot = 0 };
	CHECK(mcr_worker_rules_set(w, &rule, 1, NULL, 0) == 0, "rules_set");
	int tx = socket(AF_INET, SOCK_DGRAM, 0);
	struct sockaddr_in to = { .sin_family = AF_INET,
				  .sin_port = htons(PORT),
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	static uint8_t payload[60000];
	/* More than the ring holds, and nobody reads meanwhile: the ring is full to the last frame
	 * (the kernel drops the rest and says so). */
	const unsigned sent = frames * 3;
	for (unsigned i = 0; i < sent; i++) {
		memcpy(payload, &i, sizeof(i));
		sendto(tx, payload, size, 0, (struct sockaddr *)&to, sizeof(to));
	}
	usleep(20000);
	uint64_t *c = mem, *rc = mem + MCR_C__COUNT;
	for (int i = 0; i < 5; i++)
		mcr_worker_poll(w, 10, 256);
	CHECK(mcr_worker_ring_stats(w) == 0, "ring stats");
	uint64_t delivered = c[MCR_C_RING_PACKETS] - c[MCR_C_RING_DROPS];
	/* Each datagram is there once, and the kernel's ICMP port-unreachable (nobody listens) may
	 * follow it; only the datagrams match the rule. */
	CHECK(delivered >= frames, "mode %d: the kernel delivered %lu of %u: the ring was not full",
	      mode, (unsigned long)delivered, sent);
	CHECK(c[MCR_C_RX_FRAMES] == delivered,
	      "mode %d: frames taken %lu, delivered %lu (duplicates %ld)", mode,
	      (unsigned long)c[MCR_C_RX_FRAMES], (unsigned long)delivered,
	      (long)(c[MCR_C_RX_FRAMES] - delivered));
	CHECK(rc[0] <= sent, "the rule took %lu datagrams of %u sent", (unsigned long)rc[0], sent);
	close(tx);
	mcr_worker_free(w);
	return 0;
}

int main(void)
{
	int r = lab_enter_private_lo();
	CHECK(r == 0, "private lo: %d", r);
	if (walk(MCR_RX_FRAMES, 4) == 77 || walk(MCR_RX_BLOCKS, 60000) == 77)
		return 77;
	if (failures)
		fprintf(stderr, "test_rx_walk: %d failures\n", failures);
	return failures ? 1 : 0;
}
