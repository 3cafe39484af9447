// systemd's end of NOTIFY_SOCKET for tests: a unix datagram socket whose every datagram is kept,
// with the time it arrived. Python's socket module reads datagrams one by one (socat would join
// them into one stream).
import { rmSync } from "node:fs";

const RECEIVER = `
import socket, sys, time, json
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
while True:
    d = s.recv(65536)
    print(json.dumps([time.monotonic() * 1000, d.decode()]), flush=True)
`;

export interface NotifyReceiver {
  /** Every datagram so far, in order. */
  said(): string[];
  /** Every datagram with its arrival time (ms, monotonic). */
  timed(): { at: number; text: string }[];
  stop(): void;
}

export function notifyReceiver(path: string): NotifyReceiver {
  rmSync(path, { force: true });
  const p = Bun.spawn(["python3", "-c", RECEIVER, path], { stdout: "pipe", stderr: "ignore" });
  const got: { at: number; text: string }[] = [];
  let buf = "";
  void (async () => {
    for await (const c of p.stdout) {
      buf += new TextDecoder().decode(c);
      let nl: number;
      while ((nl = buf.indexOf("\n")) >= 0) {
        const [at, text] = JSON.parse(buf.slice(0, nl)) as [number, string];
        got.push({ at, text });
        buf = buf.slice(nl + 1);
      }
    }
  })();
  return {
    said: () => got.map((g) => g.text),
    timed: () => [...got],
    stop: () => {
      p.kill("SIGKILL");
      rmSync(path, { force: true });
    },
  };
}

export const havePython = Bun.spawnSync(["sh", "-c", "command -v python3"]).exitCode === 0;
