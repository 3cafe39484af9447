// mcr stats: the supervisor's counters, summed over workers (and over their restarts), with
// rates over an interval; --json for the documented schema (docs/stats-schema.md); --watch for a
// live view that redraws in place, like top.
import { call } from "../control/client.ts";
import { EX, McrError } from "../errors.ts";
import type { StatsReport } from "../types/stats.ts";
import { withRates } from "../stats/rates.ts";
import { ANSI, renderStats, type ScreenSize, waitFrame, watchFrame } from "../stats/render.ts";
import { parseSeconds } from "../values/seconds.ts";
import { UsageError } from "./args.ts";
import { useColor } from "./color.ts";
import { defineCommand } from "./command.ts";
import { json, socketPath } from "./shared.ts";

export default defineCommand({
  meta: { name: "stats", description: "Show counters and rates per rule, output, drop reason, worker and interface" },
  args: {
    json: json("print the report as JSON (schema: docs/stats-schema.md)"),
    interval: {
      type: "string",
      valueHint: "SECONDS",
      description: "measure rates over this many seconds (default 1; with --json 0: counters only, no wait)",
    },
    watch: { type: "boolean", description: "a live view, redrawn every --interval seconds; q or Ctrl-C quits" },
    "socket-path": socketPath,
  },
  async run({ args }) {
    const socket = args["socket-path"];
    // The least interval depends on --watch, so it is read here rather than by the flag's parser.
    const interval =
      args.interval === undefined
        ? args.json && !args.watch
          ? 0
          : 1
        : parseSeconds(args.interval, "--interval", { min: args.watch ? 0.1 : 0, max: 3600 });
    if (args.watch) {
      if (args.json)
        throw new UsageError("--watch and --json do not go together: poll `mcr stats --json` instead", "watch");
      return watch(socket, interval);
    }
    let report = await call(socket, "stats", {});
    if (interval > 0) {
      await Bun.sleep(interval * 1000);
      report = withRates(report, await call(socket, "stats", {}));
    }
    console.log(args.json ? JSON.stringify(report, null, 2) : renderStats(report, { color: useColor() }));
  },
});

/** The live view while no supervisor answers: the last error, since when, how often asked. */
interface Waiting {
  error: string;
  since: Date;
  tries: number;
}

/**
 * Redraws the report every `interval` seconds until q, Ctrl-C or SIGTERM; the terminal is given
 * back as it was (main screen, cursor, line mode). The first frame comes at once, without rates.
 * With no supervisor at the start there is nothing to watch: the error leaves as any command's
 * does (69), before the terminal is touched. One that goes away later (a restart) is waited for,
 * asked again every interval, and its successor's report takes the screen back.
 */
async function watch(socket: string, interval: number): Promise<void> {
  const first = await call(socket, "stats", {});
  let prev: StatsReport | undefined = first;
  const tty = process.stdout.isTTY ?? false;
  const color = useColor();
  let quit!: () => void;
  const quitting = new Promise<void>((r) => (quit = r));
  let done = false;
  quitting.then(() => (done = true));

  const stdin = process.stdin;
  const raw = stdin.isTTY ?? false;
  if (raw) stdin.setRawMode(true); // q without Enter; Ctrl-C arrives as a byte, not a signal
  stdin.on("data", (b: Buffer) => {
    const s = b.toString();
    if (s.includes("q") || s.includes("Q") || s.includes("\x03")) quit();
  });
  stdin.on("error", () => {});
  process.on("SIGINT", quit);
  process.on("SIGTERM", quit);
  process.on("SIGHUP", quit);

  const restore = () => {
    if (tty) process.stdout.write(ANSI.showCursor + ANSI.mainScreen);
    if (raw) stdin.setRawMode(false);
  };
  if (tty) process.stdout.write(ANSI.altScreen + ANSI.hideCursor);

  // What the screen shows: the last report, or, while none answers, why and since when.
  let view = { report: first } as { report: StatsReport } | Waiting;
  const size = (): ScreenSize => (tty ? { columns: process.stdout.columns, rows: process.stdout.rows } : {});
  const draw = () =>
    process.stdout.write(
      "report" in view
        ? watchFrame(view.report, { socketPath: socket, everySeconds: interval, color, ...size() })
        : waitFrame({ socketPath: socket, everySeconds: interval, ...view, ...size() }),
    );
  if (tty) process.stdout.on("resize", draw);
  try {
    draw();
    while (!done) {
      await Promise.race([Bun.sleep(interval * 1000), quitting]);
      if (done) break;
      // A supervisor that hangs must not hold q back: the answer races the quit.
      const got = await Promise.race([
        call(socket, "stats", {}).then(
          (report) => ({ report }),
          (error: unknown) => ({ error }),
        ),
        quitting.then(() => undefined),
      ]);
      if (got === undefined || done) break;
      if ("error" in got) {
        if (!(got.error instanceof McrError)) throw got.error;
        const was: Waiting | undefined = "report" in view ? undefined : view;
        view = { error: got.error.message, since: was?.since ?? new Date(), tries: (was?.tries ?? 0) + 1 };
        prev = undefined;
      } else {
        view = { report: prev ? withRates(prev, got.report) : got.report };
        prev = got.report;
      }
      draw();
    }
  } catch (e) {
    restore();
    // stdin holds the loop open even paused: once main.ts has reported the error, leave with its code.
    setTimeout(() => process.exit(), 0);
    throw e;
  }
  restore();
  // stdin keeps the loop alive: leave now, the terminal is back as it was.
  process.exit(EX.OK);
}
