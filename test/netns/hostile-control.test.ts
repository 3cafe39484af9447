// Hostile input (issue 6, item 3). On the control socket: 10,000 random, truncated, oversized and
// wrongly typed messages from several pipelining clients at once, twice. Each gets exactly one
// error reply (never `internal`: that would be a bug the input found), the supervisor and its
// workers stay up, the table stays as it was, and forwarding goes on; a client that never reads
// its replies is throttled. Config files: each error names the file, the line and the field.
// The socket tests need root (a namespace).
import { afterAll, describe, expect, test } from "bun:test";
import { describeNetns } from "../helpers/suite.ts";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { LineFramer } from "../../src/control/framing.ts";
import { MAX_MESSAGE_BYTES } from "../../src/control/protocol.ts";
import type { Response } from "../../src/types/control.ts";
import { mcrArgv } from "../helpers/mcr.ts";
import { sh, until } from "../helpers/lab.ts";
import { rssKb } from "../helpers/proc.ts";
import { ctl, startSupervisor } from "../helpers/supervisor.ts";
import { expectPayloads, receiveInSink, sendFromGen } from "../helpers/traffic.ts";

/** A small seeded generator (mulberry32): a failing run can be repeated with its seed. */
function rng(seed: number) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (n: number) => Math.floor(next() * n);
  const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)]!;
  return { next, int, pick };
}
type Rng = ReturnType<typeof rng>;

const GOOD_RULE = {
  inputGroup: "239.5.5.5",
  inputPort: 5555,
  outputs: [{ group: "239.6.6.6", port: 6666, interface: "veth3" }],
};

/** Values of every JSON type, some of them odd. */
function junkValue(r: Rng, depth = 0): unknown {
  switch (r.int(depth > 3 ? 9 : 12)) {
    case 0:
      return null;
    case 1:
      return r.next() < 0.5;
    case 2:
      return r.pick([0, -1, 1.5, 1e308, -0, 65536, 2 ** 53 + 1, 4294967296]);
    case 3:
      return r.pick([
        "",
        " ",
        "239.1.1.1",
        "999.1.1.1",
        "veth3",
        "x".repeat(r.int(300)),
        "\u0000",
        "\ud800",
        "💥",
        "../../etc/passwd",
      ]);
    case 4:
      return r.int(100000);
    case 5:
      return "239." + r.int(300) + "." + r.int(300) + "." + r.int(300);
    case 6:
      return String(r.int(70000));
    case 7:
      return r.pick(["__proto__", "constructor", "toString", "hasOwnProperty"]);
    case 8:
      return [];
    case 9:
      return Array.from({ length: r.int(4) }, () => junkValue(r, depth + 1));
    case 10:
      return Object.fromEntries(
        Array.from({ length: r.int(4) }, () => [
          r.pick(["group", "port", "interface", "ttl", "__proto__", "x", "id"]),
          junkValue(r, depth + 1),
        ]),
      );
    default:
      return {};
  }
}

/** Args for rule.add that are certainly refused: one field of the good rule spoiled. */
function badRuleArgs(r: Rng): unknown {
  const rule: Record<string, unknown> = structuredClone(GOOD_RULE);
  switch (r.int(9)) {
    case 0:
      rule.inputGroup = r.pick([5, null, [], {}, "10.0.0.1", "224.0.0.5", "239.1.1", "239.1.1.1.1", "", "239.01.1.1x"]);
      break;
    case 1:
      rule.inputPort = r.pick(["5001", 0, -1, 65536, 1.5, null, [], true, 1e999]);
      break;
    case 2:
      rule.outputs = r.pick([null, "239.6.6.6:6666:veth3", {}, [], 7]);
      break;
    case 3:
      rule.outputs = [junkValue(r)].filter((x) => typeof x !== "object" || x === null || Array.isArray(x));
      if ((rule.outputs as unknown[]).length === 0) rule.outputs = [1];
      break;
    case 4: {
      const key = r.pick(["group", "port", "interface", "ttl"] as const);
      const bad = {
        group: [null, -1, "x", [], {}, "", "0.0.0.0", "127.0.0.1", "224.0.0.1", "255.255.255.255"],
        port: [0, -1, 65536, "1", null, 1.5, []],
        interface: [null, 5, "", "no-such-if0", "a".repeat(16), "lo0/x"],
        ttl: [0, 256, -2, "1", 1.5, null, {}], // -1 is valid: the input's TTL less one
      }[key];
      rule.outputs = [{ ...GOOD_RULE.outputs[0], [key]: r.pick(bad as unknown[]) }];
      break;
    }
    case 5:
      rule.outputs = Array.from({ length: 257 }, (_, i) => ({ group: "239.6.6.6", port: 1 + i, interface: "veth3" }));
      break;
    case 6: // an own property, even "__proto__" (a plain assignment would set the prototype instead)
      Object.defineProperty(rule, r.pick(["extra", "__proto__", "id", "inputinterface"]), {
        value: junkValue(r),
        enumerable: true,
        configurable: true,
        writable: true,
      });
      break;
    case 7:
      rule.inputInterface = r.pick([5, "", "no-such-if0", "veth1/../x", "a".repeat(16), "veth3"]);
      break; // veth3: not served
    default:
      rule.outputs = [GOOD_RULE.outputs[0], GOOD_RULE.outputs[0]]; // a repeated output
  }
  return rule;
}

/** One hostile line (without its newline) and the reply codes it may get. */
function hostile(r: Rng, id: number): { line: string | Uint8Array; codes: string[]; id: number | null } {
  const valid = { v: 1, id, cmd: "rule.list" };
  switch (r.int(12)) {
    case 0: {
      // Random bytes: never a newline, never all blank (a blank line is no message).
      const b = Uint8Array.from({ length: 1 + r.int(200) }, () => r.int(256)).map((x) => (x === 10 ? 0 : x));
      b[0] = 0x21 + r.int(90);
      return { line: b, codes: ["bad_request", "unsupported_version"], id: null };
    }
    case 1: {
      // A good request cut short: never valid JSON.
      const text = JSON.stringify({ v: 1, id, cmd: "rule.add", args: GOOD_RULE });
      return { line: text.slice(0, 1 + r.int(text.length - 1)), codes: ["bad_request"], id: null };
    }
    case 2: {
      // Any JSON value but a request (an object's "id" would be echoed: it has none).
      const x = junkValue(r);
      if (x && typeof x === "object" && !Array.isArray(x)) delete (x as Record<string, unknown>).id;
      return { line: JSON.stringify(x) ?? "null", codes: ["bad_request", "unsupported_version"], id: null };
    }
    case 3: // the envelope's fields of the wrong type
      return {
        line: JSON.stringify({ ...valid, v: r.pick(["1", 2, 0, null, [1], 1.0000001]) }),
        codes: ["unsupported_version"],
        id,
      };
    case 4: {
      const badId = r.pick([null, true, [1], { a: 1 }]);
      return { line: JSON.stringify({ ...valid, id: badId }), codes: ["bad_request"], id: null };
    }
    case 5:
      return {
        line: JSON.stringify({
          ...valid,
          cmd: r.pick([1, null, [], "", "rule.ADD", "rule.add ", "shutdown", "__proto__", "x".repeat(1000)]),
        }),
        codes: ["bad_request", "unknown_command"],
        id,
      };
    case 6:
      return { line: JSON.stringify({ ...valid, args: r.pick([[], "x", 5, true]) }), codes: ["bad_request"], id };
    case 7:
      return {
        line: JSON.stringify({ ...valid, [r.pick(["extra", "V", "ID", "__proto__x", "arg"])]: junkValue(r) }),
        codes: ["bad_request"],
        id,
      };
    case 8:
    case 9:
      return {
        line: JSON.stringify({ v: 1, id, cmd: "rule.add", args: badRuleArgs(r) }),
        codes: ["invalid_rule", "bad_request"],
        id,
      };
    case 10:
      return {
        line: JSON.stringify({
          v: 1,
          id,
          cmd: "rule.remove",
          args: r.pick([
            {},
            { id: "1" },
            { id: -1 },
            { id: 1.5 },
            { id: 99999 },
            { id: null },
            { id: [1] },
            { id: 1, x: 1 },
          ]),
        }),
        codes: ["bad_request", "not_found"],
        id,
      };
    default: {
      // Oversized: just over the limit, or far over (1 in 50 of these).
      const n = MAX_MESSAGE_BYTES + 1 + (r.int(50) === 0 ? r.int(4 * MAX_MESSAGE_BYTES) : r.int(100));
      return {
        line: `{"v":1,"id":${id},"cmd":"rule.list","args":{"pad":"${"a".repeat(n)}"}}`,
        codes: ["too_large"],
        id: null,
      };
    }
  }
}

/** 10 clients x 1,000 hostile messages at once, pipelined; checks one error reply each. */
async function barrage(socket: string, seed: number) {
  const CLIENTS = 10;
  const PER_CLIENT = 1000;
  const t0 = performance.now();
  const results = await Promise.all(
    Array.from({ length: CLIENTS }, async (_, c) => {
      const r = rng(seed + c);
      const sent = Array.from({ length: PER_CLIENT }, (_, i) => hostile(r, c * PER_CLIENT + i + 1));
      const replies: Response[] = [];
      const framer = new LineFramer(
        1 << 24,
        (l) => replies.push(JSON.parse(l)),
        () => {},
      );
      const s = await Bun.connect({ unix: socket, socket: { data: (_s, chunk) => framer.push(chunk) } });
      // All of it at once, cut into chunks of random sizes (splitting lines and characters).
      const bytes = Buffer.concat(sent.flatMap((m) => [Buffer.from(m.line), Buffer.from("\n")]));
      for (let off = 0; off < bytes.length; ) {
        const n = 1 + r.int(64 * 1024);
        let chunk = bytes.subarray(off, off + n);
        while (chunk.length > 0) {
          const w = s.write(chunk);
          chunk = chunk.subarray(Math.max(0, w));
          if (chunk.length > 0) await Bun.sleep(1);
        }
        off += n;
      }
      await until(
        () => replies.length >= PER_CLIENT,
        30000,
        `client ${c}: ${replies.length} of ${PER_CLIENT} replies`,
        20,
      );
      await Bun.sleep(100); // and nothing more comes
      s.end();
      return { sent, replies };
    }),
  );
  const byCode = new Map<string, number>();
  let unexpected = 0;
  for (const { sent, replies } of results) {
    expect(replies.length).toBe(sent.length);
    for (const x of replies.filter((y) => y.v !== 1 || y.ok !== false))
      console.log(
        `not an error reply: ${JSON.stringify(x).slice(0, 300)} to ${String(sent.find((m) => m.id === x.id)?.line).slice(0, 300)}`,
      );
    expect(replies.every((x) => x.v === 1 && x.ok === false)).toBe(true);
    // Replies may come out of order: those with an id name their message; the rest are counted.
    const byId = new Map(sent.filter((m) => m.id !== null).map((m) => [m.id, m]));
    for (const x of replies) {
      if (x.ok) continue;
      byCode.set(x.error.code, (byCode.get(x.error.code) ?? 0) + 1);
      expect(typeof x.error.message).toBe("string");
      const m = x.id === null ? undefined : byId.get(x.id as number);
      if (x.id !== null && !m) unexpected++;
      if (m && !m.codes.includes(x.error.code)) {
        unexpected++;
        console.log(`unexpected ${x.error.code} for ${String(m.line).slice(0, 200)}: ${x.error.message}`);
      }
    }
    expect(replies.filter((x) => x.id === null).length).toBe(sent.filter((m) => m.id === null).length);
  }
  expect(unexpected).toBe(0);
  expect(byCode.get("internal") ?? 0).toBe(0);
  return { n: CLIENTS * PER_CLIENT, clients: CLIENTS, ms: performance.now() - t0, byCode };
}

describeNetns("hostile control input", (labs) => {
  test("2 x 10,000 random, truncated, oversized and wrongly typed messages: one error reply each, nothing else changes", async () => {
    const lab = labs.chain();
    const sup = await startSupervisor(lab, ["--workers", "2"]);
    const ruleId = sup.addRule("239.1.1.1", 5001, "239.9.9.9:5099:veth3");
    const before = await ctl(sup.socket, "status");
    const rss = [rssKb(before.pid)];
    const SEED = Number(process.env.MCR_FUZZ_SEED ?? 20240601);
    // Twice: the first round finds the heap's high-water mark, the second shows whether it keeps growing.
    const rounds = [];
    for (const seed of [SEED, SEED + 1000]) {
      rounds.push(await barrage(sup.socket, seed));
      rss.push(rssKb(before.pid));
    }

    // Still serving, nothing changed, nobody restarted.
    const after = await ctl(sup.socket, "status");
    const list = await ctl(sup.socket, "rule.list");
    expect(after.pid).toBe(before.pid);
    expect(after.tableVersion).toBe(before.tableVersion);
    expect(list.rules.map((x) => x.id)).toEqual([ruleId]);
    expect(after.workers.map((w) => [w.pid, w.restarts])).toEqual(before.workers.map((w) => [w.pid, w.restarts]));
    expect(sup.stderr).not.toMatch(/internal|TypeError|RangeError/);
    const rx = receiveInSink(lab, { group: "239.9.9.9", port: 5099, count: 500 });
    await rx.listening;
    sendFromGen(lab, { dest: "239.1.1.1", port: 5001, count: 500, size: 300, seed: 9, gapUs: 100 });
    expectPayloads((await rx.result).payloads, 9, 500, 300);
    for (const [i, r] of rounds.entries())
      console.log(
        `round ${i + 1}: ${r.n} hostile messages (seed ${SEED + i * 1000}) from ${r.clients} clients answered in ${(r.ms / 1000).toFixed(1)} s: ` +
          `${[...r.byCode].map(([k, v]) => `${k} ${v}`).join(", ")}`,
      );
    console.log(`supervisor RSS KiB ${rss.join(" -> ")}; forwarding unaffected, no restart, table unchanged`);
    // The second round reuses what the first grew to (about 60 MB of input went through each).
    expect(rss[2]! - rss[1]!).toBeLessThan(24 * 1024);
  }, 90_000);

  test("a client that pipelines requests and never reads its replies is throttled, not buffered without end", async () => {
    const lab = labs.chain();
    const sup = await startSupervisor(lab, ["--workers", "1"]);
    for (let i = 0; i < 50; i++) sup.addRule(`239.1.1.${i + 1}`, 5001, "239.9.9.9:5099:veth3"); // an 8 KB rule.list reply
    const { pid } = await ctl(sup.socket, "status");
    const rss0 = rssKb(pid);
    const s = await Bun.connect({ unix: sup.socket, socket: { data() {} } });
    s.pause(); // reads nothing
    const line = JSON.stringify({ v: 1, id: 1, cmd: "rule.list" }) + "\n";
    const batch = Buffer.from(line.repeat(1000));
    let written = 0;
    const end = performance.now() + 3000;
    while (performance.now() < end && written < 100_000 * line.length) {
      const w = s.write(batch.subarray(written % batch.length));
      written += Math.max(0, w);
      if (w <= 0) await Bun.sleep(5);
    }
    await Bun.sleep(500);
    const rss1 = rssKb(pid);
    const t0 = performance.now();
    const st = await ctl(sup.socket, "status", {}, 1000);
    const answerMs = performance.now() - t0;
    console.log(
      `a client that never reads got ${Math.floor(written / line.length)} rule.list requests in within 3 s (then the supervisor stopped reading it); ` +
        `supervisor RSS ${rss0} -> ${rss1} KiB; another client answered in ${answerMs.toFixed(1)} ms`,
    );
    expect(st.pid).toBe(pid);
    expect(written).toBeLessThan(100_000 * line.length); // it was held back
    expect(rss1 - rss0).toBeLessThan(64 * 1024);
    s.terminate();
  }, 30_000);
});

describe("hostile config files", () => {
  const dir = mkdtempSync(join(tmpdir(), "mcrt-cfg-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const RULE = '[[rule]]\ninput_group = "239.1.1.1"\ninput_port = 5001\noutputs = ["239.2.2.2:1:eth1"]\n';
  // Each case: the text, and how the error must begin: FILE:LINE: field:
  const cases: [string, string, string][] = [
    ["interfaces as a string", 'interfaces = "eth0"\n', ":1: interfaces: "],
    ["an interface that is a number", "interfaces = [1]\n", ":1: interfaces: "],
    ["a relative state file", 'interfaces = ["eth0"]\nstate_file = "rules.json"\n', ":2: state_file: "],
    ["a number for a path", 'interfaces = ["eth0"]\ncontrol_socket_path = 5\n', ":2: control_socket_path: "],
    ["a fractional worker count", 'interfaces = ["eth0"]\nworkers = 1.5\n', ":2: workers: "],
    ["a ring of 0 MiB", 'interfaces = ["eth0"]\nring_mb = 0\n', ":2: ring_mb: "],
    ["an unknown log level", 'interfaces = ["eth0"]\nlog_level = "loud"\n', ":2: log_level: "],
    ["a metrics address that is a number", 'interfaces = ["eth0"]\nmetrics_listen = 5\n', ":2: metrics_listen: "],
    ["an unknown table", 'interfaces = ["eth0"]\n[rules]\nx = 1\n', ":2: rules: "],
    ["a sub-table of rule", 'interfaces = ["eth0"]\n[rule.x]\n', ":2: rule: "],
    ["a port as a string", 'interfaces = ["eth0"]\n' + RULE.replace("5001", '"5001"'), ":4: input_port: "],
    ["a group as a number", 'interfaces = ["eth0"]\n' + RULE.replace('"239.1.1.1"', "239"), ":3: input_group: "],
    [
      "outputs as a string",
      'interfaces = ["eth0"]\n' + RULE.replace('["239.2.2.2:1:eth1"]', '"239.2.2.2:1:eth1"'),
      ":5: outputs: ",
    ],
    [
      "an output table without interface",
      'interfaces = ["eth0"]\n' + RULE.replace('["239.2.2.2:1:eth1"]', '[{group = "239.2.2.2", port = 1}]'),
      ":5: outputs: ",
    ],
    [
      "an output that is a list",
      'interfaces = ["eth0"]\n' + RULE.replace('["239.2.2.2:1:eth1"]', '[["x"]]'),
      ":5: outputs: ",
    ],
    [
      "a rule without outputs",
      'interfaces = ["eth0"]\n' + RULE.replace('outputs = ["239.2.2.2:1:eth1"]\n', ""),
      ":2: outputs: ",
    ],
    ["a TTL of 300", 'interfaces = ["eth0"]\n' + RULE.replace("eth1", "eth1:300"), ":5: outputs: "],
    [
      "a second rule on line 7 with a bad port",
      'interfaces = ["eth0"]\n' + RULE + RULE.replace("5001", "0"),
      ":8: input_port: ",
    ],
    ["binary garbage", "\u0000\u0001\u00ff", ":1: TOML syntax: "],
  ];
  for (const [name, text, want] of cases)
    test(`mcr config check refuses ${name}, naming the line and the field`, () => {
      const file = join(dir, `${name.replace(/\W+/g, "-")}.toml`);
      writeFileSync(file, text);
      const r = sh([...mcrArgv(), "config", "check", file]);
      expect(r.code).toBe(78);
      const msg = r.stderr.trim().replace(/^mcr: /, "");
      expect(msg.startsWith(file + want) ? want : msg).toBe(want);
    });
});
