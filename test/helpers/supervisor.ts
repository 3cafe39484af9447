// Runs `mcr supervisor` in a lab namespace and `mcr` client commands against it.
import { existsSync } from "node:fs";
import { call } from "../../src/control/client.ts";
import { judgeReadiness } from "../../src/supervisor/readiness.ts";
import type { Command, Commands } from "../../src/types/control.ts";
import type { Lab } from "./lab.ts";
import { mcrArgv } from "./mcr.ts";

/** One request on the supervisor's socket, from the test process (no `mcr` process per call). */
export function ctl<C extends Command>(
  socket: string,
  cmd: C,
  args: Commands[C]["args"] = {} as Commands[C]["args"],
  timeoutMs = 5000,
) {
  return call(socket, cmd, args, { timeoutMs });
}

/**
 * `mcr supervisor` in the lab, ready as systemd would be told it is (every worker holds the table
 * and a ring on every input that exists): by default in "relay" with ingress veth1 (the chain's),
 * `extra` appended to its command line. `socketOnly`: back as soon as the control socket answers,
 * for a test of a start that is not to get ready.
 */
export async function startSupervisor(
  lab: Lab,
  extra: string[] = [],
  o: { role?: string; interfaces?: string[]; readyMs?: number; socketOnly?: boolean } = {},
): Promise<SupervisorDriver> {
  const sup = new SupervisorDriver(lab, o.role ?? "relay", o.interfaces ?? ["veth1"], extra);
  await sup.ready(o.readyMs, o.socketOnly);
  return sup;
}

export class SupervisorDriver {
  readonly socket: string;
  readonly stateFile: string;
  proc;
  stderr = "";

  constructor(
    private lab: Lab,
    private role: string,
    private interfaces: string[],
    private extra: string[] = [],
  ) {
    this.socket = `/tmp/${lab.id}-${role}.sock`;
    this.stateFile = `/tmp/${lab.id}-${role}.state.json`;
    this.proc = this.start();
  }

  start() {
    const argv = [
      ...mcrArgv(),
      "supervisor",
      ...this.interfaces.flatMap((i) => ["--interface", i]),
      "--control-socket-path",
      this.socket,
      "--state-file",
      this.stateFile,
      "--ring-mb",
      "8",
      ...this.extra,
    ];
    const p = this.lab.spawn(this.role, argv);
    void (async () => {
      for await (const c of p.stderr) this.stderr += new TextDecoder().decode(c);
    })();
    this.proc = p;
    return p;
  }

  /** Waits until the control socket answers and (unless `socketOnly`) the workers are ready. */
  async ready(timeoutMs = 10000, socketOnly = false): Promise<void> {
    await this.answers(timeoutMs);
    if (!socketOnly) await this.workersReady(timeoutMs);
  }

  private async answers(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (this.proc.exitCode !== null) throw new Error(`supervisor exited ${this.proc.exitCode}: ${this.stderr}`);
      if (existsSync(this.socket) && this.mcr(["rule", "list", "--json"]).code === 0) return;
      await Bun.sleep(50);
    }
    throw new Error(`supervisor not ready: ${this.stderr}`);
  }

  /**
   * Waits until the supervisor would say READY=1: the control socket answers before the workers
   * have their rings and table, and traffic sent in that gap is (rightly) relayed by no one.
   */
  async workersReady(timeoutMs = 10000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let why = "";
    while (Date.now() < deadline) {
      if (this.proc.exitCode !== null) throw new Error(`supervisor exited ${this.proc.exitCode}: ${this.stderr}`);
      const st = await ctl(this.socket, "status");
      const r = judgeReadiness(st.workers, st.tableVersion);
      if (r.state !== "waiting") return;
      why = r.why;
      await Bun.sleep(20);
    }
    throw new Error(`workers not ready after ${timeoutMs} ms: ${why}`);
  }

  /** Runs a client command (inside the namespace) against this supervisor. */
  mcr(args: string[]) {
    return this.lab.exec(this.role, [...mcrArgv(), ...args, "--socket-path", this.socket]);
  }

  addRule(group: string, port: number, outputs: string, extra: string[] = []): number {
    const r = this.mcr([
      "rule",
      "add",
      "--input-group",
      group,
      "--input-port",
      String(port),
      "--outputs",
      outputs,
      ...extra,
    ]);
    if (r.code !== 0) throw new Error(`rule add failed (${r.code}): ${r.stderr}`);
    const id = Number(r.stdout.trim().split(/\s+/).pop());
    if (!Number.isInteger(id)) throw new Error(`rule add printed no id: ${r.stdout}`);
    return id;
  }

  stats(): any {
    const r = this.mcr(["stats", "--json"]);
    if (r.code !== 0) throw new Error(`stats failed: ${r.stderr}`);
    return JSON.parse(r.stdout);
  }
}
