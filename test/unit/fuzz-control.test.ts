// Random input for the control socket's two parsers, from a seeded PRNG (a failure names its
// seed and case): LineFramer must report exactly the lines and oversize lines a plain reference
// finds in the same bytes, however the stream is cut into chunks; decodeRequest must return a
// well-formed request or throw a ProtocolError with one of its documented codes, never anything
// else. Each test is bounded by bun's timeout: a hang fails it.
import { describe, expect, test } from "bun:test";
import { LineFramer } from "../../src/control/framing.ts";
import { decodeRequest, MAX_MESSAGE_BYTES, ProtocolError } from "../../src/control/protocol.ts";
import { COMMANDS, PROTOCOL_VERSION } from "../../src/types/control.ts";

const CASES = 100_000;

/** xorshift32: small, fast, and the same sequence on every run. */
function prng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s;
  };
}

type Event = { line: string } | "oversize";

/** What LineFramer should report for these bytes: every complete line over max once, every other
 * non-blank one decoded (a trailing CR dropped), and a trailing incomplete line over max once. */
function reference(bytes: Uint8Array, max: number): Event[] {
  const out: Event[] = [];
  const dec = new TextDecoder();
  let start = 0;
  for (;;) {
    const nl = bytes.indexOf(0x0a, start);
    const end = nl < 0 ? bytes.length : nl;
    if (end - start > max) out.push("oversize");
    else if (nl >= 0) {
      const line = dec.decode(bytes.subarray(start, end));
      const text = line.endsWith("\r") ? line.slice(0, -1) : line;
      if (text.trim() !== "") out.push({ line: text });
    }
    if (nl < 0) return out;
    start = nl + 1;
  }
}

const PIECES = ["\n", "\r\n", "\r", " ", "\t", "{}", '{"v":1}', "é", "😀", "\u2028", "\0"];

function randomStream(next: () => number, max: number): Uint8Array {
  const bytes: number[] = [];
  const enc = new TextEncoder();
  const n = next() % 12;
  for (let i = 0; i < n; i++) {
    const r = next() % 10;
    if (r < 4) {
      // raw bytes: invalid UTF-8 included
      const len = next() % (max * 2 + 2);
      for (let k = 0; k < len; k++) bytes.push(next() & 0xff);
    } else if (r < 9) {
      bytes.push(...enc.encode(PIECES[next() % PIECES.length]));
    } else {
      // a line just under, at, or just over the bound
      const len = max - 1 + (next() % 3);
      for (let k = 0; k < len; k++) bytes.push(0x61);
      bytes.push(0x0a);
    }
  }
  return Uint8Array.from(bytes);
}

describe("LineFramer on random streams", () => {
  test(`${CASES} streams cut anywhere give the reference's lines`, () => {
    const next = prng(0x6d6372);
    for (let c = 0; c < CASES; c++) {
      const max = c % 1000 === 0 ? MAX_MESSAGE_BYTES : 1 + (next() % 40);
      const bytes = randomStream(next, max);
      const got: Event[] = [];
      const f = new LineFramer(
        max,
        (line) => got.push({ line }),
        () => got.push("oversize"),
      );
      // Chunks of any size, empty ones among them; each a fresh copy, as Bun reuses its buffer.
      for (let pos = 0; pos < bytes.length; ) {
        const len = next() % 4 === 0 ? 0 : 1 + (next() % (max + 8));
        const chunk = bytes.slice(pos, pos + len);
        f.push(chunk);
        chunk.fill(0x0a); // the framer must have copied what it keeps
        pos += len;
      }
      const want = reference(bytes, max);
      if (JSON.stringify(got) !== JSON.stringify(want))
        expect({ case: c, max, bytes: Array.from(bytes), got }).toEqual({
          case: c,
          max,
          bytes: Array.from(bytes),
          got: want,
        });
    }
  });
});

const CODES = new Set(["bad_request", "unsupported_version", "unknown_command"]);
const KEYS = ["v", "id", "cmd", "args", "x", "__proto__", "constructor", ""];

function randomValue(next: () => number, depth: number): unknown {
  switch (next() % (depth > 2 ? 7 : 9)) {
    case 0:
      return null;
    case 1:
      return next() % 2 === 0;
    case 2:
      return [1, 0, -1, 1.5, 2 ** 53, -0, 1e308][next() % 7];
    case 3:
      return ["", "1", "rule.add", "stats", "status ", "x".repeat(next() % 100)][next() % 6];
    case 4:
      return COMMANDS[next() % COMMANDS.length];
    case 5:
      return PROTOCOL_VERSION;
    case 6:
      return next() % 1000;
    case 7:
      return Array.from({ length: next() % 3 }, () => randomValue(next, depth + 1));
    default: {
      const o: Record<string, unknown> = {};
      for (let i = next() % 5; i > 0; i--) o[KEYS[next() % KEYS.length]!] = randomValue(next, depth + 1);
      return o;
    }
  }
}

function randomLine(next: () => number): { line: string; valid: boolean } {
  const r = next() % 10;
  if (r < 3) {
    // a well-formed request: it must decode
    const req: Record<string, unknown> = {
      v: PROTOCOL_VERSION,
      id: next() % 2 ? next() % 100000 : `c${next()}`,
      cmd: COMMANDS[next() % COMMANDS.length],
    };
    if (next() % 2) req.args = { n: next() % 10, s: "x" };
    return { line: JSON.stringify(req), valid: true };
  }
  if (r < 7) return { line: JSON.stringify(randomValue(next, 0)) ?? "null", valid: false };
  // a request with characters changed, cut or inserted
  const base = JSON.stringify({ v: 1, id: next() % 50, cmd: "rule.add", args: { a: [1, "b"] } });
  const chars = [...base];
  for (let i = next() % 4; i >= 0; i--) {
    const at = next() % (chars.length + 1);
    const ch = String.fromCharCode(next() % 3 === 0 ? next() % 0x10000 : 0x20 + (next() % 0x5f));
    if (next() % 3 === 0) chars.splice(at, 1);
    else chars.splice(at, 0, ch);
  }
  return { line: chars.join(""), valid: false };
}

describe("decodeRequest on random lines", () => {
  test(`${CASES} lines: a request or a ProtocolError with a documented code`, () => {
    const next = prng(0x70726f74);
    let decoded = 0;
    let refused = 0;
    for (let c = 0; c < CASES; c++) {
      const { line, valid } = randomLine(next);
      let parsed: unknown;
      try {
        parsed = JSON.parse(line);
      } catch {
        parsed = undefined;
      }
      try {
        const req = decodeRequest(line);
        decoded++;
        const ok =
          req.v === PROTOCOL_VERSION &&
          (typeof req.id === "number" || typeof req.id === "string") &&
          COMMANDS.includes(req.cmd) &&
          typeof req.args === "object" &&
          req.args !== null &&
          !Array.isArray(req.args) &&
          Object.keys(req).join() === "v,id,cmd,args";
        if (!ok) expect({ case: c, line, req }).toBeUndefined();
      } catch (e) {
        refused++;
        const id = (parsed as { id?: unknown } | null)?.id;
        const wantId = typeof id === "number" || typeof id === "string" ? id : null;
        const ok =
          !valid &&
          e instanceof ProtocolError &&
          CODES.has(e.body.code) &&
          typeof e.body.message === "string" &&
          e.body.message.length > 0 &&
          (e.body.field === undefined || typeof e.body.field === "string") &&
          e.id === wantId;
        if (!ok) expect({ case: c, line, valid, error: String(e) }).toBeUndefined();
      }
    }
    // Both sides of the parser were reached, not just one.
    expect(decoded).toBeGreaterThan(CASES / 5);
    expect(refused).toBeGreaterThan(CASES / 5);
  });
});
