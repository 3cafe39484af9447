// mcr config check FILE: validates a config file without running anything.
import { loadConfig } from "../config/load.ts";
import { describeOutput, missingSource } from "../rules/validate.ts";
import { defineCommand } from "./command.ts";

const check = defineCommand({
  meta: {
    name: "check",
    description: "Validate a config file: syntax, keys, every rule (exit 78 with file:line if wrong)",
  },
  args: {
    file: { type: "positional", required: true, valueHint: "FILE", description: "the config file (TOML)" },
  },
  async run({ args }) {
    const cfg = loadConfig(args.file);
    // Interfaces may be missing on the machine that checks the file: say so, but it is no error.
    const { lookupInterface } = await import("../net/interfaces.ts");
    for (const i of cfg.interfaces ?? [])
      if (!lookupInterface(i)) console.error(`mcr: warning: ${args.file}: interface ${i} does not exist on this host`);
    for (const r of cfg.rules)
      for (const o of r.outputs) {
        const info = lookupInterface(o.interface);
        const missing = info ? missingSource(o, info) : "no such interface on this host";
        if (missing) console.error(`mcr: warning: ${args.file}:${r.line}: output ${describeOutput(o)}: ${missing}`);
      }
    console.log(
      `${args.file}: ok, ${cfg.rules.length} rule(s)${cfg.interfaces ? `, interfaces ${cfg.interfaces.join(", ")}` : ""}`,
    );
  },
});

export default defineCommand({
  meta: { name: "config", description: "Work with the supervisor's config file" },
  subCommands: { check: async () => check },
});
