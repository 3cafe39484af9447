// The `mcr stats --json` schema (docs/stats-schema.md) as data, and a checker that refuses any
// key the schema does not list, any listed key missing, and any value of the wrong kind.
// A key ending in "?" is optional.
import { DROP_REASONS } from "../../src/stats/reasons.ts";

type Spec =
  | "count"
  | "number"
  | "string"
  | "boolean"
  | "iso"
  | "count|null"
  | "number|null"
  | { literal: unknown }
  | { oneOf: string[] }
  | Spec[]
  | { [key: string]: Spec };

const drops: Record<string, Spec> = Object.fromEntries(DROP_REASONS.map((r) => [r, "count"]));
const dropRates: Record<string, Spec> = Object.fromEntries(DROP_REASONS.map((r) => [r, "number"]));
const packetRate = { packetsPerSecond: "number", bitsPerSecond: "number" } as const;
const trafficRate = {
  rxFramesPerSecond: "number",
  rxBitsPerSecond: "number",
  txPacketsPerSecond: "number",
  txBitsPerSecond: "number",
  txErrorsPerSecond: "number",
  dropsPerSecond: "number",
  ringDropsPerSecond: "number",
} as const;
const totals = {
  rxFrames: "count",
  rxBytes: "count",
  batches: "count",
  ringPackets: "count",
  ringDrops: "count",
  txPackets: "count",
  txBytes: "count",
  txErrors: "count",
  rxForeign: "count",
  wakeups: "count",
  spins: "count",
  spinHits: "count",
  drops: "count",
  "rate?": trafficRate,
} as const;

export const STATS_SCHEMA: Spec = {
  schema: { literal: 1 },
  version: "string",
  at: "iso",
  uptimeSeconds: "count",
  "intervalSeconds?": "number",
  totals,
  drops,
  "dropRates?": dropRates,
  rules: [
    {
      id: "count",
      "name?": "string",
      inputInterface: "string",
      inputGroup: "string",
      inputPort: "count",
      packets: "count",
      bytes: "count",
      "rate?": packetRate,
      outputs: [
        {
          group: "string",
          port: "count",
          interface: "string",
          ttl: "count",
          packets: "count",
          bytes: "count",
          errors: "count",
          "rate?": { ...packetRate, errorsPerSecond: "number" },
        },
      ],
      "merge?": {
        mode: { oneOf: ["rtp", "failover"] },
        out: "count",
        lost: "count",
        switches: "count",
        active: "count",
        held: "count",
        tooLarge: "count",
        restarts: "count",
        inputs: [
          {
            interface: "string",
            group: "string",
            port: "count",
            packets: "count",
            unique: "count",
            duplicates: "count",
            late: "count",
            gaps: "count",
            notRtp: "count",
            lastSeenSecondsAgo: "number|null",
          },
        ],
      },
    },
  ],
  workers: [
    {
      index: "count",
      cpu: "count",
      pid: "count|null",
      state: { oneOf: ["starting", "ready", "restarting", "stopping", "stopped"] },
      restarts: "count",
      ...totals,
      averageBatch: "number",
      inputs: [
        {
          interface: "string",
          state: { oneOf: ["up", "down", "missing"] },
          "error?": "string",
          "fanoutId?": "count",
        },
      ],
      "failedOutputs?": [{ output: "string", errno: "count", error: "string" }],
    },
  ],
  interfaces: [{ name: "string", up: "boolean", workersUp: "count", workers: "count" }],
  stale: ["count"],
  "config?": { path: "string", "lastReload?": { at: "iso", ok: "boolean", "error?": "string" } },
};

/** Every problem with `value` against `spec`, as "path: what"; empty when it conforms. */
export function checkSchema(value: unknown, spec: Spec = STATS_SCHEMA, path = "$"): string[] {
  const bad = (what: string) => [`${path}: ${what} (got ${JSON.stringify(value)?.slice(0, 80)})`];
  if (typeof spec === "string") {
    switch (spec) {
      case "count":
        return Number.isSafeInteger(value) && (value as number) >= 0 ? [] : bad("not a non-negative integer");
      case "count|null":
        return value === null || (Number.isSafeInteger(value) && (value as number) >= 0)
          ? []
          : bad("not an integer or null");
      case "number|null":
        return value === null || (typeof value === "number" && Number.isFinite(value) && value >= 0)
          ? []
          : bad("not a finite non-negative number or null");
      case "number":
        return typeof value === "number" && Number.isFinite(value) && value >= 0
          ? []
          : bad("not a finite non-negative number");
      case "string":
        return typeof value === "string" ? [] : bad("not a string");
      case "boolean":
        return typeof value === "boolean" ? [] : bad("not a boolean");
      case "iso":
        return typeof value === "string" && /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/.test(value)
          ? []
          : bad("not an ISO 8601 UTC time");
    }
  }
  if (Array.isArray(spec)) {
    if (!Array.isArray(value)) return bad("not an array");
    return value.flatMap((v, i) => checkSchema(v, spec[0]!, `${path}[${i}]`));
  }
  if ("literal" in spec && Object.keys(spec).length === 1)
    return value === spec.literal ? [] : bad(`not ${JSON.stringify(spec.literal)}`);
  if ("oneOf" in spec && Array.isArray(spec.oneOf)) {
    const allowed = spec.oneOf as string[];
    return allowed.includes(value as string) ? [] : bad(`not one of ${allowed.join(", ")}`);
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) return bad("not an object");
  const out: string[] = [];
  const keys = new Map(Object.keys(spec).map((k) => [k.replace(/\?$/, ""), k]));
  for (const k of Object.keys(value)) if (!keys.has(k)) out.push(`${path}.${k}: not in the schema`);
  for (const [k, raw] of keys) {
    const v = (value as Record<string, unknown>)[k];
    if (v === undefined) {
      if (!raw.endsWith("?")) out.push(`${path}.${k}: missing`);
      continue;
    }
    out.push(...checkSchema(v, (spec as Record<string, Spec>)[raw]!, `${path}.${k}`));
  }
  return out;
}

/** Every key the schema names, for checking that the documentation lists them all. */
export function schemaKeys(spec: Spec = STATS_SCHEMA, out = new Set<string>()): Set<string> {
  if (typeof spec === "string") return out;
  if (Array.isArray(spec)) return schemaKeys(spec[0]!, out);
  if (("literal" in spec || "oneOf" in spec) && Object.keys(spec).length === 1) return out;
  for (const [k, v] of Object.entries(spec as Record<string, Spec>)) {
    out.add(k.replace(/\?$/, ""));
    schemaKeys(v, out);
  }
  return out;
}
