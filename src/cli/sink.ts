import { defineCommand } from "citty";
import { EX } from "../errors.ts";
import { pinToCpu, type UdpAddr } from "../native/shim.ts";
import {
  isMulticast,
  optionalNumber,
  parseAddrList,
  parseListenList,
  parseNumber,
  rejectUnknown,
  repeated,
  usageError,
} from "../tools/args.ts";
import { formatSink, runSink } from "../tools/sink.ts";

const args = {
  group: {
    type: "string",
    valueHint: "GROUP:PORT",
    description: "multicast group to join; repeat or comma-separate for several",
  },
  listen: { type: "string", valueHint: "[ADDR:]PORT", description: "unicast address to listen on; repeatable" },
  interface: {
    type: "string",
    valueHint: "IF",
    description: "interface to join the groups on (default: the kernel's choice)",
  },
  count: { type: "string", valueHint: "N", description: "stop after N unique packets (k, M suffixes)" },
  timeout: {
    type: "string",
    valueHint: "SECONDS",
    description: "stop after this long without a packet (from the start until the first one)",
  },
  duration: { type: "string", valueHint: "SECONDS", description: "stop after this long in all" },
  expect: {
    type: "string",
    valueHint: "N",
    description: "packets each stream was sent, from sequence 0: a lost head or tail counts as lost",
  },
  rcvbuf: {
    type: "string",
    valueHint: "BYTES",
    default: "32M",
    description: "socket receive buffer (SO_RCVBUFFORCE; k, M suffixes)",
  },
  cpu: { type: "string", valueHint: "N", description: "pin the process to this CPU" },
  json: { type: "boolean", description: "print the summary as JSON" },
} as const;

export default defineCommand({
  meta: {
    name: "sink",
    description: "Receive a gen stream and count what arrived: loss, duplicates, reorder, integrity, latency",
  },
  args,
  async run({ args: a, rawArgs }) {
    rejectUnknown(rawArgs, { strings: Object.keys(args).filter((k) => k !== "json"), booleans: ["json"] });
    const entries: UdpAddr[] = [
      ...parseAddrList("--group", repeated(rawArgs, "group"), "multicast"),
      ...parseListenList("--listen", repeated(rawArgs, "listen")),
    ];
    if (entries.length === 0) throw usageError("--group", "give --group GROUP:PORT or --listen [ADDR:]PORT");
    if (entries.length > 1024) throw usageError("--group", "at most 1024 groups and addresses");
    const ports = new Set(entries.map((e) => e.port)).size;
    if (ports > 64) throw usageError("--group", `${ports} different ports; at most 64 (one socket each)`);
    const seen = new Set<string>();
    for (const e of entries) {
      const k = `${e.addr}:${e.port}`;
      if (seen.has(k)) throw usageError(isMulticast(e.addr) ? "--group" : "--listen", `${k} is given twice`);
      seen.add(k);
    }
    const seconds = (opt: string, v: string | undefined) => {
      const s = optionalNumber(opt, v, { fraction: true });
      if (s !== undefined && !(s > 0)) throw usageError(opt, "must be more than 0");
      return s;
    };
    const cpu = optionalNumber("--cpu", a.cpu, { min: 0, max: 4095 });
    if (cpu !== undefined) pinToCpu(cpu);
    const r = await runSink({
      entries,
      interface: a.interface,
      rcvbuf: parseNumber("--rcvbuf", a.rcvbuf, { min: 4096, max: 2 ** 31 - 1, suffix: true }),
      count: optionalNumber("--count", a.count, { min: 1, suffix: true }),
      timeoutS: seconds("--timeout", a.timeout),
      durationS: seconds("--duration", a.duration),
      expect: optionalNumber("--expect", a.expect, { min: 1, suffix: true }),
    });
    console.log(a.json ? JSON.stringify(r) : formatSink(r));
    // nothing of ours arrived: say so in the exit status too (66, EX_NOINPUT)
    if (r.valid === 0) process.exitCode = EX.NOINPUT;
  },
});
