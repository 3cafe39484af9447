import { defineCommand } from "citty";
import { pinToCpu } from "../native/shim.ts";
import {
  isIpv4,
  optionalNumber,
  parseAddrList,
  parseNumber,
  rejectUnknown,
  repeated,
  usageError,
} from "../tools/args.ts";
import { formatGen, runGen } from "../tools/gen.ts";
import { HEADER_LEN, MAX_PAYLOAD } from "../tools/payload.ts";

const args = {
  dest: {
    type: "string",
    valueHint: "GROUP:PORT",
    description: "destination (multicast or unicast); repeat or comma-separate for several, sent round-robin",
  },
  rate: {
    type: "string",
    valueHint: "PPS",
    default: "1000",
    description: "packets per second over all destinations (k, M suffixes); 0 = as fast as possible",
  },
  count: { type: "string", valueHint: "N", description: "packets to send in all (k, M suffixes)" },
  duration: {
    type: "string",
    valueHint: "SECONDS",
    description: "send for this long (with --rate: exactly rate x duration packets)",
  },
  size: {
    type: "string",
    valueHint: "BYTES",
    default: "1024",
    description: `UDP payload bytes (${HEADER_LEN}..${MAX_PAYLOAD})`,
  },
  interface: { type: "string", valueHint: "IF", description: "multicast egress interface" },
  source: { type: "string", valueHint: "ADDR[:PORT]", description: "bind to this local address (and port)" },
  ttl: { type: "string", valueHint: "N", description: "IP TTL (default: the kernel's, 1 for multicast)" },
  batch: { type: "string", valueHint: "N", default: "64", description: "packets per sendmmsg at most (1..256)" },
  tick: {
    type: "string",
    valueHint: "US",
    default: "0",
    description:
      "the shortest sleep between batches in microseconds: fewer wake-ups, longer bursts (default 0: wake when the next packet is due)",
  },
  cpu: { type: "string", valueHint: "N", description: "pin the process to this CPU" },
  mode: {
    type: "string",
    valueHint: "auto|socket|packet",
    default: "auto",
    description:
      "socket: UDP sockets; packet: frames on AF_PACKET (multicast with --interface, about twice as fast); auto: packet where possible",
  },
  loop: {
    type: "boolean",
    description: "loop multicast back to sockets in this network namespace (IP_MULTICAST_LOOP)",
  },
  json: { type: "boolean", description: "print the summary as JSON" },
} as const;

function parseMode(v: string): "auto" | "socket" | "packet" {
  if (v === "auto" || v === "socket" || v === "packet") return v;
  throw usageError("--mode", `"${v}" is not auto, socket or packet`);
}

export default defineCommand({
  meta: { name: "gen", description: "Send a numbered, timestamped UDP test stream on an absolute schedule" },
  args,
  async run({ args: a, rawArgs }) {
    rejectUnknown(rawArgs, {
      strings: Object.keys(args).filter((k) => k !== "json" && k !== "loop"),
      booleans: ["json", "loop"],
    });
    const destValues = repeated(rawArgs, "dest");
    if (destValues.length === 0) throw usageError("--dest", "required (e.g. --dest 239.1.1.1:5001)");
    const dests = parseAddrList("--dest", destValues, "any");
    if (dests.length > 1024) throw usageError("--dest", `${dests.length} destinations; at most 1024 (one socket each)`);
    let source: string | undefined;
    let sourcePort: number | undefined;
    if (a.source !== undefined) {
      const [addr, port, ...rest] = a.source.split(":");
      if (!isIpv4(addr!) || rest.length > 0) throw usageError("--source", `"${a.source}" is not ADDR or ADDR:PORT`);
      source = addr;
      if (port !== undefined) sourcePort = parseNumber("--source", port, { min: 1, max: 65535 });
    }
    const count = optionalNumber("--count", a.count, { min: 1, suffix: true });
    const durationS = optionalNumber("--duration", a.duration, { fraction: true });
    if (durationS !== undefined && !(durationS > 0)) throw usageError("--duration", "must be more than 0");
    const cpu = optionalNumber("--cpu", a.cpu, { min: 0, max: 4095 });
    if (cpu !== undefined) pinToCpu(cpu);
    const r = await runGen({
      dests,
      interface: a.interface,
      source,
      sourcePort,
      ttl: optionalNumber("--ttl", a.ttl, { min: 1, max: 255 }) ?? 0,
      size: parseNumber("--size", a.size, { min: HEADER_LEN, max: MAX_PAYLOAD }),
      rate: parseNumber("--rate", a.rate, { fraction: true, suffix: true, max: 1e9 }),
      count,
      durationS,
      batch: parseNumber("--batch", a.batch, { min: 1, max: 256 }),
      loop: a.loop === true,
      mode: parseMode(a.mode),
      tickUs: parseNumber("--tick", a.tick, { min: 0, max: 1_000_000 }),
    });
    console.log(a.json ? JSON.stringify(r) : formatGen(r));
  },
});
