// The results file's shape and its rendering into bench/README.md: the tables between the
// markers below are rewritten by every full run; the rest of the README is prose kept by hand.
import { basename, relative } from "node:path";
import type { RunResult } from "./measure.ts";
import { ROOT } from "./relays.ts";
import { cpuPerMillion, fmtRatios, perSecond } from "./ratios.ts";
import { agg, fmtAgg, fmtLossAgg, fmtLossPct, fmtPps, type Agg } from "./stats.ts";

export interface SearchRecord {
  experiment: string;
  scenario: string;
  label: string;
  size: number;
  outputs: number;
  generator: string;
  ratePps: number | null;
  limitedBy: string;
  note: string;
  probes: { rate: number; achieved: number; lossRatio: number; relayLossRatio?: number; flags: RunResult["flags"] }[];
  relayCpus?: string; // taskset list of the relay
  workers?: number;
}

export interface Results {
  meta: Record<string, unknown> & {
    startedAt: string;
    quick: boolean;
    kernel?: string;
    cpus?: number;
    finishedAt?: string;
  };
  runs: (RunResult & { experiment: string })[];
  searches: SearchRecord[];
  skipped: string[];
  errors: { experiment: string; scenario: string; spec: unknown; message: string }[];
}

export const START = "<!-- bench:results:start (written by bun run bench; edit outside these markers) -->";
export const END = "<!-- bench:results:end -->";

type R = Results["runs"][number];

const pick = (res: Results, experiment: string, scenario: string, label: string, generator = "mcr") =>
  res.runs.filter(
    (r) =>
      r.experiment === experiment && r.scenario === scenario && r.label === label && r.spec.generator === generator,
  );

const aggOf = (runs: R[], f: (r: R) => number | undefined) =>
  agg(runs.map(f).filter((x): x is number => x !== undefined));

function flagsOf(runs: R[]): string {
  const n = (k: keyof R["flags"]) => runs.filter((r) => r.flags[k]).length;
  const parts: string[] = [];
  if (n("generatorLimited")) parts.push(`${n("generatorLimited")} generator-limited`);
  if (n("sinkLimited")) parts.push(`${n("sinkLimited")} sink-limited`);
  if (n("disturbed")) parts.push(`${n("disturbed")} disturbed`);
  const repeated = runs.filter((r) => r.attempt > 1).length;
  if (repeated) parts.push(`${repeated} repeated`);
  return parts.join(", ");
}

const med = (a: Agg | null) => (a ? a.median : NaN);
const medOrU = (a: Agg | null) => (a ? a.median : undefined);

/** Relay CPU-seconds per million packets sent, of one run. */
const cpuPerM = (r: R, percent = r.relayCpu?.percent) => cpuPerMillion(percent, r.gen.durationS, r.gen.packets);
/** What reached the receiving socket per second of sending. */
const deliveredPps = (r: R) => perSecond(r.delivered, r.gen.durationS);
/**
 * What reached the sink's socket a second: what it read and what its full buffer dropped (the
 * kernel's count). On two CPUs the sink shares the generator's: while a relay on the other CPU
 * delivers, the sink gets only what CPU 0 leaves it, so this, not what it read, is the relay's.
 */
const reachedPps = (r: R) => perSecond(r.delivered + r.sinkDrops, r.gen.durationS);
const latOf = (runs: R[], f: (l: R["sink"]["latency"]) => number | undefined) =>
  aggOf(runs, (r) => (r.sink.latency.samples ? f(r.sink.latency) : undefined));
/** "p50 / p99 / p99.9 / mean" in µs, medians over the runs (ranges where they differ). */
const latCells = (runs: R[]) =>
  ([(l) => l.p50Us, (l) => l.p99Us, (l) => l.p999Us, (l) => l.meanUs] as ((l: R["sink"]["latency"]) => number)[])
    .map((f) => fmtAgg(latOf(runs, f), 1))
    .join(" / ");

function lossTable(res: Results, experiment: string, generator: string): string[] {
  const rows: string[] = [];
  for (const s of ["A", "B"]) {
    for (const label of ["mcr 1w", "socat", "bare"]) {
      const runs = pick(res, experiment, s, label, generator);
      if (!runs.length) continue;
      // mcr's figures against the bare wire's and socat's in the same run
      let ratios = "";
      if (label.startsWith("mcr")) {
        const bare = pick(res, experiment, s, "bare", generator);
        const socat = pick(res, experiment, s, "socat", generator);
        const m = (rs: R[], f: (r: R) => number | undefined) => medOrU(aggOf(rs, f));
        const parts = [
          [
            "delivered",
            fmtRatios(
              m(runs, (r) => r.delivered),
              [
                ["bare", m(bare, (r) => r.delivered)],
                ["socat", m(socat, (r) => r.delivered)],
              ],
            ),
          ],
          [
            "CPU",
            fmtRatios(
              m(runs, (r) => r.relayCpu?.percent),
              [["socat", m(socat, (r) => r.relayCpu?.percent)]],
            ),
          ],
          [
            "mean latency",
            fmtRatios(medOrU(latOf(runs, (l) => l.meanUs)), [
              ["bare", medOrU(latOf(bare, (l) => l.meanUs))],
              ["socat", medOrU(latOf(socat, (l) => l.meanUs))],
            ]),
          ],
        ].filter(([, v]) => v);
        ratios = parts.map(([k, v]) => `${k} ${v}`).join("; ");
      }
      rows.push(
        `| ${s} | ${label === "bare" ? "none (bare wire)" : label === "mcr 1w" ? "mcr, 1 worker" : label} | ${runs.length} | ${fmtLossAgg(aggOf(runs, (r) => r.lossRatio))} | ${fmtAgg(
          aggOf(runs, (r) => r.delivered),
          0,
        )} of ${fmtAgg(
          aggOf(runs, (r) => r.expected),
          0,
        )} | ${fmtPps(med(aggOf(runs, (r) => r.gen.achievedPps)))} | ${
          label === "bare"
            ? "–"
            : fmtAgg(
                aggOf(runs, (r) => r.relayCpu?.percent),
                1,
                "%",
              )
        } | ${
          label === "bare"
            ? "–"
            : fmtAgg(
                aggOf(runs, (r) => cpuPerM(r)),
                2,
              )
        } | ${generator === "mcr" ? latCells(runs) : "–"} | ${ratios || "–"} | ${flagsOf(runs)} |`,
      );
    }
  }
  if (!rows.length) return [];
  return [
    "| Scenario | Relay | Runs | Loss, median (min–max) | Delivered at the sink's socket | Offered (achieved) | Relay CPU, % of one core | Relay CPU-s per M packets | Latency p50 / p99 / p99.9 / mean, µs | mcr against the bare wire and socat (same run) | Flags |",
    "|---|---|---|---|---|---|---|---|---|---|---|",
    ...rows,
  ];
}

function countersTable(res: Results, experiment: string): string[] {
  const rows: string[] = [];
  for (const s of ["A", "B"]) {
    for (const label of ["mcr 1w", "socat"]) {
      const runs = pick(res, experiment, s, label);
      if (!runs.length) continue;
      const ifs = Object.keys(runs[0]!.interfaces);
      const m = (f: (r: R) => number | undefined) => fmtAgg(aggOf(runs, f), 0);
      const inIf = ifs.find((k) => k.startsWith("relay."))!;
      const outIf = ifs.filter((k) => k.startsWith("relay.")).pop()!;
      const sinkIf = ifs[ifs.length - 1]!;
      rows.push(
        `| ${s} | ${label} | ${m((r) => r.gen.packets)} | ${m((r) => r.interfaces[inIf]?.rxPackets)} | ${m((r) => r.interfaces[outIf]?.txPackets)} | ${m((r) => r.interfaces[sinkIf]?.rxPackets)} | ${m((r) => r.udpSink.inDatagrams)} | ${m((r) => r.delivered)} | ${label === "socat" ? m((r) => r.udpRelay.rcvbufErrors) : m((r) => r.mcr?.ringDrops)} | ${m((r) => r.sinkDrops ?? r.sink.socketDrops)} |`,
      );
    }
  }
  if (!rows.length) return [];
  return [
    "| Scenario | Relay | Generator sent | Relay ingress rx (`ip -s link`) | Relay egress tx | Sink interface rx | Sink namespace UDP InDatagrams | Unique at the sink | Dropped in the relay: socat socket RcvbufErrors / mcr ring drops | Sink socket drops |",
    "|---|---|---|---|---|---|---|---|---|---|",
    ...rows,
  ];
}

function latencyTable(res: Results): string[] {
  const rows: string[] = [];
  for (const s of ["A", "B"]) {
    const bare = pick(res, "loss150", s, "bare");
    if (!bare.length) continue;
    const m = (runs: R[], f: (r: R) => number) => aggOf(runs, (r) => (r.sink.latency.samples ? f(r) : undefined));
    const bMean = med(m(bare, (r) => r.sink.latency.meanUs));
    const bP50 = med(m(bare, (r) => r.sink.latency.p50Us));
    const cells = ["mcr 1w", "socat"].map((label) => {
      const runs = pick(res, "loss150", s, label);
      const mean = med(m(runs, (r) => r.sink.latency.meanUs));
      const p50 = med(m(runs, (r) => r.sink.latency.p50Us));
      return `${Number.isFinite(p50) ? `+${(p50 - bP50).toFixed(1)}` : "–"} / ${Number.isFinite(mean) ? `+${(mean - bMean).toFixed(1)}` : "–"}`;
    });
    rows.push(`| ${s} | ${bP50.toFixed(1)} / ${bMean.toFixed(1)} | ${cells[0]} | ${cells[1]} |`);
  }
  if (!rows.length) return [];
  return [
    "| Scenario | Bare wire p50 / mean, µs | mcr adds (p50 / mean), µs | socat adds (p50 / mean), µs |",
    "|---|---|---|---|",
    ...rows,
  ];
}

function searchTable(res: Results, experiments: string[]): string[] {
  const rows = res.searches
    .filter((s) => experiments.includes(s.experiment))
    .map((s) => {
      const probes = s.probes
        .map(
          (p) =>
            `${fmtPps(p.achieved)}: ${fmtLossPct(p.lossRatio)}${p.relayLossRatio !== undefined && p.relayLossRatio !== p.lossRatio ? ` (${fmtLossPct(p.relayLossRatio)} less sink drops)` : ""}`,
        )
        .join(", ");
      return `| ${s.scenario} | ${s.size} B | ${s.outputs} | ${s.label}${s.generator === "trafgen" ? " (trafgen)" : ""} | **${s.ratePps === null ? "none" : fmtPps(s.ratePps) + " pps"}**${s.outputs > 1 && s.ratePps ? ` (${fmtPps(s.ratePps * s.outputs)} pps out)` : ""} | ${s.limitedBy} | ${s.note}; probes (offered: loss) ${probes} |`;
    });
  if (!rows.length) return [];
  return [
    "| Scenario | Payload | Outputs | Relay | Highest rate with < 0.1% loss | Limited by | How it was found |",
    "|---|---|---|---|---|---|---|",
    ...rows,
  ];
}

function ratioLines(res: Results): string[] {
  const out: string[] = [];
  for (const exp of ["maxrate", "small"])
    for (const s of ["A", "B"]) {
      const m = res.searches.find((x) => x.experiment === exp && x.scenario === s && x.label.startsWith("mcr"));
      const c = res.searches.find((x) => x.experiment === exp && x.scenario === s && x.label === "socat");
      if (m?.ratePps && c?.ratePps)
        out.push(
          `- ${exp === "small" ? "64-byte" : "1024-byte"} payloads${exp === "maxrate-trafgen" ? " (trafgen)" : ""}, scenario ${s}: mcr ${fmtPps(m.ratePps)} pps${m.limitedBy === "generator" ? " (the generator's limit, not mcr's)" : ""}, socat ${fmtPps(c.ratePps)} pps: **${(m.ratePps / c.ratePps).toFixed(1)}×**.`,
        );
    }
  return out;
}

function fanoutQuick(res: Results): string[] {
  const runs = res.runs.filter((r) => r.experiment === "fanout");
  if (!runs.length) return [];
  return [
    "| Outputs | Relay | Input rate | Loss | Relay CPU | Flags |",
    "|---|---|---|---|---|---|",
    ...runs.map(
      (r) =>
        `| ${r.spec.outputs} | ${r.label} | ${fmtPps(r.gen.achievedPps)} | ${fmtLossPct(r.lossRatio)} | ${r.relayCpu?.percent ?? "–"}% | ${flagsOf([r])} |`,
    ),
  ];
}

function workersTable(res: Results): string[] {
  const labels = [
    ...new Set(res.runs.filter((r) => r.experiment === "workers").map((r) => `${r.label}|${r.spec.relay?.cpus}`)),
  ];
  if (!labels.length) return [];
  // Which search belongs to which placement: recorded since relayCpus existed; before, the 2-worker
  // searches ran in the order of run.ts ("0,1", then "1").
  const twoWorker = res.searches.filter((x) => x.experiment === "workers");
  const order = ["0,1", "1"];
  const searchFor = (label: string, cpus: string) =>
    label === "mcr 1w"
      ? res.searches.find((x) => x.experiment === "maxrate" && x.scenario === "A" && x.label === "mcr 1w")
      : twoWorker.find((x, i) => x.label === label && (x.relayCpus ?? order[i]) === cpus);
  const rows = labels.map((k) => {
    const [label, cpus] = k.split("|") as [string, string];
    const runs = res.runs.filter((r) => r.experiment === "workers" && r.label === label && r.spec.relay?.cpus === cpus);
    // the one flow goes to one worker (fanout by flow hash): on which CPU, run by run
    const flowCpu = (r: R) => {
      const ws = r.mcr?.workers ?? [];
      if (ws.length < 2) return undefined;
      return [...ws].sort((x, y) => (y.rxFrames ?? 0) - (x.rxFrames ?? 0))[0]!.cpu;
    };
    const where =
      label === "mcr 1w"
        ? "worker on CPU 1"
        : runs.map((r) => `CPU ${flowCpu(r) ?? "?"}: ${fmtLossPct(r.lossRatio)}`).join(", ");
    const max = searchFor(label, cpus);
    return `| ${label} | taskset ${cpus} | ${where} | ${runs.length} | ${fmtLossAgg(aggOf(runs, (r) => r.lossRatio))} | ${fmtAgg(
      aggOf(runs, (r) => r.relayCpu?.percent),
      1,
      "%",
    )} | ${max?.ratePps ? `${fmtPps(max.ratePps)} pps (${max.limitedBy})` : "–"} | ${flagsOf(runs)} |`;
  });
  return [
    "| Relay | Relay CPUs | The flow's worker, run by run: loss | Runs | Loss at 150k pps | Relay CPU | Highest rate < 0.1% | Flags |",
    "|---|---|---|---|---|---|---|---|",
    ...rows,
  ];
}

const FLATOUT_ROWS: [label: string, name: string][] = [
  ["wire", "bare wire (a socket in the relay's namespace)"],
  ["mcr 1w", "mcr, 1 worker"],
  ["mcr 1w blocks", "mcr, 1 worker, --ingress blocks"],
  ["mcr 2w", "mcr, 2 workers"],
  ["socat", "socat"],
  ["kernel", "kernel forwarding (smcroute, no rewrite)"],
];

function flatoutTable(res: Results): string[] {
  const rows: string[] = [];
  for (const size of [64, 1024]) {
    const at = (label: string) =>
      res.runs.filter((r) => r.experiment === "flatout" && r.label === label && r.spec.size === size);
    const m = (rs: R[], f: (r: R) => number | undefined) => medOrU(aggOf(rs, f));
    const wire = m(at("wire"), deliveredPps);
    const socat = m(at("socat"), deliveredPps);
    const wireReached = m(at("wire"), reachedPps);
    const socatReached = m(at("socat"), reachedPps);
    for (const [label, name] of FLATOUT_ROWS) {
      const runs = at(label);
      if (!runs.length) continue;
      const pps = m(runs, deliveredPps);
      const reached = m(runs, reachedPps);
      const refs: [string, number | undefined][] = label === "wire" ? [] : [["bare", wire]];
      if (label !== "socat" && label !== "wire") refs.push(["socat", socat]);
      const reachedRefs: [string, number | undefined][] = label === "wire" ? [] : [["bare", wireReached]];
      if (label !== "socat" && label !== "wire") reachedRefs.push(["socat", socatReached]);
      // Kernel forwarding runs in softirq on the sender's CPU: its cost is the generator's.
      const cpu =
        label === "wire"
          ? "–"
          : fmtAgg(
              aggOf(runs, (r) => r.relayCpu?.percent),
              1,
              "%",
            );
      const perM =
        label === "wire"
          ? "–"
          : fmtAgg(
              aggOf(runs, (r) => cpuPerM(r, label === "kernel" ? r.genCpu.percent : r.relayCpu?.percent)),
              2,
            ) + (label === "kernel" ? " (the sender's)" : "");
      rows.push(
        `| ${size} B | ${name} | ${runs.length} | **${fmtPps(pps)} pps** | ${fmtRatios(pps, refs) || "–"} | ${fmtPps(reached)} pps${fmtRatios(reached, reachedRefs) ? `: ${fmtRatios(reached, reachedRefs)}` : ""} | ${fmtLossAgg(aggOf(runs, (r) => r.relayLossRatio))} | ${fmtPps(m(runs, (r) => r.gen.achievedPps))} | ${fmtAgg(
          aggOf(runs, (r) => r.genCpu.percent),
          1,
          "%",
        )} | ${cpu} | ${perM} | ${latCells(runs)} | ${flagsOf(runs)} |`,
      );
    }
  }
  if (!rows.length) return [];
  return [
    "| Payload | Receiver | Runs | Delivered per second of sending | Against the bare wire and socat (same run) | Reached the sink's socket per second (its buffer's drops too): against the same | Loss less the sink's drops | Generator sent (pps) | Generator's CPU | Relay CPU | Relay CPU-s per M packets | Latency p50 / p99 / p99.9 / mean, µs | Flags |",
    "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ...rows,
  ];
}

function unrelatedTable(res: Results): string[] {
  const runs = (traffic: string) =>
    res.runs.filter((r) => r.experiment === "unrelated" && (r.spec.traffic ?? "stream") === traffic);
  const idle = runs("idle");
  const idleCpu = medOrU(aggOf(idle, (r) => r.workerCpu));
  const rows = (["idle", "unrelated"] as const)
    .filter((t) => runs(t).length)
    .map((t) => {
      const rs = runs(t);
      const m = (f: (r: R) => number | undefined) => fmtAgg(aggOf(rs, f), 0);
      const cpu = aggOf(rs, (r) => r.workerCpu);
      const more = t === "idle" || idleCpu === undefined || !cpu ? "–" : `${(cpu.median - idleCpu).toFixed(1)} points`;
      const reasons = [...new Set(rs.flatMap((r) => Object.keys(r.mcr?.dropReasons ?? {})))];
      return `| ${t === "idle" ? "none (the same send over the bare wire)" : "unicast to the relay's address, another group, the rule's group on another port"} | ${rs.length} | ${fmtPps(medOrU(aggOf(rs, (r) => r.gen.achievedPps)))} | ${fmtAgg(cpu, 1, "%")} | ${more} | ${m((r) => r.mcr?.rxFrames)} | ${m((r) => r.mcr?.rxForeign)} | ${m((r) => r.mcr?.drops)}${reasons.length ? ` (${reasons.join(", ")})` : ""} | ${m((r) => r.mcr?.ringDrops)} | ${m((r) => r.delivered)} | ${flagsOf(rs)} |`;
    });
  if (!rows.length) return [];
  return [
    "| Traffic at the relay's input | Runs | Rate (pps) | The worker's CPU | More than idle | Frames that reached the worker | rxForeign | Drops counted | Ring drops | Datagrams at the sink | Flags |",
    "|---|---|---|---|---|---|---|---|---|---|---|",
    ...rows,
  ];
}

/** 1 (S,G) rule against 1,000, same stream: what the table's size costs per packet. */
function rulesTable(res: Results): string[] {
  const all = res.runs.filter((r) => r.experiment === "rules");
  const sizes = [...new Set(all.map((r) => r.spec.relay?.sgRules ?? 1))].sort((x, y) => x - y);
  const perM = (rs: R[]) => aggOf(rs, (r) => cpuPerM(r, r.workerCpu));
  const one = perM(all.filter((r) => (r.spec.relay?.sgRules ?? 1) === 1));
  const rows = sizes.map((n) => {
    const rs = all.filter((r) => (r.spec.relay?.sgRules ?? 1) === n);
    const cpu = perM(rs);
    const against = n === 1 || !one || !cpu ? "–" : `${(cpu.median / one.median).toFixed(2)}×`;
    return `| ${n.toLocaleString("en-US")} | ${rs.length} | ${fmtPps(medOrU(aggOf(rs, (r) => r.gen.achievedPps)))} | ${fmtPps(medOrU(aggOf(rs, deliveredPps)))} | ${fmtLossAgg(aggOf(rs, (r) => r.relayLossRatio))} | ${fmtAgg(
      aggOf(rs, (r) => r.workerCpu),
      1,
      "%",
    )} | ${fmtAgg(cpu, 2)} | ${against} | ${fmtAgg(
      aggOf(rs, (r) => cpuPerM(r)),
      2,
    )} | ${flagsOf(rs)} |`;
  });
  if (!rows.length) return [];
  return [
    "| (S,G) rules in the table | Runs | Sent (pps) | Delivered per second | Loss less the sink's drops | The worker's CPU | Worker CPU-s per M packets | Against 1 rule | Relay CPU-s per M packets | Flags |",
    "|---|---|---|---|---|---|---|---|---|---|",
    ...rows,
  ];
}

const ingressMode = (r: R) =>
  `${r.spec.relay?.poll ?? "default"}${r.spec.relay?.ingress === "blocks" ? ", blocks" : ""}`;

function ingressTable(res: Results): string[] {
  const all = res.runs.filter((r) => r.experiment === "ingress");
  const rows: string[] = [];
  for (const rate of [...new Set(all.map((r) => r.spec.rate))])
    for (const mode of [...new Set(all.map(ingressMode))]) {
      const rs = all.filter((r) => r.spec.rate === rate && ingressMode(r) === mode);
      if (!rs.length) continue;
      const perFrame = (f: (r: R) => number | undefined) =>
        fmtAgg(
          aggOf(rs, (r) => {
            const x = f(r);
            const n = r.mcr?.rxFrames;
            return x !== undefined && n ? x / n : undefined;
          }),
          3,
        );
      rows.push(
        `| ${rate > 0 ? `${fmtPps(rate)} pps` : "flat out"} | ${mode} | ${rs.length} | ${fmtPps(medOrU(aggOf(rs, deliveredPps)))} | ${fmtLossAgg(aggOf(rs, (r) => r.relayLossRatio))} | ${fmtAgg(
          aggOf(rs, (r) => r.relayCpu?.percent),
          1,
          "%",
        )} | ${fmtAgg(
          aggOf(rs, (r) => cpuPerM(r)),
          2,
        )} | ${perFrame((r) => r.mcr?.wakeups)} | ${perFrame((r) => r.mcr?.spinHits)} | ${fmtPps(medOrU(aggOf(rs, (r) => r.gen.achievedPps)))} | ${latCells(rs)} | ${flagsOf(rs)} |`,
      );
    }
  if (!rows.length) return [];
  return [
    "| Rate | Poll mode, ingress | Runs | Delivered per second | Loss less the sink's drops | Relay CPU | Relay CPU-s per M packets | Wakeups per frame | Spin hits per frame | Generator (pps) | Latency p50 / p99 / p99.9 / mean, µs | Flags |",
    "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ...rows,
  ];
}

/** Unicast in against multicast in (issue 16), same run: rows by rate, then by input. */
function unicastTable(res: Results): string[] {
  const all = res.runs.filter((r) => r.experiment === "unicast");
  const rows: string[] = [];
  for (const rate of [...new Set(all.map((r) => r.spec.rate))]) {
    const at = (unicast: boolean) => all.filter((r) => r.spec.rate === rate && !!r.spec.relay?.unicastIn === unicast);
    const multicastPps = medOrU(aggOf(at(false), deliveredPps));
    for (const unicast of [false, true]) {
      const rs = at(unicast);
      if (!rs.length) continue;
      const pps = medOrU(aggOf(rs, deliveredPps));
      rows.push(
        `| ${rate > 0 ? `${fmtPps(rate)} pps` : "flat out"} | ${unicast ? "unicast to the relay's address" : "multicast group"} | ${rs.length} | **${fmtPps(pps)} pps** | ${unicast ? fmtRatios(pps, [["multicast in", multicastPps]]) || "–" : "–"} | ${fmtLossAgg(aggOf(rs, (r) => r.relayLossRatio))} | ${fmtAgg(
          aggOf(rs, (r) => r.relayCpu?.percent),
          1,
          "%",
        )} | ${fmtAgg(
          aggOf(rs, (r) => cpuPerM(r)),
          2,
        )} | ${latCells(rs)} | ${flagsOf(rs)} |`,
      );
    }
  }
  if (!rows.length) return [];
  return [
    "| Rate | Input | Runs | Delivered per second of sending | Against the multicast input (same run) | Loss less the sink's drops | Relay CPU | Relay CPU-s per M packets | Latency p50 / p99 / p99.9 / mean, µs | Flags |",
    "|---|---|---|---|---|---|---|---|---|---|",
    ...rows,
  ];
}

/** The merge's runs and the plain rule's beside them: CPU per packet out, and the merge's own figures. */
/** ingress: the runs with that receive mode (frames: mcr's default); the aims read frames. */
const mergeRuns = (res: Results, merged: boolean, rate?: number, ingress: "frames" | "blocks" = "frames") =>
  res.runs.filter(
    (r) =>
      r.experiment === "merge" &&
      r.scenario === "A" &&
      !!r.spec.relay?.merge === merged &&
      (r.spec.relay?.ingress ?? "frames") === ingress &&
      (rate === undefined || r.spec.rate === rate),
  );
/** The merge row's rates, highest first. */
const mergeRates = (res: Results) =>
  [...new Set(res.runs.filter((r) => r.experiment === "merge").map((r) => r.spec.rate))].sort((a, b) => b - a);
/**
 * The worker's CPU-seconds per million packets it sent (the output's rate is what the two rows
 * share): its own count, not the sink's, whose socket drops what its CPU cannot take.
 */
const workerPerMOut = (r: R) => cpuPerMillion(r.workerCpu, r.gen.durationS, r.mcr?.txPackets ?? r.delivered);
/** The same per million frames the worker read (the merge reads every leg's copy). */
const workerPerMIn = (r: R) => cpuPerMillion(r.workerCpu, r.gen.durationS, r.mcr?.rxFrames ?? NaN);

/** An RTP merge of two lossy legs (issue 14) against a plain rule at the same output rate, same run. */
function mergeTable(res: Results): string[] {
  const rows: string[] = [];
  for (const rate of mergeRates(res))
    for (const ingress of ["frames", "blocks"] as const) {
      const plainCpu = medOrU(aggOf(mergeRuns(res, false, rate, ingress), workerPerMOut));
      for (const merged of [false, true]) {
        const rs = mergeRuns(res, merged, rate, ingress);
        if (!rs.length) continue;
        const cpu = medOrU(aggOf(rs, workerPerMOut));
        const m = (f: (x: NonNullable<R["merge"]>) => number | undefined) =>
          fmtAgg(
            aggOf(rs, (r) => (r.merge ? f(r.merge) : undefined)),
            0,
          );
        rows.push(
          `| ${fmtPps(rate)} | ${merged ? "rtp merge, 2 legs, 1% loss on each" : "plain rule, 1 input"}${ingress === "blocks" ? ", --ingress blocks" : ""} | ${rs.length} | ${fmtPps(medOrU(aggOf(rs, (r) => r.gen.achievedPps)))}${merged ? " per leg" : ""} | ${fmtPps(medOrU(aggOf(rs, deliveredPps)))} | ${merged ? `${m((x) => x.sinkLost)} (both legs lost ${m((x) => x.lostOnAllLegs)})` : fmtLossAgg(aggOf(rs, (r) => r.relayLossRatio))} | ${merged ? `${m((x) => x.rtp?.duplicates)} / ${m((x) => x.rtp?.outOfOrder)}` : "–"} | ${merged ? `${rs.filter((r) => r.merge?.exact).length} of ${rs.length}` : "–"} | ${fmtAgg(
            aggOf(rs, (r) => r.workerCpu),
            1,
            "%",
          )} | ${cpu !== undefined ? cpu.toFixed(2) : "–"} | ${merged ? fmtRatios(cpu, [["plain", plainCpu]]) || "–" : "–"} | ${fmtAgg(aggOf(rs, workerPerMIn), 2)} | ${flagsOf(rs)} |`,
        );
      }
    }
  if (!rows.length) return [];
  return [
    "| Asked (pps) | Rule | Runs | Sent (pps) | Delivered per second | Lost at the sink | RTP duplicates / out of order | Exact (lost = both legs' loss, 0 duplicates) | The worker's CPU | Worker CPU-s per M packets out | Against the plain rule | Worker CPU-s per M frames read | Flags |",
    "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ...rows,
  ];
}

function aimsTable(res: Results): string[] {
  const rows: string[] = [];
  const loss = (s: string, l: string) => aggOf(pick(res, "loss150", s, l), (r) => r.lossRatio);
  const relayLoss = (s: string, l: string) => aggOf(pick(res, "loss150", s, l), (r) => r.relayLossRatio ?? r.lossRatio);
  for (const s of ["A", "B"]) {
    const a = loss(s, "mcr 1w");
    const rl = relayLoss(s, "mcr 1w");
    if (!a || !rl) continue;
    const sinkRuns = pick(res, "loss150", s, "mcr 1w").filter((r) => r.flags.sinkLimited).length;
    const measured =
      a.max === rl.max
        ? `${fmtLossAgg(a)} over ${a.n} run(s)`
        : `end to end ${fmtLossAgg(a)} over ${a.n} run(s), all of it in the sink's own socket in ${sinkRuns} sink-limited run(s); less those drops ${fmtLossAgg(rl)}`;
    const met = a.max === 0 ? "yes" : rl.max === 0 ? "relay: yes; end to end: **no**" : "**no**";
    rows.push(
      `| 0 loss at 150k pps, scenario ${s} (every run) | ${measured}; socat ${fmtLossAgg(loss(s, "socat"))} | ${met} |`,
    );
  }
  const m = res.searches.find((x) => x.experiment === "maxrate" && x.scenario === "A" && x.label === "mcr 1w");
  const c = res.searches.find((x) => x.experiment === "maxrate" && x.scenario === "A" && x.label === "socat");
  if (m?.ratePps) {
    rows.push(
      `| highest rate < 0.1% loss ≥ 500k pps (A) | ${fmtPps(m.ratePps)} pps (${m.limitedBy}) | ${m.ratePps >= 500_000 ? "yes" : "**no**"} |`,
    );
    if (c?.ratePps)
      rows.push(
        `| … and ≥ 10× socat's (A) | ${(m.ratePps / c.ratePps).toFixed(1)}× (socat ${fmtPps(c.ratePps)} pps) | ${m.ratePps >= 10 * c.ratePps ? "yes" : "**no**"} |`,
      );
  }
  for (const s of ["A", "B"]) {
    const cpu = aggOf(pick(res, "loss150", s, "mcr 1w"), (r) => r.relayCpu?.percent);
    const sc = aggOf(pick(res, "loss150", s, "socat"), (r) => r.relayCpu?.percent);
    if (cpu)
      rows.push(
        `| relay CPU at 150k pps ≤ 30% of a core (${s}) | ${fmtAgg(cpu, 1, "%")}; socat ${fmtAgg(sc, 1, "%")} | ${cpu.median <= 30 ? "yes" : "**no**"} |`,
      );
  }
  for (const s of ["A", "B"]) {
    const bare = pick(res, "loss150", s, "bare");
    const mc = pick(res, "loss150", s, "mcr 1w");
    const f = (runs: R[]) => med(aggOf(runs, (r) => (r.sink.latency.samples ? r.sink.latency.meanUs : undefined)));
    if (bare.length && mc.length) {
      const added = f(mc) - f(bare);
      rows.push(
        `| mean latency ≤ bare + 50 µs (${s}) | +${added.toFixed(1)} µs (bare ${f(bare).toFixed(1)}, mcr ${f(mc).toFixed(1)}) | ${added <= 50 ? "yes" : "**no**"} |`,
      );
    }
  }
  for (const size of [64, 1024]) {
    const at = (label: string) =>
      aggOf(
        res.runs.filter((r) => r.experiment === "flatout" && r.label === label && r.spec.size === size),
        deliveredPps,
      );
    const w = at("wire");
    const runsOf = (label: string) =>
      res.runs.filter((r) => r.experiment === "flatout" && r.label === label && r.spec.size === size);
    for (const label of ["mcr 1w", "mcr 1w blocks"]) {
      const mc = at(label);
      const reached = aggOf(runsOf(label), reachedPps);
      const loss = aggOf(runsOf(label), (r) => r.relayLossRatio);
      if (!w || !mc) continue;
      const x = mc.median / w.median;
      const y = reached ? reached.median / w.median : undefined;
      rows.push(
        `| generator flat out, ${size} B: mcr${label.endsWith("blocks") ? " (--ingress blocks)" : ""} delivers ≥ 0.95× the bare wire (same run), 0 loss | ${fmtPps(mc.median)} pps against ${fmtPps(w.median)} pps: ${x.toFixed(2)}×${y !== undefined ? `; reaching the sink's socket (its buffer's drops too) ${y.toFixed(2)}×` : ""}; loss less the sink's drops ${fmtLossAgg(loss)} | ${x >= 0.95 && loss?.max === 0 ? "yes" : "**no**"} |`,
      );
    }
  }
  const un = res.runs.filter((r) => r.experiment === "unrelated");
  const idleCpu = aggOf(
    un.filter((r) => r.spec.traffic === "idle"),
    (r) => r.workerCpu,
  );
  const unCpu = aggOf(
    un.filter((r) => r.spec.traffic === "unrelated"),
    (r) => r.workerCpu,
  );
  if (idleCpu && unCpu) {
    const drops = Math.max(...un.filter((r) => r.spec.traffic === "unrelated").map((r) => r.mcr?.drops ?? NaN));
    const more = unCpu.median - idleCpu.median;
    rows.push(
      `| 100k pps no rule wants: < 1% of a core more for the worker, no drop counted | +${more.toFixed(1)} points (${unCpu.median.toFixed(1)}% against ${idleCpu.median.toFixed(1)}% idle); drops ${Number.isFinite(drops) ? drops : "?"} | ${more < 1 && drops === 0 ? "yes" : "**no**"} |`,
    );
  }
  const uni = res.runs.filter((r) => r.experiment === "unicast" && r.spec.relay?.unicastIn);
  const uni150 = aggOf(
    uni.filter((r) => r.spec.rate === 150_000),
    (r) => r.relayLossRatio ?? r.lossRatio,
  );
  if (uni150)
    rows.push(
      `| unicast in at 150k pps: 0 loss (A, every run) | ${fmtLossAgg(uni150)} over ${uni150.n} run(s) | ${uni150.max === 0 ? "yes" : "**no**"} |`,
    );
  const flat = (unicast: boolean) =>
    aggOf(
      res.runs.filter((r) => r.experiment === "unicast" && r.spec.rate === 0 && !!r.spec.relay?.unicastIn === unicast),
      deliveredPps,
    );
  const uf = flat(true);
  const mf = flat(false);
  if (uf && mf) {
    const x = uf.median / mf.median;
    rows.push(
      `| unicast in flat out within 10% of multicast in (A, same run) | ${fmtPps(uf.median)} pps against ${fmtPps(mf.median)} pps: ${x.toFixed(2)}× | ${x >= 0.9 ? "yes" : "**no**"} |`,
    );
  }
  const merged = mergeRuns(res, true);
  if (merged.length) {
    const exact = merged.filter((r) => r.merge?.exact).length;
    rows.push(
      `| merge of 2 legs, 1% loss each: output loss = what both legs lost, 0 duplicates (every run, less the sink's own socket drops) | ${exact} of ${merged.length} run(s) exact | ${exact === merged.length ? "yes" : "**no**"} |`,
    );
  }
  // Compared at the highest rate where the generator gave both rows their rate: the same output
  // rate, and the nearest to the issue's 150k that these machines reach.
  // Each ingress mode's merge against its own plain rule, at the highest rate the generator reached.
  for (const ingress of ["frames", "blocks"] as const) {
    const rates = mergeRates(res).filter((rate) => mergeRuns(res, true, rate, ingress).length > 0);
    const cpuRate =
      rates.find((rate) => mergeRuns(res, true, rate, ingress).every((r) => !r.flags.generatorLimited)) ?? rates.at(-1);
    const mergeCpu = aggOf(mergeRuns(res, true, cpuRate, ingress), workerPerMOut);
    const plainCpu = aggOf(mergeRuns(res, false, cpuRate, ingress), workerPerMOut);
    if (!mergeCpu || !plainCpu || cpuRate === undefined) continue;
    const x = mergeCpu.median / plainCpu.median;
    rows.push(
      `| merge: at most 15% more worker CPU per packet out than a plain rule (same run, ${fmtPps(cpuRate)} pps out, rings of ${ingress}) | ${mergeCpu.median.toFixed(2)} against ${plainCpu.median.toFixed(2)} CPU-s per M packets: ${x.toFixed(2)}× | ${x <= 1.15 ? "yes" : "**no**"} |`,
    );
  }
  if (!rows.length) return [];
  return ["| Aim (2-CPU machine, 1024-byte payloads) | Measured | Met |", "|---|---|---|", ...rows];
}

function ceilingLines(res: Results): string[] {
  return res.runs
    .filter((r) => r.experiment === "ceiling")
    .map(
      (r) =>
        `- \`mcr gen\` as fast as it can, ${r.spec.size}-byte payloads, bare wire, sink beside it on CPU 0: **${fmtPps(r.gen.achievedPps)} pps** offered (${fmtLossPct(r.lossRatio)} lost at the sink${r.sinkDrops ? `, ${r.sinkDrops} of them in the sink's own socket` : ""}).`,
    );
}

function flaggedLines(res: Results): string[] {
  const flagged = res.runs.filter(
    (r) => r.attempt > 1 || r.flags.disturbed || r.flags.generatorLimited || r.flags.sinkLimited,
  );
  const ex = res.runs.filter((r) => r.flags.disturbed);
  const out = [
    `${res.runs.length} runs in all (${res.runs.filter((r) => r.waitedForQuietMs > 1000).length} waited for other load on the machine to settle first); ${res.runs.filter((r) => r.attempt > 1).length} were repeats of a disturbed or generator-short attempt; ${flagged.length} carry a flag (generator-limited points are expected at the top of the rising searches).`,
  ];
  if (ex.length)
    out.push(
      `Runs still disturbed after their repeats: ${ex.map((r) => `${r.experiment} ${r.scenario} ${r.label} @${r.spec.rate > 0 ? fmtPps(r.spec.rate) : "flat out"} (${r.notes.join("; ")})`).join(" · ")}.`,
    );
  return out;
}

/** IPv6 in and out (the ipv6 experiment): each family's 150,000 pps loss and flat-out rate, same run. */
function ipv6Table(res: Results): string[] {
  const of = (experiment: string, family: 4 | 6, label: string) =>
    res.runs.filter(
      (r) => r.experiment === experiment && r.label === label && (r.spec.family ?? 4) === family && r.scenario === "A",
    );
  const flat = (family: 4 | 6, label: string) => medOrU(aggOf(of("ipv6-flatout", family, label), deliveredPps));
  const rows: string[] = [];
  for (const family of [6, 4] as const) {
    const loss = of("ipv6-loss150", family, "mcr 1w");
    const wireRuns = of("ipv6-flatout", family, "wire");
    const mcrRuns = of("ipv6-flatout", family, "mcr 1w");
    if (!loss.length && !mcrRuns.length) continue;
    const mcr = flat(family, "mcr 1w");
    const refs: [string, number | undefined][] = [[`IPv${family} bare wire`, flat(family, "wire")]];
    if (family === 6) refs.push(["mcr over IPv4", flat(4, "mcr 1w")]);
    rows.push(
      `| IPv${family} | ${loss.length} | ${fmtLossAgg(aggOf(loss, (r) => r.relayLossRatio))} | ${fmtAgg(
        aggOf(loss, (r) => r.relayCpu?.percent),
        1,
        "%",
      )} | ${wireRuns.length + mcrRuns.length} | ${fmtPps(flat(family, "wire"))} | **${fmtPps(mcr)} pps** | ${fmtRatios(mcr, refs) || "–"} | ${flagsOf([...loss, ...wireRuns, ...mcrRuns])} |`,
    );
  }
  if (!rows.length) return [];
  return [
    "| In and out | Runs at 150k | Loss at 150,000 pps (less the sink's drops) | Relay CPU at 150k | Flat-out runs | Bare wire flat out | mcr flat out | Against | Flags |",
    "|---|---|---|---|---|---|---|---|---|",
    ...rows,
  ];
}

export function renderTables(res: Results, file: string): string {
  const m = res.meta;
  const when = `${m.startedAt.slice(0, 16).replace("T", " ")} UTC`;
  const L: string[] = [];
  L.push(
    `Measured ${when}${m.quick ? " (**--quick**: short runs, indicative only)" : ""} on ${m.cpus} × ${m.cpuModel}, kernel ${m.kernel}; mcr ${m.mcrVersion} at ${m.git}${(m.staleSources as string[] | undefined)?.length ? " (**dist/mcr older than the sources**)" : ""}; ${m.socat}; ${m.trafgen}. Raw data: ${((m.mergedFrom as string[] | undefined) ?? [relative(`${ROOT}/bench`, file)]).map((f) => `[\`${f}\`](${f})`).join(", ")}.`,
  );
  L.push("");
  L.push("![loss against offered rate](loss-vs-rate.svg)");
  L.push("");
  const sec = (title: string, body: string[], pre: string[] = []) => {
    if (!body.length) return;
    L.push(`### ${title}`, "", ...pre, ...(pre.length ? [""] : []), ...body, "");
  };
  sec("Aims", aimsTable(res));
  sec("Generator flat out: the bare wire as the reference", flatoutTable(res), [
    "A plain UDP socket (`mcr sink`) in the relay's namespace, on its input and its CPU, receives the stream with no relay at all; then each relay, fresh, on the same stream; every run sends TTL 8 (kernel forwarding forwards only a TTL above 1). Delivered: unique datagrams at the receiving socket per second of sending. Kernel forwarding runs in softirq on the sender's CPU over veth: its cost is the generator's CPU, which the CPU-per-packet column gives for it.",
  ]);
  sec("Loss at 150,000 pps, 1024-byte payloads (mcr gen)", lossTable(res, "loss150", "mcr"), [
    "Each run: a fresh relay, then the packets; loss counted by `mcr sink` per sequence number (lost head and tail included).",
  ]);
  sec("Where the packets went (medians)", countersTable(res, "loss150"));
  sec("Added latency at 150,000 pps", latencyTable(res), [
    "One-way, generator's send timestamp to the sink's kernel receive timestamp (same clock). Bare wire: gen → sink over one veth, no relay, same CPUs.",
  ]);
  sec(
    "A generator that is not mcr's: trafgen (netsniff-ng) at --rate 150000pps",
    lossTable(res, "trafgen", "trafgen"),
    [
      "trafgen writes whole Ethernet frames from a packet socket (no mcr header): loss = 1 − datagrams at the sink ÷ frames trafgen reports sent. Its `--rate` is a one-second token bucket: each second's 150,000 frames leave back to back in about a quarter of a second (≈ 550,000 pps), then it sleeps. So this is a burst test at an average of 150,000 pps, harder than the paced stream above.",
    ],
  );
  sec("trafgen as fast as it can (no --rate)", lossTable(res, "trafgen-full", "trafgen"), [
    "The offered column is what trafgen achieved; loss as above.",
  ]);
  sec("Highest rate with < 0.1% loss", searchTable(res, ["maxrate", "small", "fanout", "workers"]), [
    ...ceilingLines(res),
    "",
    "A probe passes when the loss, less what the sink's own socket dropped (the kernel's exact count, SO_RXQ_OVFL), is under 0.1%: at these rates the sink, which shares CPU 0 with the generator, falls behind before the relay does. The end-to-end figure is in the probe list and in the raw data.",
  ]);
  const ratios = ratioLines(res);
  if (ratios.length) L.push(...ratios, "");
  sec("Fan-out (quick run: one rate)", fanoutQuick(res));
  sec("1 worker against 2", workersTable(res));
  sec("Traffic no rule wants, 100,000 pps", unrelatedTable(res), [
    "The worker's CPU is its own process's (utime + stime, /proc/<worker pid>/stat) over the send window; the idle row sends the same datagrams over the bare wire, so the relay sees none of them. Drops are `mcr stats --json` totals over the run: traffic no rule wants is not a drop.",
  ]);
  sec("mcr's poll modes (`--poll`)", ingressTable(res));
  sec("A table of 1,000 (S,G) rules against 1, 150,000 pps", rulesTable(res), [
    "The same stream (source 10.0.0.1 to 239.1.1.1:5001, 1024 B) through a table of its own (S,G) rule alone, and through 1,000: its rule, 499 other sources on its group and port, 500 other groups. The worker's CPU is its own process's (utime + stime, /proc/<worker pid>/stat) over the send window, per million packets sent; the relay's adds the supervisor's.",
  ]);
  sec("Unicast in (a tunnel's far end) against multicast in", unicastTable(res), [
    "The rule's input is the relay's own address on its input (`--input-group 10.0.0.2`, issue 16), the generator sends there; the multicast runs, interleaved with these, are the reference. Delivered: unique datagrams at the receiving socket per second of sending.",
  ]);
  sec("IPv6 in and out, scenario A (mcr, 1 worker, 1024 B)", ipv6Table(res), [
    "The chain again in a lab with IPv6 on (its own namespaces), the rule `ff3e::1:1` → `[ff3e::9:9]`; the IPv4 rows beside it are the same runs over the IPv4 lab, interleaved. Flat out, each family against its own bare wire (a socket in the relay's namespace), and IPv6 against IPv4.",
  ]);
  sec("Merging two legs (ST 2022-7), 150,000, 70,000 and 50,000 pps on each, against a plain rule", mergeTable(res), [
    "An RTP merge rule (`--merge rtp`, issue 14) of two legs on the relay's input (239.1.1.1 and 239.1.2.1, port 5001): `mcr gen --legs 2 --loss 1%` sends one RTP stream on both, each leg dropping 1% at random on its own; the plain rule, interleaved with it, carries the same stream once, so both send the same rate out. Lost at the sink: gen's sequence numbers that never arrived, against those no leg carried (gen's count from the seed). The worker's CPU (its own process, over the send window) per million packets delivered: the merge reads two copies of each. Rows marked `--ingress blocks` ran with rings of blocks, the rtp merge's rings too (docs/merge.md); each merge is compared with the plain rule of its own mode.",
  ]);
  sec(
    "Run quality",
    flaggedLines(res).map((l) => `- ${l}`),
  );
  if (res.skipped.length) L.push(`Skipped for time: ${res.skipped.join(", ")}.`, "");
  if (res.errors?.length)
    L.push(
      `Failed runs (not in the figures): ${res.errors.map((e) => `${e.experiment} ${e.scenario}: ${e.message.split("\n")[0]!.slice(0, 200)}`).join(" · ")}.`,
      "",
    );
  void basename;
  return L.join("\n");
}

const TEMPLATE = `# mcr benchmark

${START}
${END}
`;

export function renderReadme(res: Results, file: string, existing: string): { readme: string; tables: string } {
  const tables = renderTables(res, file);
  const base =
    existing.includes(START) && existing.includes(END)
      ? existing
      : existing
        ? `${existing.trimEnd()}\n\n## Results\n\n${START}\n${END}\n`
        : TEMPLATE;
  const a = base.indexOf(START);
  const b = base.indexOf(END);
  return { readme: base.slice(0, a + START.length) + "\n" + tables + "\n" + base.slice(b), tables };
}
