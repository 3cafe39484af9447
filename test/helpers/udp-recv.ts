// Receives on a UDP port (joining a group on an interface address when given, or for an IPv6
// group on the interface `iface` names) and prints one JSON object: {count, payloads: hex[]}.
// Stops after `count` datagrams or `idleMs` without one.
// Prints "listening" on stderr once joined, so the test knows when to start sending.
import dgram from "node:dgram";

const spec = JSON.parse(process.argv[2]!) as {
  port: number;
  group?: string;
  ifaddr?: string;
  iface?: string; // an IPv6 group's interface (a link's scope, not an address, names it)
  v6?: boolean; // an IPv6 socket: for an IPv6 group, or unicast to an IPv6 address
  count: number;
  idleMs: number;
  maxMs?: number;
};
const v6 = spec.v6 ?? spec.group?.includes(":") ?? false;
const sock = dgram.createSocket({ type: v6 ? "udp6" : "udp4", reuseAddr: true, ipv6Only: v6 });
const got: string[] = [];
const sources: string[] = [];
const at: number[] = []; // wall clock, ms, as each datagram was read
let timer: Timer | undefined;
const finish = () => {
  sock.close();
  console.log(JSON.stringify({ count: got.length, payloads: got, sources, at }));
  process.exit(0);
};
const arm = () => {
  clearTimeout(timer);
  timer = setTimeout(finish, spec.idleMs);
};
sock.on("message", (msg, rinfo) => {
  at.push(performance.timeOrigin + performance.now());
  got.push(Buffer.from(msg).toString("hex"));
  sources.push(`${rinfo.address}:${rinfo.port}`);
  if (got.length >= spec.count) finish();
  else arm();
});
sock.bind(spec.port, spec.group ?? (v6 ? "::" : "0.0.0.0"), () => {
  if (spec.group) sock.addMembership(spec.group, v6 && spec.iface ? `::%${spec.iface}` : spec.ifaddr);
  sock.setRecvBufferSize?.(8 << 20);
  console.error("listening");
  arm();
  if (spec.maxMs) setTimeout(finish, spec.maxMs);
});
