// The Prometheus text exposition format, version 0.0.4, for `GET /metrics`: node_exporter-style
// names (mcr_<what>_<unit>_total for counters), one HELP and one TYPE line per family, every
// label value escaped. Built from the same report `mcr stats --json` prints.
import { DROP_REASONS } from "./reasons.ts";
import type { StatsReport } from "../types/stats.ts";

export const CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

type Labels = Record<string, string | number>;
interface Family {
  name: string;
  type: "counter" | "gauge";
  help: string;
  samples: { labels: Labels; value: number }[];
}

/** A label value inside double quotes: backslash, double quote and line feed escaped. */
export const escapeLabel = (v: string) => v.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
/** HELP text: backslash and line feed escaped. */
export const escapeHelp = (v: string) => v.replace(/\\/g, "\\\\").replace(/\n/g, "\\n");

export function formatValue(v: number): string {
  if (Number.isNaN(v)) return "NaN";
  if (v === Infinity) return "+Inf";
  if (v === -Infinity) return "-Inf";
  return String(v);
}

export function renderFamilies(families: Family[]): string {
  const out: string[] = [];
  for (const f of families) {
    out.push(`# HELP ${f.name} ${escapeHelp(f.help)}`, `# TYPE ${f.name} ${f.type}`);
    for (const s of f.samples) {
      const labels = Object.entries(s.labels)
        .map(([k, v]) => `${k}="${escapeLabel(String(v))}"`)
        .join(",");
      out.push(`${f.name}${labels ? `{${labels}}` : ""} ${formatValue(s.value)}`);
    }
  }
  return out.join("\n") + "\n";
}

export interface MetricsMeta {
  startedAt: number; // ms since the epoch
}

export function renderMetrics(r: StatsReport, meta: MetricsMeta): string {
  const f = (name: string, type: Family["type"], help: string, samples: Family["samples"]): Family => ({
    name,
    type,
    help,
    samples,
  });
  const worker = (w: StatsReport["workers"][number]) => ({ worker: w.index, cpu: w.cpu });
  const ruleLabels = (x: StatsReport["rules"][number]) => ({
    rule: x.id,
    // A named rule keeps its name (and so its series) when it is edited; "" for a rule without one.
    name: x.name ?? "",
    interface: x.inputInterface,
    group: x.inputGroup,
    port: x.inputPort,
  });
  const outputs = r.rules.flatMap((x) =>
    x.outputs.map((o, index) => ({
      o,
      labels: { rule: x.id, name: x.name ?? "", output: index, group: o.group, port: o.port, interface: o.interface },
    })),
  );
  const merges = r.rules.flatMap((x) => (x.merge ? [{ labels: { rule: x.id, name: x.name ?? "" }, m: x.merge }] : []));
  const inputs = merges.flatMap(({ labels, m }) =>
    m.inputs.map((i, input) => ({
      i,
      labels: { ...labels, input, interface: i.interface, group: i.group, port: i.port },
    })),
  );
  const mergeFamily = (name: string, help: string, value: (m: (typeof merges)[number]["m"]) => number) =>
    f(
      name,
      name.endsWith("_total") ? "counter" : "gauge",
      help,
      merges.map((x) => ({ labels: x.labels, value: value(x.m) })),
    );
  const inputFamily = (name: string, help: string, value: (i: (typeof inputs)[number]["i"]) => number) =>
    f(
      name,
      name.endsWith("_total") ? "counter" : "gauge",
      help,
      inputs.map((x) => ({ labels: x.labels, value: value(x.i) })),
    );
  const lastReload = r.config?.lastReload;
  return renderFamilies([
    f("mcr_build_info", "gauge", "mcr's version, as a label; the value is always 1.", [
      { labels: { version: r.version }, value: 1 },
    ]),
    f("mcr_start_time_seconds", "gauge", "When the supervisor started, in seconds since the Unix epoch.", [
      { labels: {}, value: Math.floor(meta.startedAt / 1000) },
    ]),
    f("mcr_rules", "gauge", "Rules in the table.", [{ labels: {}, value: r.rules.length }]),
    f("mcr_config_last_reload_successful", "gauge", "1 unless the last reload of the --config file (SIGHUP) failed.", [
      { labels: {}, value: lastReload && !lastReload.ok ? 0 : 1 },
    ]),
    f(
      "mcr_rule_receive_packets_total",
      "counter",
      "Packets that matched the rule.",
      r.rules.map((x) => ({ labels: ruleLabels(x), value: x.packets })),
    ),
    f(
      "mcr_rule_receive_bytes_total",
      "counter",
      "UDP payload bytes of the packets that matched the rule.",
      r.rules.map((x) => ({ labels: ruleLabels(x), value: x.bytes })),
    ),
    f(
      "mcr_output_transmit_packets_total",
      "counter",
      "Copies the kernel accepted for the output.",
      outputs.map(({ o, labels }) => ({ labels, value: o.packets })),
    ),
    f(
      "mcr_output_transmit_bytes_total",
      "counter",
      "UDP payload bytes sent by the output.",
      outputs.map(({ o, labels }) => ({ labels, value: o.bytes })),
    ),
    f(
      "mcr_output_transmit_errors_total",
      "counter",
      "Sends of the output that the kernel refused.",
      outputs.map(({ o, labels }) => ({ labels, value: o.errors })),
    ),
    mergeFamily("mcr_merge_packets_total", "Packets a merge rule sent on (each to every output).", (m) => m.out),
    mergeFamily(
      "mcr_merge_lost_total",
      "Sequence numbers no input of the merge brought within the window.",
      (m) => m.lost,
    ),
    mergeFamily("mcr_merge_switches_total", "Failover: changes of the input forwarded.", (m) => m.switches),
    mergeFamily("mcr_merge_active_input", "Failover: the input forwarded now (0: the rule's own).", (m) => m.active),
    mergeFamily("mcr_merge_held_packets", "RTP merge: packets waiting now for a hole to fill.", (m) => m.held),
    mergeFamily(
      "mcr_merge_restarts_total",
      "RTP merge: streams taken up anew (a new SSRC, a jump past the window).",
      (m) => m.restarts,
    ),
    inputFamily("mcr_merge_input_packets_total", "Packets that came on the merge input.", (i) => i.packets),
    inputFamily("mcr_merge_input_unique_total", "Packets of the input whose copy went out.", (i) => i.unique),
    inputFamily(
      "mcr_merge_input_duplicates_total",
      "Packets of the input another input's copy went out for (failover: it stood by).",
      (i) => i.duplicates,
    ),
    inputFamily("mcr_merge_input_late_total", "Packets of the input beyond the window.", (i) => i.late),
    inputFamily("mcr_merge_input_gaps_total", "Sequence numbers missing on the input.", (i) => i.gaps),
    inputFamily(
      "mcr_merge_input_last_seen_seconds",
      "Seconds since the input's last packet (NaN: none yet).",
      (i) => i.lastSeenSecondsAgo ?? NaN,
    ),
    f(
      "mcr_drops_total",
      "counter",
      "Frames the workers dropped, by reason (send_error counts output copies).",
      DROP_REASONS.map((reason) => ({ labels: { reason }, value: r.drops[reason] })),
    ),
    f(
      "mcr_worker_receive_frames_total",
      "counter",
      "Frames the worker took off its receive rings.",
      r.workers.map((w) => ({ labels: worker(w), value: w.rxFrames })),
    ),
    f(
      "mcr_worker_receive_bytes_total",
      "counter",
      "Bytes of the frames the worker took off its rings (whole frames).",
      r.workers.map((w) => ({ labels: worker(w), value: w.rxBytes })),
    ),
    f(
      "mcr_worker_batches_total",
      "counter",
      "Non-empty batches the worker processed (frames / batches = average batch).",
      r.workers.map((w) => ({ labels: worker(w), value: w.batches })),
    ),
    f(
      "mcr_worker_ring_packets_total",
      "counter",
      "Packets the kernel put on the worker's rings (PACKET_STATISTICS tp_packets, accumulated).",
      r.workers.map((w) => ({ labels: worker(w), value: w.ringPackets })),
    ),
    f(
      "mcr_worker_ring_drops_total",
      "counter",
      "Packets the kernel dropped because the worker's ring was full (PACKET_STATISTICS tp_drops, accumulated).",
      r.workers.map((w) => ({ labels: worker(w), value: w.ringDrops })),
    ),
    f(
      "mcr_worker_foreign_frames_total",
      "counter",
      "Frames of another host or of a VLAN no rule takes that got past the input's kernel filter (a filter coarsened past the kernel's limits); not input, not a drop.",
      r.workers.map((w) => ({ labels: worker(w), value: w.rxForeign })),
    ),
    f(
      "mcr_worker_transmit_packets_total",
      "counter",
      "Sends the kernel accepted from the worker.",
      r.workers.map((w) => ({ labels: worker(w), value: w.txPackets })),
    ),
    f(
      "mcr_worker_transmit_errors_total",
      "counter",
      "Sends the kernel refused from the worker.",
      r.workers.map((w) => ({ labels: worker(w), value: w.txErrors })),
    ),
    f(
      "mcr_worker_restarts_total",
      "counter",
      "Times the worker was restarted after it exited.",
      r.workers.map((w) => ({ labels: worker(w), value: w.restarts })),
    ),
    f(
      "mcr_worker_up",
      "gauge",
      "1 while the worker runs and is ready.",
      r.workers.map((w) => ({ labels: worker(w), value: w.state === "ready" ? 1 : 0 })),
    ),
    f(
      "mcr_interface_up",
      "gauge",
      "1 while every running worker receives on the input interface.",
      r.interfaces.map((i) => ({ labels: { interface: i.name }, value: i.up ? 1 : 0 })),
    ),
  ]);
}
