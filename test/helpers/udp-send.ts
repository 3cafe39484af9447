// Sends datagrams described on the command line: JSON {dest, port, source?, iface?, count, size,
// seed, gapUs?, flows?}; an IPv6 dest goes from an IPv6 socket, out of `iface` for a group. With flows = N, N sockets (N source ports) take turns: datagram i goes out on
// flow i % N as sequence i / N of seed + flow. Run inside a namespace by the tests.
// Prints {sent, sentAt} when done.
import dgram from "node:dgram";
import { payloadFor } from "./payloads.ts";

const spec = JSON.parse(process.argv[2]!) as {
  dest: string;
  port: number;
  source?: string;
  iface?: string; // an IPv6 group's egress interface
  ttl?: number;
  count: number;
  size: number;
  seed: number;
  gapUs?: number;
  flows?: number;
};
const flows = Math.max(1, spec.flows ?? 1);
const socks = await Promise.all(
  Array.from({ length: flows }, async () => {
    const v6 = spec.dest.includes(":");
    const sock = dgram.createSocket(v6 ? "udp6" : "udp4");
    await new Promise<void>((r) => sock.bind({ address: spec.source ?? (v6 ? "::" : "0.0.0.0"), port: 0 }, () => r()));
    if (v6 && spec.iface) sock.setMulticastInterface(`::%${spec.iface}`);
    else if (spec.source) sock.setMulticastInterface(spec.source);
    sock.setMulticastTTL(spec.ttl ?? 4);
    return sock;
  }),
);
let sent = 0;
const sentAt: number[] = []; // wall clock, ms, as each send was made (the receiver uses the same clock)
for (let i = 0; i < spec.count; i++) {
  const flow = i % flows;
  const payload = payloadFor(spec.seed + flow, Math.floor(i / flows), spec.size);
  sentAt.push(performance.timeOrigin + performance.now());
  await new Promise<void>((res, rej) => socks[flow]!.send(payload, spec.port, spec.dest, (e) => (e ? rej(e) : res())));
  sent++;
  if (spec.gapUs) await Bun.sleep(spec.gapUs / 1000);
}
for (const s of socks) s.close();
console.log(JSON.stringify({ sent, sentAt }));
