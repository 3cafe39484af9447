/* Rings on a tun device (no link header), in a network namespace of the test's own: the receive
 * ring knows it reads IP, its filter (offsets for IP) passes the rule's datagram and a malformed
 * one to its group and nothing else, IPv4 and IPv6, frames start at the IP header; the transmit
 * ring writes the bare datagram, right checksums included, and its send names the frames'
 * EtherType (seen by a packet socket on the device), a ring for each family; and the whole worker
 * between two tun devices. Exit 0 pass, 1 fail, 77 skip. */
#include "lab.h" /* first: CHECK, and it defines _GNU_SOURCE */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <linux/if_ether.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include "../internal.h"
#include "../csum.h"

/* An IPv4/UDP datagram 10.0.0.1:40000 -> dst:port, payload bytes 0, 1, 2...; IHL ihl words. */
static uint32_t datagram(uint8_t *p, const char *dst, uint16_t port, uint32_t payload, int ihl)
{
	uint32_t hl = (uint32_t)ihl * 4, total = hl + 8 + payload, d = inet_addr(dst);
	memset(p, 0, hl);
	p[0] = (uint8_t)(0x40 | ihl), p[2] = (uint8_t)(total >> 8), p[3] = (uint8_t)total;
	p[8] = 8, p[9] = IPPROTO_UDP, p[12] = 10, p[15] = 1;
	memcpy(p + 16, &d, 4);
	uint16_t sum = mcr__csum_fold(mcr__csum_add(p, hl, 0));
	memcpy(p + 10, &sum, 2);
	uint8_t *u = p + hl;
	u[0] = 0x9c, u[1] = 0x40, u[2] = (uint8_t)(port >> 8), u[3] = (uint8_t)port;
	u[4] = (uint8_t)((8 + payload) >> 8), u[5] = (uint8_t)(8 + payload), u[6] = u[7] = 0;
	for (uint32_t i = 0; i < payload; i++)
		u[8 + i] = (uint8_t)i;
	return total;
}

static int tun_open(const char *name, int *ifindex)
{
	int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC | O_NONBLOCK);
	struct ifreq ifr;
	memset(&ifr, 0, sizeof(ifr));
	ifr.ifr_flags = IFF_TUN | IFF_NO_PI;
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	if (fd < 0 || ioctl(fd, TUNSETIFF, &ifr) < 0)
		return -errno;
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (s < 0 || ioctl(s, SIOCGIFFLAGS, &ifr) < 0)
		return -errno;
	ifr.ifr_flags |= IFF_UP;
	if (ioctl(s, SIOCSIFFLAGS, &ifr) < 0)
		return -errno;
	close(s);
	*ifindex = (int)if_nametoindex(name);
	return fd;
}

static void receive(int tun, int ifindex)
{
	struct mcr_rx rx;
	int err = mcr__rx_open(&rx, ifindex, -1, 1u << 20, 0);
	CHECK(err == 0, "rx ring on tun: %d", err);
	if (err)
		return;
	CHECK(rx.ip_only == 1, "a tun device read as Ethernet");
	struct mcr_filter_key key = { .port = 5001 };
	uint32_t g = inet_addr("239.1.1.1");
	mcr__addr_v4(key.group, (const uint8_t *)&g);
	CHECK(mcr__filter_attach(rx.fd, rx.ip_only, &key, 1) == MCR_FILTER_EXACT, "attach");
	uint8_t want[3][256];
	uint32_t len[5];
	len[0] = datagram(want[0], "239.1.1.1", 5001, 100, 5);
	len[1] =
		datagram(want[1], "239.1.1.1", 5001, 60, 6); /* IP options: the parser's to count */
	uint8_t other[2][256];
	len[2] = datagram(other[0], "239.1.1.1", 5002, 100, 5);
	len[3] = datagram(other[1], "239.1.1.2", 5001, 100, 5);
	len[4] = datagram(want[2], "239.1.1.1", 5001, 1, 5);
	const uint8_t *order[5] = { want[0], want[1], other[0], other[1], want[2] };
	static const int sequence[5] = { 0, 2, 1, 3, 4 }; /* wanted and not, taking turns */
	for (int k = 0; k < 5; k++) {
		int i = sequence[k];
		CHECK(write(tun, order[i], len[i]) == (ssize_t)len[i], "write %d: %s", i,
		      strerror(errno));
	}
	usleep(20000);
	const uint32_t wlen[3] = { len[0], len[1], len[4] };
	const int wreason[3] = { MCR_PARSE_OK, MCR_DROP_IP_OPTIONS, MCR_PARSE_OK };
	uint32_t taken = 0;
	for (uint32_t i = 0; i < rx.frame_nr; i++) {
		struct tpacket2_hdr *h = mcr__rx_frame(&rx, i);
		if (!(h->tp_status & TP_STATUS_USER))
			break;
		if (taken < 3) {
			const uint8_t *f = (const uint8_t *)h + h->tp_mac;
			CHECK(h->tp_mac == h->tp_net, "frame %u: a link header of %u bytes", i,
			      h->tp_net - h->tp_mac);
			CHECK(h->tp_snaplen == wlen[taken] &&
				      memcmp(f, want[taken], wlen[taken]) == 0,
			      "frame %u: not the datagram written (%u bytes, %u written)", i,
			      h->tp_snaplen, wlen[taken]);
			struct mcr_frame_info fi;
			CHECK(mcr__frame_parse_ip(f, h->tp_snaplen, &fi) == wreason[taken],
			      "frame %u: parsed as %d", i,
			      mcr__frame_parse_ip(f, h->tp_snaplen, &fi));
		}
		taken++;
	}
	CHECK(taken == 3, "the ring took %u frames, not the 3 to the rule's group and port", taken);
	mcr__rx_close(&rx);
}

/* An IPv6/UDP datagram 2001:db8::7 -> ff3e::1:<low> port, 50 bytes of payload. */
static uint32_t datagram6(uint8_t *p, uint8_t low, uint16_t port)
{
	memset(p, 0, 48);
	p[0] = 0x60, p[5] = 58, p[6] = IPPROTO_UDP, p[7] = 8;
	p[8] = 0x20, p[9] = 0x01, p[10] = 0x0d, p[11] = 0xb8, p[23] = 7;
	p[24] = 0xff, p[25] = 0x3e, p[37] = 1, p[39] = low;
	p[40] = 0x9c, p[41] = 0x40, p[42] = (uint8_t)(port >> 8), p[43] = (uint8_t)port, p[45] = 58;
	for (int i = 0; i < 50; i++)
		p[48 + i] = (uint8_t)i;
	return 98;
}

/* IPv6 on the same link: the filter's IPv6 part reads from byte 0 too. */
static void receive6(int tun, int ifindex)
{
	struct mcr_rx rx;
	int err = mcr__rx_open(&rx, ifindex, -1, 1u << 20, 0);
	CHECK(err == 0, "rx ring on tun: %d", err);
	if (err)
		return;
	struct mcr_filter_key keys[2] = { { .port = 5001 }, { .port = 5001 } };
	uint32_t g = inet_addr("239.1.1.1");
	mcr__addr_v4(keys[0].group, (const uint8_t *)&g);
	keys[1].group[0] = 0xff, keys[1].group[1] = 0x3e, keys[1].group[13] = 1,
	keys[1].group[15] = 1;
	CHECK(mcr__filter_attach(rx.fd, rx.ip_only, keys, 2) == MCR_FILTER_EXACT, "attach v6");
	uint8_t d[3][128];
	uint32_t n[3] = { datagram6(d[0], 2, 5001), datagram6(d[1], 1, 5002),
			  datagram6(d[2], 1, 5001) };
	for (int i = 0; i < 3; i++)
		CHECK(write(tun, d[i], n[i]) == (ssize_t)n[i], "write v6 %d: %s", i,
		      strerror(errno));
	usleep(20000);
	struct tpacket2_hdr *h = mcr__rx_frame(&rx, 0);
	struct mcr_frame_info fi;
	CHECK((h->tp_status & TP_STATUS_USER) && h->tp_snaplen == n[2] &&
		      memcmp((uint8_t *)h + h->tp_mac, d[2], n[2]) == 0,
	      "the IPv6 datagram to the rule's group and port not in the ring");
	CHECK(mcr__frame_parse_ip((uint8_t *)h + h->tp_mac, h->tp_snaplen, &fi) == MCR_PARSE_OK &&
		      fi.family == 6 && fi.payload_off == 48 && fi.payload_len == 50,
	      "IPv6 from a tun ring: family %u payload %u+%u", fi.family, fi.payload_off,
	      fi.payload_len);
	CHECK(!(mcr__rx_frame(&rx, 1)->tp_status & TP_STATUS_USER),
	      "IPv6 to another group or port reached the ring");
	mcr__rx_close(&rx);
}

/* Reads the next packet from the tun device (what the relay sent) and, from the packet socket
 * watching the device, the protocol it went with. */
static ssize_t sent(int tun, int watch, uint8_t *buf, uint16_t *proto)
{
	usleep(10000);
	struct sockaddr_ll from;
	socklen_t fl = sizeof(from);
	uint8_t seen[2048];
	*proto = 0;
	if (recvfrom(watch, seen, sizeof(seen), MSG_DONTWAIT, (struct sockaddr *)&from, &fl) >= 0)
		*proto = ntohs(from.sll_protocol);
	return read(tun, buf, 2048);
}

static void transmit(int tun, int ifindex)
{
	/* One ring per family: a send names one protocol for all the frames it takes. */
	struct mcr_tx t, t6;
	int err = mcr__tx_open(&t, ifindex, 4, 1u << 20, MCR_EGRESS_RING),
	    err6 = mcr__tx_open(&t6, ifindex, 6, 1u << 20, MCR_EGRESS_RING);
	CHECK(err == 0 && err6 == 0, "tx rings on tun: %d %d", err, err6);
	if (err || err6)
		return;
	CHECK(t.ip_only == 1 && t6.ip_only == 1, "a tun device written as Ethernet");
	int watch = socket(AF_PACKET, SOCK_DGRAM | SOCK_CLOEXEC, htons(ETH_P_ALL));
	struct sockaddr_ll sll = { .sll_family = AF_PACKET,
				   .sll_protocol = htons(ETH_P_ALL),
				   .sll_ifindex = ifindex };
	CHECK(watch >= 0 && bind(watch, (struct sockaddr *)&sll, sizeof(sll)) == 0, "watch: %s",
	      strerror(errno));
	uint8_t src[16], dst[16], src6[16] = { 0x20, 0x01, 0x0d, 0xb8, [15] = 1 },
				  dst6[16] = { 0xff, 0x3e, [13] = 2, [15] = 2 };
	uint32_t s4 = inet_addr("10.0.0.1"), d4 = inet_addr("239.2.2.2");
	mcr__addr_v4(src, (const uint8_t *)&s4);
	mcr__addr_v4(dst, (const uint8_t *)&d4);
	struct mcr_tx_header h4, h6;
	mcr__tx_header_init(&h4, &t, src, dst, 6001, 5);
	mcr__tx_header_init(&h6, &t6, src6, dst6, 6002, 5);
	CHECK(h4.len == 28 && h6.len == 48, "header lengths %u %u", h4.len, h6.len);
	CHECK(h4.max_payload == t.mtu - 28, "IPv4 payload up to %u, MTU %u", h4.max_payload, t.mtu);
	uint8_t payload[300];
	for (int i = 0; i < 300; i++)
		payload[i] = (uint8_t)(i * 7);
	struct mcr_csum_in full = { .mode = MCR_CSUM_FULL };
	CHECK(mcr__tx_put(&t, &h4, 40000, payload, 300, 0, &full, 0x28, 9) == 0, "put IPv4");
	CHECK(mcr__tx_put(&t, &h4, 40000, payload, 200, 0, &full, 0x28, 9) == 0, "put IPv4 again");
	CHECK(sendmsg(t.fd, &t.kick, 0) == 328 + 228, "send IPv4: %s", strerror(errno));
	uint8_t buf[2048];
	uint16_t proto;
	for (int i = 0; i < 2; i++) {
		uint32_t plen = i ? 200 : 300;
		ssize_t n = sent(tun, watch, buf, &proto);
		CHECK(n == (ssize_t)(28 + plen), "IPv4 %d: %zd bytes", i, n);
		CHECK(proto == ETH_P_IP, "IPv4 %d went as protocol 0x%x", i, proto);
		CHECK(buf[0] == 0x45 && buf[1] == 0x28 && buf[8] == 9 && buf[9] == IPPROTO_UDP &&
			      memcmp(buf + 12, &s4, 4) == 0 && memcmp(buf + 16, &d4, 4) == 0,
		      "IPv4 %d: header", i);
		CHECK(mcr__csum_fold(mcr__csum_add(buf, 20, 0)) == 0, "IPv4 %d: header checksum",
		      i);
		CHECK(buf[22] == 6001 >> 8 && buf[23] == (6001 & 255) &&
			      mcr__udp_csum_ok(buf, 8 + plen) &&
			      memcmp(buf + 28, payload, plen) == 0,
		      "IPv4 %d: UDP", i);
	}
	CHECK(mcr__tx_put(&t6, &h6, 40000, payload, 100, 0, &full, 0, 9) == 0, "put IPv6");
	CHECK(sendmsg(t6.fd, &t6.kick, 0) == 148, "send IPv6: %s", strerror(errno));
	ssize_t n = sent(tun, watch, buf, &proto);
	CHECK(n == 148 && proto == ETH_P_IPV6, "IPv6: %zd bytes, protocol 0x%x", n, proto);
	CHECK(buf[0] >> 4 == 6 && buf[7] == 9 && memcmp(buf + 24, dst6, 16) == 0 &&
		      mcr__udp6_csum_ok(buf, buf + 40, 108) && memcmp(buf + 48, payload, 100) == 0,
	      "IPv6: the datagram");
	close(watch);
	mcr__tx_close(&t);
	mcr__tx_close(&t6);
}

struct in6_ifreq_ { /* linux/ipv6.h's in6_ifreq, which glibc's headers lack */
	struct in6_addr addr;
	uint32_t prefixlen;
	int ifindex;
};

static int sysctl_set(const char *path, const char *v)
{
	FILE *f = fopen(path, "w");
	if (!f)
		return -errno;
	fputs(v, f);
	return fclose(f) == 0 ? 0 : -errno;
}

/* A tun device for the worker's outputs, with 10.8.0.1 and fd00::1 (IPv6 on, no DAD). */
static int out_tun(int *ifindex)
{
	int fd = tun_open("mcrtun1", ifindex);
	if (fd < 0)
		return fd;
	if (sysctl_set("/proc/sys/net/ipv6/conf/mcrtun1/accept_dad", "0") < 0 ||
	    sysctl_set("/proc/sys/net/ipv6/conf/mcrtun1/disable_ipv6", "0") < 0)
		return -errno;
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	struct ifreq ifr;
	memset(&ifr, 0, sizeof(ifr));
	strcpy(ifr.ifr_name, "mcrtun1");
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = inet_addr("10.8.0.1") };
	memcpy(&ifr.ifr_addr, &a, sizeof(a));
	int s6 = socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	struct in6_ifreq_ r6 = { .prefixlen = 64, .ifindex = *ifindex };
	inet_pton(AF_INET6, "fd00::1", &r6.addr);
	if (ioctl(s, SIOCSIFADDR, &ifr) < 0 || ioctl(s6, SIOCSIFADDR, &r6) < 0)
		return -errno;
	close(s);
	close(s6);
	return fd;
}

#define V4(a)                                                                                      \
	{                                                                                          \
		[10] = 0xff, [11] = 0xff, [12] = (uint8_t)(a), [13] = (uint8_t)((a) >> 8),         \
		[14] = (uint8_t)((a) >> 16), [15] = (uint8_t)((a) >> 24)                           \
	}

/* The whole worker between two tun devices: IPv4 in from one, out to the other as IPv4 and as
 * IPv6 (one ring per family on the IP-only output), every datagram once, in order, checksums
 * right (the input has no UDP checksum: the IPv4 copy has none either, the IPv6 one must, RFC
 * 8200 8.1), nothing dropped. */
static void worker(int in_tun, int in_index)
{
	int out_index = 0, out = out_tun(&out_index);
	CHECK(out >= 0, "output tun: %s", strerror(-out));
	static uint64_t mem[MCR_COUNTERS_LEN(4, 4)];
	struct mcr_worker *w = NULL;
	int r = out < 0 ? out : mcr_worker_new(4, 4, 1 << 20, mem, &w);
	if (r == -EPERM || r == -ENOSYS) {
		fprintf(stderr, "skip the worker: io_uring unavailable (%s)\n", strerror(-r));
		return;
	}
	CHECK(r == 0, "mcr_worker_new: %d", r);
	if (r)
		return;
	uint32_t g = inet_addr("239.1.1.1"), s4 = inet_addr("10.8.0.1"),
		 d4 = inet_addr("239.2.2.2");
	struct mcr_rule_entry rule = { .in_ifindex = (uint32_t)in_index,
				       .group = V4(g),
				       .family = 4,
				       .source = V4(0u),
				       .source_len = 96,
				       .port = 5001,
				       .n_outputs = 2 };
	struct mcr_output_entry outs[2] = {
		{ .ifindex = (uint32_t)out_index,
		  .source = V4(s4),
		  .dest = V4(d4),
		  .port = 6001,
		  .ttl = 5,
		  .family = 4 },
		{ .ifindex = (uint32_t)out_index,
		  .port = 6002,
		  .ttl = 5,
		  .counter_slot = 1,
		  .family = 6 },
	};
	inet_pton(AF_INET6, "fd00::1", outs[1].source);
	inet_pton(AF_INET6, "ff3e::2:2", outs[1].dest);
	CHECK(mcr_worker_input_add(w, in_index, -1) >= 0, "input on tun");
	CHECK(mcr_worker_rules_set(w, &rule, 1, outs, 2) == 0, "rules");
	int32_t errs[2] = { 1, 1 };
	mcr_worker_output_errors(w, errs, 2);
	CHECK(errs[0] == 0 && errs[1] == 0, "outputs failed: %d %d", errs[0], errs[1]);
	enum { N = 16 };
	uint8_t d[N][256];
	for (int i = 0; i < N; i++) {
		uint32_t n = datagram(d[i], "239.1.1.1", 5001, 40 + (uint32_t)i, 5);
		CHECK(write(in_tun, d[i], n) == (ssize_t)n, "write %d", i);
	}
	const uint64_t *oc = mem + MCR_C__COUNT + 4 * 2;
	for (int k = 0; k < 50 && (oc[0] < N || oc[3] < N); k++)
		mcr_worker_poll(w, 20, 256);
	CHECK(oc[0] == N && oc[3] == N && oc[2] == 0 && oc[5] == 0,
	      "sent %llu IPv4 and %llu IPv6 of %d, errors %llu %llu", (unsigned long long)oc[0],
	      (unsigned long long)oc[3], N, (unsigned long long)oc[2], (unsigned long long)oc[5]);
	uint64_t drops = 0;
	for (int i = 0; i < MCR_DROP__COUNT; i++)
		drops += mem[MCR_C_DROPS + i];
	CHECK(drops == 0, "%llu drops", (unsigned long long)drops);
	usleep(10000);
	int n4 = 0, n6 = 0;
	uint8_t buf[2048], dst6[16];
	inet_pton(AF_INET6, "ff3e::2:2", dst6);
	for (ssize_t n; (n = read(out, buf, sizeof(buf))) > 0;) {
		if (buf[0] == 0x45 && memcmp(buf + 16, &d4, 4) == 0 && n4 < N) {
			CHECK(n == 28 + 40 + n4 && mcr__csum_fold(mcr__csum_add(buf, 20, 0)) == 0 &&
				      buf[26] == 0 && buf[27] == 0 && /* none in, none out */
				      memcmp(buf + 28, d[n4] + 28, (size_t)n - 28) == 0,
			      "IPv4 out %d: not datagram %d", n4, n4);
			n4++;
		} else if (buf[0] >> 4 == 6 && memcmp(buf + 24, dst6, 16) == 0 && n6 < N) {
			CHECK(n == 48 + 40 + n6 &&
				      mcr__udp6_csum_ok(buf, buf + 40, (uint32_t)n - 40) &&
				      memcmp(buf + 48, d[n6] + 28, (size_t)n - 48) == 0,
			      "IPv6 out %d: not datagram %d", n6, n6);
			n6++;
		} else if (buf[0] == 0x45 || memcmp(buf + 24, dst6, 16) == 0) {
			CHECK(0, "a datagram to an output's group past the %d sent", N);
		}
	}
	CHECK(n4 == N && n6 == N, "read %d IPv4 and %d IPv6 of %d each", n4, n6, N);
	/* They went by transmit rings, one per family: two packet sockets on the device. */
	FILE *pk = fopen("/proc/net/packet", "r");
	char line[256];
	int rings = 0;
	while (pk && fgets(line, sizeof(line), pk)) {
		unsigned iface = 0;
		if (sscanf(line, "%*s %*s %*s %*s %u", &iface) == 1 && iface == (unsigned)out_index)
			rings++;
	}
	if (pk)
		fclose(pk);
	CHECK(rings == 2, "%d packet sockets on the output device, not a ring per family", rings);
	mcr_worker_free(w);
	close(out);
}

int main(void)
{
	int err = lab_enter_private_lo();
	/* No IPv6 of the kernel's own (router solicitations, MLD reports) on the device: the test
	 * reads every packet the device carries. */
	for (int i = 0; err == 0 && i < 2; i++) {
		FILE *f = fopen(i ? "/proc/sys/net/ipv6/conf/default/disable_ipv6"
				  : "/proc/sys/net/ipv6/conf/all/disable_ipv6",
				"w");
		if (f) {
			fputs("1", f);
			fclose(f);
		}
	}
	int ifindex = 0, tun = err < 0 ? err : tun_open("mcrtun0", &ifindex);
	if (tun == -ENOENT || tun == -ENODEV) {
		fprintf(stderr, "skip: no tun device\n");
		return 77;
	}
	CHECK(tun >= 0, "tun: %s", strerror(-tun));
	if (tun >= 0) {
		receive(tun, ifindex);
		receive6(tun, ifindex);
		worker(tun, ifindex);
		transmit(tun, ifindex);
	}
	if (failures)
		fprintf(stderr, "test_tun: %d failures\n", failures);
	return failures ? 1 : 0;
}
