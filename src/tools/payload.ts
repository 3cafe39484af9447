// The payload `mcr gen` sends and `mcr sink` checks. The C shim (shim/tools/) writes and
// reads it at speed; this module is the reference, for tests and for anyone writing another tool.
//
//   offset  size  field
//        0     4  magic 0x4D435231 ("MCR1")
//        4     2  stream: index of the destination in gen's --dest list
//        6     2  header length: 32 (a later version may grow it; filler starts here)
//        8     8  sequence number, per stream, from 0
//       16     8  send time, CLOCK_REALTIME nanoseconds
//       24     4  run id: random per gen process (a restarted gen is a new stream)
//       28     4  payload length, header included (detects truncation)
//       32     …  filler: byte i of the payload is (seq + i) & 0xff
//
// All integers big-endian (network order).

import { UDP_STATUS } from "../native/abi.ts";

export const MAGIC = 0x4d435231;
export const HEADER_LEN = 32;
export const MAX_PAYLOAD = 65507;

/** enum mcr_udp_status: what the receiver found in a datagram. */
export const Status = UDP_STATUS;
export type StatusCode = (typeof Status)[keyof typeof Status];

export interface Header {
  stream: number;
  seq: bigint;
  sendNs: bigint;
  runId: number;
  length: number;
}

export function fillerByte(seq: bigint, i: number): number {
  return Number((seq + BigInt(i)) & 0xffn);
}

export function encodePayload(h: Header): Uint8Array {
  if (h.length < HEADER_LEN || h.length > MAX_PAYLOAD)
    throw new RangeError(`payload length ${h.length} is outside ${HEADER_LEN}..${MAX_PAYLOAD}`);
  const b = new Uint8Array(h.length);
  const v = new DataView(b.buffer);
  v.setUint32(0, MAGIC);
  v.setUint16(4, h.stream);
  v.setUint16(6, HEADER_LEN);
  v.setBigUint64(8, h.seq);
  v.setBigUint64(16, h.sendNs);
  v.setUint32(24, h.runId >>> 0);
  v.setUint32(28, h.length);
  const s = Number(h.seq & 0xffn);
  for (let i = HEADER_LEN; i < h.length; i++) b[i] = (s + i) & 0xff;
  return b;
}

export type Decoded =
  | { status: typeof Status.FOREIGN }
  | ({ status: Exclude<StatusCode, typeof Status.FOREIGN> } & Header);

/** What the sink's C side decides for one datagram, in TypeScript. */
export function decodePayload(b: Uint8Array): Decoded {
  if (b.length < HEADER_LEN) return { status: Status.FOREIGN };
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  if (v.getUint32(0) !== MAGIC) return { status: Status.FOREIGN };
  const hlen = v.getUint16(6);
  if (hlen < HEADER_LEN) return { status: Status.FOREIGN };
  const h: Header = {
    stream: v.getUint16(4),
    seq: v.getBigUint64(8),
    sendNs: v.getBigUint64(16),
    runId: v.getUint32(24),
    length: v.getUint32(28),
  };
  if (h.length !== b.length || hlen > b.length) return { status: Status.TRUNCATED, ...h };
  const s = Number(h.seq & 0xffn);
  for (let i = hlen; i < b.length; i++) if (b[i] !== ((s + i) & 0xff)) return { status: Status.CORRUPT, ...h };
  return { status: Status.OK, ...h };
}
