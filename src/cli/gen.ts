import { pinToCpu } from "../native/shim.ts";
import { formatGen, type GenLegs, runGen } from "../tools/gen.ts";
import { HEADER_LEN, MAX_PAYLOAD } from "../tools/payload.ts";
import { parseEndpoint } from "../values/endpoint.ts";
import { ValueError } from "../values/error.ts";
import { ifName } from "../values/ifname.ts";
import { parseInteger } from "../values/integer.ts";
import { parseNumber } from "../values/number.ts";
import { parsePercentPpm } from "../values/percent.ts";
import { parseSeconds } from "../values/seconds.ts";
import { UDP_MAX_LEGS } from "../native/abi.ts";
import { asUsage, UsageError } from "./args.ts";
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
    multiple: true,
    valueHint: "IF",
    description: "multicast egress interface; with --legs, once for every leg or once per leg, in --dest's order",
    parse: (t: string, f: string) => ifName(t, f),
  },
  legs: {
    type: "string",
    valueHint: "N",
    description: `send one RTP stream on N legs (2..${UDP_MAX_LEGS}): every packet to each --dest, one --dest per leg; --rate and --count are the stream's`,
    parse: (t: string, f: string) => parseInteger(t, f, { min: 2, max: UDP_MAX_LEGS }),
  },
  loss: {
    type: "string",
    valueHint: "P%",
    description: "with --legs: each leg drops this share of the packets, on its own (e.g. 1%)",
    parse: (t: string, f: string) => parsePercentPpm(t, f),
  },
  seed: {
    type: "string",
    valueHint: "N",
    description:
      "with --loss: the seed of the legs' drops (0..4294967295; default random, printed): the same seed drops the same packets",
    parse: (t: string, f: string) => parseInteger(t, f, { min: 0, max: 0xffffffff }),
  },
  "rtp-seq": {
    type: "string",
    valueHint: "N",
    description: "with --legs: the RTP sequence number of the first packet (0..65535, default 0; 65500 wraps soon)",
    parse: (t: string, f: string) => parseInteger(t, f, { min: 0, max: 65535 }),
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
    const legs = legsOf(a, dests.length);
    if (a.cpu !== undefined) pinToCpu(a.cpu);
    const r = await runGen({
      dests,
      interface: legs?.interfaces ? undefined : a.interface[0],
      ...(legs ? { legs } : {}),
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

/** --legs and the flags that go with it, checked against --dest and --interface. */
function legsOf(
  a: { legs?: number; loss?: number; seed?: number; "rtp-seq"?: number; interface: string[] },
  dests: number,
): GenLegs | undefined {
  if (a.legs === undefined) {
    for (const k of ["loss", "seed", "rtp-seq"] as const)
      if (a[k] !== undefined) throw new UsageError(`--${k} goes with --legs N`, k);
    if (a.interface.length > 1)
      throw new UsageError("--interface: one interface, or one per leg with --legs", "interface");
    return undefined;
  }
  if (dests !== a.legs) throw new UsageError(`--legs ${a.legs}: give one --dest per leg (${dests} given)`, "dest");
  if (a.interface.length > 1 && a.interface.length !== a.legs)
    throw new UsageError(
      `--interface: give it once for every leg or once per leg (${a.legs}), not ${a.interface.length} times`,
      "interface",
    );
  if (a.seed !== undefined && a.loss === undefined) throw new UsageError("--seed goes with --loss", "seed");
  return {
    ...(a.interface.length > 1 ? { interfaces: a.interface } : {}),
    lossPpm: a.loss ?? 0,
    seed: a.seed ?? crypto.getRandomValues(new Uint32Array(1))[0]!,
    rtpSeqStart: a["rtp-seq"] ?? 0,
  };
}
