/* mcr shim: the C half of the data plane, loaded by src/native/shim.ts through bun:ffi.
 *
 * Conventions (liburing's): every function returns 0 (or a count) on success and -errno on
 * failure; nothing here prints or exits. Outputs go into memory the caller owns. No 64-bit
 * return values (they would reach JavaScript as BigInt). */
#ifndef MCR_SHIM_H
#define MCR_SHIM_H

#include <stdint.h>

#define MCR_SHIM_ABI 1

/* Drop reasons; src/stats/reasons.ts lists the same names in the same order. */
enum mcr_drop {
	MCR_DROP_RUNT,
	MCR_DROP_VLAN_TRUNCATED,
	MCR_DROP_VLAN_NESTED,
	MCR_DROP_NOT_IPV4,
	MCR_DROP_IP_TRUNCATED,
	MCR_DROP_IP_VERSION,
	MCR_DROP_IP_IHL,
	MCR_DROP_IP_OPTIONS,
	MCR_DROP_IP_CHECKSUM,
	MCR_DROP_IP_LENGTH,
	MCR_DROP_IP_FRAGMENT,
	MCR_DROP_NOT_UDP,
	MCR_DROP_UDP_TRUNCATED,
	MCR_DROP_UDP_LENGTH,
	MCR_DROP_FRAME_TRUNCATED,
	MCR_DROP_NO_RULE,
	MCR_DROP_SEND_ERROR,
	MCR_DROP_EGRESS_FULL,
	MCR_DROP__COUNT
};

/* Worker-wide counters: uint64 each, in this order (src/native/shim.ts reads them in place). */
enum mcr_counter {
	MCR_C_RX_FRAMES,
	MCR_C_RX_BYTES,
	MCR_C_BATCHES,
	MCR_C_RING_PACKETS, /* PACKET_STATISTICS tp_packets, accumulated (the kernel resets on read) */
	MCR_C_RING_DROPS, /* PACKET_STATISTICS tp_drops, accumulated */
	MCR_C_TX_PACKETS,
	MCR_C_TX_BYTES,
	MCR_C_TX_ERRORS,
	MCR_C_HEARTBEAT, /* bumped on every turn of mcr_worker_poll's loop: it stops if the worker does */
	MCR_C_DROPS, /* MCR_DROP__COUNT counters follow from here */
	MCR_C__COUNT = MCR_C_DROPS + MCR_DROP__COUNT
};

/* A parsed frame: offsets into the frame, in host order. */
struct mcr_frame_info {
	uint32_t group; /* destination IPv4, network order */
	uint32_t source; /* source IPv4, network order */
	uint16_t port; /* destination UDP port, host order */
	uint16_t sport; /* source UDP port, host order */
	uint16_t payload_off;
	uint16_t payload_len;
};

/* Rule table entries, written by TypeScript into a flat buffer (little-endian, packed as laid out). */
struct mcr_rule_entry {
	uint32_t in_ifindex;
	uint32_t group; /* network order */
	uint16_t port; /* host order */
	uint16_t n_outputs;
	uint32_t first_output; /* index into the output table */
	uint32_t counter_slot; /* index into the rule counters (packets, bytes) */
};

struct mcr_output_entry {
	uint32_t ifindex;
	uint32_t source; /* interface IPv4 to send from, network order */
	uint32_t dest; /* group or host, network order */
	uint16_t port; /* host order */
	uint8_t ttl;
	uint8_t flags; /* reserved, 0 */
	uint32_t counter_slot; /* index into the output counters (packets, bytes, errors) */
};

struct mcr_worker;

/* Frame parsing, exported for tests and the benchmark. Returns 0 when the frame is a well-formed
 * Ethernet[/802.1Q]/IPv4/UDP datagram, else 1 + enum mcr_drop. */
int mcr_frame_parse(const uint8_t *frame, uint32_t len, struct mcr_frame_info *out);

/* Counter memory: MCR_C__COUNT worker-wide counters, then rule_slots x (packets, bytes), then
 * output_slots x (packets, bytes, errors); uint64 each. */
#define MCR_COUNTERS_LEN(rule_slots, output_slots)                                                 \
	((size_t)MCR_C__COUNT + (size_t)(rule_slots)*2 + (size_t)(output_slots)*3)

/* Worker: the receive rings, the rule table, the egress sockets, one io_uring.
 * rule_slots/output_slots size the per-rule and per-output counter arrays. counters: caller-owned
 * memory of MCR_COUNTERS_LEN uint64 (zeroed), for instance shared with the supervisor; NULL to
 * have the worker allocate its own. ring_bytes: each receive ring's size, at most just under
 * 4 GiB (larger asks get that). */
int mcr_worker_new(uint32_t rule_slots, uint32_t output_slots, uint64_t ring_bytes,
		   uint64_t *counters, struct mcr_worker **out);
void mcr_worker_free(struct mcr_worker *w);

/* Opens an AF_PACKET TPACKET_V2 ring on ifindex and joins PACKET_FANOUT group fanout_id (hash mode,
 * so a flow stays on one worker; -1: none), or with MCR_FANOUT_NEW makes a group with an id no
 * group in the network namespace has (mcr_worker_input_fanout reads it, for the other workers to
 * join). Returns the input's slot (>= 0). */
#define MCR_FANOUT_NEW 0x10000
int mcr_worker_input_add(struct mcr_worker *w, int ifindex, int fanout_id);
/* The fanout group id the input is in (>= 0), or -ENOENT. */
int mcr_worker_input_fanout(struct mcr_worker *w, int slot);
int mcr_worker_input_remove(struct mcr_worker *w, int slot);
/* The ring bytes and frame size the input got (after shrink-and-retry). */
int mcr_worker_input_info(struct mcr_worker *w, int slot, uint32_t *ring_bytes,
			  uint32_t *frame_size);

/* Replaces the whole rule table between two batches. Opens egress sockets the new table needs and
 * closes those it no longer uses. An output whose socket the kernel refuses is installed as
 * failed (mcr_worker_output_errors says why; its datagrams count as send errors) and the rest of
 * the table works. On error (a malformed table) the old table stays in force. */
int mcr_worker_rules_set(struct mcr_worker *w, const struct mcr_rule_entry *rules, uint32_t n_rules,
			 const struct mcr_output_entry *outputs, uint32_t n_outputs);
/* For each output of the installed table, in table order: 0, or the -errno it failed with.
 * Writes at most n; returns the table's output count. */
int mcr_worker_output_errors(struct mcr_worker *w, int32_t *errs, uint32_t n);

/* Runs the data plane for up to budget_ms: batches of at most batch_max frames from every input,
 * waiting in poll(2) when none are ready. Returns the frames processed, or -ENETDOWN (nothing
 * processed, an input reported an error) or another -errno: io_uring failed with sends in
 * flight, and from then on every call fails the same way (the worker must be ended). */
int mcr_worker_poll(struct mcr_worker *w, int budget_ms, int batch_max);

/* Reads PACKET_STATISTICS of every input and adds it to the counters. */
int mcr_worker_ring_stats(struct mcr_worker *w);
/* Reads each egress interface's MTU again (it may have changed since its ring was opened). */
int mcr_worker_egress_check(struct mcr_worker *w);

/* MCR_C__COUNT: the TypeScript side checks it counts the same worker-wide counters. */
int mcr_worker_counter_count(void);

/* Process helpers. */
int mcr_affinity_pin(int cpu); /* pins every thread of the process to cpu */
int mcr_proc_parent_death(int signo); /* PR_SET_PDEATHSIG */
int mcr_notify_send(const char *path,
		    const char *msg); /* one datagram to a unix socket (sd_notify) */

/* ---- udp_tool.c: traffic tools (gen, sink) ---- */

/* The generator's payload header (big-endian; src/tools/payload.ts is the reference):
 *   0 u32 magic "MCR1"   4 u16 stream (destination index)   6 u16 header length (32)
 *   8 u64 sequence       16 u64 send time, CLOCK_REALTIME ns  24 u32 run id (per gen process)
 *   28 u32 payload length (header included)
 * then filler: byte i of the payload (i >= header length) is (seq + i) & 0xff. */
#define MCR_UDP_MAGIC 0x4D435231u
#define MCR_UDP_HDR_LEN 32u
#define MCR_UDP_MAX_DESTS 1024u /* gen: one connected socket each */

/* An IPv4 address and port: a destination (gen), or a group / local address to listen on (sink;
 * addr 0 = any local address). */
struct mcr_udp_addr {
	uint32_t addr; /* network order */
	uint16_t port; /* host order */
	uint16_t reserved;
};

/* One received datagram, as mcr_udp_recv_batch writes it (32 bytes). */
struct mcr_udp_record {
	double seq; /* exact below 2^53 */
	double latency_ns; /* receive time - send time: the kernel's SO_TIMESTAMPNS, else the time
			    * recvmmsg returned (flags); both CLOCK_REALTIME */
	uint32_t run_id;
	uint16_t stream;
	uint16_t entry; /* index of the listen entry it arrived for; 0xffff: none matched */
	uint32_t length; /* bytes received */
	uint8_t status; /* enum mcr_udp_status */
	uint8_t flags; /* MCR_UDP_REC_* */
	uint16_t reserved;
};

enum mcr_udp_status {
	MCR_UDP_OK, /* header and filler check out */
	MCR_UDP_FOREIGN, /* not a gen payload: too short, wrong magic or header length */
	MCR_UDP_CORRUPT, /* header fine, filler differs */
	MCR_UDP_TRUNCATED, /* shorter (or longer) than the header says */
};

#define MCR_UDP_REC_KERNEL_TS 1u

/* Sender counters (uint64 each, mcr_udp_sender_stats). */
enum mcr_udp_tx_stat {
	MCR_UDP_TX_PACKETS,
	MCR_UDP_TX_BYTES,
	MCR_UDP_TX_ERRORS, /* packets that sendmmsg refused (their sequence numbers are skipped) */
	MCR_UDP_TX_LAST_ERRNO,
	MCR_UDP_TX_SYSCALLS,
	MCR_UDP_TX_BATCHES,
	MCR_UDP_TX_SLEEPS,
	MCR_UDP_TX_MAX_LAG_NS, /* the furthest a batch started behind its first packet's due time */
	MCR_UDP_TX_FIRST_NS, /* CLOCK_REALTIME when the first batch was stamped */
	MCR_UDP_TX_LAST_NS, /* CLOCK_REALTIME when the last sendmmsg returned */
	MCR_UDP_TX__COUNT
};

/* Receiver counters (uint64 each, mcr_udp_receiver_stats). */
enum mcr_udp_rx_stat {
	MCR_UDP_RX_DATAGRAMS,
	MCR_UDP_RX_BYTES,
	MCR_UDP_RX_SYSCALLS,
	MCR_UDP_RX_WAITS, /* poll() calls */
	MCR_UDP_RX_SOCKET_DROPS, /* the sockets' own drop counters (SO_RXQ_OVFL), summed */
	MCR_UDP_RX_RCVBUF, /* the smallest SO_RCVBUF the sockets got */
	MCR_UDP_RX_SOCKETS,
	MCR_UDP_RX__COUNT
};

struct mcr_udp_sender;
struct mcr_udp_receiver;

/* UDP sockets, one connected to each of dests, sent to round-robin. source/source_port: bind address (0: none);
 * ifindex: multicast egress interface (0: the routing table's); ttl 0: the kernel's default;
 * size: payload bytes (>= MCR_UDP_HDR_LEN); batch: packets per sendmmsg at most (<= 256);
 * flags: MCR_UDP_TX_LOOP to loop multicast back to this host's own sockets (IP_MULTICAST_LOOP);
 * MCR_UDP_TX_PACKET to build Ethernet/IPv4/UDP frames and send them on an AF_PACKET socket on
 * ifindex, past the IP stack and the qdisc (multicast destinations on a non-loopback interface
 * only: -EOPNOTSUPP otherwise;
 * the source address is the interface's unless given; -EMSGSIZE if size does not fit the MTU). */
#define MCR_UDP_TX_LOOP 1u
#define MCR_UDP_TX_PACKET 2u /* build frames, send on AF_PACKET (multicast only; needs ifindex) */
int mcr_udp_open_sender(const struct mcr_udp_addr *dests, uint32_t n_dests, uint32_t source,
			uint16_t source_port, int ifindex, int ttl, uint32_t size, uint32_t run_id,
			uint32_t batch, uint32_t flags, struct mcr_udp_sender **out);
void mcr_udp_sender_close(struct mcr_udp_sender *s);
/* Starts the schedule now: packet i is due at start + i / rate; rate 0: as fast as possible.
 * count: packets to send in all, 0 = no limit (doubles: exact below 2^53). tick_us: the shortest
 * sleep between batches (0: wake for each packet); packets that fall due meanwhile go out together,
 * so it trades wake-ups (CPU) against burst length, never against the average rate. */
int mcr_udp_sender_start(struct mcr_udp_sender *s, double rate, double count, uint32_t tick_us);
/* Sends what the schedule says is due, sleeping in between, for about budget_ms (then returns, so
 * the caller's event loop runs). Packets that are overdue go out together, up to batch per
 * sendmmsg; the schedule never shifts. Returns the packets handled (sent or failed) or -errno. */
int mcr_udp_send_run(struct mcr_udp_sender *s, int budget_ms);
int mcr_udp_sender_stats(const struct mcr_udp_sender *s, uint64_t *out, uint32_t n);
/* Next sequence number per destination: out[n_dests]. */
int mcr_udp_sender_seq(const struct mcr_udp_sender *s, uint64_t *out, uint32_t n);

/* Sockets (one per distinct port) that join the multicast entries on ifindex (0: the kernel's
 * choice) or listen on the unicast ones, with SO_RCVBUF(FORCE) rcvbuf bytes, kernel receive
 * timestamps and drop counters. */
int mcr_udp_open_receiver(const struct mcr_udp_addr *entries, uint32_t n_entries, int ifindex,
			  uint32_t rcvbuf, struct mcr_udp_receiver **out);
void mcr_udp_receiver_close(struct mcr_udp_receiver *r);
/* Drains the sockets with recvmmsg into up to max records; if nothing is there, waits up to
 * timeout_ms (0: no wait, -1: forever) once. Returns the records written (0: timed out). */
int mcr_udp_recv_batch(struct mcr_udp_receiver *r, struct mcr_udp_record *recs, uint32_t max,
		       int timeout_ms);
int mcr_udp_receiver_stats(const struct mcr_udp_receiver *r, uint64_t *out, uint32_t n);

#endif
