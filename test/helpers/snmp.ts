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
