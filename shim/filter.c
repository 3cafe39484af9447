/* The classic BPF program on each input socket: the kernel turns away, before the ring, every
 * frame no rule could take, so unrelated traffic on the input (unicast, ARP, other groups, other
 * ports, other VLANs, other hosts' frames) costs the worker nothing and is not counted as a drop.
 *
 * What the program lets through, for the (group, port, vlan) keys of one input:
 *   - never a frame of another host (PACKET_OTHERHOST) or one leaving this host;
 *   - an IPv4 UDP datagram, IHL 5, not a fragment, to a key's group and port on the key's VLAN
 *     (the kernel's tag: 0 = none or a priority tag) with no tag left in the frame; a key's
 *     "group" may be a unicast address of this host's (a unicast input), sent to as a group is;
 *   - a malformed frame aimed at a key's group on its VLAN, so that the parser counts it under its
 *     reason: IPv4 to the group that is not plain UDP (another protocol, a fragment, IHL other than
 *     5, not version 4) or too short to hold the port; a frame too short to hold a destination
 *     address, or of another EtherType, or with nested or cut tags, sent to the group's MAC address.
 * A second tag with IPv4 behind it is another VLAN's datagram: turned away.
 *
 * The program is built here, in C, inside the table install: the install already walks the
 * table, the sockets are the shim's, and the order "attach the union, swap the table, attach the
 * new" has to happen in one call between two batches. Past the kernel's size limit (or optmem_max)
 * the builder falls back to coarser programs that still pass every frame a key could take. */
#include <errno.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <linux/filter.h>
#include "internal.h"

#define ETH_IPV4 0x0800
#define ETH_VLAN 0x8100
#define ETH_QINQ 0x88a8
#define AD(x) (SKF_AD_OFF + (x))

struct label {
	int unused; /* a label is known by its address */
};

struct prog {
	struct sock_filter *ins;
	struct label **fix; /* fix[i]: the label the `ja` at i goes to, until it is placed */
	uint32_t n, max;
	int overflow;
};

static void emit(struct prog *p, uint16_t code, uint8_t jt, uint8_t jf, uint32_t k)
{
	if (p->n >= p->max) {
		p->overflow = 1;
		return;
	}
	p->fix[p->n] = NULL;
	p->ins[p->n++] = (struct sock_filter){ code, jt, jf, k };
}

/* Forward jumps to labels placed later: a `ja` whose k is patched when the label is placed (cBPF
 * conditional jumps reach 255 instructions at most, `ja` any distance). */
static void jump_to(struct prog *p, struct label *l)
{
	emit(p, BPF_JMP | BPF_JA, 0, 0, 0);
	if (!p->overflow)
		p->fix[p->n - 1] = l;
}

static void place(struct prog *p, struct label *l)
{
	if (p->overflow)
		return;
	for (uint32_t i = 0; i < p->n; i++)
		if (p->fix[i] == l) {
			p->ins[i].k = p->n - i - 1;
			p->fix[i] = NULL;
		}
}

/* if (A == k) goto l: two instructions, so that l may lie any distance ahead. */
static void jeq_far(struct prog *p, uint32_t k, struct label *l)
{
	emit(p, BPF_JMP | BPF_JEQ | BPF_K, 0, 1, k);
	jump_to(p, l);
}

static uint32_t group_mac_low(uint32_t group_be)
{
	uint32_t g = ntohl(group_be);
	return 0x5e000000u | (g & 0x7fffffu); /* bytes 2..5 of 01:00:5e + low 23 bits */
}

/* The VLAN check of a block: A = M[0] (the frame's VLAN); accept if one of `keys` (those for which
 * pick() holds) asks for it, else reject. any_vlan: accept whatever the VLAN. */
typedef int (*pick_fn)(const struct mcr_filter_key *k, const struct mcr_filter_key *ref);

static void vlan_check(struct prog *p, const struct mcr_filter_key *keys, uint32_t n,
		       const struct mcr_filter_key *ref, pick_fn pick, int any_vlan,
		       struct label *accept, struct label *reject)
{
	if (any_vlan) {
		jump_to(p, accept);
		return;
	}
	emit(p, BPF_LD | BPF_MEM, 0, 0, 0);
	for (uint32_t i = 0; i < n; i++) {
		if (!pick(&keys[i], ref))
			continue;
		int seen = 0; /* each VLAN once per block */
		for (uint32_t j = 0; j < i && !seen; j++)
			seen = pick(&keys[j], ref) && keys[j].vlan == keys[i].vlan;
		if (!seen)
			jeq_far(p, keys[i].vlan, accept);
	}
	jump_to(p, reject);
}

static int is_group(uint32_t addr_be)
{
	return (ntohl(addr_be) & 0xf0000000u) == 0xe0000000u;
}

static int same_group(const struct mcr_filter_key *k, const struct mcr_filter_key *ref)
{
	return k->group == ref->group;
}

static int same_pair(const struct mcr_filter_key *k, const struct mcr_filter_key *ref)
{
	return k->group == ref->group && k->port == ref->port;
}

static int same_mac(const struct mcr_filter_key *k, const struct mcr_filter_key *ref)
{
	return group_mac_low(k->group) == group_mac_low(ref->group);
}

static int any_key(const struct mcr_filter_key *k, const struct mcr_filter_key *ref)
{
	return 1;
}

static int first_of(const struct mcr_filter_key *keys, uint32_t i, pick_fn same)
{
	for (uint32_t j = 0; j < i; j++)
		if (same(&keys[j], &keys[i]))
			return 0;
	return 1;
}

static void build(struct prog *p, const struct mcr_filter_key *keys, uint32_t n, int level)
{
	struct label accept = { 0 }, reject = { 0 }, ipv4 = { 0 }, by_mac = { 0 }, tagged = { 0 };
	int any_vlan = level >= MCR_FILTER_CLASS_D_ANY_VLAN;
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
	/* The kernel delivers no frame shorter than an Ethernet header; a load past the end would
	 * end the program with "reject", so every length is checked before its load. */
	emit(p, BPF_LD | BPF_W | BPF_LEN, 0, 0, 0);
	emit(p, BPF_JMP | BPF_JGE | BPF_K, 1, 0, 14);
	jump_to(p, &reject);
	emit(p, BPF_LD | BPF_H | BPF_ABS, 0, 0, 12);
	jeq_far(p, ETH_IPV4, &ipv4);
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

	place(p, &ipv4);
	emit(p, BPF_LD | BPF_W | BPF_LEN, 0, 0, 0);
	emit(p, BPF_JMP | BPF_JGE | BPF_K, 1, 0, 34);
	jump_to(p, &by_mac); /* no room for a destination address */
	emit(p, BPF_LD | BPF_W | BPF_ABS, 0, 0, 30);
	if (level >= MCR_FILTER_CLASS_D) {
		/* Any group; the classifier sorts them out. A unicast key (an address of the relay's
		 * own, for a unicast input) is no group: it is kept by name at every level. */
		struct label kept = { 0 };
		for (uint32_t i = 0; i < n; i++)
			if (!is_group(keys[i].group) && first_of(keys, i, same_group))
				jeq_far(p, ntohl(keys[i].group), &kept);
		emit(p, BPF_ALU | BPF_AND | BPF_K, 0, 0, 0xf0000000u);
		emit(p, BPF_JMP | BPF_JEQ | BPF_K, 1, 0, 0xe0000000u);
		jump_to(p, &reject);
		place(p, &kept);
		vlan_check(p, keys, n, &keys[0], any_key, any_vlan, &accept, &reject);
	} else {
		/* One block per group: its index is where its label lives. */
		struct label *blocks = calloc(n, sizeof(*blocks));
		if (!blocks) {
			p->overflow = 1;
			return;
		}
		for (uint32_t i = 0; i < n; i++)
			if (first_of(keys, i, same_group))
				jeq_far(p, ntohl(keys[i].group), &blocks[i]);
		jump_to(p, &reject);
		for (uint32_t i = 0; i < n; i++) {
			if (!first_of(keys, i, same_group))
				continue;
			struct label any = { 0 };
			place(p, &blocks[i]);
			if (level == MCR_FILTER_EXACT) {
				/* Not plain UDP (protocol, version/IHL, fragment) or too short for a port: the
				 * parser's to judge, if the VLAN is one the group is asked for on. */
				emit(p, BPF_LD | BPF_B | BPF_ABS, 0, 0, 23);
				emit(p, BPF_JMP | BPF_JEQ | BPF_K, 1, 0, IPPROTO_UDP);
				jump_to(p, &any);
				emit(p, BPF_LD | BPF_B | BPF_ABS, 0, 0, 14);
				emit(p, BPF_JMP | BPF_JEQ | BPF_K, 1, 0, 0x45);
				jump_to(p, &any);
				emit(p, BPF_LD | BPF_H | BPF_ABS, 0, 0, 20);
				emit(p, BPF_JMP | BPF_JSET | BPF_K, 0, 1, 0x3fff);
				jump_to(p, &any);
				emit(p, BPF_LD | BPF_W | BPF_LEN, 0, 0, 0);
				emit(p, BPF_JMP | BPF_JGE | BPF_K, 1, 0, 38);
				jump_to(p, &any);
				emit(p, BPF_LD | BPF_H | BPF_ABS, 0, 0, 36);
				struct label *ports = calloc(n, sizeof(*ports));
				if (!ports) {
					p->overflow = 1;
					free(blocks);
					return;
				}
				for (uint32_t j = i; j < n; j++)
					if (same_group(&keys[j], &keys[i]) &&
					    first_of(keys, j, same_pair))
						jeq_far(p, keys[j].port, &ports[j]);
				jump_to(p, &reject);
				for (uint32_t j = i; j < n; j++) {
					if (!same_group(&keys[j], &keys[i]) ||
					    !first_of(keys, j, same_pair))
						continue;
					place(p, &ports[j]);
					vlan_check(p, keys, n, &keys[j], same_pair, any_vlan,
						   &accept, &reject);
				}
				free(ports);
			}
			place(p, &any);
			vlan_check(p, keys, n, &keys[i], same_group, any_vlan, &accept, &reject);
		}
		free(blocks);
	}

	/* Judged by the destination MAC address: a group's is 01:00:5e and its low 23 bits. */
	place(p, &by_mac);
	if (level >= MCR_FILTER_CLASS_D) {
		emit(p, BPF_LD | BPF_W | BPF_ABS, 0, 0, 2);
		emit(p, BPF_ALU | BPF_AND | BPF_K, 0, 0, 0xff800000u);
		emit(p, BPF_JMP | BPF_JEQ | BPF_K, 1, 0, 0x5e000000u);
		jump_to(p, &reject);
		emit(p, BPF_LD | BPF_H | BPF_ABS, 0, 0, 0);
		emit(p, BPF_JMP | BPF_JEQ | BPF_K, 1, 0, 0x0100);
		jump_to(p, &reject);
		vlan_check(p, keys, n, &keys[0], any_key, any_vlan, &accept, &reject);
	} else {
		struct label *macs = calloc(n, sizeof(*macs)), not_group = { 0 };
		if (!macs) {
			p->overflow = 1;
			return;
		}
		emit(p, BPF_LD | BPF_H | BPF_ABS, 0, 0, 0);
		emit(p, BPF_JMP | BPF_JEQ | BPF_K, 1, 0, 0x0100);
		jump_to(p, &reject);
		emit(p, BPF_LD | BPF_W | BPF_ABS, 0, 0, 2);
		for (uint32_t i = 0; i < n; i++)
			if (first_of(keys, i, same_mac))
				jeq_far(p, group_mac_low(keys[i].group), &macs[i]);
		jump_to(p, &not_group);
		for (uint32_t i = 0; i < n; i++) {
			if (!first_of(keys, i, same_mac))
				continue;
			place(p, &macs[i]);
			vlan_check(p, keys, n, &keys[i], same_mac, any_vlan, &accept, &reject);
		}
		place(p, &not_group);
		jump_to(p, &reject);
		free(macs);
	}

	place(p, &reject);
	emit(p, BPF_RET | BPF_K, 0, 0, 0);
	place(p, &accept);
	emit(p, BPF_RET | BPF_K, 0, 0, 0xffffffffu);
}

int mcr__filter_build(const struct mcr_filter_key *keys, uint32_t n, int level,
		      struct sock_filter *out, uint32_t max)
{
	struct prog p = { .ins = out, .max = max, .fix = calloc(max, sizeof(struct label *)) };
	if (!p.fix)
		return -ENOMEM;
	build(&p, keys, n, level);
	free(p.fix);
	return p.overflow ? -E2BIG : (int)p.n;
}

int mcr__filter_attach(int fd, const struct mcr_filter_key *keys, uint32_t n)
{
	struct sock_filter *ins = malloc(sizeof(*ins) * BPF_MAXINSNS);
	int err = -ENOMEM;
	if (!ins)
		return -ENOMEM;
	/* The finest program that fits the kernel's limits; a coarser one still passes every frame
	 * a key could take, and the classifier sorts out the rest. */
	for (int level = MCR_FILTER_EXACT; level <= MCR_FILTER_CLASS_D_ANY_VLAN; level++) {
		int len = mcr__filter_build(keys, n, level, ins, BPF_MAXINSNS);
		if (len < 0) {
			err = len;
			continue;
		}
		struct sock_fprog fp = { .len = (unsigned short)len, .filter = ins };
		if (setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &fp, sizeof(fp)) == 0) {
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
