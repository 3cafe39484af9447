// A pseudo-terminal of a given size for tests of interactive commands: a tmux server of its own
// (its own socket, killed after), one pane running a command, what the command wrote recorded
// byte for byte, and the screen as tmux shows it.
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export const hasTmux = Bun.which("tmux") !== null;

let made = 0;

export class Terminal {
  readonly dir = mkdtempSync(join(tmpdir(), "mcr-tty-"));
  private readonly server = `mcr-test-${process.pid}-${++made}`;

  /**
   * Runs `argv` in a `columns` x `rows` pane. The command waits for the recording to start, and
   * after it the shell writes its exit code and the terminal's modes (stty -a) and stays, so the
   * screen can still be read.
   */
  async start(argv: string[], columns: number, rows: number): Promise<void> {
    const q = (s: string) => `'${s.replaceAll("'", `'\\''`)}'`;
    const go = join(this.dir, "go");
    const script = [
      `while [ ! -e ${q(go)} ]; do sleep 0.02; done`,
      `${argv.map(q).join(" ")} 2>${q(join(this.dir, "stderr"))}`,
      `echo $? >${q(join(this.dir, "rc"))}`,
      `stty -a >${q(join(this.dir, "stty"))}`,
      "sleep 120",
    ].join("; ");
    await this.tmux("new-session", "-d", "-x", String(columns), "-y", String(rows), "-s", "t", "sh", "-c", script);
    await this.tmux("pipe-pane", "-o", "-t", "t", `cat >>${q(join(this.dir, "raw"))}`);
    writeFileSync(go, "");
  }

  /** The pane's lines as shown now (wrapped lines joined, so a wrap shows as a long line). */
  async screen(): Promise<string[]> {
    const text = await this.tmux("capture-pane", "-p", "-J", "-t", "t");
    return text.replace(/\n$/, "").split("\n");
  }

  /** What the command has written so far. */
  raw(): string {
    const p = join(this.dir, "raw");
    return existsSync(p) ? readFileSync(p, "utf8") : "";
  }

  /** tmux's view of the pane: `#{alternate_on}`, `#{cursor_flag}`, `#{pane_width}`. */
  async format(f: string): Promise<string> {
    return (await this.tmux("display-message", "-p", "-t", "t", f)).trim();
  }

  keys(...keys: string[]): Promise<string> {
    return this.tmux("send-keys", "-t", "t", ...keys);
  }

  resize(columns: number, rows: number): Promise<string> {
    return this.tmux("resize-window", "-t", "t", "-x", String(columns), "-y", String(rows));
  }

  /** The command's pid: the only child of the pane's shell. */
  async pid(): Promise<number> {
    const sh = await this.format("#{pane_pid}");
    const kids = readFileSync(`/proc/${sh}/task/${sh}/children`, "utf8").trim().split(/\s+/);
    if (kids.length !== 1 || kids[0] === "") throw new Error(`the pane's shell has children [${kids}]`);
    return Number(kids[0]);
  }

  /** The exit code, once the command has ended; undefined before. */
  exitCode(): number | undefined {
    const p = join(this.dir, "rc");
    const t = existsSync(p) ? readFileSync(p, "utf8").trim() : "";
    return t === "" ? undefined : Number(t);
  }

  file(name: string): string {
    const p = join(this.dir, name);
    return existsSync(p) ? readFileSync(p, "utf8") : "";
  }

  /** Polls `check` until it returns something other than undefined/false, or fails after `ms`. */
  async until<T>(what: string, check: () => Promise<T | undefined | false> | T | undefined | false, ms = 8000) {
    const deadline = Date.now() + ms;
    for (;;) {
      const v = await check();
      if (v !== undefined && v !== false) return v;
      if (Date.now() > deadline) {
        const screen = await this.screen().then(
          (l) => l.join("\n"),
          (e: Error) => `(${e.message})`,
        );
        throw new Error(`timed out waiting for ${what}; the screen:\n${screen}`);
      }
      await Bun.sleep(50);
    }
  }

  async close(): Promise<void> {
    // kill-server leaves its socket file behind: remove it too.
    const socket = (await this.tmux("display-message", "-p", "#{socket_path}").catch(() => "")).trim();
    await this.tmux("kill-server").catch(() => "");
    if (socket !== "") rmSync(socket, { force: true });
    rmSync(this.dir, { recursive: true, force: true });
  }

  private async tmux(...args: string[]): Promise<string> {
    const p = Bun.spawn(["tmux", "-L", this.server, "-f", "/dev/null", ...args], {
      stdout: "pipe",
      stderr: "pipe",
      env: { ...process.env, TMUX: "" },
    });
    const [out, err, code] = await Promise.all([
      new Response(p.stdout).text(),
      new Response(p.stderr).text(),
      p.exited,
    ]);
    if (code !== 0) throw new Error(`tmux ${args.join(" ")}: ${err.trim()}`);
    return out;
  }
}
