// A namespace's counters from /proc/net/snmp (per network namespace), e.g. Udp InCsumErrors: the
// datagrams its sockets refused for a wrong checksum; Icmp InDestUnreachs: the "unreachable"
// answers it was sent.
import type { Lab } from "./lab.ts";

export function snmpCounters(lab: Lab, role: string, proto: "Udp" | "Icmp" | "Ip"): Record<string, number> {
  const lines = lab
    .exec(role, ["cat", "/proc/net/snmp"])
    .stdout.split("\n")
    .filter((l) => l.startsWith(`${proto}: `));
  const [names, values] = lines.map((l) =>
    l
      .slice(proto.length + 2)
      .trim()
      .split(/\s+/),
  );
  if (!names || !values) throw new Error(`no ${proto} lines in ${role}'s /proc/net/snmp`);
  return Object.fromEntries(names.map((n, i) => [n, Number(values[i])]));
}

export const udpCounters = (lab: Lab, role: string) => snmpCounters(lab, role, "Udp");

/** A namespace's IPv6 counters from /proc/net/snmp6 (e.g. Udp6InCsumErrors, Udp6InDatagrams). */
export function snmp6Counters(lab: Lab, role: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of lab.exec(role, ["cat", "/proc/net/snmp6"]).stdout.split("\n")) {
    const [k, v] = line.trim().split(/\s+/);
    if (k && v !== undefined) out[k] = Number(v);
  }
  if (out.Udp6InDatagrams === undefined) throw new Error(`no Udp6 lines in ${role}'s /proc/net/snmp6 (IPv6 off?)`);
  return out;
}
