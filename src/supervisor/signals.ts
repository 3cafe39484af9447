// SIGTERM/SIGINT stop the supervisor cleanly; a second one while stopping forces the exit.
// SIGHUP is caught so that it never kills the daemon (its default action); reloading a config
// file arrives with --config.
import type { ConsolaInstance } from "consola";

export function handleSignals(
  stop: (signal: string) => Promise<void>,
  log: ConsolaInstance,
  onHup?: () => void,
): () => void {
  let stopping = false;
  const onStop = (signal: NodeJS.Signals) => {
    if (stopping) {
      log.warn(`${signal} again: exiting now`);
      process.exit(1);
    }
    stopping = true;
    log.info(`${signal}: stopping`);
    void stop(signal);
  };
  const hup = () => {
    log.info("SIGHUP: reloading");
    if (onHup) onHup();
  };
  process.on("SIGTERM", onStop);
  process.on("SIGINT", onStop);
  process.on("SIGHUP", hup);
  return () => {
    process.off("SIGTERM", onStop);
    process.off("SIGINT", onStop);
    process.off("SIGHUP", hup);
  };
}
