/* udp_tool.c: the socket half of the traffic tools (mcr gen, mcr sink).
 *
 * A sender that stamps sequence numbers and send times into its payloads and paces them on an
 * absolute schedule with sendmmsg, and a receiver that drains its sockets with recvmmsg and writes
 * one fixed-size record per datagram into a buffer the caller owns. The accounting (loss,
 * duplicates, reorder, latency) is TypeScript's (src/tools/accounting.ts); the payload format is
 * documented in src/tools/payload.ts and docs/tools.md.
 *
 * Conventions: 0/count or -errno, never prints, never exits. */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <fcntl.h>
#include <endian.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <net/if.h>
#include <netinet/in.h>
#include <linux/if_packet.h>
#include <arpa/inet.h>
#include "mcr_shim.h"

#ifndef MCR_API
#define MCR_API __attribute__((visibility("default")))
#endif

#ifndef SO_RXQ_OVFL
#define SO_RXQ_OVFL 40
#endif
#ifndef IP_MULTICAST_ALL
#define IP_MULTICAST_ALL 49
#endif

#define UDP_MAX_PAYLOAD 65507u
#define UDP_BATCH_MAX 256u
#define UDP_RX_VLEN 64u
#define UDP_RX_BUF 65536u
#define UDP_RX_MAX_SOCKS 64u
/* filler byte i (from the payload's start) is (seq + i) & 0xff: a copy from this table at (seq + i0) & 0xff */
#define PATTERN_LEN (UDP_MAX_PAYLOAD + 256u)

static uint8_t pattern[PATTERN_LEN];
static int pattern_ready;

static void pattern_init(void)
{
	if (pattern_ready)
		return;
	for (uint32_t i = 0; i < PATTERN_LEN; i++)
		pattern[i] = (uint8_t)i;
	pattern_ready = 1;
}

static inline uint64_t clock_ns(clockid_t c)
{
	struct timespec ts;
	clock_gettime(c, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static inline void put_be16(uint8_t *p, uint16_t v)
{
	v = htobe16(v);
	memcpy(p, &v, 2);
}
static inline void put_be32(uint8_t *p, uint32_t v)
{
	v = htobe32(v);
	memcpy(p, &v, 4);
}
static inline void put_be64(uint8_t *p, uint64_t v)
{
	v = htobe64(v);
	memcpy(p, &v, 8);
}
static inline uint16_t get_be16(const uint8_t *p)
{
	uint16_t v;
	memcpy(&v, p, 2);
	return be16toh(v);
}
static inline uint32_t get_be32(const uint8_t *p)
{
	uint32_t v;
	memcpy(&v, p, 4);
	return be32toh(v);
}
static inline uint64_t get_be64(const uint8_t *p)
{
	uint64_t v;
	memcpy(&v, p, 8);
	return be64toh(v);
}

static int set_int(int fd, int level, int opt, int v)
{
	return setsockopt(fd, level, opt, &v, sizeof(v)) < 0 ? -errno : 0;
}

/* ---- sender ---- */

/* Two ways out:
 * - socket mode: one connected UDP socket per destination, sendmmsg. The kernel's whole UDP/IP
 *   output path runs per packet (for a multicast group that includes a route lookup and a fresh
 *   dst: a connected socket does not keep one for multicast).
 * - packet mode (MCR_UDP_TX_PACKET, multicast only): whole Ethernet/IPv4/UDP frames built here and
 *   sent with sendmmsg on an AF_PACKET socket bound to the interface, past the qdisc. About half
 *   the CPU per packet; what a receiver sees is the same datagram. */
#define FRAME_HDR 42u /* Ethernet 14 + IPv4 20 + UDP 8 */

struct tx_dest {
	uint32_t addr; /* network order */
	uint16_t port; /* host order */
	uint8_t mac[6]; /* packet mode: 01:00:5e + the group's low 23 bits */
	uint32_t
		ip_sum; /* packet mode: ones'-complement sum of the IPv4 header without id and checksum */
	uint32_t udp_sum; /* packet mode: pseudo-header + UDP header, without the payload */
};

struct mcr_udp_sender {
	uint32_t n_dests;
	uint32_t size; /* UDP payload bytes */
	uint32_t run_id;
	uint32_t batch;
	int packet; /* packet mode */
	uint32_t off; /* payload offset in a buffer: FRAME_HDR in packet mode, else 0 */
	uint32_t n_fds;
	int *fds; /* socket mode: per destination; packet mode: one */
	struct tx_dest *dests;
	uint64_t *seq; /* next sequence number, per destination */
	uint8_t *bufs; /* batch x (off + size) */
	struct mmsghdr *msgs;
	struct iovec *iov;
	uint8_t tmpl[FRAME_HDR];
	uint16_t ip_id;
	uint32_t filler_sum
		[256]; /* packet mode: sum of the filler, by (seq + MCR_UDP_HDR_LEN) & 0xff */
	/* schedule */
	double rate; /* packets per second over all destinations; 0 = as fast as possible */
	uint64_t count; /* 0 = unlimited */
	uint64_t next; /* index of the next packet to send (over all destinations) */
	uint64_t t0; /* CLOCK_MONOTONIC ns: packet i is due at t0 + i / rate */
	uint64_t tick_ns; /* the shortest sleep */
	int started;
	uint64_t st[MCR_UDP_TX__COUNT];
};

/* Ones'-complement arithmetic on big-endian 16-bit words (RFC 1071). */
static uint32_t csum_add(uint32_t sum, const uint8_t *p, uint32_t len)
{
	uint64_t s = sum;
	uint32_t i = 0;
	for (; i + 1 < len; i += 2)
		s += (uint32_t)p[i] << 8 | p[i + 1];
	if (i < len)
		s += (uint32_t)p[i] << 8;
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint32_t)s;
}

static inline uint16_t csum_fold(uint64_t s)
{
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)~s;
}

static int tx_sock_open(const struct mcr_udp_addr *dest, uint32_t source, uint16_t source_port,
			int ifindex, int ttl, uint32_t flags)
{
	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_addr.s_addr = dest->addr,
				  .sin_port = htons(dest->port) };
	int fd, ret;

	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	/* a deep send buffer: a burst after a late wake-up must not block on it */
	if (set_int(fd, SOL_SOCKET, SO_SNDBUFFORCE, 4 << 20) < 0)
		(void)set_int(fd, SOL_SOCKET, SO_SNDBUF, 4 << 20);
	if (source || source_port) {
		struct sockaddr_in src = { .sin_family = AF_INET,
					   .sin_addr.s_addr = source,
					   .sin_port = htons(source_port) };
		/* several destinations share the source port */
		if ((ret = set_int(fd, SOL_SOCKET, SO_REUSEADDR, 1)) < 0)
			goto fail;
		if (bind(fd, (struct sockaddr *)&src, sizeof(src)) < 0) {
			ret = -errno;
			goto fail;
		}
	}
	if (ifindex > 0 || source) {
		struct ip_mreqn m = { .imr_address.s_addr = source, .imr_ifindex = ifindex };
		if (setsockopt(fd, IPPROTO_IP, IP_MULTICAST_IF, &m, sizeof(m)) < 0) {
			ret = -errno;
			goto fail;
		}
	}
	/* no copy to this host's own sockets unless asked: it costs a clone and a local delivery per packet */
	if ((ret = set_int(fd, IPPROTO_IP, IP_MULTICAST_LOOP, !!(flags & MCR_UDP_TX_LOOP))) < 0)
		goto fail;
	if (ttl > 0) {
		if ((ret = set_int(fd, IPPROTO_IP, IP_MULTICAST_TTL, ttl)) < 0 ||
		    (ret = set_int(fd, IPPROTO_IP, IP_TTL, ttl)) < 0)
			goto fail;
	}
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		ret = -errno;
		goto fail;
	}
	return fd;
fail:
	close(fd);
	return ret;
}

/* Packet mode: the AF_PACKET socket and the frame template (addresses from the interface). */
static int tx_packet_open(struct mcr_udp_sender *s, uint32_t source, uint16_t source_port,
			  int ifindex, int ttl)
{
	struct sockaddr_ll ll = { .sll_family = AF_PACKET, .sll_ifindex = ifindex };
	struct ifreq ifr = { .ifr_ifindex = ifindex };
	uint8_t *t = s->tmpl;
	uint16_t sport = source_port ? source_port : (uint16_t)(49152 + s->run_id % 16384);
	int fd, io, ret;

	if (ifindex <= 0)
		return -EINVAL;
	for (uint32_t i = 0; i < s->n_dests; i++)
		if (!IN_MULTICAST(ntohl(s->dests[i].addr)))
			return -EOPNOTSUPP; /* a unicast destination needs its neighbour's MAC: socket mode */
	io = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (io < 0)
		return -errno;
	if (ioctl(io, SIOCGIFNAME, &ifr) < 0 || ioctl(io, SIOCGIFFLAGS, &ifr) < 0) {
		ret = -errno;
		close(io);
		return ret;
	}
	/* the stack drops a looped-back frame from 127.0.0.1 as a martian: lo needs socket mode */
	if (ifr.ifr_flags & IFF_LOOPBACK) {
		close(io);
		return -EOPNOTSUPP;
	}
	if (ioctl(io, SIOCGIFHWADDR, &ifr) < 0) {
		ret = -errno;
		close(io);
		return ret;
	}
	memcpy(t + 6, ifr.ifr_hwaddr.sa_data, 6);
	errno = 0;
	if (ioctl(io, SIOCGIFMTU, &ifr) < 0 || ifr.ifr_mtu < 0 ||
	    (uint32_t)ifr.ifr_mtu < s->size + 28) {
		ret = errno ? -errno : -EMSGSIZE;
		close(io);
		return ret;
	}
	if (!source) {
		ifr.ifr_addr.sa_family = AF_INET;
		if (ioctl(io, SIOCGIFADDR, &ifr) < 0) {
			ret = errno == EADDRNOTAVAIL ? -EADDRNOTAVAIL : -errno;
			close(io);
			return ret;
		}
		source = ((struct sockaddr_in *)&ifr.ifr_addr)->sin_addr.s_addr;
	}
	close(io);

	put_be16(t + 12, 0x0800);
	t[14] = 0x45;
	put_be16(t + 16, (uint16_t)(20 + 8 + s->size));
	put_be16(t + 20, 0x4000); /* DF: never fragmented, the size was checked against the MTU */
	t[22] = (uint8_t)(ttl > 0 ? ttl : 1); /* 1: the kernel's multicast default */
	t[23] = IPPROTO_UDP;
	memcpy(t + 26, &source, 4);
	put_be16(t + 34, sport);
	put_be16(t + 38, (uint16_t)(8 + s->size));
	for (uint32_t i = 0; i < s->n_dests; i++) {
		struct tx_dest *d = &s->dests[i];
		uint32_t g = ntohl(d->addr);
		uint8_t ph[12];
		d->mac[0] = 0x01;
		d->mac[1] = 0x00;
		d->mac[2] = 0x5e;
		d->mac[3] = (uint8_t)((g >> 16) & 0x7f);
		d->mac[4] = (uint8_t)(g >> 8);
		d->mac[5] = (uint8_t)g;
		memcpy(t + 30, &d->addr, 4);
		/* IPv4 header with id and checksum 0 */
		d->ip_sum = csum_add(0, t + 14, 20);
		/* pseudo-header (source, destination, protocol, UDP length) and the UDP header with dport */
		memcpy(ph, &source, 4);
		memcpy(ph + 4, &d->addr, 4);
		ph[8] = 0;
		ph[9] = IPPROTO_UDP;
		put_be16(ph + 10, (uint16_t)(8 + s->size));
		put_be16(t + 36, d->port);
		d->udp_sum = csum_add(csum_add(0, ph, 12), t + 34, 8);
	}
	memset(t + 30, 0, 4);
	memset(t + 36, 0, 2);
	/* the filler's sum depends only on (seq + header length) & 0xff: 256 sums, once */
	for (uint32_t o = 0; o < 256; o++)
		s->filler_sum[o] = csum_add(0, pattern + o, s->size - MCR_UDP_HDR_LEN);

	fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC,
		    0); /* protocol 0: sends only, receives nothing */
	if (fd < 0)
		return -errno;
	if (bind(fd, (struct sockaddr *)&ll, sizeof(ll)) < 0) {
		ret = -errno;
		close(fd);
		return ret;
	}
	(void)set_int(fd, SOL_PACKET, PACKET_QDISC_BYPASS, 1);
	if (set_int(fd, SOL_SOCKET, SO_SNDBUFFORCE, 4 << 20) < 0)
		(void)set_int(fd, SOL_SOCKET, SO_SNDBUF, 4 << 20);
	return fd;
}

MCR_API int mcr_udp_open_sender(const struct mcr_udp_addr *dests, uint32_t n_dests, uint32_t source,
				uint16_t source_port, int ifindex, int ttl, uint32_t size,
				uint32_t run_id, uint32_t batch, uint32_t flags,
				struct mcr_udp_sender **out)
{
	struct mcr_udp_sender *s;
	uint32_t buf_len;
	int ret;

	if (!dests || !out || n_dests == 0 || n_dests > MCR_UDP_MAX_DESTS ||
	    size < MCR_UDP_HDR_LEN || size > UDP_MAX_PAYLOAD || ttl < 0 || ttl > 255 ||
	    batch == 0 || batch > UDP_BATCH_MAX)
		return -EINVAL;
	pattern_init();
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->n_dests = n_dests;
	s->size = size;
	s->run_id = run_id;
	s->batch = batch;
	s->packet = !!(flags & MCR_UDP_TX_PACKET);
	s->off = s->packet ? FRAME_HDR : 0;
	s->n_fds = s->packet ? 1 : n_dests;
	buf_len = s->off + size;
	s->fds = malloc(s->n_fds * sizeof(*s->fds));
	s->dests = calloc(n_dests, sizeof(*s->dests));
	s->seq = calloc(n_dests, sizeof(*s->seq));
	s->bufs = calloc(batch, buf_len);
	s->msgs = calloc(batch, sizeof(*s->msgs));
	s->iov = calloc(batch, sizeof(*s->iov));
	if (!s->fds || !s->dests || !s->seq || !s->bufs || !s->msgs || !s->iov) {
		free(s->fds);
		s->fds = NULL;
		ret = -ENOMEM;
		goto fail;
	}
	for (uint32_t i = 0; i < s->n_fds; i++)
		s->fds[i] = -1;
	for (uint32_t i = 0; i < n_dests; i++) {
		s->dests[i].addr = dests[i].addr;
		s->dests[i].port = dests[i].port;
	}
	for (uint32_t i = 0; i < batch; i++) {
		s->iov[i].iov_base = s->bufs + (size_t)i * buf_len;
		s->iov[i].iov_len = buf_len;
	}
	if (s->packet) {
		if ((ret = tx_packet_open(s, source, source_port, ifindex, ttl)) < 0)
			goto fail;
		s->fds[0] = ret;
	} else {
		for (uint32_t i = 0; i < n_dests; i++) {
			if ((ret = tx_sock_open(&dests[i], source, source_port, ifindex, ttl,
						flags)) < 0)
				goto fail;
			s->fds[i] = ret;
		}
	}
	*out = s;
	return 0;
fail:
	mcr_udp_sender_close(s);
	return ret;
}

MCR_API void mcr_udp_sender_close(struct mcr_udp_sender *s)
{
	if (!s)
		return;
	for (uint32_t i = 0; s->fds && i < s->n_fds; i++)
		if (s->fds[i] >= 0)
			close(s->fds[i]);
	free(s->fds);
	free(s->dests);
	free(s->seq);
	free(s->bufs);
	free(s->msgs);
	free(s->iov);
	free(s);
}

MCR_API int mcr_udp_sender_start(struct mcr_udp_sender *s, double rate, double count,
				 uint32_t tick_us)
{
	if (!s || !(rate >= 0) || !(count >= 0) || count > 9007199254740992.0 || tick_us > 1000000)
		return -EINVAL;
	s->tick_ns = (uint64_t)tick_us * 1000;
	s->rate = rate;
	s->count = (uint64_t)count;
	s->next = 0;
	s->t0 = clock_ns(CLOCK_MONOTONIC);
	s->started = 1;
	return 0;
}

/* Errors that say the configuration is wrong: the caller should stop and say so. The rest
 * (ENOBUFS, EAGAIN, ECONNREFUSED after an ICMP error...) cost one packet each and are counted. */
static int fatal_send_errno(int e)
{
	return e == EBADF || e == EINVAL || e == ENETUNREACH || e == EHOSTUNREACH || e == EACCES ||
	       e == EPERM || e == EADDRNOTAVAIL || e == EMSGSIZE || e == ENOTSOCK ||
	       e == EDESTADDRREQ || e == ENODEV || e == ENETDOWN || e == ENXIO;
}

/* sendmmsg of msgs[0..n) on fd; a packet the kernel refuses is counted and skipped. */
static int send_group(struct mcr_udp_sender *s, int fd, struct mmsghdr *msgs, uint32_t n)
{
	uint32_t done = 0;

	while (done < n) {
		int r = sendmmsg(fd, msgs + done, n - done, 0);
		if (r > 0) {
			done += (uint32_t)r;
			s->st[MCR_UDP_TX_PACKETS] += (uint64_t)r;
			s->st[MCR_UDP_TX_BYTES] += (uint64_t)r * s->size;
			s->st[MCR_UDP_TX_SYSCALLS]++;
			continue;
		}
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && fatal_send_errno(errno) && s->st[MCR_UDP_TX_PACKETS] == 0)
			return -errno;
		s->st[MCR_UDP_TX_ERRORS]++;
		s->st[MCR_UDP_TX_LAST_ERRNO] = r < 0 ? (uint64_t)errno : 0;
		done++;
	}
	return 0;
}

/* Packet mode: the Ethernet, IPv4 and UDP headers in front of payload p (at f + FRAME_HDR). */
static void fill_frame(struct mcr_udp_sender *s, uint8_t *f, const struct tx_dest *d, uint64_t seq)
{
	uint16_t id = s->ip_id++;
	uint16_t sum;

	memcpy(f, s->tmpl, FRAME_HDR);
	memcpy(f, d->mac, 6);
	put_be16(f + 18, id);
	put_be16(f + 24, csum_fold((uint64_t)d->ip_sum + id));
	memcpy(f + 30, &d->addr, 4);
	put_be16(f + 36, d->port);
	sum = csum_fold((uint64_t)csum_add(d->udp_sum, f + FRAME_HDR, MCR_UDP_HDR_LEN) +
			s->filler_sum[(seq + MCR_UDP_HDR_LEN) & 0xff]);
	put_be16(f + 40, sum ? sum : 0xffff); /* 0 would mean "no checksum" */
}

/* Fills and sends packets next .. next+n-1 (n <= batch). Returns n, or -errno on a fatal error
 * before anything was ever sent. */
static int send_batch(struct mcr_udp_sender *s, uint32_t n)
{
	uint64_t now_rt = clock_ns(CLOCK_REALTIME);
	uint32_t buf_len = s->off + s->size;
	int ret;

	for (uint32_t k = 0; k < n; k++) {
		uint64_t i = s->next + k;
		uint32_t d = (uint32_t)(i % s->n_dests);
		uint64_t seq = s->seq[d]++;
		uint8_t *f = s->bufs + (size_t)k * buf_len;
		uint8_t *p = f + s->off;

		put_be32(p + 0, MCR_UDP_MAGIC);
		put_be16(p + 4, (uint16_t)d);
		put_be16(p + 6, MCR_UDP_HDR_LEN);
		put_be64(p + 8, seq);
		put_be64(p + 16, now_rt);
		put_be32(p + 24, s->run_id);
		put_be32(p + 28, s->size);
		memcpy(p + MCR_UDP_HDR_LEN, pattern + ((seq + MCR_UDP_HDR_LEN) & 0xff),
		       s->size - MCR_UDP_HDR_LEN);
		if (s->packet)
			fill_frame(s, f, &s->dests[d], seq);
	}
	if (s->packet) {
		for (uint32_t k = 0; k < n; k++) {
			memset(&s->msgs[k], 0, sizeof(s->msgs[k]));
			s->msgs[k].msg_hdr.msg_iov = &s->iov[k];
			s->msgs[k].msg_hdr.msg_iovlen = 1;
		}
		if ((ret = send_group(s, s->fds[0], s->msgs, n)) < 0)
			return ret;
	} else {
		/* slot k goes to destination (next + k) % n_dests: group g holds slots g, g + n_dests, ... */
		uint32_t groups = n < s->n_dests ? n : s->n_dests;
		uint32_t m = 0;
		for (uint32_t g = 0; g < groups; g++) {
			uint32_t first = m;
			for (uint32_t k = g; k < n; k += s->n_dests) {
				memset(&s->msgs[m], 0, sizeof(s->msgs[m]));
				s->msgs[m].msg_hdr.msg_iov = &s->iov[k];
				s->msgs[m].msg_hdr.msg_iovlen = 1;
				m++;
			}
			ret = send_group(s, s->fds[(s->next + g) % s->n_dests], s->msgs + first,
					 m - first);
			if (ret < 0)
				return ret;
		}
	}
	if (!s->st[MCR_UDP_TX_FIRST_NS])
		s->st[MCR_UDP_TX_FIRST_NS] = now_rt;
	s->st[MCR_UDP_TX_LAST_NS] = clock_ns(CLOCK_REALTIME);
	s->st[MCR_UDP_TX_BATCHES]++;
	s->next += n;
	return (int)n;
}

static inline uint64_t due_ns(const struct mcr_udp_sender *s, uint64_t i)
{
	double ns = (double)i * 1e9 / s->rate;
	uint64_t t = (uint64_t)ns;
	return s->t0 + t + ((double)t < ns);
}

MCR_API int mcr_udp_send_run(struct mcr_udp_sender *s, int budget_ms)
{
	uint64_t deadline;
	int total = 0;

	if (!s || !s->started || budget_ms < 0)
		return -EINVAL;
	deadline = clock_ns(CLOCK_MONOTONIC) + (uint64_t)budget_ms * 1000000ull;
	for (;;) {
		uint64_t now, n;
		int r;

		if (s->count && s->next >= s->count)
			return total;
		now = clock_ns(CLOCK_MONOTONIC);
		if (s->rate > 0) {
			/* packets 0 .. due-1 are due now: packet i at t0 + i/rate */
			uint64_t due = (uint64_t)((double)(now - s->t0) * s->rate / 1e9) + 1;
			if (s->count && due > s->count)
				due = s->count;
			if (due <= s->next) {
				uint64_t wake = due_ns(s, s->next);
				struct timespec ts;
				/* sleep at least one tick: fewer wake-ups, packets due meanwhile go out together */
				if (wake < now + s->tick_ns)
					wake = now + s->tick_ns;
				if (wake > deadline) {
					if (now >= deadline)
						return total;
					wake = deadline;
				}
				ts.tv_sec = (time_t)(wake / 1000000000ull);
				ts.tv_nsec = (long)(wake % 1000000000ull);
				while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) ==
				       EINTR)
					;
				s->st[MCR_UDP_TX_SLEEPS]++;
				continue;
			}
			n = due - s->next;
			{
				uint64_t t = due_ns(s, s->next);
				if (now > t && now - t > s->st[MCR_UDP_TX_MAX_LAG_NS])
					s->st[MCR_UDP_TX_MAX_LAG_NS] = now - t;
			}
		} else {
			if (now >= deadline)
				return total;
			n = s->batch;
			if (s->count && s->count - s->next < n)
				n = s->count - s->next;
		}
		if (n > s->batch)
			n = s->batch;
		r = send_batch(s, (uint32_t)n);
		if (r < 0)
			return total > 0 ? total : r;
		total += r;
		if (now >= deadline)
			return total;
	}
}

MCR_API int mcr_udp_sender_stats(const struct mcr_udp_sender *s, uint64_t *out, uint32_t n)
{
	if (!s || !out)
		return -EINVAL;
	if (n > MCR_UDP_TX__COUNT)
		n = MCR_UDP_TX__COUNT;
	memcpy(out, s->st, n * sizeof(uint64_t));
	return (int)n;
}

/* The next sequence number of each destination (= packets handled per destination). */
MCR_API int mcr_udp_sender_seq(const struct mcr_udp_sender *s, uint64_t *out, uint32_t n)
{
	if (!s || !out)
		return -EINVAL;
	if (n > s->n_dests)
		n = s->n_dests;
	memcpy(out, s->seq, n * sizeof(uint64_t));
	return (int)n;
}

/* ---- receiver ---- */

struct udp_rx_sock {
	int fd;
	uint16_t port;
	uint32_t drops; /* SO_RXQ_OVFL: the socket's drop counter, as last reported */
	int rcvbuf;
};

struct mcr_udp_receiver {
	uint32_t n_entries;
	struct mcr_udp_addr *entries;
	uint32_t n_socks;
	struct udp_rx_sock socks[UDP_RX_MAX_SOCKS];
	uint32_t rr; /* the socket to start with next time */
	uint8_t *bufs; /* UDP_RX_VLEN x UDP_RX_BUF */
	struct mmsghdr msgs[UDP_RX_VLEN];
	struct iovec iov[UDP_RX_VLEN];
	uint8_t ctl[UDP_RX_VLEN][256];
	uint64_t st[MCR_UDP_RX__COUNT];
};

static int rx_sock_open(struct mcr_udp_receiver *r, uint16_t port, int ifindex, uint32_t rcvbuf)
{
	struct udp_rx_sock *k = &r->socks[r->n_socks];
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port) };
	uint32_t n_here = 0, bind_addr = 0;
	socklen_t sl = sizeof(k->rcvbuf);
	int fd, ret;

	for (uint32_t i = 0; i < r->n_entries; i++) {
		if (r->entries[i].port != port)
			continue;
		n_here++;
		bind_addr = r->entries[i].addr;
	}
	/* one entry on this port: bind to its address (the group, or the local address), so the socket
	 * sees nothing else; several: bind the wildcard and tell them apart by IP_PKTINFO */
	sa.sin_addr.s_addr = n_here == 1 ? bind_addr : 0;

	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	if ((ret = set_int(fd, SOL_SOCKET, SO_REUSEADDR, 1)) < 0 ||
	    (ret = set_int(fd, IPPROTO_IP, IP_PKTINFO, 1)) < 0 ||
	    (ret = set_int(fd, SOL_SOCKET, SO_TIMESTAMPNS, 1)) < 0 ||
	    (ret = set_int(fd, SOL_SOCKET, SO_RXQ_OVFL, 1)) < 0)
		goto fail;
	(void)set_int(fd, IPPROTO_IP, IP_MULTICAST_ALL, 0); /* only the groups joined here */
	if (rcvbuf && set_int(fd, SOL_SOCKET, SO_RCVBUFFORCE, (int)rcvbuf) < 0)
		(void)set_int(fd, SOL_SOCKET, SO_RCVBUF,
			      (int)rcvbuf); /* capped by net.core.rmem_max */
	if (getsockopt(fd, SOL_SOCKET, SO_RCVBUF, &k->rcvbuf, &sl) < 0)
		k->rcvbuf = 0;
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		ret = -errno;
		goto fail;
	}
	for (uint32_t i = 0; i < r->n_entries; i++) {
		struct ip_mreqn m = { .imr_ifindex = ifindex };
		if (r->entries[i].port != port || !IN_MULTICAST(ntohl(r->entries[i].addr)))
			continue;
		m.imr_multiaddr.s_addr = r->entries[i].addr;
		if (setsockopt(fd, IPPROTO_IP, IP_ADD_MEMBERSHIP, &m, sizeof(m)) < 0) {
			ret = -errno;
			goto fail;
		}
	}
	k->fd = fd;
	k->port = port;
	r->n_socks++;
	return 0;
fail:
	close(fd);
	return ret;
}

MCR_API int mcr_udp_open_receiver(const struct mcr_udp_addr *entries, uint32_t n_entries,
				  int ifindex, uint32_t rcvbuf, struct mcr_udp_receiver **out)
{
	struct mcr_udp_receiver *r;
	int ret;

	if (!entries || !out || n_entries == 0 || n_entries > 65535)
		return -EINVAL;
	pattern_init();
	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	for (uint32_t i = 0; i < UDP_RX_MAX_SOCKS; i++)
		r->socks[i].fd = -1;
	r->n_entries = n_entries;
	r->entries = calloc(n_entries, sizeof(*entries));
	r->bufs = malloc((size_t)UDP_RX_VLEN * UDP_RX_BUF);
	if (!r->entries || !r->bufs) {
		ret = -ENOMEM;
		goto fail;
	}
	memcpy(r->entries, entries, n_entries * sizeof(*entries));
	for (uint32_t i = 0; i < n_entries; i++) {
		uint16_t port = entries[i].port;
		int seen = 0;
		if (port == 0) {
			ret = -EINVAL;
			goto fail;
		}
		for (uint32_t j = 0; j < r->n_socks; j++)
			seen |= r->socks[j].port == port;
		if (seen)
			continue;
		if (r->n_socks == UDP_RX_MAX_SOCKS) {
			ret = -E2BIG;
			goto fail;
		}
		if ((ret = rx_sock_open(r, port, ifindex, rcvbuf)) < 0)
			goto fail;
	}
	for (uint32_t i = 0; i < UDP_RX_VLEN; i++) {
		r->iov[i].iov_base = r->bufs + (size_t)i * UDP_RX_BUF;
		r->iov[i].iov_len = UDP_RX_BUF;
	}
	*out = r;
	return 0;
fail:
	mcr_udp_receiver_close(r);
	return ret;
}

MCR_API void mcr_udp_receiver_close(struct mcr_udp_receiver *r)
{
	if (!r)
		return;
	for (uint32_t i = 0; i < UDP_RX_MAX_SOCKS; i++)
		if (r->socks[i].fd >= 0)
			close(r->socks[i].fd);
	free(r->entries);
	free(r->bufs);
	free(r);
}

/* Which entry a datagram to (dst, port) belongs to: the exact group or address, else a wildcard
 * (0.0.0.0) entry on the port, else 0xffff. */
static uint16_t entry_of(const struct mcr_udp_receiver *r, uint32_t dst, uint16_t port)
{
	uint32_t any = 0xffff;
	for (uint32_t i = 0; i < r->n_entries; i++) {
		if (r->entries[i].port != port)
			continue;
		if (r->entries[i].addr == dst)
			return (uint16_t)i;
		if (r->entries[i].addr == 0 && any == 0xffff)
			any = i;
	}
	return (uint16_t)any;
}

static void parse_one(const struct mcr_udp_receiver *r, const struct udp_rx_sock *k,
		      struct mmsghdr *m, struct mcr_udp_record *rec, uint64_t now_rt,
		      struct udp_rx_sock *kw)
{
	const uint8_t *p = m->msg_hdr.msg_iov->iov_base;
	uint32_t len = m->msg_len;
	uint64_t rx_ns = 0, tx_ns, seq;
	uint32_t dst = 0, claimed;
	uint16_t hlen;
	struct cmsghdr *c;

	for (c = CMSG_FIRSTHDR(&m->msg_hdr); c; c = CMSG_NXTHDR(&m->msg_hdr, c)) {
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_TIMESTAMPNS) {
			struct timespec ts;
			memcpy(&ts, CMSG_DATA(c), sizeof(ts));
			rx_ns = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
		} else if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SO_RXQ_OVFL) {
			memcpy(&kw->drops, CMSG_DATA(c), sizeof(uint32_t));
		} else if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO) {
			struct in_pktinfo pi;
			memcpy(&pi, CMSG_DATA(c), sizeof(pi));
			dst = pi.ipi_addr.s_addr;
		}
	}
	memset(rec, 0, sizeof(*rec));
	rec->length = len;
	rec->entry = r->n_socks == 1 && r->n_entries == 1 ? 0 : entry_of(r, dst, k->port);
	if (rx_ns)
		rec->flags |= MCR_UDP_REC_KERNEL_TS;
	else
		rx_ns = now_rt;

	if (len < MCR_UDP_HDR_LEN || get_be32(p) != MCR_UDP_MAGIC) {
		rec->status = MCR_UDP_FOREIGN;
		return;
	}
	hlen = get_be16(p + 6);
	if (hlen < MCR_UDP_HDR_LEN) {
		rec->status = MCR_UDP_FOREIGN;
		return;
	}
	seq = get_be64(p + 8);
	tx_ns = get_be64(p + 16);
	claimed = get_be32(p + 28);
	rec->stream = get_be16(p + 4);
	rec->seq = (double)seq;
	rec->run_id = get_be32(p + 24);
	rec->latency_ns = (double)(int64_t)(rx_ns - tx_ns);
	if ((m->msg_hdr.msg_flags & MSG_TRUNC) || claimed != len || hlen > len) {
		rec->status = MCR_UDP_TRUNCATED;
		return;
	}
	if (memcmp(p + hlen, pattern + ((seq + hlen) & 0xff), len - hlen) != 0) {
		rec->status = MCR_UDP_CORRUPT;
		return;
	}
	rec->status = MCR_UDP_OK;
}

/* Drains one socket into recs: returns the records written, or -errno. */
static int drain(struct mcr_udp_receiver *r, struct udp_rx_sock *k, struct mcr_udp_record *recs,
		 uint32_t max)
{
	uint32_t got = 0;

	while (got < max) {
		uint32_t vlen = max - got < UDP_RX_VLEN ? max - got : UDP_RX_VLEN;
		uint64_t now_rt;
		int n;

		for (uint32_t i = 0; i < vlen; i++) {
			struct msghdr *h = &r->msgs[i].msg_hdr;
			h->msg_name = NULL;
			h->msg_namelen = 0;
			h->msg_iov = &r->iov[i];
			h->msg_iovlen = 1;
			h->msg_control = r->ctl[i];
			h->msg_controllen = sizeof(r->ctl[i]);
			h->msg_flags = 0;
		}
		n = recvmmsg(k->fd, r->msgs, vlen, MSG_DONTWAIT, NULL);
		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			if (errno == EINTR)
				continue;
			return got > 0 ? (int)got : -errno;
		}
		if (n == 0)
			break;
		now_rt = clock_ns(CLOCK_REALTIME);
		r->st[MCR_UDP_RX_SYSCALLS]++;
		for (int i = 0; i < n; i++) {
			parse_one(r, k, &r->msgs[i], &recs[got + (uint32_t)i], now_rt, k);
			r->st[MCR_UDP_RX_BYTES] += r->msgs[i].msg_len;
		}
		r->st[MCR_UDP_RX_DATAGRAMS] += (uint64_t)n;
		got += (uint32_t)n;
		if ((uint32_t)n < vlen)
			break; /* drained */
	}
	return (int)got;
}

MCR_API int mcr_udp_recv_batch(struct mcr_udp_receiver *r, struct mcr_udp_record *recs,
			       uint32_t max, int timeout_ms)
{
	struct pollfd pfd[UDP_RX_MAX_SOCKS];
	uint32_t got = 0;

	if (!r || !recs || max == 0)
		return -EINVAL;
	for (int pass = 0; pass < 2; pass++) {
		for (uint32_t j = 0; j < r->n_socks && got < max; j++) {
			struct udp_rx_sock *k = &r->socks[(r->rr + j) % r->n_socks];
			int n = drain(r, k, recs + got, max - got);
			if (n < 0)
				return got > 0 ? (int)got : n;
			got += (uint32_t)n;
		}
		r->rr = r->n_socks ? (r->rr + 1) % r->n_socks : 0;
		if (got > 0 || timeout_ms == 0 || pass == 1)
			break;
		for (uint32_t j = 0; j < r->n_socks; j++) {
			pfd[j].fd = r->socks[j].fd;
			pfd[j].events = POLLIN;
			pfd[j].revents = 0;
		}
		r->st[MCR_UDP_RX_WAITS]++;
		if (poll(pfd, r->n_socks, timeout_ms) < 0 && errno != EINTR)
			return -errno;
	}
	return (int)got;
}

MCR_API int mcr_udp_receiver_stats(const struct mcr_udp_receiver *r, uint64_t *out, uint32_t n)
{
	uint64_t st[MCR_UDP_RX__COUNT];
	uint64_t drops = 0, rcvbuf = 0;

	if (!r || !out)
		return -EINVAL;
	memcpy(st, r->st, sizeof(st));
	for (uint32_t i = 0; i < r->n_socks; i++) {
		drops += r->socks[i].drops;
		if (!rcvbuf || (uint64_t)r->socks[i].rcvbuf < rcvbuf)
			rcvbuf = (uint64_t)r->socks[i].rcvbuf;
	}
	st[MCR_UDP_RX_SOCKET_DROPS] = drops;
	st[MCR_UDP_RX_RCVBUF] = rcvbuf;
	st[MCR_UDP_RX_SOCKETS] = r->n_socks;
	if (n > MCR_UDP_RX__COUNT)
		n = MCR_UDP_RX__COUNT;
	memcpy(out, st, n * sizeof(uint64_t));
	return (int)n;
}
