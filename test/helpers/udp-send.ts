// Sends datagrams described on the command line: JSON {dest, port, source?, payloads: hex[] | {count, size, seed}, gapUs?}.
// Run inside a namespace by the tests. Prints {sent} when done.
import dgram from "node:dgram";
import { payloadFor } from "./payloads.ts";

const spec = JSON.parse(process.argv[2]!) as {
  dest: string;
  port: number;
  source?: string;
  ttl?: number;
  count: number;
  size: number;
  seed: number;
  gapUs?: number;
};
const sock = dgram.createSocket("udp4");
await new Promise<void>((r) => sock.bind({ address: spec.source ?? "0.0.0.0", port: 0 }, () => r()));
if (spec.source) sock.setMulticastInterface(spec.source);
sock.setMulticastTTL(spec.ttl ?? 4);
let sent = 0;
for (let i = 0; i < spec.count; i++) {
  await new Promise<void>((res, rej) => sock.send(payloadFor(spec.seed, i, spec.size), spec.port, spec.dest, (e) => (e ? rej(e) : res())));
  sent++;
  if (spec.gapUs) await Bun.sleep(spec.gapUs / 1000);
}
sock.close();
console.log(JSON.stringify({ sent }));
