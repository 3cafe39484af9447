// Compiles the supervisor's rules into the flat tables the shim reads (struct mcr_rule_entry,
// struct mcr_output_entry), and keeps each rule's and output's counter slot stable across
// table changes, so counters follow a rule and not its position.
import type { MergeMode, Rule } from "../types/rules.ts";
import {
  MERGE_ENTRY as ME,
  MERGE_LEGS_MAX,
  MERGE_WINDOW_PACKETS_MAX,
  MERGE_MODE,
  OUTPUT_ENTRY as OE,
  OUTPUT_FLAG,
  RULE_ENTRY as RE,
  RULE_FLAG,
} from "../native/abi.ts";
import { DEFAULT_REVERT_AFTER_MS, MERGE_WINDOW_MS, TTL_FROM_INPUT } from "../types/rules.ts";
import type { InterfaceInfo } from "../net/interfaces.ts";
import { address16 } from "../values/ipv6.ts";
import { anySource, isIPv6, missingSource, sourceAddress } from "../rules/validate.ts";

export interface CompiledTable {
  rules: Uint8Array;
  nRules: number;
  outputs: Uint8Array;
  nOutputs: number;
  errors: { ruleId: number; message: string }[];
  /** The merges of the table's merge rules (struct mcr_merge_entry), for DataPlane.setMerges. */
  merges: Uint8Array;
  nMerges: number;
  /** Merge rule id -> its merge counter slot. */
  mergeSlots: Map<number, number>;
  /** The interfaces the merge legs come in on, with the modes of their merges: the worker reads
   * them on rings of its own, one for each mode (an rtp merge's may be a ring of blocks). */
  mergeInterfaces: Map<string, Set<MergeMode>>;
  /** Slots in use: rule id -> slot, `${ruleId}:${index}` -> slot. */
  ruleSlots: Map<number, number>;
  outputSlots: Map<string, number>;
  /** The output table in order: `${ruleId}:${index}` of each entry. */
  outputKeys: string[];
  /** How each interface named by the rules resolved: `ifindex/address`, "" if missing. When any
   * of these changes (an interface appears, is re-created, gets an address), compile again. */
  resolved: Map<string, string>;
}

export function resolution(info: InterfaceInfo | undefined): string {
  return info ? `${info.ifindex}/${info.ipv4 ?? ""}/${info.ipv6 ?? ""}/${info.ipv6LinkLocal ?? ""}` : "";
}

/** Hands out counter slots; a freed slot is zeroed by the caller before it is reused. */
export class SlotAllocator {
  private free: number[] = [];
  private next = 0;
  constructor(readonly size: number) {}
  take(): number | undefined {
    if (this.free.length > 0) return this.free.pop();
    return this.next < this.size ? this.next++ : undefined;
  }
  give(slot: number): void {
    this.free.push(slot);
  }
}

export class TableCompiler {
  private ruleSlots = new Map<number, number>();
  private outputSlots = new Map<string, number>();
  /** What each output slot's key sent to when it was taken: a rule replaced in place
   * (`mcr rule replace`) may put another destination at an index, which must not inherit counts. */
  private outputDest = new Map<string, string>();

  constructor(
    private readonly ruleAlloc: SlotAllocator,
    private readonly outputAlloc: SlotAllocator,
    /** Called with slots that are about to be handed to a new owner, to zero their counters. */
    private readonly onReuse: (kind: "rule" | "output" | "merge", slot: number) => void,
    private readonly mergeAlloc: SlotAllocator = new SlotAllocator(0),
  ) {}

  private mergeSlots = new Map<number, number>();

  /**
   * buckets: the shared rate-limit bucket of each rate-limited output (by `${ruleId}:${index}`)
   * and how many the region holds; without one an output's limit is the worker's own.
   * owns: whether this worker merges the rule (every leg of a merge meets in one worker,
   * docs/merge.md); a merge rule it does not own is left out of its table.
   */
  compile(
    rules: Rule[],
    resolve: (name: string) => InterfaceInfo | undefined,
    opts: { buckets?: { of: Record<string, number>; count: number }; owns?: (ruleId: number) => boolean } = {},
  ): CompiledTable {
    const errors: CompiledTable["errors"] = [];
    const { buckets, owns = () => true } = opts;
    rules = rules.filter((r) => !r.merge || owns(r.id));
    // One entry per source of a rule (they share its outputs and counters); one for any source;
    // a merge rule's further legs one each.
    const nEntries = rules.reduce((n, r) => n + (r.inputSources?.length ?? 1) + (r.merge?.legs.length ?? 0), 0);
    const ruleBuf = new Uint8Array(Math.max(1, nEntries) * RE.BYTES);
    const nOut = rules.reduce((n, r) => n + r.outputs.length, 0);
    const outBuf = new Uint8Array(Math.max(1, nOut) * OE.BYTES);
    const rv = new DataView(ruleBuf.buffer);
    const ov = new DataView(outBuf.buffer);
    const keepRules = new Map<number, number>();
    const keepMerges = new Map<number, number>();
    const nMergeRules = rules.filter((r) => r.merge).length;
    const mergeBuf = new Uint8Array(Math.max(1, nMergeRules) * ME.BYTES);
    const mv = new DataView(mergeBuf.buffer);
    let nMerges = 0;
    const mergeInterfaces = new Map<string, Set<MergeMode>>();
    // Keys of the entries written: two legs (or a leg and a rule) on one key would make the
    // shim refuse the whole table.
    const keys = new Set<string>();
    const keepOutputs = new Map<string, number>();
    let nRules = 0;
    let nOutputs = 0;
    const outputKeys: string[] = [];
    const resolved = new Map<string, string>();
    // One lookup per interface and compile: each is a netlink dump, and while the worker compiles
    // it does not read its rings (500 rules cost 80 ms a change without this).
    const seen = new Map<string, InterfaceInfo | undefined>();
    const look = (name: string) => {
      if (seen.has(name)) return seen.get(name);
      const info = resolve(name);
      seen.set(name, info);
      resolved.set(name, resolution(info));
      return info;
    };

    for (const rule of rules) {
      const legs = rule.merge ? this.mergeLegs(rule, look, errors) : undefined;
      if (rule.merge && !legs) {
        this.hold(rule.id, this.ruleSlots, keepRules);
        this.hold(rule.id, this.mergeSlots, keepMerges);
        rule.outputs.forEach((_, i) => this.hold(`${rule.id}:${i}`, this.outputSlots, keepOutputs));
        continue;
      }
      const input = look(rule.inputInterface);
      if (!input && !legs) {
        errors.push({ ruleId: rule.id, message: `input interface ${rule.inputInterface} does not exist` });
        // The rule still exists: its counters keep their slots (and counts) until the interface is back.
        this.hold(rule.id, this.ruleSlots, keepRules);
        rule.outputs.forEach((_, i) => this.hold(`${rule.id}:${i}`, this.outputSlots, keepOutputs));
        continue;
      }
      const first = nOutputs;
      for (let i = 0; i < rule.outputs.length; i++) {
        const o = rule.outputs[i]!;
        const oif = look(o.interface);
        // The address each output sends from is its own family's, whatever the input's (a rule may
        // cross families): IPv4, the interface's first address; IPv6, its first global or ULA
        // address, and for a link-local group (ff02::/16) its link-local one, which a router never
        // forwards but every receiver on the link takes. A global group is never sent from a
        // link-local address (routers past the link would drop it): without a global address
        // the output waits, reported, until the interface has one.
        const source = oif ? sourceAddress(o, oif) : undefined;
        if (!oif || source === undefined) {
          errors.push({
            ruleId: rule.id,
            message: `output ${i} (${o.interface}): ${oif ? missingSource(o, oif) : "no such interface"}`,
          });
          this.hold(`${rule.id}:${i}`, this.outputSlots, keepOutputs);
          continue;
        }
        const key = `${rule.id}:${i}`;
        const dest = `${o.group}:${o.port}:${o.interface}`;
        const was = this.outputDest.get(key);
        if (was !== undefined && was !== dest) {
          const old = this.outputSlots.get(key);
          if (old !== undefined) this.outputAlloc.give(old);
          this.outputSlots.delete(key);
        }
        this.outputDest.set(key, dest);
        const slot = this.slot(key, this.outputSlots, keepOutputs, this.outputAlloc, "output");
        if (slot === undefined) {
          errors.push({ ruleId: rule.id, message: "too many outputs: no counter slot left" });
          continue;
        }
        const at = nOutputs * OE.BYTES;
        ov.setUint32(at + OE.IFINDEX, oif.ifindex, true);
        outBuf.set(address16(source), at + OE.SOURCE);
        outBuf.set(address16(o.group), at + OE.DEST);
        ov.setUint8(at + OE.FAMILY, isIPv6(o.group) ? 6 : 4);
        ov.setUint16(at + OE.PORT, o.port, true);
        const fromInput = o.ttl === TTL_FROM_INPUT;
        ov.setUint8(at + OE.TTL, fromInput ? 0 : o.ttl);
        ov.setUint8(
          at + OE.FLAGS,
          (fromInput ? OUTPUT_FLAG.TTL_INPUT : 0) | (o.dscp !== undefined ? OUTPUT_FLAG.DSCP_SET : 0),
        );
        ov.setUint32(at + OE.COUNTER_SLOT, slot, true);
        ov.setUint32(at + OE.RATE, o.rate ?? 0, true);
        ov.setUint32(at + OE.BURST, o.rate !== undefined ? (o.burst ?? Math.max(1, Math.round(o.rate / 10))) : 0, true);
        ov.setUint8(at + OE.DSCP, o.dscp ?? 0);
        const bucket = o.rate !== undefined ? buckets?.of[key] : undefined;
        if (bucket !== undefined && Number.isInteger(bucket) && bucket >= 0 && bucket < buckets!.count)
          ov.setUint16(at + OE.BUCKET, bucket + 1, true);
        outputKeys[nOutputs] = key;
        nOutputs++;
      }
      const slot = this.slot(rule.id, this.ruleSlots, keepRules, this.ruleAlloc, "rule");
      if (slot === undefined) {
        errors.push({ ruleId: rule.id, message: "too many rules: no counter slot left" });
        nOutputs = first;
        outputKeys.length = first;
        continue;
      }
      if (legs) {
        const mslot = this.slot(rule.id, this.mergeSlots, keepMerges, this.mergeAlloc, "merge");
        const entries = legs.flatMap((l) => l.entries);
        const clash = entries.find((e) => keys.has(e.key));
        if (mslot === undefined || clash || new Set(entries.map((e) => e.key)).size !== entries.length) {
          errors.push({
            ruleId: rule.id,
            message: mslot === undefined ? "too many merge rules: no counter slot left" : "two inputs on one key",
          });
          nOutputs = first;
          outputKeys.length = first;
          continue;
        }
        const m = rule.merge!;
        const at = nMerges * ME.BYTES;
        mv.setUint32(at + ME.COUNTER_SLOT, mslot, true);
        mv.setUint8(at + ME.MODE, m.mode === "rtp" ? MERGE_MODE.RTP : MERGE_MODE.FAILOVER);
        mv.setUint8(at + ME.N_LEGS, 1 + m.legs.length);
        if (m.mode === "rtp") {
          mv.setUint32(at + ME.WINDOW_MS, m.windowPackets ? 0 : (m.windowMs ?? MERGE_WINDOW_MS), true);
          mv.setUint32(at + ME.WINDOW_PACKETS, m.windowPackets ?? 0, true);
        } else {
          mv.setUint32(at + ME.FAILOVER_MS, m.failoverAfterMs, true);
          mv.setUint32(at + ME.REVERT_MS, m.revertAfterMs ?? DEFAULT_REVERT_AFTER_MS, true);
        }
        for (const l of legs) {
          const modes = mergeInterfaces.get(l.interface) ?? new Set<MergeMode>();
          mergeInterfaces.set(l.interface, modes.add(m.mode));
        }
        for (const e of entries) {
          const at = nRules * RE.BYTES;
          keys.add(e.key);
          rv.setUint32(at + RE.IN_IFINDEX, e.ifindex, true);
          ruleBuf.set(address16(e.group), at + RE.GROUP);
          rv.setUint16(at + RE.PORT, e.port, true);
          rv.setUint16(at + RE.N_OUTPUTS, nOutputs - first, true);
          rv.setUint32(at + RE.FIRST_OUTPUT, first, true);
          rv.setUint32(at + RE.COUNTER_SLOT, slot, true);
          ruleBuf.set(address16(e.source), at + RE.SOURCE);
          rv.setUint16(at + RE.VLAN, e.vlan, true);
          rv.setUint8(at + RE.SOURCE_LEN, e.v6 ? e.len : 96 + e.len);
          rv.setUint8(at + RE.FAMILY, e.v6 ? 6 : 4);
          rv.setUint8(at + RE.FLAGS, RULE_FLAG.MERGE);
          rv.setUint8(at + RE.LEG, e.leg);
          rv.setUint16(at + RE.MERGE, nMerges, true);
          nRules++;
        }
        nMerges++;
        continue;
      }
      const v6 = isIPv6(rule.inputGroup);
      for (const source of rule.inputSources ?? [anySource(rule.inputGroup)]) {
        const [addr, len] = source.split("/");
        const at = nRules * RE.BYTES;
        rv.setUint32(at + RE.IN_IFINDEX, input!.ifindex, true);
        ruleBuf.set(address16(rule.inputGroup), at + RE.GROUP);
        rv.setUint16(at + RE.PORT, rule.inputPort, true);
        rv.setUint16(at + RE.N_OUTPUTS, nOutputs - first, true);
        rv.setUint32(at + RE.FIRST_OUTPUT, first, true);
        rv.setUint32(at + RE.COUNTER_SLOT, slot, true);
        ruleBuf.set(address16(addr!), at + RE.SOURCE);
        rv.setUint16(at + RE.VLAN, rule.inputVlan ?? 0, true);
        // IPv4-mapped: an IPv4 prefix counts the mapped prefix's 96 bits too.
        const bits = len === undefined ? (v6 ? 128 : 32) : Number(len);
        rv.setUint8(at + RE.SOURCE_LEN, v6 ? bits : 96 + bits);
        rv.setUint8(at + RE.FAMILY, v6 ? 6 : 4);
        keys.add(entryKey(input!.ifindex, rule.inputGroup, rule.inputPort, rule.inputVlan ?? 0, addr!, len));
        nRules++;
      }
    }
    // Slots of rules and outputs that left the table go back to the pool.
    for (const [id, slot] of this.ruleSlots) if (!keepRules.has(id)) this.ruleAlloc.give(slot);
    for (const [id, slot] of this.mergeSlots) if (!keepMerges.has(id)) this.mergeAlloc.give(slot);
    this.mergeSlots = keepMerges;
    for (const [key, slot] of this.outputSlots) if (!keepOutputs.has(key)) this.outputAlloc.give(slot);
    for (const key of this.outputDest.keys()) if (!keepOutputs.has(key)) this.outputDest.delete(key);
    this.ruleSlots = keepRules;
    this.outputSlots = keepOutputs;
    return {
      rules: ruleBuf,
      nRules,
      outputs: outBuf,
      nOutputs,
      merges: mergeBuf,
      nMerges,
      mergeSlots: keepMerges,
      mergeInterfaces,
      errors,
      ruleSlots: keepRules,
      outputSlots: keepOutputs,
      outputKeys,
      resolved,
    };
  }

  /**
   * A merge rule's legs as table entries (leg 0: the rule's own input, its sources and VLAN; the
   * others untagged, from their source or any). A leg whose interface is missing is left out
   * (the others merge on) and reported; undefined, reported, when the rule cannot be merged.
   */
  private mergeLegs(
    rule: Rule,
    look: (name: string) => InterfaceInfo | undefined,
    errors: CompiledTable["errors"],
  ): MergeLeg[] | undefined {
    const m = rule.merge!;
    const refuse = (message: string) => {
      errors.push({ ruleId: rule.id, message });
      return undefined;
    };
    if (m.legs.length < 1 || m.legs.length >= MERGE_LEGS_MAX) return refuse("a merge takes two to four inputs");
    if (m.mode === "rtp") {
      if (
        m.windowPackets !== undefined &&
        !(Number.isInteger(m.windowPackets) && m.windowPackets >= 1 && m.windowPackets <= MERGE_WINDOW_PACKETS_MAX)
      )
        return refuse(`merge window: 1 to ${MERGE_WINDOW_PACKETS_MAX} packets`);
      if (m.windowMs !== undefined && !(Number.isInteger(m.windowMs) && m.windowMs >= 1 && m.windowMs <= 60000))
        return refuse("merge window: 1 to 60000 ms");
    } else if (!(Number.isInteger(m.failoverAfterMs) && m.failoverAfterMs >= 1) || !((m.revertAfterMs ?? 0) >= 0))
      return refuse("failover: a silence of at least 1 ms");
    const all = [
      {
        interface: rule.inputInterface,
        group: rule.inputGroup,
        port: rule.inputPort,
        sources: rule.inputSources,
        vlan: rule.inputVlan ?? 0,
      },
      ...m.legs.map((l) => ({
        interface: l.interface,
        group: l.group,
        port: l.port,
        sources: l.source ? [l.source] : undefined,
        vlan: 0,
      })),
    ];
    if (all.some((l) => (l.sources ?? []).some((src) => isIPv6(src) !== isIPv6(l.group))))
      return refuse("an input's source is of another family than its group");
    const legs: MergeLeg[] = [];
    all.forEach((l, leg) => {
      const info = look(l.interface);
      if (!info) {
        errors.push({ ruleId: rule.id, message: `input ${leg} (${l.interface}): no such interface` });
        return;
      }
      legs.push({
        interface: l.interface,
        entries: (l.sources ?? [anySource(l.group)]).map((src) => {
          const [addr, len] = src.split("/");
          const v6 = isIPv6(l.group);
          const n = len === undefined ? (v6 ? 128 : 32) : Number(len);
          return {
            leg,
            v6,
            ifindex: info.ifindex,
            group: l.group,
            port: l.port,
            vlan: l.vlan,
            source: addr!,
            len: n,
            key: entryKey(info.ifindex, l.group, l.port, l.vlan, addr!, len),
          };
        }),
      });
    });
    return legs.length > 0 ? legs : undefined;
  }

  /** Keeps a slot the key already has (none is taken for it): its counts stay for when it is back. */
  private hold<K>(key: K, current: Map<K, number>, keep: Map<K, number>): void {
    const slot = current.get(key);
    if (slot !== undefined) keep.set(key, slot);
  }

  private slot<K>(
    key: K,
    current: Map<K, number>,
    keep: Map<K, number>,
    alloc: SlotAllocator,
    kind: "rule" | "output" | "merge",
  ) {
    let slot = current.get(key);
    if (slot === undefined) {
      slot = alloc.take();
      if (slot === undefined) return undefined;
      this.onReuse(kind, slot);
    }
    keep.set(key, slot);
    return slot;
  }
}

interface MergeLeg {
  interface: string;
  entries: {
    leg: number;
    v6: boolean;
    ifindex: number;
    group: string;
    port: number;
    vlan: number;
    source: string;
    len: number;
    key: string;
  }[];
}

/** What the shim's lookup tells entries apart by. */
function entryKey(ifindex: number, group: string, port: number, vlan: number, addr: string, len: string | undefined) {
  return `${ifindex}|${group}|${port}|${vlan}|${addr}/${len ?? 32}`;
}
