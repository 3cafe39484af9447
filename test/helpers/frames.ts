// Builds Ethernet/IPv4/UDP and Ethernet/IPv6/UDP frames, well-formed or broken in one chosen way,
// for parser and injection tests (test/tools/inject puts them on a wire).
export interface FrameSpec {
  src?: string;
  dst?: string;
  sport?: number;
  dport?: number;
  payload?: Uint8Array;
  vlans?: number[]; // tags to put in the frame, outermost first (TPID 0x8100)
  etherType?: number; // override the EtherType after the tags
  ipVersion?: number;
  ihlWords?: number; // IHL field; with >5 that many words of options are included
  totalLength?: number; // override IPv4 total length
  fragment?: { mf?: boolean; offset?: number };
  protocol?: number;
  badChecksum?: boolean;
  udpLength?: number; // override UDP length
  truncateTo?: number; // cut the frame to this many bytes
  tos?: number; // IPv4 TOS byte (DSCP << 2 | ECN); default 0
  ttl?: number; // IPv4 TTL; default 8
  srcMac?: number[]; // Ethernet source; default 02:00:00:00:00:02
}

const ip4 = (s: string) => s.split(".").map(Number);

export function macFor(dst: string): number[] {
  const [a, b, c, d] = ip4(dst) as [number, number, number, number];
  if (a >= 224 && a <= 239) return [0x01, 0x00, 0x5e, b & 0x7f, c, d];
  return [0x02, 0, 0, 0, 0, 0x01];
}

export function ipChecksum(h: Uint8Array): number {
  let sum = 0;
  for (let i = 0; i < h.length; i += 2) sum += (h[i]! << 8) | h[i + 1]!;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

export function buildFrame(s: FrameSpec = {}): Uint8Array {
  const payload = s.payload ?? new Uint8Array([1, 2, 3, 4]);
  const dst = s.dst ?? "239.1.1.1";
  const ihlWords = s.ihlWords ?? 5;
  const ipHeaderLen = Math.max(ihlWords, 5) * 4;
  const eth: number[] = [...macFor(dst), ...(s.srcMac ?? [0x02, 0, 0, 0, 0, 0x02])];
  for (const v of s.vlans ?? []) eth.push(0x81, 0x00, (v >> 8) & 0x0f, v & 0xff);
  const et = s.etherType ?? 0x0800;
  eth.push(et >> 8, et & 0xff);

  const udpLen = 8 + payload.length;
  const ip = new Uint8Array(ipHeaderLen);
  const iv = new DataView(ip.buffer);
  ip[0] = ((s.ipVersion ?? 4) << 4) | (ihlWords & 15);
  ip[1] = s.tos ?? 0;
  iv.setUint16(2, s.totalLength ?? ipHeaderLen + udpLen);
  iv.setUint16(4, 0x1234);
  const frag = ((s.fragment?.mf ? 1 : 0) << 13) | ((s.fragment?.offset ?? 0) & 0x1fff);
  iv.setUint16(6, frag);
  ip[8] = s.ttl ?? 8;
  ip[9] = s.protocol ?? 17;
  ip.set(ip4(s.src ?? "10.0.0.1"), 12);
  ip.set(ip4(dst), 16);
  iv.setUint16(10, ipChecksum(ip.subarray(0, Math.min(ipHeaderLen, 20)).length === 20 ? ip : ip));
  if (s.badChecksum) iv.setUint16(10, iv.getUint16(10) ^ 0x5555);

  const udp = new Uint8Array(8);
  const uv = new DataView(udp.buffer);
  uv.setUint16(0, s.sport ?? 40000);
  uv.setUint16(2, s.dport ?? 5001);
  uv.setUint16(4, s.udpLength ?? udpLen);
  uv.setUint16(6, 0); // no UDP checksum: legal for IPv4

  const frame = new Uint8Array(eth.length + ip.length + udp.length + payload.length);
  frame.set(eth, 0);
  frame.set(ip, eth.length);
  frame.set(udp, eth.length + ip.length);
  frame.set(payload, eth.length + ip.length + 8);
  return s.truncateTo !== undefined ? frame.slice(0, s.truncateTo) : frame;
}

/** Writes the right UDP checksum into a frame built by buildFrame (no tags, IHL 5), plus `wrongBy`. */
export function setUdpChecksum(f: Uint8Array, wrongBy = 0): Uint8Array {
  const ip = 14;
  const udp = ip + 20;
  const ulen = (f[udp + 4]! << 8) | f[udp + 5]!;
  let sum = 17 + ulen;
  for (let i = ip + 12; i < ip + 20; i += 2) sum += (f[i]! << 8) | f[i + 1]!;
  f[udp + 6] = f[udp + 7] = 0;
  for (let i = 0; i < ulen; i += 2) sum += (f[udp + i]! << 8) | (i + 1 < ulen ? f[udp + i + 1]! : 0);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  let c = ~sum & 0xffff;
  if (c === 0) c = 0xffff;
  c = (c + wrongBy) & 0xffff || 1;
  f[udp + 6] = c >> 8;
  f[udp + 7] = c & 0xff;
  return f;
}

export const toHex = (b: Uint8Array) => Buffer.from(b).toString("hex");

/** An IPv6 extension header to put before UDP: hop-by-hop (0), routing (43), fragment (44), destination options (60). */
export interface Ext6 {
  type: 0 | 43 | 44 | 60;
  /** Its length in 8-byte units past the first 8 (hop-by-hop, routing, destination options); default 0. */
  units?: number;
  /** A fragment header's offset (8-byte units) and M flag; default a first fragment with more to come. */
  fragment?: { offset?: number; more?: boolean };
}

export interface Frame6Spec {
  src?: string; // default 2001:db8::1
  dst?: string; // default ff3e::1:1
  sport?: number;
  dport?: number;
  payload?: Uint8Array;
  vlans?: number[];
  ext?: Ext6[]; // in order, before UDP
  nextHeader?: number; // override the last header's next header (17: UDP)
  payloadLength?: number; // override the IPv6 payload length
  udpLength?: number; // override the UDP length
  trafficClass?: number; // default 0
  hopLimit?: number; // default 8
  udpChecksum?: "right" | "zero" | "wrong"; // default right: IPv6 has no "no checksum"
  truncateTo?: number;
  srcMac?: number[];
}

/** An IPv6 address's 16 bytes (the test's own small parser: "::" once, no dotted tail). */
export function ip6Bytes(text: string): number[] {
  const [head = "", tail] = text.split("::");
  const groups = (s: string) => (s === "" ? [] : s.split(":").map((g) => Number.parseInt(g, 16)));
  const l = groups(head);
  const r = tail === undefined ? [] : groups(tail);
  const all = [...l, ...new Array<number>(8 - l.length - r.length).fill(0), ...r];
  return all.flatMap((g) => [g >> 8, g & 0xff]);
}

/** RFC 2464: an IPv6 group's Ethernet address is its low 32 bits under 33:33. */
export const macFor6 = (dst: string) => {
  const b = ip6Bytes(dst);
  return b[0] === 0xff ? [0x33, 0x33, ...b.slice(12)] : [0x02, 0, 0, 0, 0, 0x01];
};

/** An Ethernet/IPv6/UDP frame, well-formed unless the spec breaks it one way. */
export function buildFrame6(s: Frame6Spec = {}): Uint8Array {
  const payload = s.payload ?? new Uint8Array([1, 2, 3, 4]);
  const dst = s.dst ?? "ff3e::1:1";
  const eth: number[] = [...macFor6(dst), ...(s.srcMac ?? [0x02, 0, 0, 0, 0, 0x02])];
  for (const v of s.vlans ?? []) eth.push(0x81, 0x00, (v >> 8) & 0x0f, v & 0xff);
  eth.push(0x86, 0xdd);
  const exts = s.ext ?? [];
  const extBytes: number[] = [];
  exts.forEach((e, i) => {
    const next = i + 1 < exts.length ? exts[i + 1]!.type : (s.nextHeader ?? 17);
    if (e.type === 44) {
      const off = ((e.fragment?.offset ?? 0) << 3) | (e.fragment?.more === false ? 0 : 1);
      extBytes.push(next, 0, off >> 8, off & 0xff, 0, 0, 0x12, 0x34);
    } else {
      const units = e.units ?? 0;
      const h = new Array<number>(8 + units * 8).fill(0);
      h[0] = next;
      h[1] = units;
      if (e.type === 43)
        h[2] = 0; // routing type 0 ... with segments left 0: skipped
      else [h[2], h[3]] = [1, 4 + units * 8]; // PadN over the rest
      extBytes.push(...h);
    }
  });
  const udpLen = 8 + payload.length;
  const ip = new Uint8Array(40);
  const iv = new DataView(ip.buffer);
  const tc = s.trafficClass ?? 0;
  iv.setUint32(0, (6 << 28) | (tc << 20));
  iv.setUint16(4, s.payloadLength ?? extBytes.length + udpLen);
  ip[6] = exts.length > 0 ? exts[0]!.type : (s.nextHeader ?? 17);
  ip[7] = s.hopLimit ?? 8;
  ip.set(ip6Bytes(s.src ?? "2001:db8::1"), 8);
  ip.set(ip6Bytes(dst), 24);
  const udp = new Uint8Array(udpLen);
  const uv = new DataView(udp.buffer);
  uv.setUint16(0, s.sport ?? 40000);
  uv.setUint16(2, s.dport ?? 5001);
  uv.setUint16(4, s.udpLength ?? udpLen);
  udp.set(payload, 8);
  if ((s.udpChecksum ?? "right") !== "zero") {
    // Pseudo-header (RFC 8200 8.1): addresses, UDP length, next header 17; then the datagram.
    let sum = 17 + udpLen;
    for (let i = 8; i < 40; i += 2) sum += (ip[i]! << 8) | ip[i + 1]!;
    for (let i = 0; i < udpLen; i += 2) sum += (udp[i]! << 8) | (i + 1 < udpLen ? udp[i + 1]! : 0);
    while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
    let c = ~sum & 0xffff || 0xffff;
    if (s.udpChecksum === "wrong") c = c ^ 0x0101;
    uv.setUint16(6, c);
  }
  const frame = new Uint8Array([...eth, ...ip, ...extBytes, ...udp]);
  return s.truncateTo !== undefined ? frame.slice(0, s.truncateTo) : frame;
}
