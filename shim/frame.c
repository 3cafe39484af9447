/* Ethernet [802.1Q] / IPv4 or IPv6 / UDP parsing, and the same from the IP header on for links
 * without one (tun, WireGuard, IPIP, GRE). Every length is checked against the frame before it is
 * read: a frame off the wire may be anything. */
#include "internal.h"
#include "csum.h"

#define ETH_HLEN_ 14
#define ETHERTYPE_IPV4 0x0800
#define ETHERTYPE_IPV6 0x86dd
/* Extension headers a UDP datagram may carry and the parser steps over (RFC 8200 4.1); more than
 * this many in one datagram is taken for an attack on the parser, not traffic. */
#define IP6_EXT_MAX 8
#define ETHERTYPE_VLAN 0x8100
#define ETHERTYPE_QINQ 0x88a8

static inline uint32_t rd16(const uint8_t *p)
{
	return (uint32_t)p[0] << 8 | p[1];
}

static inline int is_vlan(uint32_t type)
{
	return type == ETHERTYPE_VLAN || type == ETHERTYPE_QINQ;
}

/* The IPv6 datagram at f + off: the fixed header, the extension headers before UDP, UDP. */
static int parse6(const uint8_t *f, uint32_t off, uint32_t len, struct mcr_frame_info *o)
{
	uint32_t avail = len - off;
	if (avail < 40)
		return MCR_DROP_IP6_TRUNCATED;
	const uint8_t *ip = f + off;
	if (ip[0] >> 4 != 6)
		return MCR_DROP_IP_VERSION;
	/* Ethernet pads short frames, so the frame may be longer than the datagram; a payload length
	 * of 0 is a jumbogram's (RFC 2675), which no Ethernet carries. */
	uint32_t total = 40 + rd16(ip + 4);
	if (total == 40 || total > avail)
		return MCR_DROP_IP6_LENGTH;
	uint32_t nh = ip[6], at = 40;
	for (int n = 0;; n++) {
		if (nh == IPPROTO_UDP)
			break;
		if (nh == IPPROTO_FRAGMENT)
			return MCR_DROP_IP_FRAGMENT;
		if (nh != IPPROTO_HOPOPTS && nh != IPPROTO_DSTOPTS && nh != IPPROTO_ROUTING)
			return MCR_DROP_NOT_UDP;
		/* Hop-by-hop options come first or not at all (RFC 8200 4.3). */
		if (n >= IP6_EXT_MAX || (nh == IPPROTO_HOPOPTS && n > 0) || total - at < 8)
			return MCR_DROP_IP6_EXT;
		uint32_t hlen = ((uint32_t)ip[at + 1] + 1) * 8;
		if (hlen > total - at)
			return MCR_DROP_IP6_EXT;
		nh = ip[at];
		at += hlen;
	}
	if (total - at < 8)
		return MCR_DROP_UDP_TRUNCATED;
	const uint8_t *udp = ip + at;
	uint32_t ulen = rd16(udp + 4);
	if (ulen < 8 || ulen > total - at)
		return MCR_DROP_UDP_LENGTH;
	memcpy(o->source, ip + 8, 16);
	memcpy(o->group, ip + 24, 16);
	o->family = 6;
	o->ip_off = (uint16_t)off;
	o->sport = (uint16_t)rd16(udp);
	o->port = (uint16_t)rd16(udp + 2);
	o->payload_off = (uint16_t)(off + at + 8);
	o->payload_len = (uint16_t)(ulen - 8);
	return MCR_PARSE_OK;
}

static int parse4(const uint8_t *f, uint32_t off, uint32_t len, struct mcr_frame_info *o);

int mcr__frame_parse(const uint8_t *f, uint32_t len, struct mcr_frame_info *o)
{
	uint32_t off = ETH_HLEN_;
	if (len < ETH_HLEN_)
		return MCR_DROP_RUNT;
	uint32_t type = rd16(f + 12);
	/* The kernel takes the outer tag off into tp_vlan_tci before the ring sees the frame, so a
	 * tag here is a second (QinQ) one, or one the driver left in place. */
	if (is_vlan(type)) {
		if (len < ETH_HLEN_ + 4)
			return MCR_DROP_VLAN_TRUNCATED;
		type = rd16(f + 16);
		off += 4;
		if (is_vlan(type))
			return MCR_DROP_VLAN_NESTED;
	}
	if (type == ETHERTYPE_IPV6)
		return parse6(f, off, len, o);
	if (type != ETHERTYPE_IPV4)
		return MCR_DROP_NOT_IPV4;
	return parse4(f, off, len, o);
}

int mcr__frame_parse_ip(const uint8_t *f, uint32_t len, struct mcr_frame_info *o)
{
	/* No EtherType: the version nibble says which header follows. */
	if (len >= 1 && f[0] >> 4 == 6)
		return parse6(f, 0, len, o);
	if (len >= 1 && f[0] >> 4 != 4)
		return MCR_DROP_IP_VERSION;
	return parse4(f, 0, len, o);
}

/* The IPv4 datagram at f + off. */
static int parse4(const uint8_t *f, uint32_t off, uint32_t len, struct mcr_frame_info *o)
{
	uint32_t avail = len - off;
	if (avail < 20)
		return MCR_DROP_IP_TRUNCATED;
	const uint8_t *ip = f + off;
	if (ip[0] >> 4 != 4)
		return MCR_DROP_IP_VERSION;
	uint32_t ihl = (uint32_t)(ip[0] & 15) * 4;
	if (ihl < 20 || ihl > avail)
		return MCR_DROP_IP_IHL;
	if (ihl > 20)
		return MCR_DROP_IP_OPTIONS;
	/* 0 when the stored checksum is right */
	if (mcr__csum_fold(mcr__csum_add(ip, 20, 0)) != 0)
		return MCR_DROP_IP_CHECKSUM;
	uint32_t total = rd16(ip + 2);
	/* Ethernet pads short frames to 60 bytes, so the frame may be longer than the datagram. */
	if (total < ihl || total > avail)
		return MCR_DROP_IP_LENGTH;
	if (rd16(ip + 6) & 0x3fff)
		return MCR_DROP_IP_FRAGMENT;
	if (ip[9] != IPPROTO_UDP)
		return MCR_DROP_NOT_UDP;
	if (total - ihl < 8)
		return MCR_DROP_UDP_TRUNCATED;
	const uint8_t *udp = ip + ihl;
	uint32_t ulen = rd16(udp + 4);
	if (ulen < 8 || ulen > total - ihl)
		return MCR_DROP_UDP_LENGTH;
	mcr__addr_v4(o->source, ip + 12);
	mcr__addr_v4(o->group, ip + 16);
	o->family = 4;
	o->ip_off = (uint16_t)off;
	o->sport = (uint16_t)rd16(udp);
	o->port = (uint16_t)rd16(udp + 2);
	o->payload_off = (uint16_t)(off + ihl + 8);
	o->payload_len = (uint16_t)(ulen - 8);
	return MCR_PARSE_OK;
}

uint16_t mcr__udp_head_sum(const uint8_t *ip, const uint8_t *udp, int v6, uint32_t ulen)
{
	/* The pseudo-header's protocol and length words (RFC 768; RFC 8200 8.1 widens the length
	 * to 32 bits, whose high half a UDP length leaves 0), as the native loads of csum.h see
	 * network-order words; then the addresses and the UDP header. */
	uint8_t words[4] = { 0, IPPROTO_UDP, (uint8_t)(ulen >> 8), (uint8_t)ulen };
	uint64_t sum = mcr__csum_add(words, 4, 0);
	sum = mcr__csum_add(ip + (v6 ? 8 : 12), v6 ? 32 : 8, sum);
	return (uint16_t)~mcr__csum_fold(mcr__csum_add(udp, 8, sum));
}

int mcr__udp_sum_ok(uint16_t head, const uint8_t *payload, uint32_t len)
{
	return mcr__csum_fold(mcr__csum_add(payload, len, head)) == 0;
}

int mcr__udp_csum_ok(const uint8_t *ip, uint32_t ulen)
{
	return ulen >= 8 &&
	       mcr__udp_sum_ok(mcr__udp_head_sum(ip, ip + 20, 0, ulen), ip + 28, ulen - 8);
}

int mcr__udp6_csum_ok(const uint8_t *ip, const uint8_t *udp, uint32_t ulen)
{
	return ulen >= 8 && mcr__udp_sum_ok(mcr__udp_head_sum(ip, udp, 1, ulen), udp + 8, ulen - 8);
}

MCR_API int mcr_frame_parse(const uint8_t *frame, uint32_t len, struct mcr_frame_info *out)
{
	int r = mcr__frame_parse(frame, len, out);
	return r == MCR_PARSE_OK ? 0 : 1 + r;
}
