import { EX } from "../errors.ts";
import { pinToCpu } from "../native/shim.ts";
import { formatSink, runSink } from "../tools/sink.ts";
import { formatEndpoint, isMulticastAddr } from "../values/endpoint.ts";
import { ValueError } from "../values/error.ts";
import { ifName } from "../values/ifname.ts";
import { parseInteger } from "../values/integer.ts";
import { parseSeconds } from "../values/seconds.ts";
import { parseBytes } from "../values/size.ts";
import { asUsage, UsageError } from "./args.ts";
import { defineCommand } from "./command.ts";
import { endpointList } from "./endpoints.ts";
import { json } from "./shared.ts";

const count = (t: string, f: string) => parseInteger(t, f, { min: 1, suffix: true });
const seconds = (t: string, f: string) => parseSeconds(t, f);

const args = {
  group: {
    type: "string",
    multiple: true,
    valueHint: "GROUP:PORT",
    description: "multicast group to join (IPv6 in brackets: [ff3e::1:1]:5001); repeat or comma-separate for several",
  },
  listen: {
    type: "string",
    multiple: true,
    valueHint: "[ADDR:]PORT",
    description: "unicast address to listen on (IPv6 in brackets: [::]:5001); repeatable",
  },
  interface: {
    type: "string",
    valueHint: "IF",
    description: "interface to join the groups on (default: the kernel's choice)",
    parse: (t: string, f: string) => ifName(t, f),
  },
  count: { type: "string", valueHint: "N", description: "stop after N unique packets (k, M suffixes)", parse: count },
  timeout: {
    type: "string",
    valueHint: "SECONDS",
    description: "stop after this long without a packet (from the start until the first one)",
    parse: seconds,
  },
  duration: { type: "string", valueHint: "SECONDS", description: "stop after this long in all", parse: seconds },
  expect: {
    type: "string",
    valueHint: "N",
    description: "packets each stream was sent, from sequence 0: a lost head or tail counts as lost",
    parse: count,
  },
  rcvbuf: {
    type: "string",
    valueHint: "BYTES",
    default: "32M",
    description: "socket receive buffer (SO_RCVBUFFORCE; k, M suffixes)",
    parse: (t: string, f: string) => parseBytes(t, f, { min: 4096, max: 2 ** 31 - 1 }),
  },
  cpu: {
    type: "string",
    valueHint: "N",
    description: "pin the process to this CPU",
    parse: (t: string, f: string) => parseInteger(t, f, { min: 0, max: 4095 }),
  },
  json: json("print the summary as JSON"),
} as const;

export default defineCommand({
  meta: {
    name: "sink",
    description: "Receive a gen stream and count what arrived: loss, duplicates, reorder, integrity, latency",
  },
  args,
  async run({ args: a }) {
    const list = (flag: string, values: readonly string[], r: Parameters<typeof endpointList>[2]) => {
      try {
        return endpointList(values, flag, r);
      } catch (e) {
        throw asUsage(e, flag);
      }
    };
    const entries = [
      ...list("--group", a.group, { want: "multicast" }),
      ...list("--listen", a.listen, { want: "unicast", defaultAddr: "0.0.0.0" }),
    ];
    if (entries.length === 0) throw new UsageError("--group: give --group GROUP:PORT or --listen [ADDR:]PORT", "group");
    if (entries.length > 1024) throw asUsage(new ValueError("--group", "at most 1024 groups and addresses"), "--group");
    const ports = new Set(entries.map((e) => e.port)).size;
    if (ports > 64) throw new UsageError(`--group: ${ports} different ports; at most 64 (one socket each)`, "group");
    const seen = new Set<string>();
    for (const e of entries) {
      const k = formatEndpoint(e);
      if (seen.has(k)) throw new UsageError(`${isMulticastAddr(e.addr) ? "--group" : "--listen"}: ${k} is given twice`);
      seen.add(k);
    }
    if (a.cpu !== undefined) pinToCpu(a.cpu);
    const r = await runSink({
      entries,
      interface: a.interface,
      rcvbuf: a.rcvbuf,
      count: a.count,
      timeoutS: a.timeout,
      durationS: a.duration,
      expect: a.expect,
    });
    console.log(a.json ? JSON.stringify(r) : formatSink(r));
    // nothing of ours arrived: say so in the exit status too (66, EX_NOINPUT)
    if (r.valid === 0) process.exitCode = EX.NOINPUT;
  },
});
