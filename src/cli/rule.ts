// mcr rule add | list | remove: the operator's side of the control socket.
import { call } from "../control/client.ts";
import { McrError } from "../errors.ts";
import { flagOf, parseRuleFlags } from "../rules/parse.ts";
import { VLAN } from "../rules/validate.ts";
import { renderRuleList } from "../stats/render.ts";
import { PORT, parseInteger, parseIntegerSyntax, TTL } from "../values/integer.ts";
import { UsageError } from "./args.ts";
import { defineCommand } from "./command.ts";
import { json, socketPath } from "./shared.ts";

/** Puts the flag an error is about in front of its message: "--input-port: 0 is not a port ...". */
function withFlag(e: unknown): unknown {
  if (!(e instanceof McrError) || e.field === undefined) return e;
  return new McrError(`${flagOf(e.field)}: ${e.message}`, e.exitCode, e.field, e.code);
}

const add = defineCommand({
  meta: { name: "add", description: "Add a rule; prints its id" },
  args: {
    "input-group": {
      type: "string",
      required: true,
      valueHint: "GROUP",
      description: "multicast group to relay, e.g. 239.1.1.1",
    },
    // Written as an integer or refused here (64); its range is the rule's to judge (65), as the
    // supervisor judges it for any client.
    "input-port": {
      type: "string",
      required: true,
      valueHint: "PORT",
      description: "UDP destination port to relay",
      parse: (t, f) => parseIntegerSyntax(t, f, PORT),
    },
    outputs: {
      type: "string",
      required: true,
      valueHint: "G:P:IF[:TTL][:K=V...],...",
      description:
        "where to send: group (or unicast host):port:interface[:ttl][:ttl=N|-1][:dscp=N][:rate=N[k|M]][:burst=N], comma-separated",
    },
    "input-interface": {
      type: "string",
      valueHint: "IF",
      description: "input interface (needed when the supervisor serves several)",
    },
    ttl: {
      type: "string",
      valueHint: "N",
      description: "TTL for outputs that give none (default 1)",
      parse: (t, f) => parseIntegerSyntax(t, f, TTL),
    },
    "input-source": {
      type: "string",
      multiple: true,
      valueHint: "A[/LEN]",
      description: "take only datagrams from this source (address or prefix); repeat or comma-separate for several",
    },
    "input-vlan": {
      type: "string",
      valueHint: "N",
      description: "take only frames tagged with this VLAN (0-4094; default: untagged frames only)",
      parse: (t, f) => parseIntegerSyntax(t, f, VLAN),
    },
    "socket-path": socketPath,
  },
  async run({ args }) {
    try {
      // Checked here first: a malformed rule is refused without a supervisor, with the same message.
      const spec = parseRuleFlags({
        inputGroup: args["input-group"],
        inputPort: args["input-port"],
        inputInterface: args["input-interface"],
        outputs: args.outputs,
        ttl: args.ttl,
        ...(args["input-source"].length > 0 ? { inputSource: args["input-source"] } : {}),
        inputVlan: args["input-vlan"],
      });
      const { rule, warnings } = await call(args["socket-path"], "rule.add", spec);
      for (const w of warnings) console.error(`mcr: warning: rule ${rule.id}: ${w}`);
      console.log(String(rule.id));
    } catch (e) {
      throw withFlag(e);
    }
  },
});

const list = defineCommand({
  meta: { name: "list", description: "List the rules (a table; --json for JSON)" },
  args: {
    json: json("print JSON"),
    "socket-path": socketPath,
  },
  async run({ args }) {
    const result = await call(args["socket-path"], "rule.list", {});
    console.log(args.json ? JSON.stringify(result, null, 2) : renderRuleList(result));
  },
});

const remove = defineCommand({
  meta: { name: "remove", description: "Remove a rule by id" },
  args: {
    id: { type: "positional", required: true, valueHint: "ID", description: "the rule's id (see mcr rule list)" },
    "socket-path": socketPath,
  },
  async run({ args }) {
    let id: number;
    try {
      id = parseInteger(args.id, "ID", { min: 1, max: 999_999_999 });
    } catch {
      throw new UsageError(`ID: "${args.id}" is not a rule id (a positive integer, see mcr rule list)`, "id");
    }
    try {
      const { rule } = await call(args["socket-path"], "rule.remove", { id });
      console.log(`removed rule ${rule.id}`);
    } catch (e) {
      throw withFlag(e);
    }
  },
});

export default defineCommand({
  meta: { name: "rule", description: "Add, list and remove relay rules on a running supervisor" },
  subCommands: { add: async () => add, list: async () => list, remove: async () => remove },
});
