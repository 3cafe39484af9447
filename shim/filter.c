/* The classic BPF program on each input socket: the kernel turns away, before the ring, every
 * frame no rule could take, so unrelated traffic on the input (unicast, ARP, other groups, other
 * ports, other VLANs, other hosts' frames) costs the worker nothing and is not counted as a drop.
 *
 * What the program lets through, for the (group, port, vlan) keys of one input:
 *   - never a frame of another host (PACKET_OTHERHOST) or one leaving this host;
 *   - an IPv4 UDP datagram, IHL 5, not a fragment, to a key's group and port on the key's VLAN
 *     (the kernel's tag: 0 = none or a priority tag) with no tag left in the frame; a key's
 *     "group" may be a unicast address of this host's (a unicast input), sent to as a group is
 *     (for IPv6 too);
 *   - a malformed frame aimed at a key's group on its VLAN, so that the parser counts it under its
 *     reason: IPv4 to the group that is not plain UDP (another protocol, a fragment, IHL other than
 *     5, not version 4) or too short to hold the port; a frame too short to hold a destination
 *     address, or of another EtherType, or with nested or cut tags, sent to the group's MAC address.
 *   - an IPv6 frame to a key's group on the key's VLAN when its next header is UDP to a key's
 *     port at offset 40, or anything but UDP, TCP or ICMPv6 (extension headers: the UDP offset
 *     varies, so the parser decides), or it is too short for the header or port; a malformed one
 *     sent to the group's MAC address (33:33 and its low 32 bits).
 * A second tag with IPv4 or IPv6 behind it is another VLAN's datagram: turned away. With no IPv6
 * key the program is the IPv4 one alone, instruction for instruction.
 * On an input without a link header (tun, WireGuard, IPIP, GRE: the frame starts at the IP
 * header) the same program reads every IP field 14 bytes sooner, tells IPv4 from IPv6 by the
 * version nibble instead of the EtherType, and has no MAC address to judge a cut frame by: one too
 * short for its destination address is turned away.
 *
 * The program is built here, in C, inside the table install: the install already walks the
 * table, the sockets are the shim's, and the order "attach the union, swap the table, attach the
 * new" has to happen in one call between two batches. Past the kernel's size limit (or optmem_max)
 * the builder falls back to coarser programs that still pass every frame a key could take.
 *
 * The worker's rings are not read while it installs, so the install must be cheap: the keys are
 * sorted and deduplicated first, which makes the build linear (a table of 200 rules built in
 * ~2 ms before, 20 us now) and the program a function of the key set alone; an attach of the
 * program a socket already holds is skipped (the kernel's check and JIT cost ~0.5 ms). A rule
 * added makes the union the new table's program, a rule removed makes it the old one's: one
 * kernel attach per change. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <linux/filter.h>
#include "internal.h"

#define ETH_IPV4 0x0800
#define ETH_IPV6 0x86dd
#define ETH_VLAN 0x8100
#define ETH_QINQ 0x88a8
#define AD(x) (SKF_AD_OFF + (x))

/* A label is the chain of the `ja`s that go to it, until it is placed: head is 1 + the last one's
 * index, and each pending `ja` holds in k the head before it (0: none). */
struct label {
	uint32_t head;
};

struct prog {
	struct sock_filter *ins;
	uint32_t n, max;
	uint16_t *vlans; /* scratch for vlan_check, one per key */
	uint32_t l2; /* link header bytes before IP: 14 (Ethernet) or 0 (an IP-only link) */
	int overflow;
};

static void emit(struct prog *p, uint16_t code, uint8_t jt, uint8_t jf, uint32_t k)
{
	if (p->n >= p->max) {
		p->overflow = 1;
		return;
	}
	p->ins[p->n++] = (struct sock_filter){ code, jt, jf, k };
}

/* Forward jumps to labels placed later: a `ja` whose k is patched when the label is placed (cBPF
 * conditional jumps reach 255 instructions at most, `ja` any distance). */
static void jump_to(struct prog *p, struct label *l)
{
	emit(p, BPF_JMP | BPF_JA, 0, 0, l->head);
	if (!p->overflow)
		l->head = p->n;
}

/* Patches the label's jumps only: placing costs what jumps to it, not the program's length. */
static void place(struct prog *p, struct label *l)
{
	if (p->overflow)
		return;
	while (l->head) {
		uint32_t i = l->head - 1;
		l->head = p->ins[i].k;
		p->ins[i].k = p->n - i - 1;
	}
}

/* if (A == k) goto l: two instructions, so that l may lie any distance ahead. */
static void jeq_far(struct prog *p, uint32_t k, struct label *l)
{
	emit(p, BPF_JMP | BPF_JEQ | BPF_K, 0, 1, k);
	jump_to(p, l);
}

static uint32_t group_mac_low(const uint8_t *group)
{
	uint32_t g = ntohl(mcr__addr_u32(group));
	return 0x5e000000u | (g & 0x7fffffu); /* bytes 2..5 of 01:00:5e + low 23 bits */
}

static uint32_t word(const uint8_t *a, int i)
{
	uint32_t v;
	memcpy(&v, a + i * 4, 4);
	return ntohl(v);
}

/* The low bits a group's MAC address carries: 23 for IPv4 (01:00:5e), 32 for IPv6 (33:33). */
static uint32_t key_mac(const uint8_t *group)
{
	return mcr__addr_is_v4(group) ? group_mac_low(group) : word(group, 3);
}

/* Keys sorted by family (IPv4 first), MAC address, group, port, VLAN and without repeats: each
 * block the program has (a family, a MAC address, a group, a group and port) is a run of
 * neighbours, and a table's program is the same whatever order its rules come in, or however
 * many rules share a key. Groups compare as 16 bytes, which for IPv4-mapped ones is the order of
 * their IPv4 addresses. */
static int key_cmp(const void *x, const void *y)
{
	const struct mcr_filter_key *a = x, *b = y;
	int va = mcr__addr_is_v4(a->group), vb = mcr__addr_is_v4(b->group);
	if (va != vb)
		return va ? -1 : 1;
	uint32_t ma = key_mac(a->group), mb = key_mac(b->group);
	if (ma != mb)
		return ma < mb ? -1 : 1;
	int g = memcmp(a->group, b->group, 16);
	if (g != 0)
		return g;
	if (a->port != b->port)
		return a->port < b->port ? -1 : 1;
	return (a->vlan > b->vlan) - (a->vlan < b->vlan);
}

static int vlan_cmp(const void *x, const void *y)
{
	uint16_t a = *(const uint16_t *)x, b = *(const uint16_t *)y;
	return (a > b) - (a < b);
}

typedef int (*pick_fn)(const struct mcr_filter_key *k, const struct mcr_filter_key *ref);

/* The VLAN check of a block: A = M[0] (the frame's VLAN); accept if a key of the run that starts
 * at keys[at] (those for which pick() holds) asks for it, else reject. any_vlan: accept whatever
 * the VLAN. */
static void vlan_check(struct prog *p, const struct mcr_filter_key *keys, uint32_t n, uint32_t at,
		       pick_fn pick, int any_vlan, struct label *accept, struct label *reject)
{
	if (any_vlan) {
		jump_to(p, accept);
		return;
	}
	uint32_t m = 0;
	for (uint32_t i = at; i < n && pick(&keys[i], &keys[at]); i++)
		p->vlans[m++] = keys[i].vlan;
	qsort(p->vlans, m, sizeof(*p->vlans), vlan_cmp);
	emit(p, BPF_LD | BPF_MEM, 0, 0, 0);
	for (uint32_t i = 0; i < m; i++)
		if (i == 0 || p->vlans[i] != p->vlans[i - 1]) /* each VLAN once per block */
			jeq_far(p, p->vlans[i], accept);
	jump_to(p, reject);
}

/* An IPv4 key's group is 224.0.0.0/4, or a unicast address of this host's (a unicast input). */
static int is_group(const uint8_t *group)
{
	return (ntohl(mcr__addr_u32(group)) & 0xf0000000u) == 0xe0000000u;
}

static int same_group(const struct mcr_filter_key *k, const struct mcr_filter_key *ref)
{
	return memcmp(k->group, ref->group, 16) == 0;
}

static int same_pair(const struct mcr_filter_key *k, const struct mcr_filter_key *ref)
{
	return same_group(k, ref) && k->port == ref->port;
}

static int same_mac(const struct mcr_filter_key *k, const struct mcr_filter_key *ref)
{
	return group_mac_low(k->group) == group_mac_low(ref->group);
}

static int any_key(const struct mcr_filter_key *k, const struct mcr_filter_key *ref)
{
	return 1;
}

/* keys[i] starts a run of `same` (the keys are sorted). */
static int first_of(const struct mcr_filter_key *keys, uint32_t i, pick_fn same)
{
	return i == 0 || !same(&keys[i - 1], &keys[i]);
}

/* if (the IPv6 destination == addr) goto l: a word at a time, a mismatch skips past the jump. */
static void dest6_jump(struct prog *p, const uint8_t *addr, struct label *l)
{
	for (int w = 0; w < 4; w++) {
		emit(p, BPF_LD | BPF_W | BPF_ABS, 0, 0, p->l2 + 24 + 4 * (uint32_t)w);
		emit(p, BPF_JMP | BPF_JEQ | BPF_K, 0, (uint8_t)(7 - 2 * w), word(addr, w));
	}
	jump_to(p, l);
}

/* IPv6, at the EtherType's label: keys k6 (n6 > 0, sorted, no repeats), all of them IPv6;
 * blocks and ports: a label per key. */
static void build6(struct prog *p, const struct mcr_filter_key *k6, uint32_t n6, int level,
		   struct label *blocks, struct label *ports, struct label *by_mac,
		   struct label *accept, struct label *reject)
{
	int any_vlan = level >= MCR_FILTER_CLASS_D_ANY_VLAN;
	emit(p, BPF_LD | BPF_W | BPF_LEN, 0, 0, 0);
	emit(p, BPF_JMP | BPF_JGE | BPF_K, 1, 0, p->l2 + 40);
	jump_to(p, by_mac); /* no room for a destination address */
	if (level >= MCR_FILTER_CLASS_D) {
		/* Any group; a unicast key (an address of the relay's own, for a unicast input) is
		 * no group: it is kept by name at every level, as an IPv4 one is. */
		struct label kept = { 0 };
		for (uint32_t i = 0; i < n6; i++)
			if (k6[i].group[0] != 0xff && first_of(k6, i, same_group))
				dest6_jump(p, k6[i].group, &kept);
		emit(p, BPF_LD | BPF_B | BPF_ABS, 0, 0, p->l2 + 24);
		emit(p, BPF_JMP | BPF_JEQ | BPF_K, 1, 0, 0xff);
		jump_to(p, reject);
		place(p, &kept);
		vlan_check(p, k6, n6, 0, any_key, any_vlan, accept, reject);
		return;
	}
	for (uint32_t i = 0; i < n6 && !p->overflow; i++)
		if (first_of(k6, i, same_group))
			dest6_jump(p, k6[i].group, &blocks[i]);
	jump_to(p, reject);
	for (uint32_t i = 0; i < n6 && !p->overflow; i++) {
		if (!first_of(k6, i, same_group))
			continue;
		struct label any = { 0 }, udp = { 0 };
		place(p, &blocks[i]);
		if (level == MCR_FILTER_EXACT) {
			emit(p, BPF_LD | BPF_B | BPF_ABS, 0, 0, p->l2 + 6);
			jeq_far(p, IPPROTO_UDP, &udp);
			jeq_far(p, IPPROTO_TCP, reject);
			jeq_far(p, IPPROTO_ICMPV6, reject);
			jump_to(p, &any); /* an extension header: the parser finds what follows */
			place(p, &udp);
			emit(p, BPF_LD | BPF_W | BPF_LEN, 0, 0, 0);
			emit(p, BPF_JMP | BPF_JGE | BPF_K, 1, 0, p->l2 + 44);
			jump_to(p, &any);
			emit(p, BPF_LD | BPF_H | BPF_ABS, 0, 0, p->l2 + 42);
			for (uint32_t j = i; j < n6 && same_group(&k6[j], &k6[i]); j++)
				if (first_of(k6, j, same_pair))
					jeq_far(p, k6[j].port, &ports[j]);
			jump_to(p, reject);
			for (uint32_t j = i; j < n6 && same_group(&k6[j], &k6[i]); j++) {
				if (!first_of(k6, j, same_pair))
					continue;
				place(p, &ports[j]);
				vlan_check(p, k6, n6, j, same_pair, any_vlan, accept, reject);
			}
		}
		place(p, &any);
		vlan_check(p, k6, n6, i, same_group, any_vlan, accept, reject);
	}
}

static int same_mac6(const struct mcr_filter_key *k, const struct mcr_filter_key *ref)
{
	return word(k->group, 3) == word(ref->group, 3);
}

/* By the destination MAC address 33:33 + a group's low 32 bits, at by_mac (A: its first half);
 * macs: a label per key. */
static void mac6(struct prog *p, const struct mcr_filter_key *k6, uint32_t n6, int level,
		 struct label *macs, struct label *accept, struct label *reject)
{
	int any_vlan = level >= MCR_FILTER_CLASS_D_ANY_VLAN;
	if (level >= MCR_FILTER_CLASS_D) {
		vlan_check(p, k6, n6, 0, any_key, any_vlan, accept, reject);
		return;
	}
	emit(p, BPF_LD | BPF_W | BPF_ABS, 0, 0, 2);
	for (uint32_t i = 0; i < n6 && !p->overflow; i++)
		if (first_of(k6, i, same_mac6))
			jeq_far(p, word(k6[i].group, 3), &macs[i]);
	jump_to(p, reject);
	for (uint32_t i = 0; i < n6 && !p->overflow; i++) {
		if (!first_of(k6, i, same_mac6))
			continue;
		place(p, &macs[i]);
		vlan_check(p, k6, n6, i, same_mac6, any_vlan, accept, reject);
	}
}

/* keys: sorted, no repeats (the IPv4 ones first). lab: 3 x n labels, all unplaced. */
static void build(struct prog *p, const struct mcr_filter_key *keys, uint32_t n, int level,
		  struct label *lab)
{
	struct label accept = { 0 }, reject = { 0 }, ipv4 = { 0 }, by_mac = { 0 }, tagged = { 0 },
		     ipv6 = { 0 }, by_mac6 = { 0 };
	struct label *blocks = lab, *ports = lab + n, *macs = lab + 2 * n;
	int any_vlan = level >= MCR_FILTER_CLASS_D_ANY_VLAN;
	uint32_t n4 = 0;
	while (n4 < n && mcr__addr_is_v4(keys[n4].group))
		n4++;
	const struct mcr_filter_key *k6 = keys + n4;
	uint32_t n6 = n - n4;
	if (n == 0) {
		emit(p, BPF_RET | BPF_K, 0, 0, 0);
		return;
	}
	/* Other hosts' frames and our own outgoing ones are not input. */
	emit(p, BPF_LD | BPF_W | BPF_ABS, 0, 0, AD(SKF_AD_PKTTYPE));
	jeq_far(p, PACKET_OTHERHOST, &reject);
	jeq_far(p, PACKET_OUTGOING, &reject);
	/* M[0] = the VLAN the kernel took off (0: none; a priority tag is VLAN 0 too). */
	emit(p, BPF_LD | BPF_W | BPF_ABS, 0, 0, AD(SKF_AD_VLAN_TAG_PRESENT));
	emit(p, BPF_JMP | BPF_JEQ | BPF_K, 2, 0, 0);
	emit(p, BPF_LD | BPF_W | BPF_ABS, 0, 0, AD(SKF_AD_VLAN_TAG));
	emit(p, BPF_ALU | BPF_AND | BPF_K, 0, 0, 0x0fff);
	emit(p, BPF_ST, 0, 0, 0);
	if (p->l2 == 0) {
		/* An IP-only link (tun, WireGuard, IPIP, GRE): the frame is the datagram, its
		 * version nibble says which. Anything else has no group to be told by. */
		emit(p, BPF_LD | BPF_W | BPF_LEN, 0, 0, 0);
		emit(p, BPF_JMP | BPF_JGE | BPF_K, 1, 0, 1);
		jump_to(p, &reject);
		emit(p, BPF_LD | BPF_B | BPF_ABS, 0, 0, 0);
		emit(p, BPF_ALU | BPF_AND | BPF_K, 0, 0, 0xf0);
		jeq_far(p, 0x40, &ipv4);
		if (n6)
			jeq_far(p, 0x60, &ipv6);
		jump_to(p, &reject);
	} else {
		/* The kernel delivers no frame shorter than an Ethernet header; a load past the end would
		 * end the program with "reject", so every length is checked before its load. */
		emit(p, BPF_LD | BPF_W | BPF_LEN, 0, 0, 0);
		emit(p, BPF_JMP | BPF_JGE | BPF_K, 1, 0, 14);
		jump_to(p, &reject);
		emit(p, BPF_LD | BPF_H | BPF_ABS, 0, 0, 12);
		jeq_far(p, ETH_IPV4, &ipv4);
		if (n6)
			jeq_far(p, ETH_IPV6, &ipv6);
		jeq_far(p, ETH_VLAN, &tagged);
		jeq_far(p, ETH_QINQ, &tagged);
		jump_to(p, &by_mac);

		/* A tag left in the frame: nested or cut ones are the parser's to count; a single one with
		 * IPv4 behind it belongs to another VLAN. */
		place(p, &tagged);
		emit(p, BPF_LD | BPF_W | BPF_LEN, 0, 0, 0);
		emit(p, BPF_JMP | BPF_JGE | BPF_K, 1, 0, 18);
		jump_to(p, &by_mac);
		emit(p, BPF_LD | BPF_H | BPF_ABS, 0, 0, 16);
		jeq_far(p, ETH_VLAN, &by_mac);
		jeq_far(p, ETH_QINQ, &by_mac);
		jump_to(p, &reject);
	}

	if (n6) {
		place(p, &ipv6);
		build6(p, k6, n6, level, blocks + n4, ports + n4, &by_mac, &accept, &reject);
	}

	place(p, &ipv4);
	if (n4 == 0)
		jump_to(p, &reject); /* no IPv4 key */
	emit(p, BPF_LD | BPF_W | BPF_LEN, 0, 0, 0);
	emit(p, BPF_JMP | BPF_JGE | BPF_K, 1, 0, p->l2 + 20);
	jump_to(p, &by_mac); /* no room for a destination address */
	emit(p, BPF_LD | BPF_W | BPF_ABS, 0, 0, p->l2 + 16);
	if (level >= MCR_FILTER_CLASS_D) {
		/* Any group; the classifier sorts them out. A unicast key (an address of the relay's
		 * own, for a unicast input) is no group: it is kept by name at every level. */
		struct label kept = { 0 };
		for (uint32_t i = 0; i < n4; i++)
			if (!is_group(keys[i].group) && first_of(keys, i, same_group))
				jeq_far(p, ntohl(mcr__addr_u32(keys[i].group)), &kept);
		emit(p, BPF_ALU | BPF_AND | BPF_K, 0, 0, 0xf0000000u);
		emit(p, BPF_JMP | BPF_JEQ | BPF_K, 1, 0, 0xe0000000u);
		jump_to(p, &reject);
		place(p, &kept);
		vlan_check(p, keys, n4, 0, any_key, any_vlan, &accept, &reject);
	} else {
		/* One block per group: its first key's index is where its label lives. A build
		 * that overflowed stops: the program is thrown away. */
		for (uint32_t i = 0; i < n4 && !p->overflow; i++)
			if (first_of(keys, i, same_group))
				jeq_far(p, ntohl(mcr__addr_u32(keys[i].group)), &blocks[i]);
		jump_to(p, &reject);
		for (uint32_t i = 0; i < n4 && !p->overflow; i++) {
			if (!first_of(keys, i, same_group))
				continue;
			struct label any = { 0 };
			place(p, &blocks[i]);
			if (level == MCR_FILTER_EXACT) {
				/* Not plain UDP (protocol, version/IHL, fragment) or too short for a port: the
				 * parser's to judge, if the VLAN is one the group is asked for on. */
				emit(p, BPF_LD | BPF_B | BPF_ABS, 0, 0, p->l2 + 9);
				emit(p, BPF_JMP | BPF_JEQ | BPF_K, 1, 0, IPPROTO_UDP);
				jump_to(p, &any);
				emit(p, BPF_LD | BPF_B | BPF_ABS, 0, 0, p->l2);
				emit(p, BPF_JMP | BPF_JEQ | BPF_K, 1, 0, 0x45);
				jump_to(p, &any);
				emit(p, BPF_LD | BPF_H | BPF_ABS, 0, 0, p->l2 + 6);
				emit(p, BPF_JMP | BPF_JSET | BPF_K, 0, 1, 0x3fff);
				jump_to(p, &any);
				emit(p, BPF_LD | BPF_W | BPF_LEN, 0, 0, 0);
				emit(p, BPF_JMP | BPF_JGE | BPF_K, 1, 0, p->l2 + 24);
				jump_to(p, &any);
				emit(p, BPF_LD | BPF_H | BPF_ABS, 0, 0, p->l2 + 22);
				for (uint32_t j = i; j < n4 && same_group(&keys[j], &keys[i]); j++)
					if (first_of(keys, j, same_pair))
						jeq_far(p, keys[j].port, &ports[j]);
				jump_to(p, &reject);
				for (uint32_t j = i; j < n4 && same_group(&keys[j], &keys[i]);
				     j++) {
					if (!first_of(keys, j, same_pair))
						continue;
					place(p, &ports[j]);
					vlan_check(p, keys, n4, j, same_pair, any_vlan, &accept,
						   &reject);
				}
			}
			place(p, &any);
			vlan_check(p, keys, n4, i, same_group, any_vlan, &accept, &reject);
		}
	}

	/* Judged by the destination MAC address: a group's is 01:00:5e and its low 23 bits. */
	place(p, &by_mac);
	if (n6 && p->l2) {
		emit(p, BPF_LD | BPF_H | BPF_ABS, 0, 0, 0);
		jeq_far(p, 0x3333, &by_mac6);
	}
	if (n4 == 0 || p->l2 == 0) { /* an IP-only link has no MAC address to judge by */
		jump_to(p, &reject);
	} else if (level >= MCR_FILTER_CLASS_D) {
		emit(p, BPF_LD | BPF_W | BPF_ABS, 0, 0, 2);
		emit(p, BPF_ALU | BPF_AND | BPF_K, 0, 0, 0xff800000u);
		emit(p, BPF_JMP | BPF_JEQ | BPF_K, 1, 0, 0x5e000000u);
		jump_to(p, &reject);
		emit(p, BPF_LD | BPF_H | BPF_ABS, 0, 0, 0);
		emit(p, BPF_JMP | BPF_JEQ | BPF_K, 1, 0, 0x0100);
		jump_to(p, &reject);
		vlan_check(p, keys, n4, 0, any_key, any_vlan, &accept, &reject);
	} else {
		struct label not_group = { 0 };
		emit(p, BPF_LD | BPF_H | BPF_ABS, 0, 0, 0);
		emit(p, BPF_JMP | BPF_JEQ | BPF_K, 1, 0, 0x0100);
		jump_to(p, &reject);
		emit(p, BPF_LD | BPF_W | BPF_ABS, 0, 0, 2);
		for (uint32_t i = 0; i < n4 && !p->overflow; i++)
			if (first_of(keys, i, same_mac))
				jeq_far(p, group_mac_low(keys[i].group), &macs[i]);
		jump_to(p, &not_group);
		for (uint32_t i = 0; i < n4 && !p->overflow; i++) {
			if (!first_of(keys, i, same_mac))
				continue;
			place(p, &macs[i]);
			vlan_check(p, keys, n4, i, same_mac, any_vlan, &accept, &reject);
		}
		place(p, &not_group);
		jump_to(p, &reject);
	}

	if (n6 && p->l2) {
		place(p, &by_mac6);
		mac6(p, k6, n6, level, macs + n4, &accept, &reject);
	}

	place(p, &reject);
	emit(p, BPF_RET | BPF_K, 0, 0, 0);
	place(p, &accept);
	emit(p, BPF_RET | BPF_K, 0, 0, 0xffffffffu);
}

int mcr__filter_build(const struct mcr_filter_key *keys, uint32_t n, int level,
		      struct sock_filter *out, uint32_t max)
{
	return mcr__filter_build_link(0, keys, n, level, out, max);
}

int mcr__filter_build_link(int ip_only, const struct mcr_filter_key *keys, uint32_t n, int level,
			   struct sock_filter *out, uint32_t max)
{
	struct mcr_filter_key *sorted = malloc(sizeof(*sorted) * (n ? n : 1));
	struct label *lab = calloc(3 * (size_t)(n ? n : 1), sizeof(*lab));
	uint16_t *vlans = malloc(sizeof(*vlans) * (n ? n : 1));
	int r = -ENOMEM;
	if (sorted && lab && vlans) {
		uint32_t m = 0;
		if (n > 0) { /* keys may be NULL for an empty table */
			memcpy(sorted, keys, sizeof(*keys) * n);
			qsort(sorted, n, sizeof(*sorted), key_cmp);
		}
		for (uint32_t i = 0; i < n; i++)
			if (m == 0 || key_cmp(&sorted[m - 1], &sorted[i]) != 0)
				sorted[m++] = sorted[i];
		struct prog p = { .ins = out, .max = max, .vlans = vlans, .l2 = ip_only ? 0 : 14 };
		build(&p, sorted, m, level, lab);
		r = p.overflow ? -E2BIG : (int)p.n;
	}
	free(sorted);
	free(lab);
	free(vlans);
	return r;
}

/* 1 when the program attached to fd is ins already (the kernel keeps the classic program it was
 * given): attaching it again would cost the kernel a check and a JIT for nothing. */
static int attached_is(int fd, const struct sock_filter *ins, int len, struct sock_filter *buf)
{
	socklen_t got = (socklen_t)len; /* SO_GET_FILTER counts instructions, not bytes */
	if (getsockopt(fd, SOL_SOCKET, SO_GET_FILTER, buf, &got) < 0 || got != (socklen_t)len)
		return 0;
	return memcmp(buf, ins, sizeof(*ins) * (size_t)len) == 0;
}

int mcr__filter_attach(int fd, int ip_only, const struct mcr_filter_key *keys, uint32_t n)
{
	struct sock_filter *ins = malloc(sizeof(*ins) * BPF_MAXINSNS * 2);
	int err = -ENOMEM;
	if (!ins)
		return -ENOMEM;
	/* The finest program that fits the kernel's limits; a coarser one still passes every frame
	 * a key could take, and the classifier sorts out the rest. */
	for (int level = MCR_FILTER_EXACT; level <= MCR_FILTER_CLASS_D_ANY_VLAN; level++) {
		int len = mcr__filter_build_link(ip_only, keys, n, level, ins, BPF_MAXINSNS);
		if (len < 0) {
			err = len;
			continue;
		}
		struct sock_fprog fp = { .len = (unsigned short)len, .filter = ins };
		if (attached_is(fd, ins, len, ins + BPF_MAXINSNS) ||
		    setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &fp, sizeof(fp)) == 0) {
			free(ins);
			return level;
		}
		err = -errno;
		if (err != -ENOMEM && err != -EINVAL)
			break;
	}
	free(ins);
	return err;
}
