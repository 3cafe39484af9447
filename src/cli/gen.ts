import { pinToCpu } from "../native/shim.ts";
import { formatGen, runGen } from "../tools/gen.ts";
import { HEADER_LEN, MAX_PAYLOAD } from "../tools/payload.ts";
import { parseEndpoint } from "../values/endpoint.ts";
import { ValueError } from "../values/error.ts";
import { ifName } from "../values/ifname.ts";
import { parseInteger } from "../values/integer.ts";
import { parseNumber } from "../values/number.ts";
import { parseSeconds } from "../values/seconds.ts";
import { asUsage } from "./args.ts";
import { defineCommand } from "./command.ts";
import { endpointList } from "./endpoints.ts";
import { json } from "./shared.ts";

const args = {
  dest: {
    type: "string",
    multiple: true,
    required: true,
    valueHint: "GROUP:PORT",
    description:
      "destination (multicast or unicast; IPv6 in brackets: [ff3e::1:1]:5001); repeat or comma-separate for several, sent round-robin",
  },
  rate: {
    type: "string",
    valueHint: "PPS",
    default: "1000",
    description: "packets per second over all destinations (k, M suffixes); 0 = as fast as possible",
    parse: (t: string, f: string) => parseNumber(t, f, { fraction: true, suffix: true, min: 0, max: 1e9 }),
  },
  count: {
    type: "string",
    valueHint: "N",
    description: "packets to send in all (k, M suffixes)",
    parse: (t: string, f: string) => parseInteger(t, f, { min: 1, suffix: true }),
  },
  duration: {
    type: "string",
    valueHint: "SECONDS",
    description: "send for this long (with --rate: exactly rate x duration packets)",
    parse: (t: string, f: string) => parseSeconds(t, f),
  },
  size: {
    type: "string",
    valueHint: "BYTES",
    default: "1024",
    description: `UDP payload bytes (${HEADER_LEN}..${MAX_PAYLOAD})`,
    parse: (t: string, f: string) => parseInteger(t, f, { min: HEADER_LEN, max: MAX_PAYLOAD }),
  },
  interface: {
    type: "string",
    valueHint: "IF",
    description: "multicast egress interface",
    parse: (t: string, f: string) => ifName(t, f),
  },
  source: {
    type: "string",
    valueHint: "ADDR[:PORT]",
    description: "bind to this local address (and port; IPv6 with a port in brackets)",
    parse: (t: string, f: string) => parseEndpoint(t, f, { portOptional: true }),
  },
  ttl: {
    type: "string",
    valueHint: "N",
    description: "IP TTL or IPv6 hop limit (default: the kernel's, 1 for multicast)",
    parse: (t: string, f: string) => parseInteger(t, f, { min: 1, max: 255 }),
  },
  batch: {
    type: "string",
    valueHint: "N",
    default: "64",
    description: "packets per sendmmsg at most (1..256)",
    parse: (t: string, f: string) => parseInteger(t, f, { min: 1, max: 256 }),
  },
  tick: {
    type: "string",
    valueHint: "US",
    default: "0",
    description:
      "the shortest sleep between batches in microseconds: fewer wake-ups, longer bursts (default 0: wake when the next packet is due)",
    parse: (t: string, f: string) => parseInteger(t, f, { min: 0, max: 1_000_000 }),
  },
  cpu: {
    type: "string",
    valueHint: "N",
    description: "pin the process to this CPU",
    parse: (t: string, f: string) => parseInteger(t, f, { min: 0, max: 4095 }),
  },
  mode: {
    type: "enum",
    options: ["auto", "socket", "packet"],
    what: "mode",
    default: "auto",
    description:
      "socket: UDP sockets; packet: frames on AF_PACKET (multicast with --interface, about twice as fast); auto: packet where possible",
  },
  loop: {
    type: "boolean",
    description: "loop multicast back to sockets in this network namespace (IP_MULTICAST_LOOP)",
  },
  json: json("print the summary as JSON"),
} as const;

export default defineCommand({
  meta: { name: "gen", description: "Send a numbered, timestamped UDP test stream on an absolute schedule" },
  args,
  async run({ args: a }) {
    let dests: ReturnType<typeof endpointList>;
    try {
      dests = endpointList(a.dest, "--dest", { want: "any" });
      if (dests.length > 1024)
        throw new ValueError("--dest", `${dests.length} destinations; at most 1024 (one socket each)`);
    } catch (e) {
      throw asUsage(e, "--dest");
    }
    if (a.cpu !== undefined) pinToCpu(a.cpu);
    const r = await runGen({
      dests,
      interface: a.interface,
      source: a.source?.addr,
      sourcePort: a.source && a.source.port > 0 ? a.source.port : undefined,
      ttl: a.ttl ?? 0,
      size: a.size,
      rate: a.rate,
      count: a.count,
      durationS: a.duration,
      batch: a.batch,
      loop: a.loop,
      mode: a.mode,
      tickUs: a.tick,
    });
    console.log(a.json ? JSON.stringify(r) : formatGen(r));
  },
});
