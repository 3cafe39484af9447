/* The rule lookup: (input, group, port, VLAN, source) -> rule, in a cost per frame that does not
 * grow with the table. Rules are hashed on the whole key, the source masked to the rule's prefix
 * length; a frame is looked up once per prefix length that some rule of the table uses, longest
 * first, among the lengths of the frame's family (at most 129, in practice a host and "any": one
 * or two probes), so 1,000 (S,G) rules cost a
 * frame what one does, and where prefixes overlap the most specific rule alone takes the frame. */
#include <errno.h>
#include <stdlib.h>
#include "internal.h"

int mcr__match_build(struct mcr_match *m, const struct mcr_rule_entry *rules, uint32_t n)
{
	uint32_t hsize = 16;
	*m = (struct mcr_match){ .rules = rules };
	if (n > MCR_MATCH_MAX)
		return -EINVAL;
	while (hsize < n * 2)
		hsize <<= 1;
	m->hash = malloc(sizeof(*m->hash) * hsize);
	if (!m->hash)
		return -ENOMEM;
	memset(m->hash, 0xff, sizeof(*m->hash) * hsize);
	m->hmask = hsize - 1;
	for (uint32_t i = 0; i < n; i++) {
		const struct mcr_rule_entry *e = &rules[i];
		/* A prefix with host bits set, a family that is not the group's (an IPv4 one is
		 * IPv4-mapped, its source too, from /96 on), a VLAN past 4094 or a duplicate key:
		 * the caller's bug. */
		uint8_t masked[16];
		mcr__addr_mask(masked, e->source, e->source_len);
		int v4 = mcr__addr_is_v4(e->group);
		if (e->source_len > 128 || e->vlan > 4094 || memcmp(masked, e->source, 16) != 0 ||
		    (e->family != 4 && e->family != 6) || v4 != (e->family == 4) ||
		    (v4 && (e->source_len < 96 || !mcr__addr_is_v4(e->source))) ||
		    mcr__match_probe(m, e->in_ifindex, e->group, e->port, e->vlan, e->source,
				     e->source_len) >= 0) {
			mcr__match_free(m);
			return -EINVAL;
		}
		uint32_t h = mcr__match_hash(e->in_ifindex, e->group, e->port, e->vlan, e->source,
					     e->source_len) &
			     m->hmask;
		while (m->hash[h] >= 0)
			h = (h + 1) & m->hmask;
		m->hash[h] = (int32_t)i;
		m->lens[e->family == 6][e->source_len / 64] |= 1ull << (e->source_len % 64);
	}
	return 0;
}

void mcr__match_free(struct mcr_match *m)
{
	free(m->hash);
	m->hash = NULL;
	memset(m->lens, 0, sizeof(m->lens));
}
