// A point-to-point IP link with no Ethernet header between two namespaces of a lab, as a VPN
// (WireGuard, Tailscale) gives: two tun devices that test/tools/tunpair joins, moving each IP
// packet from one to the other as a userspace VPN moves it between its tun device and the wire.
// The devices live as long as the process; Lab.destroy() ends it with the lab.
import { existsSync } from "node:fs";
import { type Lab, must } from "./lab.ts";
import { ROOT } from "./mcr.ts";

export const TUNPAIR = `${ROOT}/test/tools/build/tunpair`;

export interface TunEnd {
  role: string;
  iface: string;
  addr: string; // its address; the other end's is its peer
}

export interface TunPair {
  /** Ends the link; the packets it moved each way (a to b, b to a). */
  close(): Promise<{ ab: number; ba: number }>;
}

export async function tunPair(lab: Lab, a: TunEnd, b: TunEnd): Promise<TunPair> {
  if (!existsSync(TUNPAIR)) must(["make", "-C", ROOT, "test/tools/build/tunpair"]);
  const p = lab.spawn(a.role, [TUNPAIR, lab.ns(a.role), a.iface, lab.ns(b.role), b.iface]);
  const reader = p.stderr.getReader();
  let text = "";
  const deadline = Date.now() + 5000;
  while (!text.includes("ready") && Date.now() < deadline) {
    const { value, done } = await reader.read();
    if (done) break;
    text += new TextDecoder().decode(value);
  }
  reader.releaseLock();
  if (!text.includes("ready")) throw new Error(`tunpair did not start: ${text}`);
  for (const [end, peer] of [
    [a, b],
    [b, a],
  ] as const) {
    // An IPv6 address without duplicate address detection: a point-to-point link has no other
    // host, and a tentative address cannot be bound or sent from for a second or two.
    const nodad = end.addr.includes(":") ? ["nodad"] : [];
    must(["ip", "-n", lab.ns(end.role), "addr", "add", end.addr, "peer", peer.addr, "dev", end.iface, ...nodad]);
    // A deep queue on each device: what the kernel sends waits there until tunpair reads it, and
    // a process descheduled on a busy machine must not make the tunnel lose packets.
    must(["ip", "-n", lab.ns(end.role), "link", "set", end.iface, "txqueuelen", "20000", "up"]);
  }
  return {
    async close() {
      p.stdin.end();
      await lab.stop(p);
      return JSON.parse(await new Response(p.stdout).text()) as { ab: number; ba: number };
    },
  };
}
