// The one file that imports bun:ffi. Everything else sees the shim through the plain
// TypeScript interfaces below: numbers, typed arrays, no pointers.
import { dlopen, FFIType, ptr, type Pointer } from "bun:ffi";
import { writeSync, closeSync } from "node:fs";
import {
  BUCKET_WORDS,
  countersLen,
  FRAME_INFO as FI,
  N_COUNTERS,
  POLL_MODES,
  type PollMode,
  EGRESS_MODES,
  type EgressMode,
  INGRESS_MODES,
  type IngressMode,
  SHIM_ABI,
  UDP_ADDR,
  UDP_RECORD,
  UDP_RX_STAT as RX,
  UDP_TX_FLAG,
  UDP_TX_STAT as TX,
} from "./abi.ts";
// Embedded in dist/mcr by `bun build --compile`; from source it is the built file's path.
import shimFile from "../../shim/build/libmcr_shim.so" with { type: "file" };

const { i32, u32, ptr: P, cstring, void: V } = FFIType;

const symbols = {
  mcr_abi_version: { args: [], returns: i32 },
  mcr_frame_parse: { args: [P, u32, P], returns: i32 },
  mcr_worker_new: { args: [u32, u32, FFIType.u64, P, P], returns: i32 },
  mcr_worker_counter_count: { args: [], returns: i32 },
  mcr_worker_free: { args: [P], returns: V },
  mcr_worker_input_add: { args: [P, i32, i32], returns: i32 },
  mcr_worker_input_remove: { args: [P, i32], returns: i32 },
  mcr_worker_input_info: { args: [P, i32, P, P, P], returns: i32 },
  mcr_worker_input_fanout: { args: [P, i32], returns: i32 },
  mcr_worker_rules_set: { args: [P, P, u32, P, u32], returns: i32 },
  mcr_worker_output_errors: { args: [P, P, u32], returns: i32 },
  mcr_worker_own_set: { args: [P, P, u32, P, u32], returns: i32 },
  mcr_worker_own6_set: { args: [P, P, u32], returns: i32 },
  mcr_worker_buckets_set: { args: [P, P, u32], returns: i32 },
  mcr_worker_merges_set: { args: [P, P, u32], returns: i32 },
  mcr_worker_merge_counters: { args: [P, P, u32], returns: i32 },
  mcr_worker_poll: { args: [P, i32, i32], returns: i32 },
  mcr_worker_poll_mode_set: { args: [P, i32], returns: i32 },
  mcr_worker_egress_mode_set: { args: [P, i32], returns: i32 },
  mcr_worker_rx_mode_set: { args: [P, i32], returns: i32 },
  mcr_worker_ring_stats: { args: [P], returns: i32 },
  mcr_worker_egress_check: { args: [P], returns: i32 },
  mcr_affinity_pin: { args: [i32], returns: i32 },
  mcr_proc_parent_death: { args: [i32], returns: i32 },
  mcr_clock_monotonic: { args: [P], returns: i32 },
  mcr_notify_send: { args: [cstring, cstring], returns: i32 },
  mcr_file_lock: { args: [i32], returns: i32 },
  mcr_membership_open: { args: [i32, P, P], returns: i32 },
  mcr_proc_caps_pass_only: { args: [u32], returns: i32 },
  mcr_proc_switch_user: { args: [u32, u32, u32, u32], returns: i32 },
  mcr_port_hold: { args: [u32, FFIType.u16], returns: i32 },
  mcr_port_hold6: { args: [P, u32, FFIType.u16], returns: i32 },
  // traffic tools (gen, sink): shim/tools/mcr_tools.h
  mcr_udp_sender_open: { args: [P, u32, P, FFIType.u16, i32, i32, u32, u32, u32, u32, P], returns: i32 },
  mcr_udp_sender_close: { args: [P], returns: V },
  mcr_udp_sender_start: { args: [P, FFIType.f64, FFIType.f64, u32], returns: i32 },
  mcr_udp_sender_send: { args: [P, i32], returns: i32 },
  mcr_udp_sender_stats: { args: [P, P, u32], returns: i32 },
  mcr_udp_sender_seq: { args: [P, P, u32], returns: i32 },
  mcr_udp_sender_legs: { args: [P, P, u32, u32, u32], returns: i32 },
  mcr_udp_sender_leg_stats: { args: [P, P, u32], returns: i32 },
  mcr_udp_receiver_open: { args: [P, u32, i32, u32, P], returns: i32 },
  mcr_udp_receiver_close: { args: [P], returns: V },
  mcr_udp_receiver_recv: { args: [P, P, u32, i32], returns: i32 },
  mcr_udp_receiver_stats: { args: [P, P, u32], returns: i32 },
} as const;

type Lib = ReturnType<typeof dlopen<typeof symbols>>["symbols"];
let lib: Lib | undefined;

const MFD_CLOEXEC = 1;

/**
 * Loads the shim from a memfd: Bun would otherwise unpack the embedded file into $TMPDIR, and a
 * noexec /tmp then refuses to map it. /proc/self/fd/N of a memfd is mappable everywhere.
 */
function load(): Lib {
  if (lib) return lib;
  const bytes = readEmbedded();
  const libc = dlopen("libc.so.6", {
    memfd_create: { args: [cstring, u32], returns: i32 },
  });
  const fd = libc.symbols.memfd_create(Buffer.from("mcr-shim\0"), MFD_CLOEXEC);
  if (fd < 0) throw new Error("memfd_create failed: cannot load the embedded shim");
  try {
    let off = 0;
    while (off < bytes.length) off += writeSync(fd, bytes, off, bytes.length - off);
    const opened = dlopen(`/proc/self/fd/${fd}`, symbols);
    try {
      checkAbi(opened.symbols.mcr_abi_version());
    } catch (e) {
      opened.close();
      throw e;
    }
    lib = opened.symbols;
  } finally {
    libc.close();
    closeSync(fd); // the mapping keeps the library alive
  }
  return lib;
}

/**
 * Refuses a shim built from other sources than this TypeScript: every layout in ./abi.ts would be
 * suspect. Both travel in one binary, so a mismatch means a stale shim/build or a mixed install.
 */
export function checkAbi(found: number, expected: number = SHIM_ABI): void {
  if (found !== expected)
    throw new Error(
      `the mcr shim has ABI version ${found}, this build of mcr expects ${expected}: ` +
        "rebuild both from one tree (make build)",
    );
}

/** Throws on use after close(): the handle's memory is freed, and the shim would read it. */
function guard(name: string): { live(): void; close(): boolean } {
  let closed = false;
  return {
    live() {
      if (closed) throw new Error(`${name} used after close()`);
    },
    close() {
      if (closed) return false;
      closed = true;
      return true;
    },
  };
}

function readEmbedded(): Uint8Array {
  // Bun.file on an embedded path reads from the binary itself; readFileSync works for both cases.
  return require("node:fs").readFileSync(shimFile) as Uint8Array;
}

/** The shim's functions, loaded on first use. They take raw pointers: never hand them out. */
function shim(): Lib {
  return load();
}

function check(ret: number, what: string): number {
  if (ret < 0) throw new ShimError(what, -ret);
  return ret;
}

export class ShimError extends Error {
  constructor(
    readonly what: string,
    readonly errno: number,
  ) {
    super(`${what}: ${errnoName(errno)}`);
    this.name = "ShimError";
  }
}

const ERRNO: Record<number, string> = {
  1: "EPERM (operation not permitted: packet sockets need CAP_NET_RAW; CAP_NET_ADMIN lets mcr raise buffer sizes)",
  2: "ENOENT (no such file or directory)",
  9: "EBADF (bad file descriptor)",
  12: "ENOMEM (out of memory: try a smaller --ring-mb)",
  13: "EACCES (permission denied)",
  16: "EBUSY (device or resource busy)",
  19: "ENODEV (no such device: is the interface there?)",
  22: "EINVAL (invalid argument)",
  24: "EMFILE (too many open files)",
  38: "ENOSYS (not supported by this kernel)",
  93: "EPROTONOSUPPORT (protocol not supported)",
  95: "EOPNOTSUPP (operation not supported)",
  97: "EAFNOSUPPORT (address family not supported)",
  99: "EADDRNOTAVAIL (address not available on this interface)",
  100: "ENETDOWN (network is down)",
  101: "ENETUNREACH (network unreachable)",
  105: "ENOBUFS (no buffer space)",
};

export function errnoName(errno: number): string {
  return ERRNO[errno] ?? `errno ${errno}`;
}

// ---- frame parsing (tests, benchmark) ----

export interface FrameInfo {
  family: 4 | 6;
  /** Dotted IPv4, or IPv6 as 8 groups of hex, uncompressed (src/values/ipv6.ts canonicalIPv6 shortens it). */
  group: string;
  source: string;
  port: number;
  sport: number;
  ipOffset: number;
  payloadOffset: number;
  payloadLength: number;
}

const parseOut = new Uint8Array(FI.BYTES);
const parseView = new DataView(parseOut.buffer);

/** Parses one frame with the shim's parser: FrameInfo, or the drop reason's index (enum mcr_drop). */
export function parseFrame(frame: Uint8Array): FrameInfo | { drop: number } {
  // ptr() refuses an empty array; the length still says 0.
  const r = shim().mcr_frame_parse(ptr(frame.length > 0 ? frame : parseOut), frame.length, ptr(parseOut));
  if (r !== 0) return { drop: r - 1 };
  const family = parseOut[FI.FAMILY] === 6 ? 6 : 4;
  const ip = (o: number) =>
    family === 4
      ? `${parseOut[o + 12]}.${parseOut[o + 13]}.${parseOut[o + 14]}.${parseOut[o + 15]}`
      : Array.from({ length: 8 }, (_, i) => parseView.getUint16(o + i * 2, false).toString(16)).join(":");
  return {
    family,
    group: ip(FI.GROUP),
    source: ip(FI.SOURCE),
    port: parseView.getUint16(FI.PORT, true),
    sport: parseView.getUint16(FI.SPORT, true),
    ipOffset: parseView.getUint16(FI.IP_OFF, true),
    payloadOffset: parseView.getUint16(FI.PAYLOAD_OFF, true),
    payloadLength: parseView.getUint16(FI.PAYLOAD_LEN, true),
  };
}

// ---- the worker's data plane ----

/** How many own MACs and addresses the shim keeps (MCR_OWN_MAX). */
export const OWN_MAX = 64;

export interface DataPlane {
  /** fanoutId: a group to join, -1 for none, FANOUT_NEW for a new one (inputFanout reads its id). */
  addInput(ifindex: number, fanoutId: number): number;
  /** The fanout group id the input's ring is in. */
  inputFanout(slot: number): number;
  removeInput(slot: number): void;
  /** blockBytes: 0 for a ring of frames. */
  inputInfo(slot: number): { ringBytes: number; frameSize: number; blockBytes: number };
  /**
   * rules: n x RULE_ENTRY.BYTES, outputs: n x OUTPUT_ENTRY.BYTES (./abi.ts; src/worker/table.ts).
   * Returns, for each output in table order, 0 or the errno it failed with: such an output alone
   * is out of service, the rest of the table is in.
   */
  setRules(rules: Uint8Array, nRules: number, outputs: Uint8Array, nOutputs: number): Int32Array;
  /** The merges (n x MERGE_ENTRY.BYTES) that the next setRules installs, for its merge-leg entries. */
  setMerges(merges: Uint8Array, n: number): void;
  /**
   * The relay's own MACs ("aa:bb:cc:dd:ee:ff"), IPv4 addresses and IPv6 ones (16 bytes each): a
   * link-local frame from one of them on an input is its own come back, dropped as `loop`. At most
   * OWN_MAX of each are kept.
   */
  setOwn(macs: readonly string[], addrs: readonly string[], addrs6: readonly Uint8Array[]): void;
  /**
   * The rate limits' shared buckets (BUCKET_WORDS words each; src/worker/buckets.ts), which the
   * outputs of later tables name by OUTPUT_ENTRY.BUCKET. The memory must outlive the data plane.
   */
  setBuckets(words: BigUint64Array): void;
  /** How poll() waits when the rings are empty (see PollMode); sleep until set. */
  setPollMode(mode: PollMode): void;
  /** How multicast outputs leave (see EgressMode); ring until set. Only before the first table. */
  setEgressMode(mode: EgressMode): void;
  /** How the receive rings hand frames over (see IngressMode); frames until set. Only before the first input. */
  setIngressMode(mode: IngressMode): void;
  /** Runs the data plane for up to budgetMs, in every mode; returns the frames processed. */
  poll(budgetMs: number, batchMax: number): number;
  /** Adds the kernel's ring statistics (PACKET_STATISTICS) to the counters. */
  ringStats(): void;
  /** Reads each egress interface's MTU again: datagrams past a lowered one go by the socket, which fragments. */
  egressCheck(): void;
  close(): void;
}

/**
 * Opens the data plane. `counters` is the region's counter area (src/stats/shared.ts): the shim
 * counts into it directly, and it must outlive the data plane.
 */
export function openDataPlane(opts: {
  ruleSlots: number;
  outputSlots: number;
  ringBytes: number;
  counters: BigUint64Array;
  /** The region's merge counters (mergeSlots x MERGE_COUNTER.COUNT); absent: the shim's own, few. */
  merge?: { counters: BigUint64Array; slots: number };
}): DataPlane {
  const s = shim();
  if (s.mcr_worker_counter_count() !== N_COUNTERS)
    throw new Error(
      `shim counts ${s.mcr_worker_counter_count()} worker counters, TypeScript ${N_COUNTERS}: rebuild both`,
    );
  if (opts.counters.length < countersLen(opts.ruleSlots, opts.outputSlots))
    throw new Error(
      `the counter area holds ${opts.counters.length} words, the shim needs ${countersLen(opts.ruleSlots, opts.outputSlots)}`,
    );
  const out = new BigUint64Array(1);
  check(
    s.mcr_worker_new(opts.ruleSlots, opts.outputSlots, opts.ringBytes, ptr(opts.counters), ptr(out)),
    "creating the worker",
  );
  const w = Number(out[0]) as Pointer;
  if (opts.merge && opts.merge.slots > 0) {
    const r = s.mcr_worker_merge_counters(w, ptr(opts.merge.counters), opts.merge.slots);
    if (r < 0) s.mcr_worker_free(w);
    check(r, "setting the merge counters");
  }
  const info = new Uint32Array(3);
  const g = guard("the data plane");
  const empty = new Uint8Array(8);
  return {
    addInput(ifindex, fanoutId) {
      g.live();
      return check(s.mcr_worker_input_add(w, ifindex, fanoutId), `opening the ring on ifindex ${ifindex}`);
    },
    removeInput(slot) {
      g.live();
      check(s.mcr_worker_input_remove(w, slot), "closing a ring");
    },
    inputFanout(slot) {
      g.live();
      return check(s.mcr_worker_input_fanout(w, slot), "reading the fanout group");
    },
    inputInfo(slot) {
      g.live();
      check(s.mcr_worker_input_info(w, slot, ptr(info, 0), ptr(info, 4), ptr(info, 8)), "reading ring info");
      return { ringBytes: info[0]!, frameSize: info[1]!, blockBytes: info[2]! };
    },
    setRules(rules, nRules, outputs, nOutputs) {
      g.live();
      // ptr() refuses empty arrays; an empty table still needs a valid address.
      const r = nRules > 0 ? rules : empty;
      const o = nOutputs > 0 ? outputs : empty;
      check(s.mcr_worker_rules_set(w, ptr(r), nRules, ptr(o), nOutputs), "installing the rule table");
      const errs = new Int32Array(Math.max(1, nOutputs));
      s.mcr_worker_output_errors(w, ptr(errs), nOutputs);
      return errs.subarray(0, nOutputs).map((e) => -e);
    },
    setMerges(merges, n) {
      g.live();
      check(s.mcr_worker_merges_set(w, ptr(n > 0 ? merges : empty), n), "installing the merge table");
    },
    setOwn(macs, addrs, addrs6) {
      g.live();
      const m = macs.slice(0, OWN_MAX);
      const a = addrs.slice(0, OWN_MAX);
      const mb = new Uint8Array(Math.max(1, m.length) * 6);
      m.forEach((mac, i) =>
        mb.set(
          mac.split(":").map((x) => Number.parseInt(x, 16)),
          i * 6,
        ),
      );
      const ab = new Uint32Array(Math.max(1, a.length));
      a.forEach((addr, i) => (ab[i] = ipv4Raw(addr)));
      check(s.mcr_worker_own_set(w, ptr(mb), m.length, ptr(ab), a.length), "setting the relay's own addresses");
      const a6 = addrs6.slice(0, OWN_MAX);
      const b6 = new Uint8Array(Math.max(1, a6.length) * 16);
      a6.forEach((addr, i) => b6.set(addr, i * 16));
      check(s.mcr_worker_own6_set(w, ptr(b6), a6.length), "setting the relay's own IPv6 addresses");
    },
    setBuckets(words) {
      g.live();
      const n = Math.floor(words.length / BUCKET_WORDS);
      check(s.mcr_worker_buckets_set(w, n > 0 ? ptr(words) : null, n), "attaching the rate-limit buckets");
    },
    setPollMode(mode) {
      g.live();
      check(s.mcr_worker_poll_mode_set(w, POLL_MODES.indexOf(mode)), `setting poll mode ${mode}`);
    },
    setEgressMode(mode) {
      g.live();
      check(s.mcr_worker_egress_mode_set(w, EGRESS_MODES.indexOf(mode)), `setting egress mode ${mode}`);
    },
    setIngressMode(mode) {
      g.live();
      check(s.mcr_worker_rx_mode_set(w, INGRESS_MODES.indexOf(mode)), `setting ingress mode ${mode}`);
    },
    poll(budgetMs, batchMax) {
      g.live();
      return check(s.mcr_worker_poll(w, budgetMs, batchMax), "receiving");
    },
    ringStats() {
      g.live();
      check(s.mcr_worker_ring_stats(w), "reading ring statistics");
    },
    egressCheck() {
      g.live();
      check(s.mcr_worker_egress_check(w), "reading egress MTUs");
    },
    close() {
      if (g.close()) s.mcr_worker_free(w);
    },
  };
}

// ---- shared memory ----

/**
 * A memfd of `bytes` bytes, mapped shared. Its fd can be handed to a child process (as an extra
 * stdio entry), which maps the same pages from /proc/self/fd/N.
 */
export function sharedMemory(bytes: number, name = "mcr-counters"): { fd: number; map: Uint8Array } {
  const libc = dlopen("libc.so.6", { memfd_create: { args: [cstring, u32], returns: i32 } });
  try {
    // No MFD_CLOEXEC: a worker inherits it on purpose.
    const fd = libc.symbols.memfd_create(Buffer.from(name + "\0"), 0);
    if (fd < 0) throw new Error("memfd_create failed");
    require("node:fs").ftruncateSync(fd, bytes);
    return { fd, map: mapShared(fd) };
  } finally {
    libc.close();
  }
}

/** Maps an inherited memfd (or any file descriptor) shared, whole. */
export function mapShared(fd: number): Uint8Array {
  return Bun.mmap(`/proc/self/fd/${fd}`, { shared: true } as Parameters<typeof Bun.mmap>[1]);
}

// ---- interfaces ----

let libcNet: ReturnType<typeof openLibcNet> | undefined;
function openLibcNet() {
  return dlopen("libc.so.6", { if_nametoindex: { args: [cstring], returns: u32 } }).symbols;
}

/** if_nametoindex(3): the interface's index in this network namespace, 0 if there is none. */
export function ifIndex(name: string): number {
  libcNet ??= openLibcNet();
  return libcNet.if_nametoindex(Buffer.from(name + "\0"));
}

// ---- process helpers ----

export function pinToCpu(cpu: number): void {
  check(shim().mcr_affinity_pin(cpu), `pinning to CPU ${cpu}`);
}

const clockOut = new BigUint64Array(1);
/** CLOCK_MONOTONIC in ns: the clock the workers' times are in (Bun's count from the process's start). */
export function monotonicNs(): number {
  shim().mcr_clock_monotonic(ptr(clockOut));
  return Number(clockOut[0]);
}

export function dieWithParent(signo = 9): void {
  check(shim().mcr_proc_parent_death(signo), "setting the parent-death signal");
}

/** flock(LOCK_EX | LOCK_NB) on fd: false if another holds it. */
export function lockFile(fd: number): boolean {
  const r = shim().mcr_file_lock(fd);
  if (r === -11) return false; // EWOULDBLOCK
  check(r, "locking a file");
  return true;
}

/**
 * A socket joined to `group` (16 bytes, IPv4 as ::ffff:a.b.c.d) on the interface with that index,
 * from `source` only (IGMPv3 / MLDv2 source-specific; absent: any source); closing it leaves.
 * `what` names the join in the error.
 */
export function joinGroup(ifindex: number, group: Uint8Array, source: Uint8Array | undefined, what: string): number {
  return check(shim().mcr_membership_open(ifindex, ptr(group), source ? ptr(source) : null), `joining ${what}`);
}

/**
 * A socket bound to addr:port that holds the port for a unicast input and is never read; closing
 * it releases the port. addr16: 16 bytes, IPv4 as ::ffff:a.b.c.d; scope: the interface index of a
 * link-local IPv6 address (0 otherwise); `text` names it in the error. Throws ShimError (errno
 * EADDRINUSE: another socket has it).
 */
export function holdPort(addr16: Uint8Array, scope: number, port: number, text: string): number {
  const v4 = addr16.subarray(0, 12).every((b, i) => b === (i < 10 ? 0 : 0xff));
  const r = v4
    ? shim().mcr_port_hold(new Uint32Array(addr16.slice(12).buffer)[0]!, port)
    : shim().mcr_port_hold6(ptr(addr16), scope, port);
  return check(r, `holding ${text}`);
}

/** This thread: nothing effective, `keep` passed to the programs it runs (ambient). */
export function passOnlyCaps(keep: number): void {
  check(shim().mcr_proc_caps_pass_only(keep), "setting capabilities");
}

/** From root to uid/gid (and extraGid as a supplementary group), `keep` passed to children and nothing effective here. */
export function switchUser(uid: number, gid: number, extraGid: number | undefined, keep: number): void {
  check(shim().mcr_proc_switch_user(uid, gid, extraGid ?? 0xffffffff, keep), `switching to uid ${uid}`);
}

/** sd_notify(3): one datagram to $NOTIFY_SOCKET. */
export function notifySystemd(state: string): void {
  const path = process.env.NOTIFY_SOCKET;
  if (!path) return;
  check(shim().mcr_notify_send(Buffer.from(path + "\0"), Buffer.from(state + "\0")), "notifying systemd");
}

// ---- traffic tools (gen, sink) ----

/** IPv4 dotted quad -> the uint32 whose bytes in memory are the address (network order). */
function ipv4Raw(addr: string): number {
  const o = addr.split(".").map(Number);
  if (o.length !== 4 || o.some((x) => !Number.isInteger(x) || x < 0 || x > 255))
    throw new Error(`not an IPv4 address: ${addr}`);
  return new Uint32Array(new Uint8Array(o).buffer)[0]!;
}

/**
 * An address and a port (struct mcr_udp_addr): the address as 16 bytes, network order, IPv4 as
 * ::ffff:a.b.c.d (values/ipv6.ts address16 makes them from text); `text` names it in errors.
 */
export interface UdpAddr {
  addr16: Uint8Array;
  port: number;
  text: string;
}

function udpAddrs(list: UdpAddr[]): Uint8Array {
  const b = new Uint8Array(list.length * UDP_ADDR.BYTES);
  const v = new DataView(b.buffer);
  list.forEach((a, i) => {
    if (a.addr16.length !== 16) throw new Error(`not a 16-byte address: ${a.text}`);
    b.set(a.addr16, i * UDP_ADDR.BYTES + UDP_ADDR.ADDR);
    v.setUint16(i * UDP_ADDR.BYTES + UDP_ADDR.PORT, a.port, true);
  });
  return b;
}

/** Sender counters, in enum mcr_udp_tx_stat order. */
export interface UdpSenderStats {
  packets: number;
  bytes: number;
  errors: number;
  lastErrno: number;
  syscalls: number;
  batches: number;
  sleeps: number;
  maxLagNs: number;
  firstNs: bigint; // CLOCK_REALTIME
  lastNs: bigint;
}

export interface UdpSender {
  /**
   * Starts the schedule: packet i due at now + i/rate (rate 0: as fast as possible); count 0: no
   * end; tickUs: the shortest sleep between batches.
   */
  start(rate: number, count: number, tickUs: number): void;
  /** Sends on the schedule for about budgetMs; returns the packets handled (sent or failed). */
  run(budgetMs: number): number;
  stats(): UdpSenderStats;
  /** Packets handled per destination (their next sequence numbers); in legs mode, per leg. */
  perDest(): number[];
  /** Legs mode: what each leg dropped, and how many packets every leg dropped. */
  legStats(): { dropped: number[]; lostOnAll: number } | undefined;
  close(): void;
}

/** Legs mode (mcr_udp_sender_legs): one RTP stream to every destination, each dropping on its own. */
export interface UdpLegs {
  ifindex: number[]; // per leg; 0: the sender's
  lossPpm: number; // 0 .. 1e6
  seed: number; // u32
  rtpSeq0: number; // u16
}

export function openUdpSender(o: {
  dests: UdpAddr[];
  /** 16 bytes to bind to (IPv4 as ::ffff:a.b.c.d), of the destinations' family. */
  source?: Uint8Array;
  sourcePort?: number;
  ifindex: number;
  ttl: number;
  size: number;
  runId: number;
  batch: number;
  /** IP_MULTICAST_LOOP: also deliver to this host's (namespace's) own sockets. */
  loop?: boolean;
  /** Build frames and send them on AF_PACKET (multicast destinations, ifindex required). */
  packet?: boolean;
  legs?: UdpLegs;
}): UdpSender {
  const s = shim();
  const out = new BigUint64Array(1);
  const dests = udpAddrs(o.dests);
  const src = o.source ?? null;
  check(
    s.mcr_udp_sender_open(
      ptr(dests),
      o.dests.length,
      src ? ptr(src) : null,
      o.sourcePort ?? 0,
      o.ifindex,
      o.ttl,
      o.size,
      o.runId >>> 0,
      o.batch,
      (o.loop ? UDP_TX_FLAG.LOOP : 0) | (o.packet ? UDP_TX_FLAG.PACKET : 0),
      ptr(out),
    ),
    "opening the sending socket",
  );
  const h = Number(out[0]) as Pointer;
  if (o.legs) {
    const ifs = Int32Array.from(o.legs.ifindex);
    const r = s.mcr_udp_sender_legs(h, ptr(ifs), o.legs.lossPpm, o.legs.seed >>> 0, o.legs.rtpSeq0);
    if (r < 0) s.mcr_udp_sender_close(h);
    check(r, "setting up the legs");
  }
  const st = new BigUint64Array(TX.COUNT);
  const seq = new BigUint64Array(o.dests.length);
  const legStats = new BigUint64Array(o.dests.length * 2 + 1);
  const g = guard("the UDP sender");
  return {
    start(rate, count, tickUs) {
      g.live();
      check(s.mcr_udp_sender_start(h, rate, count, tickUs), "starting the schedule");
    },
    run(budgetMs) {
      g.live();
      return check(s.mcr_udp_sender_send(h, budgetMs), "sending");
    },
    stats() {
      g.live();
      check(s.mcr_udp_sender_stats(h, ptr(st), st.length), "reading sender counters");
      const n = (i: number) => Number(st[i]!);
      return {
        packets: n(TX.PACKETS),
        bytes: n(TX.BYTES),
        errors: n(TX.ERRORS),
        lastErrno: n(TX.LAST_ERRNO),
        syscalls: n(TX.SYSCALLS),
        batches: n(TX.BATCHES),
        sleeps: n(TX.SLEEPS),
        maxLagNs: n(TX.MAX_LAG_NS),
        firstNs: st[TX.FIRST_NS]!,
        lastNs: st[TX.LAST_NS]!,
      };
    },
    perDest() {
      g.live();
      check(s.mcr_udp_sender_seq(h, ptr(seq), seq.length), "reading sequence numbers");
      return Array.from(seq, Number);
    },
    legStats() {
      g.live();
      if (!o.legs) return undefined;
      check(s.mcr_udp_sender_leg_stats(h, ptr(legStats), legStats.length), "reading the legs' counters");
      const n = o.dests.length;
      return {
        dropped: Array.from({ length: n }, (_, l) => Number(legStats[2 * l + 1]!)),
        lostOnAll: Number(legStats[2 * n]!),
      };
    },
    close() {
      if (g.close()) s.mcr_udp_sender_close(h);
    },
  };
}

/** Views on the record buffer that recv() fills: record k's field at byte offset F (UDP_RECORD in
 * ./abi.ts) is view[(k * UDP_RECORD.BYTES + F) / view.BYTES_PER_ELEMENT]. */
export interface UdpRecords {
  f64: Float64Array;
  u32: Uint32Array;
  u16: Uint16Array;
  u8: Uint8Array;
  capacity: number;
}

export interface UdpReceiverStats {
  datagrams: number;
  bytes: number;
  syscalls: number;
  waits: number;
  socketDrops: number; // the kernel's drop counters of the sockets (SO_RXQ_OVFL)
  rcvbuf: number; // bytes the kernel granted (the smallest over the sockets)
  sockets: number;
}

export interface UdpReceiver {
  /** Drains the sockets into records; waits up to timeoutMs when nothing is there. Returns the count. */
  recv(timeoutMs: number): number;
  records: UdpRecords;
  stats(): UdpReceiverStats;
  close(): void;
}

export function openUdpReceiver(o: {
  entries: UdpAddr[];
  ifindex: number;
  rcvbuf: number;
  capacity?: number;
}): UdpReceiver {
  const s = shim();
  const out = new BigUint64Array(1);
  const entries = udpAddrs(o.entries);
  const what = o.entries.length === 1 ? `listening on ${o.entries[0]!.text}` : "opening the receiving sockets";
  check(s.mcr_udp_receiver_open(ptr(entries), o.entries.length, o.ifindex, o.rcvbuf >>> 0, ptr(out)), what);
  const h = Number(out[0]) as Pointer;
  const capacity = o.capacity ?? 4096;
  const buf = new ArrayBuffer(capacity * UDP_RECORD.BYTES);
  const records: UdpRecords = {
    f64: new Float64Array(buf),
    u32: new Uint32Array(buf),
    u16: new Uint16Array(buf),
    u8: new Uint8Array(buf),
    capacity,
  };
  const st = new BigUint64Array(RX.COUNT);
  const g = guard("the UDP receiver");
  return {
    records,
    recv(timeoutMs) {
      g.live();
      return check(s.mcr_udp_receiver_recv(h, ptr(records.u8), capacity, timeoutMs), "receiving");
    },
    stats() {
      g.live();
      check(s.mcr_udp_receiver_stats(h, ptr(st), st.length), "reading receiver counters");
      const n = (i: number) => Number(st[i]!);
      return {
        datagrams: n(RX.DATAGRAMS),
        bytes: n(RX.BYTES),
        syscalls: n(RX.SYSCALLS),
        waits: n(RX.WAITS),
        socketDrops: n(RX.SOCKET_DROPS),
        rcvbuf: n(RX.RCVBUF),
        sockets: n(RX.SOCKETS),
      };
    },
    close() {
      if (g.close()) s.mcr_udp_receiver_close(h);
    },
  };
}
