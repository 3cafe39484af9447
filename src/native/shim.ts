// The one file that imports bun:ffi. Everything else sees the shim through the plain
// TypeScript interfaces below: numbers, typed arrays, no pointers.
import { dlopen, FFIType, ptr, type Pointer } from "bun:ffi";
import { writeSync, closeSync } from "node:fs";
import { N_COUNTERS } from "../stats/shared.ts";
// Embedded in dist/mcr by `bun build --compile`; from source it is the built file's path.
import shimFile from "../../shim/build/libmcr_shim.so" with { type: "file" };

const { i32, u32, ptr: P, cstring, void: V } = FFIType;

const symbols = {
  mcr_frame_parse: { args: [P, u32, P], returns: i32 },
  mcr_worker_new: { args: [u32, u32, FFIType.u64, P, P], returns: i32 },
  mcr_worker_counter_count: { args: [], returns: i32 },
  mcr_worker_free: { args: [P], returns: V },
  mcr_worker_input_add: { args: [P, i32, i32], returns: i32 },
  mcr_worker_input_remove: { args: [P, i32], returns: i32 },
  mcr_worker_input_info: { args: [P, i32, P, P], returns: i32 },
  mcr_worker_input_fanout: { args: [P, i32], returns: i32 },
  mcr_worker_rules_set: { args: [P, P, u32, P, u32], returns: i32 },
  mcr_worker_output_errors: { args: [P, P, u32], returns: i32 },
  mcr_worker_poll: { args: [P, i32, i32], returns: i32 },
  mcr_worker_ring_stats: { args: [P], returns: i32 },
  mcr_worker_egress_check: { args: [P], returns: i32 },
  mcr_affinity_pin: { args: [i32], returns: i32 },
  mcr_proc_parent_death: { args: [i32], returns: i32 },
  mcr_notify_send: { args: [cstring, cstring], returns: i32 },
  // traffic tools (gen, sink): shim/udp_tool.c
  mcr_udp_open_sender: { args: [P, u32, u32, FFIType.u16, i32, i32, u32, u32, u32, u32, P], returns: i32 },
  mcr_udp_sender_close: { args: [P], returns: V },
  mcr_udp_sender_start: { args: [P, FFIType.f64, FFIType.f64, u32], returns: i32 },
  mcr_udp_send_run: { args: [P, i32], returns: i32 },
  mcr_udp_sender_stats: { args: [P, P, u32], returns: i32 },
  mcr_udp_sender_seq: { args: [P, P, u32], returns: i32 },
  mcr_udp_open_receiver: { args: [P, u32, i32, u32, P], returns: i32 },
  mcr_udp_receiver_close: { args: [P], returns: V },
  mcr_udp_recv_batch: { args: [P, P, u32, i32], returns: i32 },
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
    lib = dlopen(`/proc/self/fd/${fd}`, symbols).symbols;
  } finally {
    libc.close();
    closeSync(fd); // the mapping keeps the library alive
  }
  return lib;
}

function readEmbedded(): Uint8Array {
  // Bun.file on an embedded path reads from the binary itself; readFileSync works for both cases.
  return require("node:fs").readFileSync(shimFile) as Uint8Array;
}

/** The shim's functions, loaded on first use. */
export function shim(): Lib {
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
  group: string;
  source: string;
  port: number;
  sport: number;
  payloadOffset: number;
  payloadLength: number;
}

const parseOut = new Uint8Array(16);
const parseView = new DataView(parseOut.buffer);

/** Parses one frame with the shim's parser: FrameInfo, or the drop reason's index (enum mcr_drop). */
export function parseFrame(frame: Uint8Array): FrameInfo | { drop: number } {
  // ptr() refuses an empty array; the length still says 0.
  const r = shim().mcr_frame_parse(ptr(frame.length > 0 ? frame : parseOut), frame.length, ptr(parseOut));
  if (r !== 0) return { drop: r - 1 };
  const ip = (o: number) => `${parseOut[o]}.${parseOut[o + 1]}.${parseOut[o + 2]}.${parseOut[o + 3]}`;
  return {
    group: ip(0),
    source: ip(4),
    port: parseView.getUint16(8, true),
    sport: parseView.getUint16(10, true),
    payloadOffset: parseView.getUint16(12, true),
    payloadLength: parseView.getUint16(14, true),
  };
}

// ---- the worker's data plane ----

/** addInput's fanoutId for a new group with an id the kernel picks (MCR_FANOUT_NEW). */
export const FANOUT_NEW = 0x10000;

/** Sizes of the flat table records (struct mcr_rule_entry, struct mcr_output_entry). */
export const RULE_ENTRY_BYTES = 20;
export const OUTPUT_ENTRY_BYTES = 20;

export interface DataPlane {
  /** fanoutId: a group to join, -1 for none, FANOUT_NEW for a new one (inputFanout reads its id). */
  addInput(ifindex: number, fanoutId: number): number;
  /** The fanout group id the input's ring is in. */
  inputFanout(slot: number): number;
  removeInput(slot: number): void;
  inputInfo(slot: number): { ringBytes: number; frameSize: number };
  /**
   * rules: n x RULE_ENTRY_BYTES, outputs: n x OUTPUT_ENTRY_BYTES (see src/worker/table.ts).
   * Returns, for each output in table order, 0 or the errno it failed with: such an output alone
   * is out of service, the rest of the table is in.
   */
  setRules(rules: Uint8Array, nRules: number, outputs: Uint8Array, nOutputs: number): Int32Array;
  /** Runs the data plane for up to budgetMs; returns the frames processed. */
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
}): DataPlane {
  const s = shim();
  if (s.mcr_worker_counter_count() !== N_COUNTERS)
    throw new Error(
      `shim counts ${s.mcr_worker_counter_count()} worker counters, TypeScript ${N_COUNTERS}: rebuild both`,
    );
  const out = new BigUint64Array(1);
  check(
    s.mcr_worker_new(opts.ruleSlots, opts.outputSlots, opts.ringBytes, ptr(opts.counters), ptr(out)),
    "creating the worker",
  );
  const w = Number(out[0]) as Pointer;
  const info = new Uint32Array(2);
  let closed = false;
  const empty = new Uint8Array(8);
  return {
    addInput: (ifindex, fanoutId) =>
      check(s.mcr_worker_input_add(w, ifindex, fanoutId), `opening the ring on ifindex ${ifindex}`),
    removeInput: (slot) => void check(s.mcr_worker_input_remove(w, slot), "closing a ring"),
    inputFanout: (slot) => check(s.mcr_worker_input_fanout(w, slot), "reading the fanout group"),
    inputInfo(slot) {
      check(s.mcr_worker_input_info(w, slot, ptr(info, 0), ptr(info, 4)), "reading ring info");
      return { ringBytes: info[0]!, frameSize: info[1]! };
    },
    setRules(rules, nRules, outputs, nOutputs) {
      // ptr() refuses empty arrays; an empty table still needs a valid address.
      const r = nRules > 0 ? rules : empty;
      const o = nOutputs > 0 ? outputs : empty;
      check(s.mcr_worker_rules_set(w, ptr(r), nRules, ptr(o), nOutputs), "installing the rule table");
      const errs = new Int32Array(Math.max(1, nOutputs));
      s.mcr_worker_output_errors(w, ptr(errs), nOutputs);
      return errs.subarray(0, nOutputs).map((e) => -e);
    },
    poll: (budgetMs, batchMax) => check(s.mcr_worker_poll(w, budgetMs, batchMax), "receiving"),
    ringStats: () => void check(s.mcr_worker_ring_stats(w), "reading ring statistics"),
    egressCheck: () => void check(s.mcr_worker_egress_check(w), "reading egress MTUs"),
    close() {
      if (closed) return;
      closed = true;
      s.mcr_worker_free(w);
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

export function dieWithParent(signo = 9): void {
  check(shim().mcr_proc_parent_death(signo), "setting the parent-death signal");
}

/** sd_notify(3): one datagram to $NOTIFY_SOCKET. */
export function notifySystemd(state: string): void {
  const path = process.env.NOTIFY_SOCKET;
  if (!path) return;
  check(shim().mcr_notify_send(Buffer.from(path + "\0"), Buffer.from(state + "\0")), "notifying systemd");
}

// ---- traffic tools (gen, sink) ----

/** An IPv4 address in dotted form and a port (struct mcr_udp_addr). */
export interface UdpAddr {
  addr: string;
  port: number;
}

/** IPv4 dotted quad -> the uint32 whose bytes in memory are the address (network order). */
function ipv4Raw(addr: string): number {
  const o = addr.split(".").map(Number);
  if (o.length !== 4 || o.some((x) => !Number.isInteger(x) || x < 0 || x > 255))
    throw new Error(`not an IPv4 address: ${addr}`);
  return new Uint32Array(new Uint8Array(o).buffer)[0]!;
}

function udpAddrs(list: UdpAddr[]): Uint8Array {
  const b = new Uint8Array(list.length * 8);
  const u32v = new Uint32Array(b.buffer);
  const u16v = new Uint16Array(b.buffer);
  list.forEach((a, i) => {
    u32v[i * 2] = ipv4Raw(a.addr);
    u16v[i * 4 + 2] = a.port;
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
  /** Packets handled per destination (their next sequence numbers). */
  perDest(): number[];
  close(): void;
}

export function openUdpSender(o: {
  dests: UdpAddr[];
  source?: string;
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
}): UdpSender {
  const s = shim();
  const out = new BigUint64Array(1);
  const dests = udpAddrs(o.dests);
  const src = o.source ? ipv4Raw(o.source) : 0;
  check(
    s.mcr_udp_open_sender(
      ptr(dests),
      o.dests.length,
      src,
      o.sourcePort ?? 0,
      o.ifindex,
      o.ttl,
      o.size,
      o.runId >>> 0,
      o.batch,
      (o.loop ? 1 : 0) | (o.packet ? 2 : 0),
      ptr(out),
    ),
    "opening the sending socket",
  );
  const h = Number(out[0]) as Pointer;
  const st = new BigUint64Array(10);
  const seq = new BigUint64Array(o.dests.length);
  let closed = false;
  return {
    start: (rate, count, tickUs) => void check(s.mcr_udp_sender_start(h, rate, count, tickUs), "starting the schedule"),
    run: (budgetMs) => check(s.mcr_udp_send_run(h, budgetMs), "sending"),
    stats() {
      check(s.mcr_udp_sender_stats(h, ptr(st), st.length), "reading sender counters");
      const n = (i: number) => Number(st[i]!);
      return {
        packets: n(0),
        bytes: n(1),
        errors: n(2),
        lastErrno: n(3),
        syscalls: n(4),
        batches: n(5),
        sleeps: n(6),
        maxLagNs: n(7),
        firstNs: st[8]!,
        lastNs: st[9]!,
      };
    },
    perDest() {
      check(s.mcr_udp_sender_seq(h, ptr(seq), seq.length), "reading sequence numbers");
      return Array.from(seq, Number);
    },
    close() {
      if (closed) return;
      closed = true;
      s.mcr_udp_sender_close(h);
    },
  };
}

/** struct mcr_udp_record: 32 bytes; field positions in units of each view's element size. */
export const UDP_RECORD = {
  BYTES: 32,
  SEQ_F64: 0,
  LATENCY_F64: 1,
  RUN_U32: 4,
  STREAM_U16: 10,
  ENTRY_U16: 11,
  LENGTH_U32: 6,
  STATUS_U8: 28,
  FLAGS_U8: 29,
  FLAG_KERNEL_TS: 1,
} as const;

/** Views on the record buffer that recv() fills; record k's field F is view[k * (32 / size) + F]. */
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
  const what =
    o.entries.length === 1
      ? `listening on ${o.entries[0]!.addr}:${o.entries[0]!.port}`
      : "opening the receiving sockets";
  check(s.mcr_udp_open_receiver(ptr(entries), o.entries.length, o.ifindex, o.rcvbuf >>> 0, ptr(out)), what);
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
  const st = new BigUint64Array(7);
  let closed = false;
  return {
    records,
    recv: (timeoutMs) => check(s.mcr_udp_recv_batch(h, ptr(records.u8), capacity, timeoutMs), "receiving"),
    stats() {
      check(s.mcr_udp_receiver_stats(h, ptr(st), st.length), "reading receiver counters");
      const n = (i: number) => Number(st[i]!);
      return {
        datagrams: n(0),
        bytes: n(1),
        syscalls: n(2),
        waits: n(3),
        socketDrops: n(4),
        rcvbuf: n(5),
        sockets: n(6),
      };
    },
    close() {
      if (closed) return;
      closed = true;
      s.mcr_udp_receiver_close(h);
    },
  };
}
