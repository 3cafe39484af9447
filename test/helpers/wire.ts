// Frames put on a wire and read off one, below the sockets: test/tools/inject writes crafted
// frames (test/helpers/frames.ts builds them), test/tools/capture reads what arrives with the
// TOS, TTL, VLAN tag and source a UDP socket in Bun cannot report.
import { expect } from "bun:test";
import { existsSync } from "node:fs";
import { toHex } from "./frames.ts";
import { type Lab, must } from "./lab.ts";
import { ROOT } from "./mcr.ts";
import { formatIPv6 } from "../../src/values/ipv6.ts";

export const INJECT = `${ROOT}/test/tools/build/inject`;
export const CAPTURE = `${ROOT}/test/tools/build/capture`;

/** Builds the wire tools when a run has not (make knows when they are current). */
export function buildWireTools(): void {
  if (!existsSync(INJECT) || !existsSync(CAPTURE))
    must(["make", "-C", ROOT, "test/tools/build/inject", "test/tools/build/capture"]);
}

/** Writes the frames, in order, on iface in a namespace of the lab; every one must go. */
export function inject(lab: Lab, role: string, iface: string, frames: Uint8Array[]): void {
  const r = lab.exec(role, [INJECT, iface], { input: frames.map(toHex).join("\n") + "\n", timeoutMs: 60000 });
  expect(r.stderr).toBe("");
  expect(r.stdout.trim()).toBe(String(frames.length));
}

/** One IPv4/UDP or IPv6/UDP frame as it arrived (a later fragment's UDP fields are not UDP: see fragment). */
export interface Captured {
  hex: string; // the whole frame, a VLAN tag the kernel took off put back
  family: 4 | 6;
  srcMac: string; // aa:bb:...
  vlan: number; // 0: untagged
  tos: number; // IPv6: the traffic class
  ttl: number; // IPv6: the hop limit
  fragment: number; // the IPv4 flags and offset field: 0 a whole datagram, 0x2000 a first fragment (IPv6: 0)
  source: string;
  group: string;
  sport: number;
  dport: number;
  payload: string; // hex
}

export function parseCaptured(hex: string): Captured {
  const f = Buffer.from(hex, "hex");
  const tagged = f.readUInt16BE(12) === 0x8100 || f.readUInt16BE(12) === 0x88a8;
  const ip = tagged ? 18 : 14;
  const v6 = f.readUInt16BE(ip - 2) === 0x86dd;
  const udp = v6 ? ip + 40 : ip + (f[ip]! & 15) * 4;
  const ulen = f.readUInt16BE(udp + 4);
  const quad = (o: number) => [...f.subarray(o, o + 4)].join(".");
  const addr6 = (o: number) => formatIPv6(Array.from({ length: 8 }, (_, i) => f.readUInt16BE(o + 2 * i)));
  return {
    hex,
    family: v6 ? 6 : 4,
    srcMac: [...f.subarray(6, 12)].map((b) => b.toString(16).padStart(2, "0")).join(":"),
    vlan: tagged ? f.readUInt16BE(14) & 0xfff : 0,
    tos: v6 ? ((f[ip]! & 15) << 4) | (f[ip + 1]! >> 4) : f[ip + 1]!,
    ttl: v6 ? f[ip + 7]! : f[ip + 8]!,
    fragment: v6 ? 0 : f.readUInt16BE(ip + 6) & 0x3fff,
    source: v6 ? addr6(ip + 8) : quad(ip + 12),
    group: v6 ? addr6(ip + 24) : quad(ip + 16),
    sport: f.readUInt16BE(udp),
    dport: f.readUInt16BE(udp + 2),
    payload: f.subarray(udp + 8, udp + ulen).toString("hex"),
  };
}

/**
 * Captures on iface in a namespace until `count` IPv4/UDP or IPv6/UDP frames came or idleMs passed without
 * one. `listening` resolves once the socket is bound; `result` with the frames, in arrival order.
 */
export function capture(lab: Lab, role: string, iface: string, o: { count: number; idleMs?: number }) {
  const p = lab.spawn(role, [CAPTURE, iface, String(o.count), String(o.idleMs ?? 1500)]);
  const listening = (async () => {
    const reader = p.stderr.getReader();
    let text = "";
    const deadline = Date.now() + 5000;
    while (!text.includes("listening") && Date.now() < deadline) {
      const { value, done } = await reader.read();
      if (done) break;
      text += new TextDecoder().decode(value);
    }
    reader.releaseLock();
    if (!text.includes("listening")) throw new Error(`capture did not start: ${text}`);
  })();
  const result = (async (): Promise<Captured[]> => {
    const out = await new Response(p.stdout).text();
    const code = await p.exited;
    if (code !== 0) throw new Error(`capture exited ${code}`);
    return out.split("\n").filter(Boolean).map(parseCaptured);
  })();
  result.catch(() => {});
  return { listening, result };
}
