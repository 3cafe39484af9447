/* The parser on crafted frames: every length boundary, every drop reason; and its entry for links
 * without an Ethernet header (tun, WireGuard), which must judge the same datagram the same way.
 * Exit 0 pass, 1 fail. */
#include "lab.h" /* first: CHECK, and it defines _GNU_SOURCE */
#include <stdio.h>
#include <string.h>
#include "../internal.h"

static unsigned build(unsigned char *f, unsigned payload)
{
	static const unsigned char eth[14] = { 1, 0, 0x5e, 1, 1, 1, 2, 0, 0, 0, 0, 2, 8, 0 };
	unsigned tot = 20 + 8 + payload;
	unsigned char ip[20] = { 0x45,
				 0,
				 (unsigned char)(tot >> 8),
				 (unsigned char)tot,
				 0,
				 0,
				 0,
				 0,
				 8,
				 17,
				 0,
				 0,
				 10,
				 0,
				 0,
				 1,
				 239,
				 1,
				 1,
				 1 };
	unsigned sum = 0;
	for (int i = 0; i < 20; i += 2)
		sum += (unsigned)(ip[i] << 8 | ip[i + 1]);
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	ip[10] = (unsigned char)(~sum >> 8);
	ip[11] = (unsigned char)~sum;
	unsigned ulen = 8 + payload;
	unsigned char udp[8] = {
		0x9c, 0x40, 0x13, 0x89, (unsigned char)(ulen >> 8), (unsigned char)ulen, 0, 0
	};
	memcpy(f, eth, 14);
	memcpy(f + 14, ip, 20);
	memcpy(f + 34, udp, 8);
	for (unsigned i = 0; i < payload; i++)
		f[42 + i] = (unsigned char)i;
	return 42 + payload;
}

/* Ethernet + IPv6 (ff3e::1:1 from 2001:db8::7) + ext (the extension headers, already laid out,
 * their first next-header given as first) + UDP 40000 -> 5001 + payload bytes 0, 1, 2... */
static unsigned build6(unsigned char *f, unsigned first, const unsigned char *ext, unsigned ext_len,
		       unsigned payload)
{
	static const unsigned char eth[14] = {
		0x33, 0x33, 0, 1, 0, 1, 2, 0, 0, 0, 0, 2, 0x86, 0xdd
	};
	unsigned plen = ext_len + 8 + payload, ulen = 8 + payload;
	unsigned char ip[40] = { 0x60,
				 0,
				 0,
				 0,
				 (unsigned char)(plen >> 8),
				 (unsigned char)plen,
				 (unsigned char)first,
				 64 };
	static const unsigned char src[16] = { 0x20, 0x01, 0x0d, 0xb8, [15] = 7 };
	static const unsigned char dst[16] = { 0xff, 0x3e, [13] = 1, [15] = 1 };
	memcpy(ip + 8, src, 16);
	memcpy(ip + 24, dst, 16);
	unsigned char udp[8] = {
		0x9c, 0x40, 0x13, 0x89, (unsigned char)(ulen >> 8), (unsigned char)ulen, 0x12, 0x34
	};
	memcpy(f, eth, 14);
	memcpy(f + 14, ip, 40);
	if (ext_len > 0) /* ext may be NULL */
		memcpy(f + 54, ext, ext_len);
	memcpy(f + 54 + ext_len, udp, 8);
	for (unsigned i = 0; i < payload; i++)
		f[62 + ext_len + i] = (unsigned char)i;
	return 62 + ext_len + payload;
}

static void test_ipv6(void)
{
	unsigned char f[2048], g[2048];
	struct mcr_frame_info fi;
	static const unsigned char dst[16] = { 0xff, 0x3e, [13] = 1, [15] = 1 };
	static const unsigned char src[16] = { 0x20, 0x01, 0x0d, 0xb8, [15] = 7 };
	unsigned len = build6(f, 17, NULL, 0, 100);

	CHECK(mcr_frame_parse(f, len, &fi) == 0, "IPv6 frame refused");
	CHECK(fi.family == 6 && fi.ip_off == 14, "v6 family %u ip_off %u", fi.family, fi.ip_off);
	CHECK(memcmp(fi.group, dst, 16) == 0 && memcmp(fi.source, src, 16) == 0, "v6 addresses");
	CHECK(fi.port == 5001 && fi.sport == 40000, "v6 ports %u %u", fi.port, fi.sport);
	CHECK(fi.payload_off == 62 && fi.payload_len == 100, "v6 payload %u+%u", fi.payload_off,
	      fi.payload_len);
	for (unsigned n = 0; n < len; n++)
		CHECK(mcr_frame_parse(f, n, &fi) != 0, "v6 prefix %u accepted", n);
	CHECK(mcr_frame_parse(f, 53, &fi) == 1 + MCR_DROP_IP6_TRUNCATED, "ip6_truncated");
	CHECK(mcr_frame_parse(f, len - 1, &fi) == 1 + MCR_DROP_IP6_LENGTH, "ip6_length past frame");
	/* Ethernet padding past the datagram is fine. */
	memcpy(g, f, len);
	memset(g + len, 0, 20);
	CHECK(mcr_frame_parse(g, len + 20, &fi) == 0 && fi.payload_len == 100, "v6 padded");
	memcpy(g, f, len);
	g[18] = g[19] = 0;
	CHECK(mcr_frame_parse(g, len, &fi) == 1 + MCR_DROP_IP6_LENGTH, "payload length 0");
	memcpy(g, f, len);
	g[14] = 0x40;
	CHECK(mcr_frame_parse(g, len, &fi) == 1 + MCR_DROP_IP_VERSION, "version 4 in IPv6");
	memcpy(g, f, len);
	g[20] = 6;
	CHECK(mcr_frame_parse(g, len, &fi) == 1 + MCR_DROP_NOT_UDP, "TCP");
	memcpy(g, f, len);
	g[20] = 59;
	CHECK(mcr_frame_parse(g, len, &fi) == 1 + MCR_DROP_NOT_UDP, "no next header");
	memcpy(g, f, len);
	g[58] = 0, g[59] = 7;
	CHECK(mcr_frame_parse(g, len, &fi) == 1 + MCR_DROP_UDP_LENGTH, "udp length 7");
	memcpy(g, f, len);
	g[58] = 0, g[59] = 109;
	CHECK(mcr_frame_parse(g, len, &fi) == 1 + MCR_DROP_UDP_LENGTH, "udp length past payload");
	unsigned short_len = build6(g, 17, NULL, 0, 0);
	g[18] = 0, g[19] = 4;
	CHECK(mcr_frame_parse(g, short_len, &fi) == 1 + MCR_DROP_UDP_TRUNCATED, "udp truncated");

	/* Hop-by-hop (8 bytes), destination options (16), routing (8), then UDP: all skipped. */
	unsigned char ext[32] = {
		60, 0, 1, 4,  0,	 0,	   0, 0, /* HBH -> dstopts, PadN */
		43, 1, 1, 12, [24] = 17, [25] = 0, 0, 0
	};
	len = build6(f, 0, ext, 32, 100);
	CHECK(mcr_frame_parse(f, len, &fi) == 0, "extension headers refused");
	CHECK(fi.payload_off == 94 && fi.payload_len == 100 && fi.port == 5001,
	      "after ext: payload %u+%u port %u", fi.payload_off, fi.payload_len, fi.port);
	for (unsigned n = 0; n < len; n++)
		CHECK(mcr_frame_parse(f, n, &fi) != 0, "ext prefix %u accepted", n);
	/* A header length running past the payload. */
	memcpy(g, f, len);
	g[54 + 8 + 1] = 40;
	CHECK(mcr_frame_parse(g, len, &fi) == 1 + MCR_DROP_IP6_EXT, "ext past payload");
	/* Hop-by-hop anywhere but first. */
	memcpy(g, f, len);
	g[54 + 24] = 0;
	CHECK(mcr_frame_parse(g, len, &fi) == 1 + MCR_DROP_IP6_EXT, "hop-by-hop not first");
	/* A chain cut off inside the payload: fewer than 8 bytes left for the next header. */
	unsigned char cut[8] = { 60, 0 };
	unsigned clen = build6(g, 0, cut, 8, 0);
	g[18] = 0, g[19] = 12; /* payload 12: 8 of HBH, then 4 */
	CHECK(mcr_frame_parse(g, clen, &fi) == 1 + MCR_DROP_IP6_EXT, "ext chain cut short");
	/* Nine destination options headers: past the limit. */
	unsigned char many[72];
	for (int i = 0; i < 9; i++) {
		memset(many + i * 8, 0, 8);
		many[i * 8] = i == 8 ? 17 : 60;
		many[i * 8 + 2] = 1, many[i * 8 + 3] = 4;
	}
	clen = build6(g, 60, many, 72, 10);
	CHECK(mcr_frame_parse(g, clen, &fi) == 1 + MCR_DROP_IP6_EXT, "too many headers");
	clen = build6(g, 60, many + 8, 64, 10);
	CHECK(mcr_frame_parse(g, clen, &fi) == 0, "eight headers taken");
	/* A fragment header, first or after options. */
	unsigned char frag[16] = { 44, 0, 1, 4, 0, 0, 0, 0, 17, 0, 0, 1, 0, 0, 0, 9 };
	clen = build6(g, 44, frag + 8, 8, 10);
	CHECK(mcr_frame_parse(g, clen, &fi) == 1 + MCR_DROP_IP_FRAGMENT, "fragment");
	clen = build6(g, 60, frag, 16, 10);
	CHECK(mcr_frame_parse(g, clen, &fi) == 1 + MCR_DROP_IP_FRAGMENT, "fragment after options");

	/* Behind an 802.1Q tag. */
	len = build6(f, 17, NULL, 0, 10);
	memcpy(g, f, 12);
	g[12] = 0x81, g[13] = 0, g[14] = 0, g[15] = 7;
	memcpy(g + 16, f + 12, len - 12);
	CHECK(mcr_frame_parse(g, len + 4, &fi) == 0 && fi.payload_off == 66 && fi.ip_off == 18,
	      "v6 vlan");
}

/* The same IPv4 or IPv6 datagram with and without its Ethernet header: the same verdict, the
 * same fields, every offset 14 less. */
static void same_as_ethernet(const unsigned char *f, unsigned len, const char *what)
{
	struct mcr_frame_info e, i;
	memset(&e, 0, sizeof(e));
	memset(&i, 0, sizeof(i));
	int re = mcr__frame_parse(f, len, &e), ri = mcr__frame_parse_ip(f + 14, len - 14, &i);
	CHECK(re == ri, "%s: %d with Ethernet, %d without", what, re, ri);
	if (re != MCR_PARSE_OK || ri != MCR_PARSE_OK)
		return;
	CHECK(i.ip_off == 0 && i.payload_off + 14 == e.payload_off, "%s: offsets %u %u, %u %u",
	      what, i.ip_off, i.payload_off, e.ip_off, e.payload_off);
	i.ip_off = e.ip_off, i.payload_off = e.payload_off;
	CHECK(memcmp(&i, &e, sizeof(i)) == 0, "%s: another reading", what);
}

static void test_ip_only(void)
{
	unsigned char f[2048], g[2048];
	struct mcr_frame_info fi;
	unsigned len = build(f, 100), n = len - 14;
	const unsigned char *ip = f + 14;

	CHECK(mcr__frame_parse_ip(ip, n, &fi) == MCR_PARSE_OK, "IPv4 without Ethernet refused");
	CHECK(fi.family == 4 && fi.ip_off == 0 && fi.payload_off == 28 && fi.payload_len == 100 &&
		      fi.port == 5001 && fi.sport == 40000,
	      "IPv4 without Ethernet: family %u ip_off %u payload %u+%u", fi.family, fi.ip_off,
	      fi.payload_off, fi.payload_len);
	for (unsigned k = 0; k < n; k++)
		CHECK(mcr__frame_parse_ip(ip, k, &fi) != MCR_PARSE_OK, "IP-only prefix %u accepted",
		      k);
	CHECK(mcr__frame_parse_ip(ip, 0, &fi) == MCR_DROP_IP_TRUNCATED, "empty: ip_truncated");
	CHECK(mcr__frame_parse_ip(ip, 19, &fi) == MCR_DROP_IP_TRUNCATED, "19 bytes: ip_truncated");
	memcpy(g, ip, n);
	g[0] = 0x55;
	CHECK(mcr__frame_parse_ip(g, n, &fi) == MCR_DROP_IP_VERSION, "version 5: ip_version");
	g[0] = 0x46;
	CHECK(mcr__frame_parse_ip(g, n, &fi) == MCR_DROP_IP_OPTIONS, "IHL 6: ip_options");
	same_as_ethernet(f, len, "IPv4");

	static const unsigned char ext[8] = { 17, 0 }; /* one hop-by-hop header, then UDP */
	len = build6(f, 0, ext, sizeof(ext), 100);
	CHECK(mcr__frame_parse_ip(f + 14, len - 14, &fi) == MCR_PARSE_OK && fi.family == 6 &&
		      fi.payload_off == 56 && fi.ip_off == 0,
	      "IPv6 without Ethernet: payload_off %u", fi.payload_off);
	for (unsigned k = 0; k < len - 14; k++)
		CHECK(mcr__frame_parse_ip(f + 14, k, &fi) != MCR_PARSE_OK,
		      "IP-only IPv6 prefix %u accepted", k);
	same_as_ethernet(f, len, "IPv6");

	/* Bytes of the datagram changed and its length cut at random, the EtherType set from the
	 * version nibble as the kernel sets a tun packet's protocol: the two entries agree. */
	uint64_t st = 0x2545f4914f6cdd1dull;
	for (int r = 0; r < 200000; r++) {
		st ^= st << 13, st ^= st >> 7, st ^= st << 17;
		len = (st & 1) ? build(f, 60) : build6(f, 0, ext, sizeof(ext), 60);
		for (int k = 0; k < (int)((st >> 1) % 4); k++) {
			st ^= st << 13, st ^= st >> 7, st ^= st << 17;
			f[14 + (st >> 8) % (len - 14)] = (unsigned char)(st >> 20);
		}
		if ((st >> 40) % 3 == 0)
			len = 14 + (unsigned)(st >> 42) % (len - 14);
		int ver = len > 14 ? f[14] >> 4 : 4;
		if (ver != 4 && ver != 6) {
			CHECK(mcr__frame_parse_ip(f + 14, len - 14, &fi) == MCR_DROP_IP_VERSION,
			      "random %d: version %d taken", r, ver);
			continue;
		}
		f[12] = ver == 4 ? 0x08 : 0x86, f[13] = ver == 4 ? 0x00 : 0xdd;
		same_as_ethernet(f, len, "random");
	}
}

int main(void)
{
	unsigned char f[2048];
	struct mcr_frame_info fi;
	unsigned len = build(f, 100);

	CHECK(mcr_frame_parse(f, len, &fi) == 0, "good frame refused");
	CHECK(fi.port == 5001 && fi.sport == 40000, "ports %u %u", fi.port, fi.sport);
	CHECK(fi.payload_off == 42 && fi.payload_len == 100, "payload %u+%u", fi.payload_off,
	      fi.payload_len);
	CHECK(memcmp(fi.group,
		     (unsigned char[]){ 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 239, 1, 1, 1 },
		     16) == 0,
	      "group, IPv4-mapped");
	CHECK(fi.family == 4 && fi.ip_off == 14, "family %u ip_off %u", fi.family, fi.ip_off);

	/* Every prefix is refused: nothing is read beyond the length given. */
	for (unsigned n = 0; n < len; n++)
		CHECK(mcr_frame_parse(f, n, &fi) != 0, "prefix %u accepted", n);
	CHECK(mcr_frame_parse(f, 13, &fi) == 1 + MCR_DROP_RUNT, "runt");

	unsigned char g[2048];
	memcpy(g, f, len);
	g[14] = 0x44;
	CHECK(mcr_frame_parse(g, len, &fi) == 1 + MCR_DROP_IP_IHL, "ihl 4");
	memcpy(g, f, len);
	g[23] = 6;
	CHECK(mcr_frame_parse(g, len, &fi) == 1 + MCR_DROP_IP_CHECKSUM,
	      "checksum caught before protocol");
	memcpy(g, f, len);
	g[24] ^= 1;
	CHECK(mcr_frame_parse(g, len, &fi) == 1 + MCR_DROP_IP_CHECKSUM, "bad checksum");
	memcpy(g, f, len);
	g[12] = 0x86, g[13] = 0xdd;
	CHECK(mcr_frame_parse(g, len, &fi) == 1 + MCR_DROP_IP_VERSION,
	      "IPv6 EtherType, IPv4 inside");
	g[12] = 0x08, g[13] = 0x06;
	CHECK(mcr_frame_parse(g, len, &fi) == 1 + MCR_DROP_NOT_IPV4, "ARP");

	test_ipv6();
	test_ip_only();

	/* A tag in front of the same datagram. */
	memcpy(g, f, 12);
	g[12] = 0x81, g[13] = 0, g[14] = 0, g[15] = 7;
	memcpy(g + 16, f + 12, len - 12);
	CHECK(mcr_frame_parse(g, len + 4, &fi) == 0 && fi.payload_off == 46, "vlan");
	CHECK(mcr_frame_parse(g, 16, &fi) == 1 + MCR_DROP_VLAN_TRUNCATED, "vlan truncated");

	if (failures)
		fprintf(stderr, "test_frame: %d failures\n", failures);
	return failures ? 1 : 0;
}
