// mcr supervisor: the daemon. Workers on the CPUs, the control socket, the rule table on disk.
import { readFileSync } from "node:fs";
import { DEFAULT_SOCKET_PATH } from "../control/protocol.ts";
import { EX } from "../errors.ts";
import { LOG_FORMATS, log, setLogFormat, setLogLevel } from "../log.ts";
import { handleSignals } from "../supervisor/signals.ts";
import { DEFAULT_STATE_FILE } from "../supervisor/state.ts";
import { ifName } from "../values/ifname.ts";
import { parseInteger } from "../values/integer.ts";
import { parseListen } from "../values/listen.ts";
import { RING_MB } from "../values/size.ts";
import { UsageError } from "./args.ts";
import { defineCommand } from "./command.ts";
import { controlSocketPath } from "./shared.ts";

/** --workers and the config's workers. */
const WORKERS = { min: 1, max: 1024 };
import { EGRESS_MODES, INGRESS_MODES, POLL_MODES } from "../native/abi.ts";

export default defineCommand({
  meta: { name: "supervisor", description: "Run the relay: one worker per CPU and the control socket" },
  args: {
    interface: {
      type: "string",
      multiple: true,
      valueHint: "IF",
      description: "input interface to receive on (repeat for several; or `interfaces` in --config)",
      parse: (t, f) => ifName(t, f),
    },
    config: {
      type: "string",
      valueHint: "FILE",
      description: "config file (TOML): interfaces, settings, rules; SIGHUP reloads it",
    },
    "control-socket-path": controlSocketPath,
    user: {
      type: "string",
      valueHint: "NAME",
      description: "started as root, run as this user, workers with CAP_NET_RAW only (default: mcr, if it exists)",
    },
    "control-socket-group": {
      type: "string",
      valueHint: "GROUP",
      description: "group allowed to use the control socket (mode 0660)",
    },
    workers: {
      type: "string",
      valueHint: "N",
      description: "worker processes (default: one per CPU)",
      parse: (t, f) => parseInteger(t, f, WORKERS),
    },
    "state-file": {
      type: "string",
      valueHint: "PATH",
      description: `where rules are kept across restarts (default ${DEFAULT_STATE_FILE})`,
    },
    "ring-mb": {
      type: "string",
      valueHint: "MB",
      description: "receive ring per worker and interface, MiB",
      parse: (t, f) => parseInteger(t, f, RING_MB),
    },
    "log-level": { type: "string", valueHint: "LEVEL", description: "error, warn, info, debug or trace" },
    poll: {
      type: "enum",
      options: POLL_MODES,
      what: "poll mode",
      valueHint: "MODE",
      description:
        "how workers wait for frames: sleep (default: at once, in poll(2)), adaptive (watch the rings a while after a batch, then sleep), busy (never sleep: a core per worker)",
    },
    egress: {
      type: "enum",
      options: EGRESS_MODES,
      what: "egress mode",
      valueHint: "MODE",
      description:
        "how workers send to multicast outputs: ring (default: a transmit ring, one send a batch), sendmsg (an io_uring sendmsg a frame on the packet socket, no copy in user space, checksums left to the device), socket (the output's UDP socket), zc (the UDP socket, zero copy), gso (sendmsg, and runs of like datagrams as one send that the device or the kernel cuts)",
    },
    ingress: {
      type: "enum",
      options: INGRESS_MODES,
      what: "ingress mode",
      valueHint: "MODE",
      description:
        "how workers receive: frames (default: TPACKET_V2, each frame handed over as soon as it is written, the lowest latency), blocks (TPACKET_V3: blocks of frames, each when full or after 1 ms; less work for each frame on the CPU that receives it, up to a millisecond more latency on a slow stream; a merge rule's legs stay on frames)",
    },
    "log-format": {
      type: "enum",
      options: LOG_FORMATS,
      what: "log format",
      description: "text (default; with journald priorities under systemd) or json (one object per line)",
    },
    "metrics-listen": {
      type: "string",
      valueHint: "ADDR",
      description:
        "serve Prometheus metrics at http://ADDR/metrics (e.g. 127.0.0.1:9464; :9464 is loopback); off unless given",
      parse: (t, f) => parseListen(t, f),
    },
  },
  async run({ args }) {
    // The command line wins over the config file, which wins over the defaults.
    const { loadConfig } = await import("../config/load.ts");
    const cliInterfaces = [...new Set(args.interface)];
    const config =
      args.config === undefined
        ? undefined
        : loadConfig(args.config, cliInterfaces.length > 0 ? { interfaces: cliInterfaces } : {});
    const logLevel = args["log-level"] ?? config?.logLevel;
    if (logLevel !== undefined) {
      try {
        setLogLevel(logLevel);
      } catch (e) {
        throw new UsageError(`--log-level: ${(e as Error).message}`, "log-level");
      }
    }
    const logFormat = args["log-format"] ?? config?.logFormat;
    if (logFormat !== undefined) setLogFormat(logFormat);
    const metricsListen =
      args["metrics-listen"] ??
      (config?.metricsListen === undefined ? undefined : parseListen(config.metricsListen, "metrics_listen"));
    const interfaces = cliInterfaces.length > 0 ? cliInterfaces : (config?.interfaces ?? []);
    if (interfaces.length === 0)
      throw new UsageError(
        "no input interface: give --interface IF (or `interfaces` in the --config file)",
        "interface",
      );
    const workers = args.workers ?? config?.workers;
    const ringMb = args["ring-mb"] ?? config?.ringMb;
    const poll = args.poll ?? config?.poll;
    const egress = args.egress ?? config?.egress;
    const ingress = args.ingress ?? config?.ingress;
    const group = args["control-socket-group"] ?? config?.controlSocketGroup;
    const socketGid = group === undefined ? undefined : groupId(group);

    // Loaded here, not at the top: they reach the native shim, which only the daemon needs.
    const { lookupInterface } = await import("../net/interfaces.ts");
    const { notifySystemd } = await import("../native/shim.ts");
    const { Supervisor } = await import("../supervisor/service.ts");
    const { refuseIfLive, startControlServer } = await import("../control/server.ts");
    const slog = log.withTag("supervisor");
    const { dropPrivileges } = await import("../supervisor/privileges.ts");
    const dropped = dropPrivileges(args.user, socketGid, await import("../native/shim.ts"), slog);
    const { RUNTIME_ENV } = await import("../supervisor/spawn.ts");
    for (const k of RUNTIME_ENV)
      if (process.env[k])
        slog.warn(
          `${k} is set: Bun applied it to this process before mcr started (the workers start without it); unset it`,
        );
    for (const i of interfaces)
      if (!lookupInterface(i)) slog.warn(`${i} does not exist (yet): its workers wait for it`);

    const sup = await Supervisor.start({
      interfaces,
      socketPath: args["control-socket-path"] ?? config?.controlSocketPath ?? DEFAULT_SOCKET_PATH,
      socketGid,
      controlServer: startControlServer,
      refuseIfLive,
      stateFile: args["state-file"] ?? config?.stateFile ?? DEFAULT_STATE_FILE,
      workers,
      ringMb,
      poll,
      egress,
      ingress,
      lookup: lookupInterface,
      notify: notifySystemd,
      config,
      metricsListen,
    });
    dropped();
    const code = await new Promise<number>((resolve) => {
      handleSignals(
        () => sup.stop().then(() => resolve(EX.OK)),
        slog,
        () => void sup.reload(),
      );
      // A relay that can never receive leaves with the reason (77: systemd shows NOPERM).
      void sup.failed.then(async (e) => {
        slog.error(e.message);
        await sup.stop();
        resolve(e.exitCode);
      });
    });
    // Everything is closed; exit now rather than wait on a handle someone else left open.
    process.exit(code);
  },
});

/** A group name or number -> gid, from /etc/group (no NSS lookup in Bun). */
function groupId(name: string): number {
  if (/^[0-9]{1,10}$/.test(name)) return parseInteger(name, "--control-socket-group", { min: 0, max: 2 ** 32 - 2 });
  const line = readFileSync("/etc/group", "utf8")
    .split("\n")
    .find((l) => l.split(":")[0] === name);
  if (!line)
    throw new UsageError(`--control-socket-group: no group named "${name}" in /etc/group`, "control-socket-group");
  return Number(line.split(":")[2]);
}
