// A namespace's UDP counters from /proc/net/snmp (per network namespace), e.g. InCsumErrors: the
// datagrams its sockets refused for a wrong checksum.
import type { Lab } from "./lab.ts";

export function udpCounters(lab: Lab, role: string): Record<string, number> {
  const lines = lab
    .exec(role, ["cat", "/proc/net/snmp"])
    .stdout.split("\n")
    .filter((l) => l.startsWith("Udp: "));
  const [names, values] = lines.map((l) => l.slice(5).trim().split(/\s+/));
  if (!names || !values) throw new Error(`no Udp lines in ${role}'s /proc/net/snmp`);
  return Object.fromEntries(names.map((n, i) => [n, Number(values[i])]));
}
