/* The input filter (filter.c) on sample and random frames, IPv4 and IPv6 keys: run by a small
 * cBPF interpreter here (cbpf.h: it can play other hosts' frames and VLAN tags) and by the kernel
 * itself (a socket pair with the program attached: host frames, no tag). Every level the kernel
 * must accept.
 * Exit 0 pass, 1 fail. */
#include "lab.h" /* first: CHECK, and it defines _GNU_SOURCE */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <net/if.h>
#include <sys/socket.h>
#include <linux/filter.h>
#include "../internal.h"
#include "cbpf.h"

static const struct cbpf_meta HOST = { PACKET_HOST, 0, 0 };

/* What the program returns (0: turned away); an instruction the interpreter does not know, or a
 * program that runs off its end, fails the test. */
static uint32_t run(const struct sock_filter *p, int n, const uint8_t *f, uint32_t len,
		    const struct cbpf_meta *m)
{
	uint32_t ret;
	int at = 0, r = cbpf_run(p, n, f, len, m, &ret, &at);
	CHECK(r == CBPF_OK, "instruction %d (code 0x%x): %s", at, p[at].code,
	      r == CBPF_UNKNOWN	   ? "not known to the interpreter"
	      : r == CBPF_BAD_JUMP ? "a jump past the end"
				   : "the program ran off its end");
	return ret;
}

struct spec {
	const char *dst;
	uint16_t dport;
	uint16_t ethertype;
	uint8_t ver_ihl, proto;
	uint16_t frag;
	int inband; /* tags left in the frame */
	uint32_t cut; /* truncate to this length (0: whole) */
	int unicast_mac;
};

static uint32_t frame(uint8_t *f, struct spec s)
{
	uint32_t g = inet_addr(s.dst ? s.dst : "239.1.1.1"), gh = ntohl(g);
	uint32_t off = 12;
	memset(f, 0, 128);
	if (s.unicast_mac || (gh >> 28) != 14) {
		uint8_t mac[6] = { 2, 0, 0, 0, 0, 1 };
		memcpy(f, mac, 6);
	} else {
		f[0] = 1, f[1] = 0, f[2] = 0x5e, f[3] = (gh >> 16) & 0x7f,
		f[4] = (uint8_t)(gh >> 8), f[5] = (uint8_t)gh;
	}
	f[6] = 2, f[11] = 2;
	for (int i = 0; i < s.inband; i++, off += 4)
		f[off] = 0x81, f[off + 1] = 0, f[off + 3] = (uint8_t)(10 + i);
	uint16_t et = s.ethertype ? s.ethertype : 0x0800;
	f[off] = (uint8_t)(et >> 8), f[off + 1] = (uint8_t)et;
	uint8_t *ip = f + off + 2;
	ip[0] = s.ver_ihl ? s.ver_ihl : 0x45;
	ip[2] = 0, ip[3] = 20 + 8 + 10;
	ip[6] = (uint8_t)(s.frag >> 8), ip[7] = (uint8_t)s.frag;
	ip[8] = 8;
	ip[9] = s.proto ? s.proto : IPPROTO_UDP;
	ip[12] = 10, ip[15] = 1;
	memcpy(ip + 16, &g, 4);
	uint8_t *udp = ip + 20;
	uint16_t dport = s.dport ? s.dport : 5001;
	udp[0] = 0x9c, udp[1] = 0x40, udp[2] = (uint8_t)(dport >> 8), udp[3] = (uint8_t)dport;
	udp[5] = 18;
	uint32_t len = off + 2 + 38;
	return s.cut ? s.cut : len;
}

static const struct mcr_filter_key KEYS[] = {
	{ { 0 }, 5001, 0 },
	{ { 0 }, 5003, 0 },
	{ { 0 }, 6000, 0 },
	{ { 0 }, 7000, 20 },
};

/* An IPv4 group, IPv4-mapped as filter keys hold it. */
static void group4(uint8_t out[16], uint32_t g_be)
{
	mcr__addr_v4(out, (const uint8_t *)&g_be);
}
static struct mcr_filter_key keys[4];
static struct sock_filter prog[4][BPF_MAXINSNS];
static int plen[4];

static uint32_t verdict(int level, struct spec s, const struct cbpf_meta *m)
{
	uint8_t f[128];
	uint32_t len = frame(f, s);
	return run(prog[level], plen[level], f, len, m);
}

/* Pass or not at each level, exact to coarsest. */
static void expect(const char *what, struct spec s, const struct cbpf_meta *m, int e, int g, int d,
		   int any)
{
	int want[4] = { e, g, d, any };
	for (int l = 0; l < 4; l++) {
		uint32_t v = verdict(l, s, m);
		CHECK((v != 0) == want[l], "%s at level %d: %s", what, l,
		      v ? "passed" : "turned away");
	}
}

static void samples(void)
{
	const struct cbpf_meta tag20 = { PACKET_HOST, 1, 20 }, prio = { PACKET_HOST, 1, 0x6000 },
			       other = { PACKET_OTHERHOST, 0, 0 },
			       mcast = { PACKET_MULTICAST, 0, 0 },
			       tag20prio = { PACKET_MULTICAST, 1, 0xa014 };
	expect("a rule's stream", (struct spec){ 0 }, &mcast, 1, 1, 1, 1);
	expect("a rule's second port", (struct spec){ .dport = 5003 }, &HOST, 1, 1, 1, 1);
	expect("another port of a rule's group", (struct spec){ .dport = 5002 }, &mcast, 0, 1, 1,
	       1);
	expect("another group", (struct spec){ .dst = "239.1.1.9" }, &mcast, 0, 0, 1, 1);
	expect("unicast to this host", (struct spec){ .dst = "10.0.0.2" }, &HOST, 0, 0, 0, 0);
	expect("ARP", (struct spec){ .dst = "255.255.255.255", .ethertype = 0x0806 }, &HOST, 0, 0,
	       0, 0);
	expect("a priority tag is untagged", (struct spec){ 0 }, &prio, 1, 1, 1, 1);
	expect("VLAN 20 on an untagged rule", (struct spec){ 0 }, &tag20, 0, 0, 1, 1);
	expect("VLAN 20 with a priority on a VLAN 20 rule",
	       (struct spec){ .dst = "239.3.3.3", .dport = 7000 }, &tag20prio, 1, 1, 1, 1);
	expect("untagged on a VLAN 20 rule", (struct spec){ .dst = "239.3.3.3", .dport = 7000 },
	       &mcast, 0, 0, 1, 1);
	expect("another host's frame", (struct spec){ 0 }, &other, 0, 0, 0, 0);
	/* Malformed, aimed at a rule's group: the parser's to count. */
	expect("a fragment", (struct spec){ .frag = 0x2000, .dport = 9 }, &mcast, 1, 1, 1, 1);
	expect("a later fragment", (struct spec){ .frag = 0x0010, .dport = 9 }, &mcast, 1, 1, 1, 1);
	expect("IP options", (struct spec){ .ver_ihl = 0x46, .dport = 9 }, &mcast, 1, 1, 1, 1);
	expect("IHL 4", (struct spec){ .ver_ihl = 0x44, .dport = 9 }, &mcast, 1, 1, 1, 1);
	expect("version 6", (struct spec){ .ver_ihl = 0x65, .dport = 9 }, &mcast, 1, 1, 1, 1);
	expect("TCP", (struct spec){ .proto = 6, .dport = 9 }, &mcast, 1, 1, 1, 1);
	expect("TCP on VLAN 20", (struct spec){ .proto = 6 }, &tag20, 0, 0, 1, 1);
	expect("cut before the port", (struct spec){ .cut = 36 }, &mcast, 1, 1, 1, 1);
	expect("cut before the address", (struct spec){ .cut = 26 }, &mcast, 1, 1, 1, 1);
	expect("cut before the address, another group's MAC",
	       (struct spec){ .dst = "239.1.1.9", .cut = 26 }, &mcast, 0, 0, 1, 1);
	expect("cut before the address, a unicast MAC",
	       (struct spec){ .unicast_mac = 1, .cut = 26 }, &HOST, 0, 0, 0, 0);
	expect("IPv6 to a rule group's MAC", (struct spec){ .ethertype = 0x86dd }, &mcast, 1, 1, 1,
	       1);
	expect("a second tag with IPv4 behind it", (struct spec){ .inband = 1 }, &mcast, 0, 0, 0,
	       0);
	expect("nested tags left in the frame", (struct spec){ .inband = 2 }, &mcast, 1, 1, 1, 1);
	expect("a tag cut short", (struct spec){ .inband = 1, .cut = 16 }, &mcast, 1, 1, 1, 1);
	expect("a 13-byte frame", (struct spec){ .cut = 13 }, &mcast, 0, 0, 0, 0);
}

/* Random frames: a good datagram with bytes changed and its length cut. Whatever the frame, the
 * parser's verdict bounds the filter's: a datagram the table takes passes every level, a
 * well-formed one no key asks for does not pass the exact level; the levels nest. */
static void random_frames(int sock_pair[2])
{
	uint64_t st = 0x9e3779b97f4a7c15ull;
	int agreed = 0;
	for (int n = 0; n < 200000; n++) {
		st ^= st << 13, st ^= st >> 7, st ^= st << 17;
		uint32_t r = (uint32_t)st;
		static const uint16_t ports[] = { 5001, 5002, 5003, 6000, 7000 };
		static const char *groups[] = { "239.1.1.1", "239.2.2.2", "239.3.3.3", "239.1.1.9",
						"10.0.0.2" };
		struct spec s = { .dst = groups[r % 5], .dport = ports[(r >> 3) % 5] };
		uint8_t f[128];
		uint32_t len = frame(f, s);
		for (int k = 0; k < (int)((r >> 6) % 3); k++) {
			st ^= st << 13, st ^= st >> 7, st ^= st << 17;
			f[(st >> 8) % 40] = (uint8_t)(st >> 20);
		}
		if ((r >> 9) % 4 == 0)
			len = 10 + (r >> 11) % (len - 10);
		struct cbpf_meta m = { (r >> 20) % 4 == 0 ? PACKET_OTHERHOST : PACKET_MULTICAST,
				       (r >> 22) % 4 == 0,
				       (uint16_t)((r >> 24) % 3 == 0 ? 20 : 0) };
		uint16_t vid = m.tagged ? m.tci & 0xfff : 0;
		uint32_t v[4];
		for (int l = 0; l < 4; l++)
			v[l] = run(prog[l], plen[l], f, len, &m);
		for (int l = 1; l < 4; l++)
			CHECK(!v[l - 1] || v[l], "frame %d passes level %d, not %d", n, l - 1, l);
		struct mcr_frame_info fi;
		int parsed = len >= 14 && mcr__frame_parse(f, len, &fi) == MCR_PARSE_OK &&
			     fi.payload_off == 42;
		int wanted = 0;
		for (int k = 0; k < 4 && parsed; k++)
			wanted |= fi.family == 4 && memcmp(keys[k].group, fi.group, 16) == 0 &&
				  keys[k].port == fi.port && keys[k].vlan == vid;
		if (m.pkttype == PACKET_OTHERHOST)
			CHECK(!v[3], "frame %d: another host's frame passed", n);
		else if (wanted)
			CHECK(v[0], "frame %d: a datagram a rule takes was turned away", n);
		else if (parsed)
			CHECK(!v[0], "frame %d: a datagram no rule takes passed the exact level",
			      n);
		/* The kernel, on host frames without a tag, for a share of them. */
		if (sock_pair && m.pkttype != PACKET_OTHERHOST && !m.tagged && n % 20 == 0) {
			struct cbpf_meta host = HOST;
			uint32_t want = run(prog[0], plen[0], f, len, &host);
			char buf[256];
			if (send(sock_pair[0], f, len, 0) != (ssize_t)len) {
				CHECK(0, "send: %s", strerror(errno));
				break;
			}
			ssize_t got = recv(sock_pair[1], buf, sizeof(buf), MSG_DONTWAIT);
			CHECK((got >= 0) == (want != 0),
			      "frame %d: the kernel %s, the interpreter %s", n,
			      got >= 0 ? "passed it" : "turned it away",
			      want ? "passes it" : "turns it away");
			agreed++;
		}
	}
	if (sock_pair)
		CHECK(agreed > 1000, "only %d frames checked against the kernel", agreed);
}

/* Groups that share a MAC address (224.1.1.1, 239.1.1.1 and 239.129.1.1 all map to
 * 01:00:5e:01:01:01), given out of order and repeated: each key's stream passes on its own VLAN
 * only, a malformed frame to the shared MAC passes on a VLAN one of them asks for, and the
 * program is the same whatever the order or the repeats. */
static void shared_macs(void)
{
	struct mcr_filter_key k[] = {
		{ V4(inet_addr("239.129.1.1")), 7000, 0 }, { V4(inet_addr("224.1.1.1")), 6000, 20 },
		{ V4(inet_addr("238.5.5.5")), 5001, 0 },   { V4(inet_addr("239.1.1.1")), 5001, 0 },
		{ V4(inet_addr("224.1.1.1")), 6000, 20 },  { V4(inet_addr("239.1.1.1")), 5002, 30 },
	};
	enum { N = sizeof(k) / sizeof(k[0]) };
	static struct sock_filter a[BPF_MAXINSNS], b[BPF_MAXINSNS];
	int la = mcr__filter_build(k, N, MCR_FILTER_EXACT, a, BPF_MAXINSNS);
	CHECK(la > 0, "shared MACs: %d", la);
	const struct cbpf_meta tag20 = { PACKET_MULTICAST, 1, 20 },
			       tag30 = { PACKET_MULTICAST, 1, 30 },
			       tag40 = { PACKET_MULTICAST, 1, 40 },
			       mcast = { PACKET_MULTICAST, 0, 0 };
	const struct {
		const char *what;
		struct spec s;
		const struct cbpf_meta *m;
		int pass;
	} cases[] = {
		{ "239.129.1.1:7000", { .dst = "239.129.1.1", .dport = 7000 }, &mcast, 1 },
		{ "224.1.1.1:6000 on VLAN 20", { .dst = "224.1.1.1", .dport = 6000 }, &tag20, 1 },
		{ "224.1.1.1:6000 untagged", { .dst = "224.1.1.1", .dport = 6000 }, &mcast, 0 },
		{ "239.1.1.1:5001", { .dst = "239.1.1.1", .dport = 5001 }, &mcast, 1 },
		{ "239.1.1.1:5002 on VLAN 30", { .dst = "239.1.1.1", .dport = 5002 }, &tag30, 1 },
		{ "239.1.1.1:5002 untagged", { .dst = "239.1.1.1", .dport = 5002 }, &mcast, 0 },
		{ "239.1.1.1:7000", { .dst = "239.1.1.1", .dport = 7000 }, &mcast, 0 },
		{ "238.5.5.5:5001", { .dst = "238.5.5.5", .dport = 5001 }, &mcast, 1 },
		{ "238.5.5.5:5001 on VLAN 20", { .dst = "238.5.5.5", .dport = 5001 }, &tag20, 0 },
		{ "IPv6 to the shared MAC on VLAN 20",
		  { .dst = "239.1.1.1", .ethertype = 0x86dd },
		  &tag20,
		  1 },
		{ "IPv6 to the shared MAC on VLAN 30",
		  { .dst = "239.1.1.1", .ethertype = 0x86dd },
		  &tag30,
		  1 },
		{ "IPv6 to the shared MAC on VLAN 40",
		  { .dst = "239.1.1.1", .ethertype = 0x86dd },
		  &tag40,
		  0 },
	};
	for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint8_t f[128];
		uint32_t len = frame(f, cases[i].s);
		CHECK((run(a, la, f, len, cases[i].m) != 0) == cases[i].pass, "shared MACs: %s %s",
		      cases[i].what, cases[i].pass ? "turned away" : "passed");
	}
	static const int reversed[] = { 5, 3, 2, 1, 0 }; /* without the repeat (4) */
	struct mcr_filter_key r[N - 1];
	for (int i = 0; i < N - 1; i++)
		r[i] = k[reversed[i]];
	for (int l = 0; l < 4; l++) {
		la = mcr__filter_build(k, N, l, a, BPF_MAXINSNS);
		int lb = mcr__filter_build(r, N - 1, l, b, BPF_MAXINSNS);
		CHECK(la > 0 && la == lb && memcmp(a, b, sizeof(*a) * (size_t)la) == 0,
		      "level %d: another order of the same keys gave another program", l);
	}

	/* An attach of the program a socket has already is skipped; another one is attached. */
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	for (int round = 0; round < 2; round++)
		for (int which = 0; which < 2; which++) {
			uint32_t n = which ? 3 : N;
			CHECK(mcr__filter_attach(s, 0, k, n) == MCR_FILTER_EXACT, "attach %d",
			      which);
			int want = mcr__filter_build(k, n, MCR_FILTER_EXACT, a, BPF_MAXINSNS);
			socklen_t got = BPF_MAXINSNS;
			CHECK(getsockopt(s, SOL_SOCKET, SO_GET_FILTER, b, &got) == 0 &&
				      (int)got == want && memcmp(a, b, sizeof(*a) * got) == 0,
			      "round %d: the socket holds another program than keys %d's", round,
			      which);
		}
	close(s);
}

/* A unicast input's key (an address of this host's): its datagrams pass at every level, the
 * coarse ones included (they otherwise pass 224.0.0.0/4 alone); other unicast does not. */
static void unicast_key(void)
{
	struct mcr_filter_key uk[2] = { { V4(inet_addr("239.1.1.1")), 5001, 0 },
					{ V4(inet_addr("10.0.0.2")), 5005, 0 } };
	static struct sock_filter up[BPF_MAXINSNS];
	uint8_t f[128];
	for (int l = 0; l < 4; l++) {
		int n = mcr__filter_build(uk, 2, l, up, BPF_MAXINSNS);
		CHECK(n > 0, "unicast key, level %d: %d", l, n);
		uint32_t len = frame(f, (struct spec){ .dst = "10.0.0.2", .dport = 5005 });
		CHECK(run(up, n, f, len, &HOST) != 0, "unicast key turned away at level %d", l);
		len = frame(f, (struct spec){ .dst = "10.0.0.3", .dport = 5005 });
		CHECK(run(up, n, f, len, &HOST) == 0, "another host's address passed at level %d",
		      l);
		len = frame(f, (struct spec){ .dst = "239.1.1.1" });
		CHECK(run(up, n, f, len, &HOST) != 0, "the group key turned away at level %d", l);
	}
	/* Past the exact level's size, the unicast key is still there. */
	enum { MANY = 3000 };
	struct mcr_filter_key *many = calloc(MANY + 1, sizeof(*many));
	for (uint32_t i = 0; i < MANY; i++) {
		many[i] = (struct mcr_filter_key){ .port = (uint16_t)(5000 + i % 4) };
		group4(many[i].group, htonl(0xef000000u + i / 4));
	}
	many[MANY] = uk[1];
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	int level = mcr__filter_attach(s, 0, many, MANY + 1);
	CHECK(level > MCR_FILTER_EXACT, "3001 keys attached at level %d", level);
	int n = mcr__filter_build(many, MANY + 1, level, up, BPF_MAXINSNS);
	uint32_t len = frame(f, (struct spec){ .dst = "10.0.0.2", .dport = 5005 });
	CHECK(n > 0 && run(up, n, f, len, &HOST) != 0,
	      "unicast key among 3000 turned away at level %d", level);
	close(s);
	free(many);
}

/* ---- IPv6 keys, beside an IPv4 one ---- */

struct spec6 {
	const char *dst; /* default ff3e::1:1 */
	uint16_t dport;
	uint8_t nh; /* the IPv6 header's next header (default UDP) */
	int hbh; /* an empty hop-by-hop header before UDP */
	uint8_t version; /* default 6 */
	uint32_t cut;
	int unicast_mac;
};

static uint32_t frame6(uint8_t *f, struct spec6 s)
{
	uint8_t g[16];
	inet_pton(AF_INET6, s.dst ? s.dst : "ff3e::1:1", g);
	memset(f, 0, 128);
	if (s.unicast_mac || g[0] != 0xff) {
		uint8_t mac[6] = { 2, 0, 0, 0, 0, 1 };
		memcpy(f, mac, 6);
	} else {
		mcr__mcast_mac6(g, f);
	}
	f[6] = 2, f[11] = 2;
	f[12] = 0x86, f[13] = 0xdd;
	uint8_t *ip = f + 14, *udp = ip + 40 + (s.hbh ? 8 : 0);
	ip[0] = (uint8_t)((s.version ? s.version : 6) << 4);
	ip[5] = (uint8_t)((s.hbh ? 8 : 0) + 8 + 10);
	ip[6] = s.hbh ? 0 : s.nh ? s.nh : IPPROTO_UDP;
	ip[7] = 8;
	ip[8] = 0x20, ip[9] = 0x01, ip[10] = 0x0d, ip[11] = 0xb8, ip[23] = 1;
	memcpy(ip + 24, g, 16);
	if (s.hbh)
		ip[40] = s.nh ? s.nh : IPPROTO_UDP, ip[42] = 1, ip[43] = 4; /* PadN */
	uint16_t dport = s.dport ? s.dport : 5001;
	udp[0] = 0x9c, udp[1] = 0x40, udp[2] = (uint8_t)(dport >> 8), udp[3] = (uint8_t)dport;
	udp[5] = 18;
	uint32_t len = (uint32_t)(udp - f) + 18;
	return s.cut ? s.cut : len;
}

static struct mcr_filter_key keys6[5];
static struct sock_filter prog6[4][BPF_MAXINSNS];
static int plen6[4];

static void expect6(const char *what, struct spec6 s, const struct cbpf_meta *m, int e, int g,
		    int d, int any)
{
	int want[4] = { e, g, d, any };
	uint8_t f[128];
	uint32_t len = frame6(f, s);
	for (int l = 0; l < 4; l++) {
		uint32_t v = run(prog6[l], plen6[l], f, len, m);
		CHECK((v != 0) == want[l], "IPv6: %s at level %d: %s", what, l,
		      v ? "passed" : "turned away");
	}
}

static void samples6(void)
{
	const struct cbpf_meta tag20 = { PACKET_MULTICAST, 1, 20 },
			       other = { PACKET_OTHERHOST, 0, 0 },
			       mcast = { PACKET_MULTICAST, 0, 0 };
	expect6("a rule's stream", (struct spec6){ 0 }, &mcast, 1, 1, 1, 1);
	expect6("a rule's second port", (struct spec6){ .dport = 5003 }, &mcast, 1, 1, 1, 1);
	expect6("another port of a rule's group", (struct spec6){ .dport = 5002 }, &mcast, 0, 1, 1,
		1);
	expect6("another group", (struct spec6){ .dst = "ff3e::9:9" }, &mcast, 0, 0, 1, 1);
	expect6("another group with the rule group's low 32 bits",
		(struct spec6){ .dst = "ff3e:1::1:1" }, &mcast, 0, 0, 1, 1);
	expect6("unicast to this host", (struct spec6){ .dst = "2001:db8::2" }, &HOST, 0, 0, 0, 0);
	expect6("ICMPv6 (MLD, neighbour discovery) to a rule's group",
		(struct spec6){ .nh = IPPROTO_ICMPV6 }, &mcast, 0, 1, 1, 1);
	expect6("TCP to a rule's group", (struct spec6){ .nh = IPPROTO_TCP }, &mcast, 0, 1, 1, 1);
	expect6("another host's frame", (struct spec6){ 0 }, &other, 0, 0, 0, 0);
	/* What the parser must see to count or to relay: the filter cannot walk extension headers. */
	expect6("a hop-by-hop header, then UDP", (struct spec6){ .hbh = 1 }, &mcast, 1, 1, 1, 1);
	expect6("a hop-by-hop header, then UDP to another port",
		(struct spec6){ .hbh = 1, .dport = 5002 }, &mcast, 1, 1, 1, 1);
	expect6("a fragment header", (struct spec6){ .nh = IPPROTO_FRAGMENT }, &mcast, 1, 1, 1, 1);
	expect6("a fragment header, another group", (struct spec6){ .dst = "ff3e::9:9", .nh = 44 },
		&mcast, 0, 0, 1, 1);
	expect6("version 4 behind the IPv6 EtherType", (struct spec6){ .version = 4 }, &mcast, 1, 1,
		1, 1);
	expect6("cut before the port", (struct spec6){ .cut = 57 }, &mcast, 1, 1, 1, 1);
	expect6("cut before the address, the group's MAC", (struct spec6){ .cut = 40 }, &mcast, 1,
		1, 1, 1);
	expect6("cut before the address, another group's MAC",
		(struct spec6){ .dst = "ff3e::9:9", .cut = 40 }, &mcast, 0, 0, 1, 1);
	expect6("a rule on VLAN 20, tagged 20", (struct spec6){ .dst = "ff05::3:3", .dport = 7000 },
		&tag20, 1, 1, 1, 1);
	expect6("a rule on VLAN 20, untagged", (struct spec6){ .dst = "ff05::3:3", .dport = 7000 },
		&mcast, 0, 0, 1, 1);
	expect6("an untagged rule's stream on VLAN 20", (struct spec6){ 0 }, &tag20, 0, 0, 1, 1);
	/* The IPv4 key beside them is unharmed. */
	uint8_t f[128];
	uint32_t len = frame(f, (struct spec){ 0 });
	const struct cbpf_meta m4 = { PACKET_MULTICAST, 0, 0 };
	for (int l = 0; l < 4; l++)
		CHECK(run(prog6[l], plen6[l], f, len, &m4) != 0,
		      "IPv6 table: the IPv4 key's stream turned away at level %d", l);
	len = frame(f, (struct spec){ .dst = "239.1.1.1", .dport = 5002 });
	CHECK(run(prog6[0], plen6[0], f, len, &m4) == 0,
	      "IPv6 table: another port of the IPv4 key passed the exact level");
}

/* As random_frames, for IPv6 frames (half of them behind a hop-by-hop header). */
static void random_frames6(int sock_pair[2])
{
	uint64_t st = 0x2545f4914f6cdd1dull;
	int agreed = 0, wanted_n = 0;
	for (int n = 0; n < 200000; n++) {
		st ^= st << 13, st ^= st >> 7, st ^= st << 17;
		uint32_t r = (uint32_t)st;
		static const uint16_t ports[] = { 5001, 5002, 5003, 6000, 7000 };
		static const char *groups[] = { "ff3e::1:1", "ff3e::2:2", "ff05::3:3", "ff3e::9:9",
						"2001:db8::2" };
		struct spec6 s = { .dst = groups[r % 5],
				   .dport = ports[(r >> 3) % 5],
				   .hbh = (r >> 26) % 2 };
		uint8_t f[128];
		uint32_t len = frame6(f, s);
		for (int k = 0; k < (int)((r >> 6) % 3); k++) {
			st ^= st << 13, st ^= st >> 7, st ^= st << 17;
			f[12 + (st >> 8) % 60] = (uint8_t)(st >> 20);
		}
		if ((r >> 9) % 4 == 0)
			len = 10 + (r >> 11) % (len - 10);
		struct cbpf_meta m = { (r >> 20) % 4 == 0 ? PACKET_OTHERHOST : PACKET_MULTICAST,
				       (r >> 22) % 4 == 0,
				       (uint16_t)((r >> 24) % 3 == 0 ? 20 : 0) };
		uint16_t vid = m.tagged ? m.tci & 0xfff : 0;
		uint32_t v[4];
		for (int l = 0; l < 4; l++)
			v[l] = run(prog6[l], plen6[l], f, len, &m);
		for (int l = 1; l < 4; l++)
			CHECK(!v[l - 1] || v[l], "IPv6 frame %d passes level %d, not %d", n, l - 1,
			      l);
		struct mcr_frame_info fi;
		int parsed = len >= 14 && mcr__frame_parse(f, len, &fi) == MCR_PARSE_OK;
		int wanted = 0;
		for (int k = 0; k < 5 && parsed; k++)
			wanted |= memcmp(keys6[k].group, fi.group, 16) == 0 &&
				  keys6[k].port == fi.port && keys6[k].vlan == vid;
		wanted_n += wanted && m.pkttype != PACKET_OTHERHOST;
		if (m.pkttype == PACKET_OTHERHOST)
			CHECK(!v[3], "IPv6 frame %d: another host's frame passed", n);
		else if (wanted)
			CHECK(v[0], "IPv6 frame %d: a datagram a rule takes was turned away", n);
		else if (parsed && fi.family == 6 && fi.payload_off == 62)
			/* no extension header: the filter reads the port as the parser does */
			CHECK(!v[0],
			      "IPv6 frame %d: a datagram no rule takes passed the exact level", n);
		if (sock_pair && m.pkttype != PACKET_OTHERHOST && !m.tagged && n % 20 == 0) {
			struct cbpf_meta host = HOST;
			uint32_t want = run(prog6[0], plen6[0], f, len, &host);
			char buf[256];
			if (send(sock_pair[0], f, len, 0) != (ssize_t)len) {
				CHECK(0, "send: %s", strerror(errno));
				break;
			}
			ssize_t got = recv(sock_pair[1], buf, sizeof(buf), MSG_DONTWAIT);
			CHECK((got >= 0) == (want != 0),
			      "IPv6 frame %d: the kernel %s, the interpreter %s", n,
			      got >= 0 ? "passed it" : "turned it away",
			      want ? "passes it" : "turns it away");
			agreed++;
		}
	}
	CHECK(wanted_n > 5000, "only %d IPv6 frames a rule takes among the random ones", wanted_n);
	if (sock_pair)
		CHECK(agreed > 1000, "only %d IPv6 frames checked against the kernel", agreed);
}

/* An IPv6 unicast input's key: as unicast_key, kept by name at every level. */
static void unicast_key6(void)
{
	struct mcr_filter_key uk[3] = { { .port = 5001 }, { .port = 5005 }, { .port = 5001 } };
	inet_pton(AF_INET6, "ff3e::1:1", uk[0].group);
	inet_pton(AF_INET6, "2001:db8::2", uk[1].group);
	group4(uk[2].group, inet_addr("10.0.0.2"));
	static struct sock_filter up[BPF_MAXINSNS];
	uint8_t f[128];
	for (int l = 0; l < 4; l++) {
		int n = mcr__filter_build(uk, 3, l, up, BPF_MAXINSNS);
		CHECK(n > 0, "IPv6 unicast key, level %d: %d", l, n);
		uint32_t len = frame6(f, (struct spec6){ .dst = "2001:db8::2", .dport = 5005 });
		CHECK(run(up, n, f, len, &HOST) != 0, "IPv6 unicast key turned away at level %d",
		      l);
		len = frame6(f, (struct spec6){ .dst = "2001:db8::3", .dport = 5005 });
		CHECK(run(up, n, f, len, &HOST) == 0,
		      "another host's IPv6 address passed at level %d", l);
		len = frame6(f, (struct spec6){ .dst = "2001:db8:1::2", .dport = 5005 });
		CHECK(run(up, n, f, len, &HOST) == 0,
		      "an address with the key's last word passed at level %d", l);
		len = frame6(f, (struct spec6){ 0 });
		CHECK(run(up, n, f, len, &HOST) != 0, "the IPv6 group key turned away at level %d",
		      l);
		len = frame(f, (struct spec){ .dst = "10.0.0.2" });
		CHECK(run(up, n, f, len, &HOST) != 0,
		      "the IPv4 unicast key turned away at level %d", l);
	}
}

static void ipv6_keys(void)
{
	static const char *g[] = { "ff3e::1:1", "ff3e::1:1", "ff3e::2:2", "ff05::3:3" };
	static const uint16_t port[] = { 5001, 5003, 6000, 7000 }, vlan[] = { 0, 0, 0, 20 };
	for (int i = 0; i < 4; i++) {
		keys6[i] = (struct mcr_filter_key){ .port = port[i], .vlan = vlan[i] };
		inet_pton(AF_INET6, g[i], keys6[i].group);
	}
	keys6[4] = (struct mcr_filter_key){ .port = 5001 };
	group4(keys6[4].group, inet_addr("239.1.1.1"));
	int sp[2];
	if (socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, sp) < 0) {
		perror("socketpair");
		failures++;
		return;
	}
	for (int l = 3; l >= 0; l--) {
		plen6[l] = mcr__filter_build(keys6, 5, l, prog6[l], BPF_MAXINSNS);
		CHECK(plen6[l] > 0, "IPv6 keys, level %d: %d", l, plen6[l]);
		struct sock_fprog fp = { .len = (unsigned short)plen6[l], .filter = prog6[l] };
		CHECK(setsockopt(sp[1], SOL_SOCKET, SO_ATTACH_FILTER, &fp, sizeof(fp)) == 0,
		      "the kernel refused the IPv6 level %d: %s", l, strerror(errno));
	}
	/* The IPv6 keys given in another order build the same program. */
	struct mcr_filter_key r[5] = { keys6[3], keys6[4], keys6[1], keys6[2], keys6[0] };
	static struct sock_filter b[BPF_MAXINSNS];
	for (int l = 0; l < 4; l++) {
		int lb = mcr__filter_build(r, 5, l, b, BPF_MAXINSNS);
		CHECK(lb == plen6[l] && memcmp(b, prog6[l], sizeof(*b) * (size_t)lb) == 0,
		      "IPv6 level %d: another order of the same keys gave another program", l);
	}
	samples6();
	random_frames6(sp);
	close(sp[0]);
	close(sp[1]);
}

/* Ethernet + IPv6 to dst (next header nh, UDP to dport when nh is 17), cut to cut bytes (0: whole):
 * the IP-only programs read it from byte 14 on. */
static uint32_t ip6_frame(uint8_t *f, const uint8_t dst[16], uint8_t nh, uint16_t dport,
			  uint32_t cut)
{
	memset(f, 0, 128);
	f[0] = f[1] = 0x33;
	memcpy(f + 2, dst + 12, 4);
	f[6] = 2, f[11] = 2, f[12] = 0x86, f[13] = 0xdd;
	uint8_t *ip = f + 14;
	ip[0] = 0x60, ip[5] = 8 + 10, ip[6] = nh, ip[7] = 8;
	ip[8] = 0x20, ip[9] = 0x01, ip[23] = 7;
	memcpy(ip + 24, dst, 16);
	uint8_t *udp = ip + 40;
	udp[0] = 0x9c, udp[1] = 0x40, udp[2] = (uint8_t)(dport >> 8), udp[3] = (uint8_t)dport;
	udp[5] = 18;
	return cut ? cut : 14 + 40 + 18;
}

/* Inputs without a link header (tun, WireGuard): the program reads the datagram from byte 0. Where
 * the frame holds the destination address, it judges the datagram as the Ethernet program judges
 * the same datagram behind an Ethernet header (EtherType from the version nibble, as the kernel
 * sets a tun packet's protocol), at every level; a shorter frame, or one of another IP version,
 * has no group to be told by and is turned away. The kernel takes every level. */
static void ip_only(int sock_pair[2])
{
	static const uint8_t g6[16] = { 0xff, 0x3e, [13] = 1, [15] = 1 },
			     other6[16] = { 0xff, 0x3e, [13] = 1, [15] = 2 };
	struct mcr_filter_key k[6];
	memcpy(k, keys, sizeof(keys));
	k[4] = (struct mcr_filter_key){ .port = 5001 };
	memcpy(k[4].group, g6, 16);
	k[5] = (struct mcr_filter_key){ .port = 6000, .vlan = 20 };
	memcpy(k[5].group, g6, 16);
	static struct sock_filter eth[4][BPF_MAXINSNS], ipo[4][BPF_MAXINSNS];
	int le[4], li[4];
	for (int l = 0; l < 4; l++) {
		le[l] = mcr__filter_build_link(0, k, 6, l, eth[l], BPF_MAXINSNS);
		li[l] = mcr__filter_build_link(1, k, 6, l, ipo[l], BPF_MAXINSNS);
		CHECK(le[l] > 0 && li[l] > 0, "IP-only level %d: %d", l, li[l]);
		struct sock_fprog fp = { .len = (unsigned short)li[l], .filter = ipo[l] };
		CHECK(setsockopt(sock_pair[1], SOL_SOCKET, SO_ATTACH_FILTER, &fp, sizeof(fp)) == 0,
		      "the kernel refused IP-only level %d: %s", l, strerror(errno));
	}
	CHECK(mcr__filter_build(k, 6, 0, eth[0], BPF_MAXINSNS) == le[0], "the Ethernet entry");

	/* Samples, at the exact level. */
	const struct cbpf_meta mcast = { PACKET_MULTICAST, 0, 0 };
	uint8_t f[128];
	const struct {
		const char *what;
		struct spec s;
		int pass;
	} v4[] = {
		{ "a rule's stream", { 0 }, 1 },
		{ "another port", { .dport = 5002 }, 0 },
		{ "another group", { .dst = "239.1.1.9" }, 0 },
		{ "IP options to a rule's group", { .ver_ihl = 0x46 }, 1 },
		{ "TCP to a rule's group", { .proto = 6 }, 1 },
		{ "a fragment to a rule's group", { .frag = 0x2000 }, 1 },
		{ "cut before the port", { .cut = 36 }, 1 },
		{ "cut before the address", { .cut = 26 }, 0 },
	};
	for (unsigned i = 0; i < sizeof(v4) / sizeof(v4[0]); i++) {
		uint32_t len = frame(f, v4[i].s);
		CHECK((run(ipo[0], li[0], f + 14, len - 14, &mcast) != 0) == v4[i].pass,
		      "IP-only IPv4, %s: %s", v4[i].what, v4[i].pass ? "turned away" : "passed");
	}
	const struct {
		const char *what;
		const uint8_t *dst;
		uint8_t nh;
		uint16_t port;
		uint32_t cut;
		const struct cbpf_meta *m;
		int pass;
	} v6[] = {
		{ "an IPv6 rule's stream", g6, 17, 5001, 0, &mcast, 1 },
		{ "another port", g6, 17, 5002, 0, &mcast, 0 },
		{ "another group", other6, 17, 5001, 0, &mcast, 0 },
		{ "an extension header", g6, 0, 0, 0, &mcast, 1 },
		{ "TCP", g6, 6, 5001, 0, &mcast, 0 },
		{ "cut before the port", g6, 17, 5001, 14 + 41, &mcast, 1 },
		{ "cut before the address", g6, 17, 5001, 14 + 30, &mcast, 0 },
	};
	for (unsigned i = 0; i < sizeof(v6) / sizeof(v6[0]); i++) {
		uint32_t len = ip6_frame(f, v6[i].dst, v6[i].nh, v6[i].port, v6[i].cut);
		CHECK((run(ipo[0], li[0], f + 14, len - 14, v6[i].m) != 0) == v6[i].pass,
		      "IP-only IPv6, %s: %s", v6[i].what, v6[i].pass ? "turned away" : "passed");
		CHECK((run(eth[0], le[0], f, len, v6[i].m) != 0) == v6[i].pass || v6[i].cut,
		      "Ethernet IPv6, %s", v6[i].what);
	}

	/* Random datagrams, both families, changed and cut; every level. */
	uint64_t st = 0x51afd7ed558ccd1dull;
	int kernel = 0;
	for (int n = 0; n < 200000; n++) {
		st ^= st << 13, st ^= st >> 7, st ^= st << 17;
		uint32_t r = (uint32_t)st, len;
		static const uint16_t ports[] = { 5001, 5002, 5003, 6000, 7000 };
		static const char *groups[] = { "239.1.1.1", "239.2.2.2", "239.3.3.3", "239.1.1.9",
						"10.0.0.2" };
		if (r % 3 == 0)
			len = ip6_frame(f, (r >> 2) % 2 ? g6 : other6, (r >> 3) % 4 ? 17 : 0,
					ports[(r >> 5) % 5], 0);
		else
			len = frame(f, (struct spec){ .dst = groups[(r >> 2) % 5],
						      .dport = ports[(r >> 5) % 5] });
		for (int j = 0; j < (int)((r >> 8) % 3); j++) {
			st ^= st << 13, st ^= st >> 7, st ^= st << 17;
			f[14 + (st >> 8) % (len - 14)] = (uint8_t)(st >> 20);
		}
		if ((r >> 10) % 4 == 0)
			len = 14 + (r >> 12) % (len - 14);
		struct cbpf_meta m = { (r >> 20) % 4 == 0 ? PACKET_OTHERHOST : PACKET_MULTICAST,
				       (r >> 22) % 4 == 0,
				       (uint16_t)((r >> 24) % 3 == 0 ? 20 : 0) };
		int ver = len > 14 ? f[14] >> 4 : 0;
		f[12] = ver == 6 ? 0x86 : 0x08, f[13] = ver == 6 ? 0xdd : 0x00;
		uint32_t room = ver == 6 ? 14 + 40 : 14 + 20; /* the destination address's end */
		for (int l = 0; l < 4; l++) {
			uint32_t vi = run(ipo[l], li[l], f + 14, len - 14, &m);
			if ((ver == 4 || ver == 6) && len >= room)
				CHECK((vi != 0) == (run(eth[l], le[l], f, len, &m) != 0),
				      "random %d, level %d: IP-only %s, Ethernet not", n, l,
				      vi ? "passes" : "turns away");
			else
				CHECK(vi == 0, "random %d, level %d: no address, passed", n, l);
		}
		if (m.pkttype != PACKET_OTHERHOST && !m.tagged && n % 20 == 0 && len > 14) {
			struct cbpf_meta host = HOST;
			uint32_t want = run(ipo[3], li[3], f + 14, len - 14, &host);
			char buf[256];
			if (send(sock_pair[0], f + 14, len - 14, 0) != (ssize_t)(len - 14)) {
				CHECK(0, "send: %s", strerror(errno));
				break;
			}
			ssize_t got = recv(sock_pair[1], buf, sizeof(buf), MSG_DONTWAIT);
			CHECK((got >= 0) == (want != 0),
			      "random %d: the kernel and the interpreter differ", n);
			kernel++;
		}
	}
	CHECK(kernel > 1000, "only %d IP-only frames checked against the kernel", kernel);
}

int main(void)
{
	memcpy(keys, KEYS, sizeof(keys));
	group4(keys[0].group, inet_addr("239.1.1.1"));
	group4(keys[1].group, inet_addr("239.1.1.1"));
	group4(keys[2].group, inet_addr("239.2.2.2"));
	group4(keys[3].group, inet_addr("239.3.3.3"));
	for (int l = 0; l < 4; l++) {
		plen[l] = mcr__filter_build(keys, 4, l, prog[l], BPF_MAXINSNS);
		CHECK(plen[l] > 0, "level %d: %d", l, plen[l]);
	}
	samples();
	shared_macs();
	unicast_key();
	unicast_key6();
	ipv6_keys();

	/* No keys: nothing passes. */
	struct sock_filter none[8];
	int nl = mcr__filter_build(keys, 0, MCR_FILTER_EXACT, none, 8);
	uint8_t f[128];
	uint32_t len = frame(f, (struct spec){ 0 });
	CHECK(nl > 0 && run(none, nl, f, len, &HOST) == 0,
	      "an empty table's program passed a frame");

	/* The kernel takes every level; the unix socket's filter runs on the datagram's bytes. */
	int sp[2];
	if (socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, sp) < 0) {
		perror("socketpair");
		return 1;
	}
	for (int l = 3; l >= 0; l--) {
		struct sock_fprog fp = { .len = (unsigned short)plen[l], .filter = prog[l] };
		CHECK(setsockopt(sp[1], SOL_SOCKET, SO_ATTACH_FILTER, &fp, sizeof(fp)) == 0,
		      "the kernel refused level %d: %s", l, strerror(errno));
	}
	random_frames(sp);
	ip_only(sp);
	close(sp[0]);
	close(sp[1]);

	/* Past the kernel's limit the attach falls back, and a coarser level still takes the keys. */
	enum { MANY = 3000 };
	struct mcr_filter_key *many = calloc(MANY, sizeof(*many));
	for (uint32_t i = 0; i < MANY; i++) {
		many[i] = (struct mcr_filter_key){ .port = (uint16_t)(5000 + i % 4) };
		group4(many[i].group, htonl(0xef000000u + i / 4));
	}
	static struct sock_filter big[BPF_MAXINSNS];
	CHECK(mcr__filter_build(many, MANY, MCR_FILTER_EXACT, big, BPF_MAXINSNS) == -E2BIG,
	      "3000 keys fit the exact level?");
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	int level = mcr__filter_attach(s, 0, many, MANY);
	CHECK(level > MCR_FILTER_EXACT, "3000 keys attached at level %d", level);
	int bl = mcr__filter_build(many, MANY, level, big, BPF_MAXINSNS);
	for (uint32_t i = 0; i < MANY; i += 97) {
		char dst[16];
		uint32_t g = 0xef000000u + i / 4;
		snprintf(dst, sizeof(dst), "%u.%u.%u.%u", g >> 24, (g >> 16) & 255, (g >> 8) & 255,
			 g & 255);
		len = frame(f, (struct spec){ .dst = dst, .dport = (uint16_t)(5000 + i % 4) });
		CHECK(run(big, bl, f, len, &HOST) != 0, "key %u turned away at level %d", i, level);
	}
	int small = mcr__filter_attach(s, 0, many, 40);
	CHECK(small == MCR_FILTER_EXACT, "40 keys attached at level %d", small);
	close(s);
	free(many);

	/* A ring opened without a table takes nothing (ring_rx.c attaches "nothing" before bind). */
	struct mcr_rx rx;
	int lo = (int)if_nametoindex("lo");
	int err = mcr__rx_open(&rx, lo, -1, 1u << 20, 0);
	if (err == -EPERM) {
		fprintf(stderr, "skip the ring check: no CAP_NET_RAW\n");
	} else {
		CHECK(err == 0, "ring on lo: %d", err);
		int u = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
		struct sockaddr_in to = { .sin_family = AF_INET,
					  .sin_port = htons(9),
					  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
		for (int i = 0; i < 10; i++)
			sendto(u, "x", 1, 0, (struct sockaddr *)&to, sizeof(to));
		close(u);
		usleep(20000);
		int taken = 0;
		for (uint32_t i = 0; err == 0 && i < rx.frame_nr; i++)
			taken += (mcr__rx_frame(&rx, i)->tp_status & TP_STATUS_USER) != 0;
		CHECK(taken == 0, "a ring without a table took %d frames", taken);
		if (err == 0)
			mcr__rx_close(&rx);
	}

	if (failures)
		fprintf(stderr, "%d failures\n", failures);
	return failures ? 1 : 0;
}
