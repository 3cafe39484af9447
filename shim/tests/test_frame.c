/* The parser on crafted frames: every length boundary, every drop reason.
 * Exit 0 pass, 1 fail. */
#include <stdio.h>
#include <string.h>
#include "../mcr_shim.h"

static int failures;
#define CHECK(cond, ...)                                                                           \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			failures++;                                                                \
			fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);                       \
			fprintf(stderr, __VA_ARGS__);                                              \
			fputc('\n', stderr);                                                       \
		}                                                                                  \
	} while (0)

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

int main(void)
{
	unsigned char f[2048];
	struct mcr_frame_info fi;
	unsigned len = build(f, 100);

	CHECK(mcr_frame_parse(f, len, &fi) == 0, "good frame refused");
	CHECK(fi.port == 5001 && fi.sport == 40000, "ports %u %u", fi.port, fi.sport);
	CHECK(fi.payload_off == 42 && fi.payload_len == 100, "payload %u+%u", fi.payload_off,
	      fi.payload_len);
	CHECK(memcmp(&fi.group, (unsigned char[]){ 239, 1, 1, 1 }, 4) == 0, "group");

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
	CHECK(mcr_frame_parse(g, len, &fi) == 1 + MCR_DROP_NOT_IPV4, "ipv6");

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
