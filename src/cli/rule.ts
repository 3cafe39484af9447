// mcr rule add | list | remove | replace | apply: the operator's side of the control socket.
import { loadBatch } from "../config/batch.ts";
import { call } from "../control/client.ts";
import { McrError } from "../errors.ts";
import {
  flagOf,
  parseFailoverAfter,
  parseInputLeg,
  parseMergeWindow,
  parseOutputs,
  parseRevertAfter,
  parseRuleFlags,
} from "../rules/parse.ts";
import { checkTtl, MERGE_WINDOW_PACKETS, VLAN } from "../rules/validate.ts";
import { renderRuleList } from "../stats/render.ts";
import { DEFAULT_REVERT_AFTER_MS, MERGE_WINDOW_MS, type Rule } from "../types/rules.ts";
import { formatDuration } from "../values/duration.ts";
import { PORT, parseIntegerSyntax, TTL } from "../values/integer.ts";
import { parseRuleRef, ruleName } from "../values/name.ts";
import { UsageError } from "./args.ts";
import { defineCommand } from "./command.ts";
import { json, socketPath } from "./shared.ts";

/**
 * Puts the flag an error is about in front of its message: "--input-port: 0 is not a port ...".
 * viaInput: the rule's input came with --input, so that is the flag its fields name.
 */
function withFlag(e: unknown, viaInput = false): unknown {
  if (!(e instanceof McrError) || e.field === undefined) return e;
  return new McrError(`${flagOf(e.field, viaInput)}: ${e.message}`, e.exitCode, e.field, e.code);
}

const ttl = {
  type: "string",
  valueHint: "N",
  description: "TTL for outputs that give none (default 1)",
  parse: (t: string, f: string) => parseIntegerSyntax(t, f, TTL),
} as const;

const dryRun = {
  type: "boolean",
  description: "let the supervisor check the change against its table; change nothing",
} as const;

const add = defineCommand({
  meta: { name: "add", description: "Add a rule; prints its id" },
  args: {
    "input-group": {
      type: "string",
      valueHint: "GROUP",
      description: "multicast group to relay, e.g. 239.1.1.1 (or give --input)",
    },
    // Written as an integer or refused here (64); its range is the rule's to judge (65), as the
    // supervisor judges it for any client.
    "input-port": {
      type: "string",
      valueHint: "PORT",
      description: "UDP destination port to relay",
      parse: (t, f) => parseIntegerSyntax(t, f, PORT),
    },
    outputs: {
      type: "string",
      required: true,
      valueHint: "G:P:IF[:TTL][:K=V...],...",
      description:
        "where to send, comma-separated: group (or unicast host):port:interface, then :TTL or :key=value options (ttl=N or ttl=-1, dscp=N, rate=N[k|M], burst=N)",
    },
    "input-interface": {
      type: "string",
      valueHint: "IF",
      description: "input interface (needed when the supervisor serves several)",
    },
    ttl,
    name: {
      type: "string",
      valueHint: "NAME",
      description: "a name for the rule (letters, digits, -, _, .), usable wherever its id is",
      parse: (t, f) => ruleName(t, f),
    },
    "allow-link-local": {
      type: "boolean",
      description: "allow a link-local group (224.0.0.0/24, e.g. mDNS); outputs must be on other interfaces",
    },
    "dry-run": dryRun,
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
    input: {
      type: "string",
      multiple: true,
      valueHint: "IF:GROUP:PORT[:SOURCE]",
      description:
        "an input as one value (IPv6 group in brackets: eth0:[ff3e::1]:5001); repeat for a merge rule's 2 to 4 legs, the first the primary",
      parse: (t, f) => parseInputLeg(t, f),
    },
    merge: {
      type: "enum",
      options: ["rtp", "failover"] as const,
      valueHint: "rtp|failover",
      what: "merge mode",
      description:
        "how several --input become one stream: rtp (per SSRC the first copy of each sequence number, SMPTE ST 2022-7) or failover (the first live leg)",
    },
    "merge-window": {
      type: "string",
      valueHint: "10ms|50ms|450ms|Npkts",
      description: `rtp: how long (1ms to 1000ms) or how many packets (1 to ${MERGE_WINDOW_PACKETS.max}) a copy may lag behind the first (default ${MERGE_WINDOW_MS}ms)`,
      parse: (t, f) => parseMergeWindow(t, f),
    },
    "failover-after": {
      type: "string",
      valueHint: "DURATION",
      description:
        "failover (required): how long the primary may be silent before the next live leg is taken, e.g. 200ms",
      parse: (t, f) => parseFailoverAfter(t, f),
    },
    "revert-after": {
      type: "string",
      valueHint: "DURATION",
      description: `failover: how long the primary must be steady again before it is taken back (default ${formatDuration(DEFAULT_REVERT_AFTER_MS)})`,
      parse: (t, f) => parseRevertAfter(t, f),
    },
    "socket-path": socketPath,
  },
  async run({ args }) {
    const viaInput = args.input.length > 0;
    if (!viaInput)
      for (const [k, hint] of [
        ["input-group", "GROUP"],
        ["input-port", "PORT"],
      ] as const)
        if (args[k] === undefined)
          throw new UsageError(
            `--${k} is required (${hint}), or give the input as --input IF:GROUP:PORT (see mcr rule add --help)`,
            k,
          );
    try {
      const window = args["merge-window"];
      // Checked here first: a malformed rule is refused without a supervisor, with the same message.
      const spec = parseRuleFlags({
        inputGroup: args["input-group"],
        inputPort: args["input-port"],
        inputInterface: args["input-interface"],
        outputs: args.outputs,
        ttl: args.ttl,
        name: args.name,
        allowLinkLocal: args["allow-link-local"],
        ...(args["input-source"].length > 0 ? { inputSource: args["input-source"] } : {}),
        inputVlan: args["input-vlan"],
        ...(viaInput ? { inputs: args.input } : {}),
        merge: {
          mode: args.merge,
          window,
          failoverAfterMs: args["failover-after"],
          revertAfterMs: args["revert-after"],
        },
      });
      const dry = args["dry-run"];
      const { rule, warnings } = await call(args["socket-path"], "rule.add", dry ? { ...spec, dryRun: true } : spec);
      for (const w of warnings) console.error(`mcr: warning: rule ${rule.id}: ${w}`);
      console.log(dry ? `dry run: rule ${rule.id} would be added (nothing changed)` : String(rule.id));
    } catch (e) {
      throw withFlag(e, viaInput);
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

const ruleRef = {
  type: "positional",
  required: true,
  valueHint: "NAME|ID",
  description: "the rule's name or id (see mcr rule list)",
} as const;

/** NAME|ID as typed, or a usage error (64). */
function refOf(text: string): number | string {
  try {
    return parseRuleRef(text, "id");
  } catch (e) {
    throw new UsageError(`NAME|ID: ${(e as Error).message}`, "id");
  }
}

const label = (r: Rule) => `rule ${r.id}${r.name ? ` (${r.name})` : ""}`;

const remove = defineCommand({
  meta: { name: "remove", description: "Remove a rule by name or id" },
  args: { id: ruleRef, "socket-path": socketPath },
  async run({ args }) {
    const id = refOf(args.id);
    try {
      const { rule } = await call(args["socket-path"], "rule.remove", { id });
      console.log(`removed ${label(rule)}`);
    } catch (e) {
      throw withFlag(e);
    }
  },
});

const replace = defineCommand({
  meta: {
    name: "replace",
    description: "Give a rule new outputs in place (same id, name and counters; outputs that stay never pause)",
  },
  args: {
    id: ruleRef,
    outputs: {
      type: "string",
      required: true,
      valueHint: "G:P:IF[:TTL],...",
      description: "the rule's outputs from now on: group (or unicast host):port:interface[:ttl], comma-separated",
    },
    ttl,
    "dry-run": dryRun,
    "socket-path": socketPath,
  },
  async run({ args }) {
    const id = refOf(args.id);
    try {
      const ttl = args.ttl === undefined ? undefined : checkTtl(args.ttl, "ttl");
      const outputs = parseOutputs(args.outputs, ttl);
      const dry = args["dry-run"];
      const { rule, warnings } = await call(args["socket-path"], "rule.replace", {
        id,
        outputs,
        ...(dry ? { dryRun: true } : {}),
      });
      for (const w of warnings) console.error(`mcr: warning: rule ${rule.id}: ${w}`);
      console.log(dry ? `dry run: ${label(rule)} would be replaced (nothing changed)` : `replaced ${label(rule)}`);
    } catch (e) {
      throw withFlag(e);
    }
  },
});

const apply = defineCommand({
  meta: {
    name: "apply",
    description: "Apply a batch of adds, removes and replaces (TOML or JSON) as one table: all or nothing",
  },
  args: {
    file: {
      type: "positional",
      required: true,
      valueHint: "FILE",
      description: "the batch (see docs/control-protocol.md)",
    },
    "dry-run": dryRun,
    "socket-path": socketPath,
  },
  async run({ args }) {
    const changes = loadBatch(args.file);
    const dry = args["dry-run"];
    const r = await call(args["socket-path"], "rule.apply", { changes, ...(dry ? { dryRun: true } : {}) });
    for (const w of r.warnings) console.error(`mcr: warning: ${w}`);
    const ids = (rs: Rule[]) => rs.map((x) => x.name ?? String(x.id)).join(", ") || "-";
    console.log(
      `${dry ? "dry run (nothing changed): would apply" : `applied (table version ${r.version})`}: ${r.added.length} added (${ids(r.added)}), ${r.removed.length} removed (${ids(r.removed)}), ${r.replaced.length} replaced (${ids(r.replaced)})`,
    );
  },
});

export default defineCommand({
  meta: { name: "rule", description: "Add, list, remove, replace and apply relay rules on a running supervisor" },
  subCommands: {
    add: async () => add,
    list: async () => list,
    remove: async () => remove,
    replace: async () => replace,
    apply: async () => apply,
  },
});
