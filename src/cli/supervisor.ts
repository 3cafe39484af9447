// mcr supervisor: the daemon. Workers on the CPUs, the control socket, the rule table on disk.
import { defineCommand } from "citty";
import { repeated } from "../tools/args.ts";
import { readFileSync } from "node:fs";
import { DEFAULT_SOCKET_PATH } from "../control/protocol.ts";
import { EX, McrError } from "../errors.ts";
import { log, setLogFormat, setLogLevel } from "../log.ts";
import { handleSignals } from "../supervisor/signals.ts";
import { DEFAULT_STATE_FILE } from "../supervisor/state.ts";

export default defineCommand({
  meta: { name: "supervisor", description: "Run the relay: one worker per CPU and the control socket" },
  args: {
    interface: {
      type: "string",
      valueHint: "IF",
      description: "input interface to receive on (repeat for several; or `interfaces` in --config)",
    },
    config: {
      type: "string",
      valueHint: "FILE",
      description: "config file (TOML): interfaces, settings, rules; SIGHUP reloads it",
    },
    "control-socket-path": {
      type: "string",
      valueHint: "PATH",
      description: `where \`mcr rule\` and \`mcr stats\` reach the supervisor (default ${DEFAULT_SOCKET_PATH})`,
    },
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
    workers: { type: "string", valueHint: "N", description: "worker processes (default: one per CPU)" },
    "state-file": {
      type: "string",
      valueHint: "PATH",
      description: `where rules are kept across restarts (default ${DEFAULT_STATE_FILE})`,
    },
    "ring-mb": { type: "string", valueHint: "MB", description: "receive ring per worker and interface, MiB" },
    "log-level": { type: "string", valueHint: "LEVEL", description: "error, warn, info, debug or trace" },
    "log-format": {
      type: "string",
      valueHint: "FORMAT",
      description: "text (default; with journald priorities under systemd) or json (one object per line)",
    },
    "metrics-listen": {
      type: "string",
      valueHint: "ADDR",
      description:
        "serve Prometheus metrics at http://ADDR/metrics (e.g. 127.0.0.1:9464; :9464 is loopback); off unless given",
    },
  },
  async run({ args, rawArgs }) {
    // The command line wins over the config file, which wins over the defaults.
    const { loadConfig } = await import("../config/load.ts");
    // citty keeps only the last of a repeated option: read them all from the command line.
    const cliInterfaces = [...new Set(repeated(rawArgs, "interface"))];
    for (const i of cliInterfaces)
      if (i.length === 0 || i.length > 15 || /[\s/:]/.test(i))
        throw new McrError(`--interface: "${i}" is not an interface name`, EX.USAGE, "interface");
    const config =
      args.config === undefined
        ? undefined
        : loadConfig(args.config, cliInterfaces.length > 0 ? { interfaces: cliInterfaces } : {});
    const logLevel = args["log-level"] ?? config?.logLevel;
    if (logLevel !== undefined) {
      try {
        setLogLevel(logLevel);
      } catch (e) {
        throw new McrError(`--log-level: ${(e as Error).message}`, EX.USAGE, "log-level");
      }
    }
    const logFormat = args["log-format"] ?? config?.logFormat;
    if (logFormat !== undefined) {
      try {
        setLogFormat(logFormat);
      } catch (e) {
        throw new McrError(`--log-format: ${(e as Error).message}`, EX.USAGE, "log-format");
      }
    }
    const listen = args["metrics-listen"] ?? config?.metricsListen;
    let metricsListen;
    if (listen !== undefined) {
      const { parseListen } = await import("../supervisor/metrics.ts");
      try {
        metricsListen = parseListen(listen);
      } catch (e) {
        throw new McrError(`--metrics-listen: ${(e as Error).message}`, EX.USAGE, "metrics-listen");
      }
    }
    const interfaces = cliInterfaces.length > 0 ? cliInterfaces : (config?.interfaces ?? []);
    if (interfaces.length === 0)
      throw new McrError(
        "no input interface: give --interface IF (or `interfaces` in the --config file)",
        EX.USAGE,
        "interface",
      );
    const workers = args.workers === undefined ? config?.workers : int(args.workers, "workers", 1, 1024);
    const ringMb = args["ring-mb"] === undefined ? config?.ringMb : int(args["ring-mb"], "ring-mb", 1, 4096);
    const group = args["control-socket-group"] ?? config?.controlSocketGroup;
    const socketGid = group === undefined ? undefined : groupId(group);

    // Loaded here, not at the top: they reach the native shim, which only the daemon needs.
    const { lookupInterface } = await import("../net/interfaces.ts");
    const { notifySystemd } = await import("../native/shim.ts");
    const { Supervisor } = await import("../supervisor/service.ts");
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
      stateFile: args["state-file"] ?? config?.stateFile ?? DEFAULT_STATE_FILE,
      workers,
      ringMb,
      lookup: lookupInterface,
      notify: notifySystemd,
      config,
      metricsListen,
    });
    dropped();
    await new Promise<void>((resolve) =>
      handleSignals(
        () => sup.stop().then(resolve),
        slog,
        () => void sup.reload(),
      ),
    );
    // Everything is closed; exit now rather than wait on a handle someone else left open.
    process.exit(EX.OK);
  },
});

function int(text: string, flag: string, min: number, max: number): number {
  if (!/^[0-9]+$/.test(text) || Number(text) < min || Number(text) > max)
    throw new McrError(`--${flag}: "${text}" is not an integer from ${min} to ${max}`, EX.USAGE, flag);
  return Number(text);
}

/** A group name or number -> gid, from /etc/group (no NSS lookup in Bun). */
function groupId(name: string): number {
  if (/^[0-9]+$/.test(name)) return Number(name);
  const line = readFileSync("/etc/group", "utf8")
    .split("\n")
    .find((l) => l.split(":")[0] === name);
  if (!line)
    throw new McrError(
      `--control-socket-group: no group named "${name}" in /etc/group`,
      EX.USAGE,
      "control-socket-group",
    );
  return Number(line.split(":")[2]);
}
