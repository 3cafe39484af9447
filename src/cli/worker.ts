// Hidden: the supervisor starts one per core (src/supervisor/spawn.ts writes this command line).
// Not for operators.
import { parseInteger } from "../values/integer.ts";
import { runWorker } from "../worker/run.ts";
import { defineCommand } from "./command.ts";

const int = (min: number, max: number) => (t: string, f: string) => parseInteger(t, f, { min, max });
import { EGRESS_MODES, INGRESS_MODES, POLL_MODES } from "../native/abi.ts";

export default defineCommand({
  meta: { name: "worker", description: "internal: one data-plane process (started by the supervisor)", hidden: true },
  args: {
    cpu: { type: "string", default: "-1", description: "CPU to pin to (-1: none)", parse: int(-1, 4095) },
    interface: { type: "string", multiple: true, required: true, description: "input interface (repeatable)" },
    "fanout-id": { type: "string", default: "-1", description: "PACKET_FANOUT group id", parse: int(-1, 65535) },
    "ring-mb": {
      type: "string",
      default: "64",
      description: "receive ring size per interface, MiB",
      parse: int(1, 4096),
    },
    "counters-fd": {
      type: "string",
      default: "-1",
      description: "inherited memfd with the counter region",
      parse: int(-1, 2 ** 31 - 1),
    },
    "buckets-fd": {
      type: "string",
      default: "-1",
      description: "inherited memfd with the rate limits' shared buckets",
      parse: int(-1, 2 ** 31 - 1),
    },
    poll: {
      type: "enum",
      options: POLL_MODES,
      default: "sleep",
      what: "poll mode",
      description: "sleep (default), adaptive or busy",
    },
    egress: {
      type: "enum",
      options: EGRESS_MODES,
      default: "ring",
      what: "egress mode",
      description: "ring (default), sendmsg, socket, zc or gso",
    },
    ingress: {
      type: "enum",
      options: INGRESS_MODES,
      default: "frames",
      what: "ingress mode",
      description: "frames (default) or blocks",
    },
  },
  async run({ args }) {
    process.exitCode = await runWorker({
      cpu: args.cpu,
      interfaces: args.interface,
      fanoutId: args["fanout-id"],
      ringMb: args["ring-mb"],
      countersFd: args["counters-fd"],
      bucketsFd: args["buckets-fd"],
      poll: args.poll,
      egress: args.egress,
      ingress: args.ingress,
    });
  },
});
