// Senders and receivers for the chain lab, with byte-for-byte checks.
import { expect } from "bun:test";
import { CHAIN6, type Lab } from "./lab.ts";
import { bunArgv } from "./mcr.ts";
import { payloadFor } from "./payloads.ts";

export interface Received {
  count: number;
  payloads: string[];
  sources: string[];
  at: number[]; // when each was read, wall clock ms
}

/**
 * A UDP receiver in a namespace (default: the sink, joined on veth2's 10.0.1.2; an IPv6 group on
 * veth2 itself). `v6`: an IPv6 socket for unicast (a group's family chooses for itself).
 */
export function receiveInSink(
  lab: Lab,
  o: {
    group?: string;
    port: number;
    count: number;
    idleMs?: number;
    role?: string;
    ifaddr?: string;
    iface?: string;
    v6?: boolean;
    maxMs?: number;
  },
) {
  const v6 = o.v6 ?? o.group?.includes(":") ?? false;
  const p = lab.spawn(o.role ?? "sink", [
    ...bunArgv("test/helpers/udp-recv.ts"),
    JSON.stringify({
      port: o.port,
      group: o.group,
      ifaddr: o.group && !v6 ? (o.ifaddr ?? "10.0.1.2") : undefined,
      iface: o.group && v6 ? (o.iface ?? "veth2") : undefined,
      v6,
      count: o.count,
      idleMs: o.idleMs ?? 1500,
      maxMs: o.maxMs,
    }),
  ]);
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
    if (!text.includes("listening")) throw new Error(`receiver did not start: ${text}`);
  })();
  const result = (async (): Promise<Received> => {
    await p.exited;
    return JSON.parse(await new Response(p.stdout).text()) as Received;
  })();
  return { listening, result, proc: p };
}

/**
 * Sends count deterministic payloads from the generator namespace (blocking until sent): from
 * 10.0.0.1, or to an IPv6 destination from veth0's CHAIN6.gen.
 */
export function sendFromGen(
  lab: Lab,
  o: {
    dest: string;
    port: number;
    count: number;
    size: number;
    seed: number;
    source?: string;
    iface?: string;
    gapUs?: number;
    role?: string;
    flows?: number;
  },
) {
  const from = o.dest.includes(":") ? { source: CHAIN6.gen, iface: "veth0" } : { source: "10.0.0.1" };
  const r = lab.exec(o.role ?? "gen", [...bunArgv("test/helpers/udp-send.ts"), JSON.stringify({ ...from, ...o })], {
    timeoutMs: 60000,
  });
  if (r.code !== 0) throw new Error(`sender failed: ${r.stderr}`);
  return JSON.parse(r.stdout) as { sent: number; sentAt: number[] };
}

/** A sender that runs in the background (for changes made while traffic flows). */
export function sendInBackground(
  lab: Lab,
  o: { dest: string; port: number; count: number; size: number; seed: number; gapUs: number; source?: string },
) {
  const p = lab.spawn("gen", [...bunArgv("test/helpers/udp-send.ts"), JSON.stringify({ source: "10.0.0.1", ...o })]);
  return p.exited;
}

/** The payloads are exactly seq 0..count-1 of the seed, in order. */
export function expectPayloads(got: string[], seed: number, count: number, size: number, firstSeq = 0) {
  expect(got.length).toBe(count);
  for (let i = 0; i < count; i++) {
    const want = Buffer.from(payloadFor(seed, firstSeq + i, size)).toString("hex");
    if (got[i] !== want) expect({ index: i, payload: got[i] }).toEqual({ index: i, payload: want });
  }
}
