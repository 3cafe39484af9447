import { defineCommand } from "citty";
import { runWorker } from "../worker/run.ts";
import { EX, McrError } from "../errors.ts";
import { repeated } from "../tools/args.ts";
import { POLL_MODES, type PollMode } from "../native/abi.ts";

// Hidden: the supervisor starts one per core. Not for operators.
export default defineCommand({
  meta: { name: "worker", description: "internal: one data-plane process (started by the supervisor)", hidden: true },
  args: {
    cpu: { type: "string", default: "-1", description: "CPU to pin to (-1: none)" },
    interface: { type: "string", description: "input interface (repeatable)", required: true },
    "fanout-id": { type: "string", default: "-1", description: "PACKET_FANOUT group id" },
    "ring-mb": { type: "string", default: "64", description: "receive ring size per interface, MiB" },
    "counters-fd": { type: "string", default: "-1", description: "inherited memfd with the counter region" },
    poll: { type: "string", default: "adaptive", description: "adaptive, busy or sleep" },
  },
  async run({ args, rawArgs }) {
    const list = (v: unknown) => (Array.isArray(v) ? v : [v]).map(String);
    const int = (v: string, name: string) => {
      const n = Number(v);
      if (!Number.isInteger(n)) throw new McrError(`--${name}: "${v}" is not an integer`, EX.USAGE, name);
      return n;
    };
    // citty keeps only the last of a repeated option in args: read them all from argv.
    const ifaces = repeated(rawArgs, "interface");
    if (!(POLL_MODES as readonly string[]).includes(args.poll))
      throw new McrError(`--poll: "${args.poll}" is not one of ${POLL_MODES.join(", ")}`, EX.USAGE, "poll");
    process.exitCode = await runWorker({
      cpu: int(args.cpu, "cpu"),
      interfaces: ifaces.length > 0 ? ifaces : list(args.interface),
      fanoutId: int(args["fanout-id"], "fanout-id"),
      ringMb: int(args["ring-mb"], "ring-mb"),
      countersFd: int(args["counters-fd"], "counters-fd"),
      poll: args.poll as PollMode,
    });
  },
});
