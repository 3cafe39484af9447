/* The input filter's builder (filter.c) against the parser, through the cBPF interpreter of
 * cbpf.h. Input: byte 0 the number of keys (low 3 bits), whether key 0 copies the frame's own
 * group, port and VLAN (bit 3), and which keys are IPv6 (bit 4: the even ones, bit 5: the odd
 * ones); bytes 1-4 what the kernel knows of the frame (packet type, a tag taken off and its TCI);
 * per key its group (4 bytes, IPv6: 15 after the ff), port and VLAN; the rest the frame. Every level's
 * program must be one the interpreter runs to a return; the levels nest; another host's frame
 * or an outgoing one never passes; a datagram the parser would hand to a key passes every level,
 * and a well-formed one that no key asks for does not pass the exact level; and the programs for
 * a link without an Ethernet header judge the datagram behind it the same way. */
#include "../../internal.h"
#include "../cbpf.h"
#include "fuzz.h"

#define LEVELS (MCR_FILTER_CLASS_D_ANY_VLAN + 1)

static struct sock_filter prog[BPF_MAXINSNS];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct bytes b = { data, size };
	uint8_t head = take8(&b);
	uint32_t n = head & 7;
	struct cbpf_meta m = { .pkttype = take8(&b) & 7 };
	m.tagged = take8(&b) & 1;
	m.tci = take16(&b);
	struct mcr_filter_key keys[8];
	for (uint32_t i = 0; i < n; i++) {
		/* A rule's group is multicast (src/rules/validate.ts): the coarse levels rely on it. */
		uint8_t g6[16] = { 0xff };
		uint32_t g = 0;
		int v6 = (head >> (4 + (i & 1))) & 1;
		if (v6)
			for (int k = 1; k < 16; k++)
				g6[k] = take8(&b);
		else
			g = htonl(0xe0000000u | (take32(&b) & 0x0fffffffu));
		keys[i] = (struct mcr_filter_key){ .port = take16(&b) };
		if (v6)
			memcpy(keys[i].group, g6, 16);
		else
			mcr__addr_v4(keys[i].group, (const uint8_t *)&g);
		keys[i].vlan = take16(&b);
	}
	const uint8_t *f = b.p;
	uint32_t len = (uint32_t)b.n;
	uint16_t vid = m.tagged ? m.tci & 0x0fff : 0;

	struct mcr_frame_info fi;
	/* A tag left in the frame over IP is another VLAN's datagram: no key's (worker.c). */
	int parsed = mcr__frame_parse(f, len, &fi) == MCR_PARSE_OK && fi.ip_off == 14;
	/* Past IPv6 extension headers the filter cannot read the port: it passes them to the group
	 * for the parser to judge, so only a datagram without them must be turned away. */
	int plain = parsed && fi.payload_off == (fi.family == 4 ? 42 : 62);
	int multicast =
		fi.family == 4 ? (ntohl(mcr__addr_u32(fi.group)) >> 28) == 14 : fi.group[0] == 0xff;
	if (parsed && n > 0 && (head & 8) && multicast) {
		keys[0] = (struct mcr_filter_key){ .port = fi.port, .vlan = vid };
		memcpy(keys[0].group, fi.group, 16);
	}
	int host = m.pkttype != PACKET_OTHERHOST && m.pkttype != PACKET_OUTGOING;
	int wanted = 0;
	for (uint32_t k = 0; k < n && parsed; k++)
		wanted |= memcmp(keys[k].group, fi.group, 16) == 0 && keys[k].port == fi.port &&
			  keys[k].vlan == vid;

	uint32_t v[LEVELS];
	for (int l = 0; l < LEVELS; l++) {
		int plen = mcr__filter_build(keys, n, l, prog, BPF_MAXINSNS);
		MUST(plen > 0);
		int at;
		MUST(cbpf_run(prog, plen, f, len, &m, &v[l], &at) == CBPF_OK);
		MUST(l == 0 || !v[l - 1] || v[l]);
	}
	if (n == 0 || !host)
		MUST(!v[LEVELS - 1]);
	else if (wanted)
		MUST(v[0]);
	else if (plain)
		MUST(!v[0]);

	/* The same datagram on a link without an Ethernet header (the EtherType agreeing with the
	 * version nibble, as on a tun device): every level's IP-only program judges it as the
	 * Ethernet one does, or, too short for its destination address or of a family no key has,
	 * turns it away. */
	uint32_t type = len >= 14 ? (uint32_t)f[12] << 8 | f[13] : 0,
		 ver = len > 14 ? f[14] >> 4 : 0;
	if ((type == 0x0800 && ver == 4) || (type == 0x86dd && ver == 6))
		for (int l = 0; l < LEVELS; l++) {
			int plen = mcr__filter_build_link(1, keys, n, l, prog, BPF_MAXINSNS), at;
			uint32_t vi;
			MUST(plen > 0);
			MUST(cbpf_run(prog, plen, f + 14, len - 14, &m, &vi, &at) == CBPF_OK);
			/* The keys here are IPv4: an IPv6 datagram, which the Ethernet program may
			 * pass by its MAC address, has no key of its family. */
			if (ver == 4 && len >= 34)
				MUST(!vi == !v[l]);
			else
				MUST(!vi);
		}
	return 0;
}
