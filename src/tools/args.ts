// Command-line values of gen and sink: addresses, numbers, repeated options. Every error names the
// option and says what is wrong with the value (exit 64).
import { EX, McrError } from "../errors.ts";
import type { UdpAddr } from "../native/shim.ts";

export function usageError(option: string, problem: string): McrError {
  return new McrError(`${option}: ${problem}`, EX.USAGE, option.replace(/^--/, ""));
}

export function isIpv4(s: string): boolean {
  const o = s.split(".");
  return o.length === 4 && o.every((x) => /^\d{1,3}$/.test(x) && Number(x) <= 255);
}

export function isMulticast(addr: string): boolean {
  const first = Number(addr.split(".")[0]);
  return first >= 224 && first <= 239;
}

export function formatAddr(a: UdpAddr): string {
  return `${a.addr}:${a.port}`;
}

function parsePort(option: string, s: string, whole: string): number {
  if (!/^\d+$/.test(s) || Number(s) < 1 || Number(s) > 65535)
    throw usageError(option, `"${whole}": the port must be 1..65535`);
  return Number(s);
}

/** "A.B.C.D:PORT" items, from repeated options and comma lists. */
export function parseAddrList(option: string, values: string[], want: "multicast" | "any"): UdpAddr[] {
  const out: UdpAddr[] = [];
  for (const item of values.flatMap((v) => v.split(",")).map((v) => v.trim())) {
    if (item === "") throw usageError(option, "an empty address in the list");
    const i = item.lastIndexOf(":");
    if (i < 0) throw usageError(option, `"${item}" has no port (use ADDRESS:PORT, e.g. 239.1.1.1:5001)`);
    const addr = item.slice(0, i);
    if (!isIpv4(addr)) throw usageError(option, `"${item}": "${addr}" is not an IPv4 address`);
    if (want === "multicast" && !isMulticast(addr))
      throw usageError(option, `"${item}": ${addr} is not a multicast group (224.0.0.0/4)`);
    out.push({ addr, port: parsePort(option, item.slice(i + 1), item) });
  }
  return out;
}

/** "[A.B.C.D:]PORT" items for unicast listening; no address means every local address. */
export function parseListenList(option: string, values: string[]): UdpAddr[] {
  const out: UdpAddr[] = [];
  for (const item of values.flatMap((v) => v.split(",")).map((v) => v.trim())) {
    const i = item.lastIndexOf(":");
    const addr = i < 0 ? "0.0.0.0" : item.slice(0, i);
    if (!isIpv4(addr)) throw usageError(option, `"${item}": "${addr}" is not an IPv4 address`);
    if (isMulticast(addr)) throw usageError(option, `"${item}": ${addr} is a multicast group (use --group for groups)`);
    out.push({ addr, port: parsePort(option, item.slice(i + 1), item) });
  }
  return out;
}

const SUFFIX: Record<string, number> = { "": 1, k: 1e3, K: 1e3, m: 1e6, M: 1e6, g: 1e9, G: 1e9 };

/** A number with an optional k/M/G suffix, within [min, max]; whole unless `fraction`. */
export function parseNumber(
  option: string,
  s: string,
  o: { min?: number; max?: number; fraction?: boolean; suffix?: boolean } = {},
): number {
  const m = /^(\d+(?:\.\d+)?|\.\d+)([kKmMgG]?)$/.exec(s.trim());
  if (!m || (m[2] && !o.suffix))
    throw usageError(option, `"${s}" is not a number${o.suffix ? " (suffixes k, M, G allowed)" : ""}`);
  const v = Number(m[1]) * SUFFIX[m[2]!]!;
  if (!o.fraction && !Number.isInteger(v)) throw usageError(option, `"${s}" must be a whole number`);
  if (!Number.isFinite(v) || v > Number.MAX_SAFE_INTEGER) throw usageError(option, `"${s}" is too large`);
  if (o.min !== undefined && v < o.min) throw usageError(option, `"${s}" is below the minimum, ${o.min}`);
  if (o.max !== undefined && v > o.max) throw usageError(option, `"${s}" is above the maximum, ${o.max}`);
  return v;
}

export function optionalNumber(
  option: string,
  s: string | undefined,
  o: Parameters<typeof parseNumber>[2] = {},
): number | undefined {
  return s === undefined ? undefined : parseNumber(option, s, o);
}

/**
 * Every value given for a repeatable option (citty keeps only the last): `--dest a --dest=b`.
 */
export function repeated(rawArgs: string[], name: string): string[] {
  const out: string[] = [];
  const flag = `--${name}`;
  for (let i = 0; i < rawArgs.length; i++) {
    const a = rawArgs[i]!;
    if (a === "--") break;
    if (a === flag) {
      const v = rawArgs[i + 1];
      if (v === undefined || v.startsWith("--")) throw usageError(flag, "needs a value");
      out.push(v);
      i++;
    } else if (a.startsWith(flag + "=")) out.push(a.slice(flag.length + 1));
  }
  return out;
}

/** Refuses options the command does not know (citty would ignore them) and stray arguments. */
export function rejectUnknown(rawArgs: string[], known: { strings: string[]; booleans: string[] }): void {
  for (let i = 0; i < rawArgs.length; i++) {
    const a = rawArgs[i]!;
    if (!a.startsWith("-")) throw new McrError(`unexpected argument "${a}"`, EX.USAGE);
    const name = a.replace(/^--?/, "").replace(/=.*$/, "").replace(/^no-/, "");
    if (known.strings.includes(name)) {
      if (!a.includes("=")) i++;
      continue;
    }
    if (known.booleans.includes(name)) continue;
    throw new McrError(`unknown option ${a.replace(/=.*$/, "")}`, EX.USAGE, name);
  }
}
