// mcr stats: the supervisor's counters, summed over workers (and over their restarts).
import { defineCommand } from "citty";
import { call, socketPathArg } from "../control/client.ts";
import { renderStats } from "../stats/render.ts";

export default defineCommand({
  meta: { name: "stats", description: "Show counters per rule, output, drop reason and worker (--json for JSON)" },
  args: {
    json: { type: "boolean", description: "print the report as JSON (schema in docs/control-protocol.md)" },
    "socket-path": socketPathArg,
  },
  async run({ args }) {
    const report = await call(args["socket-path"], "stats", {});
    console.log(args.json ? JSON.stringify(report, null, 2) : renderStats(report));
  },
});
