// Plain-text tables for `mcr rule list`, `mcr stats` and `mcr stats --watch` (the --json forms
// print the data as is). Drops, ring drops and send errors are marked when colour is on: red
// while they grow, so they stand out in a live view.
import type { RuleList, WorkerView } from "../types/control.ts";
import { DEFAULT_REVERT_AFTER_MS, MERGE_WINDOW_MS, type MergeSpec, type Output } from "../types/rules.ts";
import { formatDuration } from "../values/duration.ts";
import { addressPort } from "../values/ipv6.ts";
import { DROP_REASONS } from "./reasons.ts";
import type { StatsReport } from "../types/stats.ts";

/** A cell: a number (right-aligned, with thousands separators), text, or text with a style. */
export type Cell = string | number | { text: string; right?: boolean; alert?: boolean };

const RED = "\x1b[1;31m";
const RESET = "\x1b[0m";

/** Columns padded to their widest cell; numbers right-aligned; alert cells red when color is on. */
export function table(headers: string[], rows: Cell[][], indent = "", color = false): string {
  const text = (v: Cell | undefined) =>
    v === undefined ? "" : typeof v === "number" ? count(v) : typeof v === "string" ? v : v.text;
  const right = (v: Cell | undefined) => typeof v === "number" || (typeof v === "object" && v.right === true);
  const numeric = headers.map((_, c) => rows.length > 0 && rows.every((r) => right(r[c]) || text(r[c]) === ""));
  const widths = headers.map((h, c) => Math.max(h.length, ...rows.map((r) => text(r[c]).length)));
  const line = (cells: (Cell | undefined)[]) =>
    (
      indent +
      cells
        .map((v, c) => {
          const t = text(v);
          const padded = numeric[c] ? t.padStart(widths[c]!) : c === cells.length - 1 ? t : t.padEnd(widths[c]!);
          return color && typeof v === "object" && v?.alert ? RED + padded + RESET : padded;
        })
        .join("  ")
    ).trimEnd();
  return [line(headers), ...rows.map(line)].join("\n");
}

/** 1234567 -> "1,234,567": counters are read by eye. */
export const count = (n: number) => n.toLocaleString("en-US");

export function bytes(n: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  let v = n;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return i === 0 ? `${n} B` : `${v.toFixed(1)} ${units[i]}`;
}

/** Packets (or anything) per second: whole numbers from 100 up, one decimal below. */
export const perSecond = (x: number) => (x >= 100 ? count(Math.round(x)) : x.toFixed(1));
/** Bits per second as Mbit/s. */
export const mbit = (bps: number) => (bps / 1e6).toFixed(2);

const out = (o: Pick<Output, "group" | "port" | "interface">) => `${addressPort(o.group, o.port)}:${o.interface}`;

export function renderRuleList(list: RuleList): string {
  if (list.rules.length === 0)
    return [
      "no rules (add one with: mcr rule add --input-group G --input-port P --outputs G:P:IF)",
      ...workerNotes(list.workers),
    ].join("\n");
  // The NAME column only once a rule has a name: a table of numbered rules reads as before.
  const named = list.rules.some((r) => r.name !== undefined);
  const rows: Cell[][] = [];
  // Names, sources, VLANs and output options only where some rule has them: plain tables stay as
  // they were.
  const withOptions = list.rules.some((r) => r.outputs.some((o) => outputOptions(o) !== ""));
  // A merge rule's legs one to a row, its mode beside the first: the MERGE column only once a
  // rule merges.
  const merging = list.rules.some((r) => r.merge !== undefined);
  for (const r of list.rules) {
    const own = `${addressPort(r.inputGroup, r.inputPort)}${r.inputSources ? ` from ${r.inputSources.join(",")}` : ""}${
      r.inputVlan ? ` vlan ${r.inputVlan}` : ""
    }`;
    const legs: [string, string][] = [
      [r.inputInterface, own],
      ...(r.merge?.legs ?? []).map((l): [string, string] => [
        l.interface,
        `${addressPort(l.group, l.port)}${l.source ? ` from ${l.source}` : ""}`,
      ]),
    ];
    const lines = Math.max(legs.length, r.outputs.length);
    for (let i = 0; i < lines; i++) {
      const o = r.outputs[i];
      const cells = o
        ? [out(o), String(o.ttl), ...(withOptions ? [outputOptions(o)] : [])]
        : ["", "", ...(withOptions ? [""] : [])];
      const [iface, input] = legs[i] ?? ["", ""];
      rows.push([
        i === 0 ? String(r.id) : "",
        ...(named ? [i === 0 ? (r.name ?? "-") : ""] : []),
        iface,
        input,
        ...(merging ? [i === 0 && r.merge ? describeMerge(r.merge) : ""] : []),
        ...cells,
      ]);
    }
  }
  const head = [
    "ID",
    ...(named ? ["NAME"] : []),
    "INTERFACE",
    "INPUT",
    ...(merging ? ["MERGE"] : []),
    "OUTPUT",
    "TTL",
    ...(withOptions ? ["OPTIONS"] : []),
  ];
  return [table(head, rows), ...workerNotes(list.workers)].join("\n");
}

/** A merge as the command line writes it, defaults shown: "rtp 50ms", "failover 200ms revert 5s". */
export function describeMerge(m: MergeSpec): string {
  const d = formatDuration;
  if (m.mode === "rtp")
    return `rtp ${m.windowPackets !== undefined ? `${m.windowPackets}pkts` : d(m.windowMs ?? MERGE_WINDOW_MS)}`;
  return `failover ${d(m.failoverAfterMs)} revert ${d(m.revertAfterMs ?? DEFAULT_REVERT_AFTER_MS)}`;
}

/** An output's options as the command line writes them: "dscp=10 rate=2000 burst=200". */
function outputOptions(o: Pick<Output, "dscp" | "rate" | "burst">): string {
  return [
    o.dscp !== undefined ? `dscp=${o.dscp}` : "",
    o.rate !== undefined ? `rate=${o.rate}` : "",
    o.burst !== undefined ? `burst=${o.burst}` : "",
  ]
    .filter((x) => x !== "")
    .join(" ");
}

/** One line per worker that is not forwarding normally: what an operator must notice. */
export function workerNotes(workers: readonly WorkerView[]): string[] {
  const notes: string[] = [];
  for (const w of workers) {
    const last = w.lastExit
      ? `, last exit: ${w.lastExit.signal ? `killed by ${w.lastExit.signal}` : `code ${w.lastExit.code}`} after ${(w.lastExit.ranMs / 1000).toFixed(1)} s`
      : "";
    if (w.state !== "ready")
      notes.push(`worker ${w.index} (cpu ${w.cpu}): ${w.state}, ${w.restarts} restart(s)${last}`);
    for (const i of w.inputs)
      if (i.state !== "up")
        notes.push(
          `worker ${w.index} (cpu ${w.cpu}): input ${i.interface} is ${i.state}${i.error ? ` (${i.error})` : ""}`,
        );
    for (const f of w.failedOutputs ?? [])
      notes.push(`worker ${w.index} (cpu ${w.cpu}): output ${f.output} is out of service (${f.error})`);
  }
  return notes.length > 0 ? ["", ...notes] : [];
}

/**
 * The stats report as tables. With rates (the report carries intervalSeconds), PKT/S and MBIT/S
 * columns appear. `color` marks drops and errors: red while they grow (or, without rates, when
 * there are any).
 */
export function renderStats(r: StatsReport, opts: { color?: boolean } = {}): string {
  return statsSections(r, opts)
    .flatMap((s) => s.lines)
    .join("\n");
}

/**
 * A part of the report: its first `fixed` lines (the gap, the title, the table's head) always
 * show; the rest are the table's rows, `what` each, which the live view may cut to fit its height.
 */
interface Section {
  lines: string[];
  fixed: number;
  what?: string;
  /** The first line is a blank between sections, which a screen short of rows does without. */
  gap?: boolean;
}

/** A section of a title and a table: the rows may be cut, the title and the head stay. */
function tableSection(title: string, tableText: string, what: string, gap = true): Section {
  const head = gap ? ["", title] : [title];
  return { lines: [...head, ...tableText.split("\n")], fixed: head.length + 1, what, gap };
}

const fixedSection = (...lines: string[]): Section => ({ lines, fixed: lines.length });

/** An input without a packet for this long shows as silent. */
const SILENT_SECONDS = 1;

function statsSections(r: StatsReport, opts: { color?: boolean }): Section[] {
  const color = opts.color ?? false;
  const rated = r.intervalSeconds !== undefined;
  const rate = (x: number | undefined) => ({ text: x === undefined ? "-" : perSecond(x), right: true });
  const rateMbit = (bps: number | undefined) => ({ text: bps === undefined ? "-" : mbit(bps), right: true });
  // A counter of trouble: red while it grows; without a rate, red whenever it is not zero.
  const trouble = (n: number, perSec: number | undefined) => ({
    text: count(n),
    right: true,
    alert: rated ? (perSec ?? 0) > 0 : n > 0,
  });
  const parts: Section[] = [];
  // Rules by name where they have one (the NAME column only then), by id always.
  const named = r.rules.some((x) => x.name !== undefined);
  const nameCol = named ? ["NAME"] : [];
  const nameOf = (x: StatsReport["rules"][number]) => (named ? [x.name ?? "-"] : []);

  parts.push(
    r.rules.length === 0
      ? fixedSection("rules", "  (none)")
      : tableSection(
          "rules",
          table(
            ["ID", ...nameCol, "INPUT", "PACKETS", ...(rated ? ["PKT/S", "MBIT/S"] : []), "BYTES"],
            r.rules.map((x) => [
              String(x.id),
              ...nameOf(x),
              `${x.inputInterface} ${addressPort(x.inputGroup, x.inputPort)}`,
              x.packets,
              ...(rated ? [rate(x.rate?.packetsPerSecond), rateMbit(x.rate?.bitsPerSecond)] : []),
              { text: bytes(x.bytes), right: true },
            ]),
            "  ",
            color,
          ),
          "rules",
          false,
        ),
  );
  const outputs = r.rules.flatMap((x) =>
    x.outputs.map(
      (o) =>
        [
          String(x.id),
          ...nameOf(x),
          out(o),
          String(o.ttl),
          o.packets,
          ...(rated ? [rate(o.rate?.packetsPerSecond), rateMbit(o.rate?.bitsPerSecond)] : []),
          { text: bytes(o.bytes), right: true },
          trouble(o.errors, o.rate?.errorsPerSecond),
        ] as Cell[],
    ),
  );
  if (outputs.length > 0)
    parts.push(
      tableSection(
        "outputs",
        table(
          ["RULE", ...nameCol, "OUTPUT", "TTL", "PACKETS", ...(rated ? ["PKT/S", "MBIT/S"] : []), "BYTES", "ERRORS"],
          outputs,
          "  ",
          color,
        ),
        "outputs",
      ),
    );

  const merged = r.rules.filter((x) => x.merge);
  if (merged.length > 0) {
    parts.push(
      tableSection(
        "merges",
        table(
          ["RULE", ...nameCol, "MODE", "OUT", "LOST", "SWITCHES", "HELD"],
          merged.map((x) => {
            const m = x.merge!;
            return [String(x.id), ...nameOf(x), m.mode, m.out, trouble(m.lost, undefined), m.switches, m.held];
          }),
          "  ",
          color,
        ),
        "merges",
      ),
    );
    // Each input's health at a glance: forwarding, standing by, or silent (red).
    const health = (m: NonNullable<(typeof merged)[number]["merge"]>, i: number) => {
      const ago = m.inputs[i]!.lastSeenSecondsAgo;
      if (ago === null || ago >= SILENT_SECONDS) return { text: ago === null ? "no packets" : "silent", alert: true };
      if (m.mode === "failover") return m.active === i ? "forwarded" : "standby";
      return "up";
    };
    parts.push(
      tableSection(
        "merge inputs",
        table(
          ["RULE", ...nameCol, "#", "INPUT", "HEALTH", "PACKETS", "UNIQUE", "DUPLICATES", "LATE", "GAPS", "LAST SEEN"],
          merged.flatMap((x) =>
            x.merge!.inputs.map(
              (i, n) =>
                [
                  String(x.id),
                  ...nameOf(x),
                  String(n),
                  `${i.interface} ${addressPort(i.group, i.port)}`,
                  health(x.merge!, n),
                  i.packets,
                  i.unique,
                  i.duplicates,
                  trouble(i.late, undefined),
                  i.gaps,
                  { text: i.lastSeenSecondsAgo === null ? "-" : `${i.lastSeenSecondsAgo.toFixed(1)} s`, right: true },
                ] as Cell[],
            ),
          ),
          "  ",
          color,
        ),
        "merge inputs",
      ),
    );
  }

  const drops = DROP_REASONS.filter((d) => r.drops[d] > 0).map(
    (d) => [d, trouble(r.drops[d], r.dropRates?.[d]), ...(rated ? [rate(r.dropRates?.[d])] : [])] as Cell[],
  );
  parts.push(
    drops.length === 0
      ? { ...fixedSection("", "drops", "  (none)"), gap: true }
      : tableSection(
          "drops",
          table(["REASON", "PACKETS", ...(rated ? ["PKT/S"] : [])], drops, "  ", color),
          "drop reasons",
        ),
  );

  parts.push(
    tableSection(
      "workers",
      table(
        [
          "#",
          "CPU",
          "PID",
          "STATE",
          "RESTARTS",
          "RX FRAMES",
          ...(rated ? ["RX PKT/S", "RX MBIT/S"] : []),
          "RING PACKETS",
          "RING DROPS",
          "BATCHES",
          "AVG BATCH",
          "TX PACKETS",
          "TX ERRORS",
          "DROPS",
        ],
        r.workers.map((w) => [
          String(w.index),
          String(w.cpu),
          w.pid === null ? "-" : String(w.pid),
          w.state === "ready" ? w.state : { text: w.state, alert: true },
          w.restarts,
          w.rxFrames,
          ...(rated ? [rate(w.rate?.rxFramesPerSecond), rateMbit(w.rate?.rxBitsPerSecond)] : []),
          w.ringPackets,
          trouble(w.ringDrops, w.rate?.ringDropsPerSecond),
          w.batches,
          { text: w.averageBatch.toFixed(1), right: true },
          w.txPackets,
          trouble(w.txErrors, w.rate?.txErrorsPerSecond),
          trouble(w.drops, w.rate?.dropsPerSecond),
        ]),
        "  ",
        color,
      ),
      "workers",
    ),
  );
  const failed = r.workers.flatMap((w) =>
    (w.failedOutputs ?? []).map((f) => `  worker ${w.index}: output ${f.output} is out of service (${f.error})`),
  );
  if (failed.length > 0) parts.push({ lines: failed, fixed: 0, what: "outputs out of service" });

  if (r.interfaces.length > 0)
    parts.push(
      tableSection(
        "interfaces",
        table(
          ["INTERFACE", "STATE", "WORKERS"],
          r.interfaces.map((i) => [
            i.name,
            i.up ? "up" : { text: "down", alert: true },
            { text: `${i.workersUp}/${i.workers}`, right: true },
          ]),
          "  ",
          color,
        ),
        "interfaces",
      ),
    );

  const t = r.totals;
  const tail = [
    "",
    `total: ${count(t.rxFrames)} frames in (${bytes(t.rxBytes)}), ${count(t.txPackets)} packets out (${bytes(t.txBytes)}), ` +
      `${count(t.drops)} dropped, ${count(t.ringDrops)} lost on the ring, ${count(t.txErrors)} send errors; up ${duration(r.uptimeSeconds)}`,
  ];
  if (rated && t.rate)
    tail.push(
      `rates over ${r.intervalSeconds!.toFixed(1)} s: ${perSecond(t.rate.rxFramesPerSecond)} frames/s in (${mbit(t.rate.rxBitsPerSecond)} Mbit/s), ` +
        `${perSecond(t.rate.txPacketsPerSecond)} packets/s out (${mbit(t.rate.txBitsPerSecond)} Mbit/s), ${perSecond(t.rate.dropsPerSecond)} drops/s`,
    );
  if (r.config?.lastReload && !r.config.lastReload.ok)
    tail.push(`note: the last reload of ${r.config.path} failed: ${r.config.lastReload.error ?? "see the log"}`);
  if (r.stale.length > 0)
    tail.push(
      `note: worker(s) ${r.stale.join(", ")} did not refresh their ring statistics in time; those are up to a second old`,
    );
  parts.push({ ...fixedSection(...tail), gap: true });
  return parts;
}

/** 3725 -> "1h 2m 5s". */
export function duration(seconds: number): string {
  const d = Math.floor(seconds / 86400);
  const h = Math.floor((seconds % 86400) / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  const s = Math.floor(seconds % 60);
  if (d > 0) return `${d}d ${h}h ${m}m`;
  if (h > 0) return `${h}h ${m}m ${s}s`;
  if (m > 0) return `${m}m ${s}s`;
  return `${s}s`;
}

// ---- the live view ----

export const ANSI = {
  altScreen: "\x1b[?1049h",
  mainScreen: "\x1b[?1049l",
  hideCursor: "\x1b[?25l",
  showCursor: "\x1b[?25h",
  home: "\x1b[H",
  clearLine: "\x1b[K", // to the end of the line
  clearBelow: "\x1b[J", // from the cursor to the end of the screen
};

/** The terminal's size, where the output is one; without it a frame is drawn whole. */
export interface ScreenSize {
  columns?: number;
  rows?: number;
}

/**
 * One frame of `mcr stats --watch`: cursor home, every line cleared to its end, the rest of the
 * screen cleared; redrawn in place, so nothing scrolls and nothing flickers. With a size, the
 * frame fits it: see fitScreen.
 */
export function watchFrame(
  r: StatsReport,
  o: { socketPath: string; everySeconds: number; color: boolean; now?: Date } & ScreenSize,
): string {
  const when = (o.now ?? new Date()).toTimeString().slice(0, 8);
  const head = `mcr ${r.version} on ${o.socketPath} · up ${duration(r.uptimeSeconds)} · every ${o.everySeconds} s · ${when} · q or Ctrl-C quits`;
  const [rules, ...rest] = statsSections(r, { color: o.color });
  const spaced = { ...rules!, lines: ["", ...rules!.lines], fixed: rules!.fixed + 1, gap: true };
  return screen(fitScreen([fixedSection(head), spaced, ...rest], o));
}

/**
 * The frame while no supervisor answers (one went away: a restart, a crash): what is wrong, and
 * that the view keeps asking; the report comes back when a supervisor does.
 */
export function waitFrame(
  o: { socketPath: string; everySeconds: number; error: string; since: Date; tries: number; now?: Date } & ScreenSize,
): string {
  const time = (d: Date) => d.toTimeString().slice(0, 8);
  const lines = [
    `mcr on ${o.socketPath} · every ${o.everySeconds} s · ${time(o.now ?? new Date())} · q or Ctrl-C quits`,
    "",
    `the supervisor is gone: ${o.error}`,
    `waiting for it to come back: asked ${o.tries} time(s) since ${time(o.since)}, every ${o.everySeconds} s`,
  ];
  return screen(fitScreen([fixedSection(...lines)], o));
}

const screen = (lines: string[]) =>
  // No newline after the last line: on the screen's last row it would scroll the view up.
  ANSI.home + lines.map((l) => l + ANSI.clearLine).join("\n") + ANSI.clearBelow;

/**
 * The sections' lines, cut to the size. Too many lines: the blanks between sections go first,
 * then the longest tables give up rows, one at a time, each cut table ending in a "… N more" line, until the rest fits; a screen too small even
 * for the titles shows its top. Too wide a line is cut one column short of the edge (a character
 * in the last column would leave the cursor waiting to wrap, and the clear after it would erase
 * that character), with "…" where it was cut.
 */
function fitScreen(all: readonly Section[], size: ScreenSize): string[] {
  const rows = size.rows !== undefined && size.rows > 0 ? size.rows : Number.POSITIVE_INFINITY;
  const sections =
    all.reduce((n, s) => n + s.lines.length, 0) > rows
      ? all.map((s) => (s.gap ? { ...s, lines: s.lines.slice(1), fixed: s.fixed - 1 } : s))
      : all;
  const cut = sections.map(() => 0);
  const body = (i: number) => sections[i]!.lines.length - sections[i]!.fixed;
  const shown = (i: number) => sections[i]!.lines.length - cut[i]! + (cut[i]! > 0 ? 1 : 0);
  const total = () => sections.reduce((n, _, i) => n + shown(i), 0);
  while (total() > rows) {
    let widest = -1;
    for (let i = 0; i < sections.length; i++)
      if (body(i) - cut[i]! > 0 && (widest < 0 || body(i) - cut[i]! > body(widest) - cut[widest]!)) widest = i;
    if (widest < 0) break;
    cut[widest]!++;
  }
  const lines = sections.flatMap((s, i) => {
    const keep = s.lines.slice(0, s.lines.length - cut[i]!);
    return cut[i]! > 0 ? [...keep, `  … ${cut[i]} more${s.what ? ` ${s.what}` : ""}`] : keep;
  });
  const fitted = lines.slice(0, rows);
  const columns = size.columns;
  return columns !== undefined && columns > 1 ? fitted.map((l) => truncate(l, columns - 1)) : fitted;
}

const ESC_SEQUENCE = /^\x1b\[[0-?]*[ -/]*[@-~]/;

/** `line` in at most `width` columns: escape sequences take none, wide characters two. */
export function truncate(line: string, width: number): string {
  if (Bun.stringWidth(line) <= width) return line;
  let out = "";
  let used = 0;
  let styled = false;
  for (let i = 0; i < line.length; ) {
    const esc = ESC_SEQUENCE.exec(line.slice(i, i + 32));
    if (esc) {
      out += esc[0];
      styled = true;
      i += esc[0].length;
      continue;
    }
    const ch = String.fromCodePoint(line.codePointAt(i)!);
    const w = Bun.stringWidth(ch);
    if (used + w > width - 1) break; // one column kept for the mark
    out += ch;
    used += w;
    i += ch.length;
  }
  return out + "…" + (styled ? RESET : "");
}
