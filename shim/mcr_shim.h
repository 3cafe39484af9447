/* SPDX-License-Identifier: MIT */
/* mcr shim: the C half of the data plane, loaded by src/native/shim.ts through bun:ffi.
 *
 * Conventions (liburing's): every function returns 0 (or a count) on success and -errno on
 * failure; nothing here prints or exits. Outputs go into memory the caller owns. No 64-bit
 * return values (they would reach JavaScript as BigInt). */
#ifndef MCR_SHIM_H
#define MCR_SHIM_H

#include <stdint.h>

/* The version of everything libmcr_shim.so shares with TypeScript (the functions of this header
 * and of tools/mcr_tools.h, and the layouts that shim/abi.c asserts). Bump it on any change;
 * src/native/abi.ts holds the same number and src/native/shim.ts refuses a library with another. */
#define MCR_SHIM_ABI 12

/* MCR_SHIM_ABI of the library loaded. */
int mcr_abi_version(void);

/* Drop reasons; src/native/abi.ts lists the same names in the same order. */
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
	MCR_DROP_UDP_CHECKSUM,
	MCR_DROP_TTL_EXPIRED, /* ttl=-1 output, datagram arrived with TTL 1 (per output copy) */
	MCR_DROP_RATE_LIMITED, /* over the output's rate=/burst= (per output copy) */
	MCR_DROP_LOOP, /* a link-local frame of this relay's own (its MAC or address) back on input */
	MCR_DROP_IP6_TRUNCATED, /* fewer than 40 bytes of IPv6 header */
	MCR_DROP_IP6_LENGTH, /* payload length 0 (jumbogram) or beyond the frame */
	MCR_DROP_IP6_EXT, /* an extension header cut short, out of place, or too many of them */
	MCR_DROP_WORKER_DIED, /* queued by a worker that died before submitting its send (per copy) */
	MCR_DROP_NOT_RTP, /* on a leg of an rtp merge: no RTP version 2 header */
	MCR_DROP__COUNT
};

/* Worker-wide counters: uint64 each, in this order (src/native/abi.ts COUNTER; read in place). */
enum mcr_counter {
	MCR_C_RX_FRAMES,
	MCR_C_RX_BYTES,
	MCR_C_BATCHES,
	MCR_C_RING_PACKETS, /* PACKET_STATISTICS tp_packets, accumulated (the kernel resets on read) */
	MCR_C_RING_DROPS, /* PACKET_STATISTICS tp_drops, accumulated */
	MCR_C_TX_PACKETS,
	MCR_C_TX_BYTES,
	MCR_C_TX_ERRORS,
	/* Frames of another host (PACKET_OTHERHOST) or of a VLAN no rule asks for that reached the
	 * ring although the input's filter turns them away (a filter coarsened past the kernel's size
	 * limit): not input, so neither in rx_frames nor a drop; 0 in normal operation. */
	MCR_C_RX_FOREIGN,
	MCR_C_WAKEUPS, /* returns from a poll(2) that was allowed to sleep (timeouts included) */
	MCR_C_SPINS, /* adaptive mode: spins after a batch (watching the rings instead of sleeping) */
	MCR_C_SPIN_HITS, /* spins that found frames: each a wakeup saved */
	MCR_C_HEARTBEAT, /* bumped on every turn of mcr_worker_poll's loop: it stops if the worker does */
	MCR_C_DROPS, /* MCR_DROP__COUNT counters follow from here: they stay last */
	MCR_C__COUNT = MCR_C_DROPS + MCR_DROP__COUNT
};

/* A parsed frame: addresses in 16 bytes (IPv4 as IPv4-mapped ::ffff:a.b.c.d), network order;
 * the rest in host order. */
struct mcr_frame_info {
	uint8_t group[16]; /* destination */
	uint8_t source[16];
	uint16_t port; /* destination UDP port */
	uint16_t sport; /* source UDP port */
	uint16_t payload_off;
	uint16_t payload_len;
	uint16_t ip_off; /* the IP header's offset in the frame */
	uint8_t family; /* 4 or 6 */
	uint8_t pad; /* 0 */
};

/* Rule table entries, written by TypeScript into a flat buffer (little-endian, packed as laid out).
 * Addresses are 16 bytes, network order, as mcr_frame_info's: IPv4 as IPv4-mapped ::ffff:a.b.c.d
 * (family 4, and then a source prefix counts the mapped prefix's 96 bits: 10.0.0.0/8 is 104). */
/* A rule with several sources is one entry per source, sharing outputs and counter slot. */
struct mcr_rule_entry {
	uint32_t in_ifindex;
	uint8_t group[16];
	uint8_t source[16]; /* no bits past source_len; with source_len 0 (96 for IPv4): any */
	uint16_t port; /* host order */
	uint16_t n_outputs;
	uint32_t first_output; /* index into the output table */
	uint32_t counter_slot; /* index into the rule counters (packets, bytes) */
	uint16_t vlan; /* 0: untagged frames only; 1..4094: frames tagged so */
	uint8_t source_len; /* prefix length 0..128 (IPv4: 96..128); the longest that matches wins */
	uint8_t family; /* 4 or 6: the group's */
	uint8_t flags; /* MCR_RULE_* */
	uint8_t leg; /* MCR_RULE_MERGE: which leg of the merge (0: the primary); else 0 */
	uint16_t merge; /* MCR_RULE_MERGE: index into the merge table (mcr_worker_merges_set) */
};

/* Bits of mcr_rule_entry.flags. */
/* A leg of a merge rule: its frames go to the merge engine, which sends one stream to the
 * entry's outputs (every leg of a merge names the same ones). Such entries are read only on
 * the worker's merge inputs (MCR_INPUT_MERGE), never on fanout inputs. */
#define MCR_RULE_MERGE 1

/* A merge rule: how its legs (entries with MCR_RULE_MERGE and this entry's index) become one
 * stream. */
#define MCR_MERGE_LEGS_MAX 4
/* The widest window in packets: its slots (twice the window, MCR_MERGE_SLOT_BYTES each) are
 * allocated with the table, 16 MiB at this one. */
#define MCR_MERGE_WINDOW_PACKETS_MAX 4096
enum mcr_merge_mode {
	MCR_MERGE_RTP = 1, /* per SSRC, the first copy of each sequence number, in sequence order */
	MCR_MERGE_FAILOVER = 2, /* one leg at a time: the first while it is live */
};

struct mcr_merge_entry {
	uint32_t counter_slot; /* index into the merge counters (MCR_MERGE_COUNTERS words each) */
	uint8_t mode; /* enum mcr_merge_mode */
	uint8_t n_legs; /* 2..MCR_MERGE_LEGS_MAX */
	uint16_t pad; /* 0 */
	uint32_t window_ms; /* rtp: the window in ms (1..60000), or 0 with window_packets */
	uint32_t window_packets; /* rtp: the window in packets (1..4096), or 0 with window_ms */
	uint32_t failover_ms; /* failover: silence (1..) after which the next live leg goes */
	uint32_t revert_ms; /* failover: how long the first leg is steady before it is back */
};

/* A merge's counters: MCR_MERGE_COUNTERS uint64 per merge slot, these for the rule, then
 * MCR_MERGE_LEGS_MAX x MCR_MERGE_LEG_COUNTERS for its legs. */
enum mcr_merge_counter {
	MCR_MC_OUT, /* packets sent on (each to every output) */
	MCR_MC_LOST, /* sequence numbers that no leg brought within the window */
	MCR_MC_SWITCHES, /* failover: changes of the leg forwarded */
	MCR_MC_ACTIVE, /* failover: the leg forwarded now (a gauge) */
	MCR_MC_HELD, /* rtp: packets held now, waiting for a hole to fill (a gauge) */
	MCR_MC_TOO_LARGE, /* rtp: had to wait and were longer than a slot: dropped */
	MCR_MC_RESTARTS, /* rtp: streams taken up anew (a new SSRC, a jump past the window) */
	MCR_MC__RULE = 8,
};
enum mcr_merge_leg_counter {
	MCR_ML_PACKETS, /* packets that came on the leg */
	MCR_ML_UNIQUE, /* of them, the copies that went out */
	MCR_ML_DUPLICATES, /* another leg's copy went out (failover: the leg was standing by) */
	MCR_ML_LATE, /* beyond the window, or after their hole was given up */
	MCR_ML_GAPS, /* sequence numbers missing on this leg */
	MCR_ML_NOT_RTP, /* rtp: no RTP version 2 header */
	MCR_ML_LAST_NS, /* CLOCK_MONOTONIC of its last packet, ns (0: none yet) */
	MCR_ML__COUNT = 8,
};
#define MCR_MERGE_COUNTERS (MCR_MC__RULE + MCR_MERGE_LEGS_MAX * MCR_ML__COUNT)

/* Bits of mcr_output_entry.flags. */
#define MCR_OUT_TTL_INPUT                                                                          \
	1 /* TTL (hop limit): the input's less one (ttl is then 0); 1 in: dropped */
#define MCR_OUT_DSCP_SET 2 /* DSCP: dscp; without it, the input's; ECN is always the input's */

struct mcr_output_entry {
	uint32_t ifindex;
	uint8_t source[16]; /* interface address to send from (the family's), network order */
	uint8_t dest[16]; /* group or host, network order; IPv4 as IPv4-mapped */
	uint16_t port; /* host order */
	uint8_t ttl; /* TTL or hop limit */
	uint8_t flags; /* MCR_OUT_* */
	uint32_t counter_slot; /* index into the output counters (packets, bytes, errors) */
	uint32_t rate; /* packets per second, 0: no limit */
	uint32_t burst; /* packets the bucket holds (rate != 0; at least 1) */
	uint8_t dscp; /* 0..63, with MCR_OUT_DSCP_SET (IPv6: the traffic class's upper six bits) */
	uint8_t family; /* 4 or 6: dest's and source's */
	/* With rate: 1 + the index of the output's bucket among those of mcr_worker_buckets_set,
	 * shared by every worker that sends on it; 0: a bucket of this worker's own. */
	uint16_t bucket;
};

struct mcr_worker;

/* Frame parsing, exported for tests and the benchmark. Returns 0 when the frame is a well-formed
 * Ethernet[/802.1Q]/IPv4/UDP or IPv6[/extension headers]/UDP datagram, else 1 + enum mcr_drop. */
int mcr_frame_parse(const uint8_t *frame, uint32_t len, struct mcr_frame_info *out);

/* Counter memory: MCR_C__COUNT worker-wide counters, then rule_slots x (packets, bytes), then
 * output_slots x (packets, bytes, errors), then the send journal (MCR_JOURNAL_LEN entries: the
 * datagrams queued and not yet counted, which a worker's successor counts if it died with
 * them); uint64 each. */
#define MCR_JOURNAL_LEN 4096
/* A journal entry: in use (VALID), its send submitted to the kernel (SUBMITTED; a signal takes
 * effect only when a system call returns, so such a send was made), the output's counter slot
 * (bits SLOT_SHIFT..SLOT_SHIFT+31) and the payload's length (bits 0..15). Whoever reads the
 * counters of a worker that died counts VALID entries: SUBMITTED as sent, the others as lost
 * (MCR_DROP_WORKER_DIED), each for its output. */
#define MCR_JOURNAL_VALID_BIT 63
#define MCR_JOURNAL_SUBMITTED_BIT 62
#define MCR_JOURNAL_SLOT_SHIFT 16
#define MCR_JOURNAL_VALID (1ull << MCR_JOURNAL_VALID_BIT)
#define MCR_JOURNAL_SUBMITTED (1ull << MCR_JOURNAL_SUBMITTED_BIT)
#define MCR_COUNTERS_LEN(rule_slots, output_slots)                                                 \
	((size_t)MCR_C__COUNT + (size_t)(rule_slots)*2 + (size_t)(output_slots)*3 + MCR_JOURNAL_LEN)

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
/* As fanout_id: a ring of the worker's own, in no fanout group, that takes the frames of the
 * table's merge legs (MCR_RULE_MERGE) on ifindex and nothing else: every leg of a merge must
 * meet in one worker, and the kernel picks a fanout member before that member's filter runs. */
#define MCR_INPUT_MERGE 0x20000
/* With MCR_INPUT_MERGE, exactly one of these (else -EINVAL): the legs of rtp merges, on a ring of
 * the worker's receive mode (mcr_worker_rx_mode_set); or those of failover merges, on a ring of
 * frames. */
#define MCR_INPUT_MERGE_RTP 0x40000
#define MCR_INPUT_MERGE_FAILOVER 0x80000
int mcr_worker_input_add(struct mcr_worker *w, int ifindex, int fanout_id);
/* The fanout group id the input is in (>= 0), or -ENOENT. */
int mcr_worker_input_fanout(struct mcr_worker *w, int slot);
int mcr_worker_input_remove(struct mcr_worker *w, int slot);
/* The ring bytes and frame size the input got (after shrink-and-retry), and its blocks' bytes
 * (0: a ring of frames). */
int mcr_worker_input_info(struct mcr_worker *w, int slot, uint32_t *ring_bytes,
			  uint32_t *frame_size, uint32_t *block_bytes);

/* Replaces the whole rule table between two batches. Opens egress sockets the new table needs and
 * closes those it no longer uses. An output whose socket the kernel refuses is installed as
 * failed (mcr_worker_output_errors says why; its datagrams count as send errors) and the rest of
 * the table works. On error (a malformed table) the old table stays in force. */
int mcr_worker_rules_set(struct mcr_worker *w, const struct mcr_rule_entry *rules, uint32_t n_rules,
			 const struct mcr_output_entry *outputs, uint32_t n_outputs);
/* The merges (n, at most 65536) that the next mcr_worker_rules_set installs, for the entries
 * with MCR_RULE_MERGE. A merge kept from the table in force (same counter slot, same settings)
 * keeps its state and held packets. Copied; -EINVAL for a malformed entry. */
int mcr_worker_merges_set(struct mcr_worker *w, const struct mcr_merge_entry *merges, uint32_t n);
/* Where merges count: slots x MCR_MERGE_COUNTERS uint64, caller-owned (zeroed), or NULL for the
 * worker's own. Before the first table with merges; a merge slot must be below slots. */
int mcr_worker_merge_counters(struct mcr_worker *w, uint64_t *counters, uint32_t slots);
/* The relay's own interface MACs (6 bytes each) and IPv4 addresses (network order), at most
 * MCR_OWN_MAX of each: a frame to a link-local group (224.0.0.0/24) that comes in from one of
 * them is the relay's own, come back (a segment that reflects it), and is dropped as LOOP rather
 * than relayed again. Replaces the previous set; n 0 clears it. -EINVAL past MCR_OWN_MAX. */
#define MCR_OWN_MAX 64
int mcr_worker_own_set(struct mcr_worker *w, const uint8_t *macs, uint32_t n_macs,
		       const uint32_t *addrs, uint32_t n_addrs);
/* The relay's own IPv6 addresses (16 bytes each, network order; link-local ones among them), at
 * most MCR_OWN_MAX: as mcr_worker_own_set's IPv4 ones, for frames to ff02::/16 (link-local scope)
 * groups. Replaces the previous set; n 0 clears it. */
int mcr_worker_own6_set(struct mcr_worker *w, const uint8_t *addrs, uint32_t n);
/* The rate limits' buckets, for the outputs whose entry names one (bucket = 1 + index): n of
 * them, MCR_BUCKET_WORDS uint64 apart, in memory the caller owns and keeps mapped for as long as
 * the worker lives; the supervisor shares it with every worker, so that an output's rate= holds
 * for the output whatever the workers its packets spread over. A bucket word of 0 is a full
 * bucket: zero it before handing it to a new output. Set it before a table that names buckets. */
#define MCR_BUCKET_WORDS 8 /* a cache line each: workers taking from two outputs do not collide */
int mcr_worker_buckets_set(struct mcr_worker *w, uint64_t *buckets, uint32_t n);
/* For each output of the installed table, in table order: 0, or the -errno it failed with.
 * Writes at most n; returns the table's output count. */
int mcr_worker_output_errors(struct mcr_worker *w, int32_t *errs, uint32_t n);

/* How the worker waits when its rings are empty. */
enum mcr_poll_mode {
	/* After a batch, watch the rings for a while (a budget that follows the stream) before
	 * sleeping in poll(2): no wakeup per frame under load, asleep when idle. The default. */
	MCR_POLL_ADAPTIVE,
	/* Never sleep while there is an input: for a core given to the worker. */
	MCR_POLL_BUSY,
	/* Sleep in poll(2) as soon as the rings are empty: a wakeup per frame at moderate rates. */
	MCR_POLL_SLEEP,
};

/* Sets the poll mode (enum mcr_poll_mode); -EINVAL for another value. */
int mcr_worker_poll_mode_set(struct mcr_worker *w, int mode);

/* How multicast outputs leave (unicast outputs, and datagrams larger than the egress MTU, always
 * go by their connected UDP socket, which routes, resolves neighbours and fragments). */
enum mcr_egress_mode {
	/* Whole frames written into a TPACKET_V2 transmit ring per interface, one send per batch.
	 * The default. */
	MCR_EGRESS_RING,
	/* One io_uring SENDMSG per frame on the interface's packet socket: the headers from the
	 * worker, the payload straight from the receive ring (no copy in user space), and an
	 * unfinished input checksum left to the device (PACKET_VNET_HDR, CHECKSUM_PARTIAL). */
	MCR_EGRESS_SENDMSG,
	/* One io_uring SENDMSG per datagram on the output's UDP socket: the kernel's IP output path
	 * (a route lookup per multicast datagram) builds the headers and the checksum. */
	MCR_EGRESS_SOCKET,
	/* As socket, with SENDMSG_ZC: the kernel sends from the receive ring's pages instead of a
	 * copy, and the frame goes back to the kernel when its notification came. */
	MCR_EGRESS_ZC,
	/* As sendmsg, and consecutive datagrams of one output that share size, ports, TOS and TTL
	 * and whose checksums may be made anew go as one send with UDP segmentation offload
	 * (VIRTIO_NET_HDR_GSO_UDP_L4): the device, or the kernel as late as it can, cuts them. */
	MCR_EGRESS_GSO,
};

/* Sets the egress mode (enum mcr_egress_mode) for the rule tables installed after it: -EINVAL
 * for another value, -EBUSY once a table is installed (set it first). */
int mcr_worker_egress_mode_set(struct mcr_worker *w, int mode);

/* How the receive rings hand frames over. */
enum mcr_rx_mode {
	/* TPACKET_V2: each frame is the worker's as soon as the kernel wrote it; the worker takes
	 * and gives back frame by frame. The lowest latency at every rate. The default. */
	MCR_RX_FRAMES,
	/* TPACKET_V3: frames are packed into blocks, and a block is the worker's when it is full
	 * or its retire timer fired (1 ms): the kernel's work for each frame is less (no frame
	 * status to read and write, a wakeup a block, not a frame), at the price of up to a
	 * millisecond's latency when the stream is slow. Merge inputs of
	 * failover legs (MCR_INPUT_MERGE) stay rings of frames: their legs are read in arrival
	 * order across rings, which blocks, handed over each on its own timer, do not keep. */
	MCR_RX_BLOCKS,
};

/* Sets the receive mode (enum mcr_rx_mode) for the inputs added after it: -EINVAL for another
 * value, -EBUSY once an input is open (set it first). */
int mcr_worker_rx_mode_set(struct mcr_worker *w, int mode);

/* Runs the data plane for up to budget_ms: batches of at most batch_max frames from every input,
 * waiting as the poll mode says when none are ready; it returns by budget_ms in every mode.
 * Returns the frames processed, or -ENETDOWN (nothing processed, an input reported an error) or
 * another -errno: io_uring failed with sends in flight, and from then on every call fails the
 * same way (the worker must be ended). */
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
int mcr_clock_monotonic(uint64_t *out); /* CLOCK_MONOTONIC, ns: the workers' clock */
int mcr_notify_send(const char *path,
		    const char *msg); /* one datagram to a unix socket (sd_notify) */
int mcr_file_lock(int fd); /* flock(LOCK_EX | LOCK_NB) */
/* membership.c: a socket joined to group (16 bytes, network order; IPv4 as IPv4-mapped) on ifindex,
 * from source only (16 bytes of the same family; NULL: any source): IGMPv3 or MLDv2,
 * MCAST_JOIN_GROUP / MCAST_JOIN_SOURCE_GROUP. Close it to leave. */
int mcr_membership_open(int ifindex, const uint8_t *group, const uint8_t *source);
/* Capabilities of the calling thread; keep is a mask of CAP_* bits below 32. */
int mcr_proc_caps_pass_only(uint32_t keep); /* none effective, keep passed to children (ambient) */
/* from root to uid/gid (+ extra_gid, UINT32_MAX: none), then pass_only */
int mcr_proc_switch_user(uint32_t uid, uint32_t gid, uint32_t extra_gid, uint32_t keep);
/* A UDP socket bound to addr:port (network order), never read (a drop-all filter): holds the port
 * of a unicast input. The socket, or -errno (-EADDRINUSE: another socket has it). */
int mcr_port_hold(uint32_t addr, uint16_t port);
/* The same for an IPv6 address (16 bytes, network order); scope: the interface index a link-local
 * address is on, 0 for any other. */
int mcr_port_hold6(const uint8_t *addr, uint32_t scope, uint16_t port);

#endif
