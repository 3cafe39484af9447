// The value parsers every input shares (command line, rules, config): what each takes, what it
// refuses, and the message it refuses with.
import { describe, expect, test } from "bun:test";
import { parseEndpoint } from "../../src/values/endpoint.ts";
import { ValueError } from "../../src/values/error.ts";
import { ifName, ifNameProblem } from "../../src/values/ifname.ts";
import { checkInteger, PORT, parseInteger, parseIntegerSyntax, TTL } from "../../src/values/integer.ts";
import { formatIPv4, ipv4, ipv4NetworkU32, parseIPv4 } from "../../src/values/ipv4.ts";
import { canonicalIPv6, formatIPv6, isMulticastIPv6, parseIPv6 } from "../../src/values/ipv6.ts";
import { formatListen, parseListen } from "../../src/values/listen.ts";
import { parseNumber } from "../../src/values/number.ts";
import { parseSeconds } from "../../src/values/seconds.ts";
import { parseBytes } from "../../src/values/size.ts";

/** The refusal as field + message (and proof that it is a ValueError). */
function refusal(fn: () => unknown): { field?: string; message: string } {
  try {
    fn();
  } catch (e) {
    if (!(e instanceof ValueError)) throw e;
    expect(e.exitCode).toBe(64);
    return { field: e.field, message: e.message };
  }
  throw new Error("expected a refusal, got none");
}

describe("integers", () => {
  test("decimal digits within the range", () => {
    expect(parseInteger("0", "n")).toBe(0);
    expect(parseInteger("1024", "n", { min: 1, max: 1024 })).toBe(1024);
    expect(parseInteger("-1", "--cpu", { min: -1, max: 4095 })).toBe(-1);
    expect(parseInteger("10k", "n", { suffix: true })).toBe(10_000);
    expect(parseInteger("1.5M", "n", { suffix: true })).toBe(1_500_000);
  });
  test("what Number() would take is refused", () => {
    for (const bad of ["", " 5", "5 ", "0x10", "1e3", "+5", "1.5", "5.", "-0", "1_000", "١٢", "Infinity", "NaN"])
      expect(refusal(() => parseInteger(bad, "--workers", { min: 0, max: 1024 }))).toEqual({
        field: "--workers",
        message: `${JSON.stringify(bad)} is not an integer from 0 to 1024`,
      });
  });
  test("a sign only where the range goes below zero; a suffix only where allowed", () => {
    expect(refusal(() => parseInteger("-1", "n", { min: 0 })).message).toBe('"-1" is not an integer of at least 0');
    expect(refusal(() => parseInteger("10k", "n")).message).toBe('"10k" is not an integer');
    expect(refusal(() => parseInteger("1.0005k", "n", { suffix: true, max: 2000 })).message).toBe(
      '"1.0005k" is not an integer up to 2000 (k, M, G suffixes allowed)',
    );
  });
  test("the bounds are inclusive and exact", () => {
    expect(parseInteger("1", "n", { min: 1, max: 2 })).toBe(1);
    expect(refusal(() => parseInteger("0", "n", { min: 1, max: 2 })).message).toBe('"0" is not an integer from 1 to 2');
    expect(refusal(() => parseInteger("3", "n", { min: 1, max: 2 })).message).toBe('"3" is not an integer from 1 to 2');
    expect(refusal(() => parseInteger("99999999999999999", "n")).message).toBe('"99999999999999999" is not an integer');
  });
  test("ports and TTLs, as text or as numbers (JSON, TOML)", () => {
    expect(checkInteger(65535, "port", PORT)).toBe(65535);
    expect(refusal(() => checkInteger(0, "port", PORT)).message).toBe(
      "0 is not a port (use an integer from 1 to 65535)",
    );
    expect(refusal(() => checkInteger(1.5, "port", PORT)).message).toBe(
      "1.5 is not a port (use an integer from 1 to 65535)",
    );
    expect(refusal(() => checkInteger("5", "port", PORT)).message).toBe(
      '"5" is not a port (use an integer from 1 to 65535)',
    );
    expect(refusal(() => checkInteger(256, "ttl", TTL)).message).toBe(
      "256 is not a TTL (use an integer from 1 to 255)",
    );
    expect(refusal(() => checkInteger(null, "ttl", TTL)).message).toBe(
      "null is not a TTL (use an integer from 1 to 255)",
    );
  });
  test("syntax only: the range is left to whoever judges it, the message still says it", () => {
    expect(parseIntegerSyntax("0", "--input-port", PORT)).toBe(0);
    expect(parseIntegerSyntax("70000", "--input-port", PORT)).toBe(70000);
    expect(refusal(() => parseIntegerSyntax("abc", "--input-port", PORT))).toEqual({
      field: "--input-port",
      message: '"abc" is not a port (use an integer from 1 to 65535)',
    });
    expect(refusal(() => parseIntegerSyntax("-1", "--ttl", TTL)).message).toBe(
      '"-1" is not a TTL (use an integer from 1 to 255)',
    );
  });
});

describe("numbers, sizes, seconds", () => {
  test("fractions and suffixes where allowed", () => {
    expect(parseNumber("2.5", "r", { fraction: true })).toBe(2.5);
    expect(parseNumber(".5", "r", { fraction: true })).toBe(0.5);
    expect(parseNumber("1.5k", "r", { fraction: true, suffix: true })).toBe(1500);
    expect(refusal(() => parseNumber("2.5", "r")).message).toBe('"2.5" is not an integer');
  });
  test("sizes in bytes take k, M, G (powers of 1000)", () => {
    expect(parseBytes("32M", "--rcvbuf", { min: 4096 })).toBe(32_000_000);
    expect(parseBytes("4096", "--rcvbuf", { min: 4096 })).toBe(4096);
    expect(refusal(() => parseBytes("4095", "--rcvbuf", { min: 4096, max: 2 ** 31 - 1 })).message).toBe(
      '"4095" is not a size in bytes (use an integer from 4096 to 2147483647)',
    );
    expect(refusal(() => parseBytes("3G", "--rcvbuf", { min: 4096, max: 2 ** 31 - 1 })).message).toContain(
      '"3G" is not a size in bytes',
    );
  });
  test("seconds: more than zero unless a least is given", () => {
    expect(parseSeconds("0.25", "--timeout")).toBe(0.25);
    expect(parseSeconds("0", "--interval", { min: 0, max: 3600 })).toBe(0);
    expect(refusal(() => parseSeconds("0", "--timeout")).message).toBe('"0" is not a number of seconds more than 0');
    expect(refusal(() => parseSeconds("0.05", "--interval", { min: 0.1, max: 3600 })).message).toBe(
      '"0.05" is not a number of seconds from 0.1 to 3600',
    );
    for (const bad of ["soon", "", "1e3", "-1", "3601", "1s"])
      expect(() => parseSeconds(bad, "--interval", { min: 0, max: 3600 })).toThrow(ValueError);
  });
});

describe("IPv4", () => {
  test("strict dotted quads: no leading zeros, no short forms, no hex", () => {
    expect(parseIPv4("0.0.0.0")).toBe(0);
    expect(parseIPv4("239.1.1.1")).toBe(0xef010101);
    for (const bad of ["010.1.1.1", "1.1.1.01", "00.1.1.1", "239.1", "0x7f.0.0.1", "1.2.3.4.", "1.2.3.256", "1.2.3.4 "])
      expect(parseIPv4(bad)).toBeUndefined();
    expect(refusal(() => ipv4("010.1.1.1", "--source"))).toEqual({
      field: "--source",
      message: '"010.1.1.1" is not an IPv4 address (four numbers, e.g. 239.1.1.1)',
    });
  });
  test("formatting round-trips", () => {
    for (const a of ["0.0.0.0", "239.255.0.1", "255.255.255.255", "10.0.2.7"]) expect(formatIPv4(ipv4(a, "x"))).toBe(a);
  });
});

describe("IPv6", () => {
  test("the text forms of RFC 4291 and the canonical form of RFC 5952", () => {
    const cases: [string, string][] = [
      ["::", "::"],
      ["::1", "::1"],
      ["FF0E::1", "ff0e::1"],
      ["2001:0db8:0000:0000:0000:0000:0000:0001", "2001:db8::1"],
      ["2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"], // the first of two equal runs
      ["2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1"], // one zero group is not shortened
      ["2001:0:0:1:0:0:0:1", "2001:0:0:1::1"], // the longest run
      ["::ffff:192.0.2.1", "::ffff:c000:201"],
      ["64:ff9b::10.0.0.1", "64:ff9b::a00:1"],
      ["1:2:3:4:5:6:7::", "1:2:3:4:5:6:7:0"],
      ["::2:3:4:5:6:7:8", "0:2:3:4:5:6:7:8"],
    ];
    for (const [text, canon] of cases) expect([text, canonicalIPv6(text)]).toEqual([text, canon]);
  });
  test("refused", () => {
    for (const bad of [
      "",
      ":",
      ":::",
      "1::2::3",
      "1:2:3:4:5:6:7:8:9",
      "1:2:3:4:5:6:7",
      "1:2:3:4:5:6:7:8::",
      "12345::",
      "g::1",
      "::ffff:010.0.0.1",
      "::1.2.3",
      "1.2.3.4",
      "fe80::1%eth0",
      " ::1",
    ])
      expect([bad, parseIPv6(bad)]).toEqual([bad, undefined]);
  });
  test("groups, formatting, multicast", () => {
    expect(parseIPv6("ff02::fb")).toEqual([0xff02, 0, 0, 0, 0, 0, 0, 0xfb]);
    expect(formatIPv6([0, 0, 0, 0, 0, 0, 0, 0])).toBe("::");
    expect(isMulticastIPv6(parseIPv6("ff0e::1") ?? [])).toBe(true);
    expect(isMulticastIPv6(parseIPv6("fe80::1") ?? [])).toBe(false);
  });
});

describe("interface names (the kernel's dev_valid_name)", () => {
  test("1 to 15 bytes without /, : or white space, not . or ..", () => {
    for (const good of ["eth0", "a", "veth-mcr.1", "x".repeat(15), "br_0@x"])
      expect(ifNameProblem(good)).toBeUndefined();
    expect(ifNameProblem("")).toBe("is empty");
    expect(ifNameProblem("x".repeat(16))).toBe("is longer than 15 bytes");
    expect(ifNameProblem("é".repeat(8))).toBe("is longer than 15 bytes"); // 16 bytes in UTF-8
    for (const bad of [".", ".."]) expect(ifNameProblem(bad)).toBe("is not allowed");
    for (const bad of ["eth/0", "eth0:1", "eth 0", "eth\t0", "eth\n0", "eth\0"])
      expect(ifNameProblem(bad)).toBe("has a character the kernel refuses (/, :, white space)");
  });
  test("the message names what is wrong", () => {
    expect(refusal(() => ifName("eth0:1", "--interface"))).toEqual({
      field: "--interface",
      message: '"eth0:1" is not an interface name (it has a character the kernel refuses (/, :, white space))',
    });
    expect(refusal(() => ifName(7, "interface")).message).toBe(
      "the interface must be a name such as eth0, got a number",
    );
  });
});

describe("listen addresses", () => {
  test("host:port, [v6]:port, a bare port or :port is loopback, a bare host takes 9464", () => {
    expect(parseListen("127.0.0.1:9464")).toEqual({ hostname: "127.0.0.1", port: 9464 });
    expect(parseListen(":9100")).toEqual({ hostname: "127.0.0.1", port: 9100 });
    expect(parseListen("9100")).toEqual({ hostname: "127.0.0.1", port: 9100 });
    expect(parseListen("[::1]:9464")).toEqual({ hostname: "::1", port: 9464 });
    expect(parseListen("[0:0::1]")).toEqual({ hostname: "::1", port: 9464 });
    expect(parseListen("metrics.example")).toEqual({ hostname: "metrics.example", port: 9464 });
    expect(formatListen({ hostname: "::1", port: 1 })).toBe("[::1]:1");
  });
  test("refused, naming the field", () => {
    expect(refusal(() => parseListen("010.0.0.1:9464", "--metrics-listen"))).toEqual({
      field: "--metrics-listen",
      message: '"010.0.0.1:9464": "010.0.0.1" is not an IPv4 address',
    });
    expect(refusal(() => parseListen("[::g]:1", "m")).message).toBe('"[::g]:1": "::g" is not an IPv6 address');
    expect(refusal(() => parseListen("1.2.3.4:0", "m")).message).toBe('"1.2.3.4:0": the port must be 1 to 65535');
    expect(refusal(() => parseListen("1.2.3.4:123456", "m")).message).toBe(
      '"1.2.3.4:123456": the port must be 1 to 65535',
    );
    for (const bad of ["", "a b:1", "http://x:1", "-x:1", "a..b", "::1:9464"])
      expect(() => parseListen(bad, "m")).toThrow(ValueError);
  });
});

describe("UDP endpoints", () => {
  test("ADDR:PORT, a group where one is wanted, a default address", () => {
    expect(parseEndpoint("239.1.1.1:5001", "--dest")).toEqual({ addr: "239.1.1.1", port: 5001 });
    expect(parseEndpoint("5001", "--listen", { defaultAddr: "0.0.0.0", want: "unicast" })).toEqual({
      addr: "0.0.0.0",
      port: 5001,
    });
    expect(parseEndpoint("10.0.0.1", "--source", { portOptional: true })).toEqual({ addr: "10.0.0.1", port: 0 });
  });
  test("refused, naming the item", () => {
    expect(refusal(() => parseEndpoint("239.1.1.1", "--dest")).message).toBe(
      '"239.1.1.1" has no port (use ADDRESS:PORT, e.g. 239.1.1.1:5001)',
    );
    expect(refusal(() => parseEndpoint("10.0.0.1:5", "--group", { want: "multicast" })).message).toBe(
      '"10.0.0.1:5": 10.0.0.1 is not a multicast group (224.0.0.0/4)',
    );
    expect(refusal(() => parseEndpoint("239.1.1.1:5", "--listen", { want: "unicast" })).message).toBe(
      '"239.1.1.1:5": 239.1.1.1 is a multicast group',
    );
    expect(refusal(() => parseEndpoint("239.1.1.1:0", "--dest")).message).toBe(
      '"239.1.1.1:0": the port must be 1..65535',
    );
    expect(refusal(() => parseEndpoint("239.01.1.1:5", "--dest")).message).toBe(
      '"239.01.1.1:5": "239.01.1.1" is not an IPv4 address',
    );
  });
});

describe("UDP endpoints, IPv6", () => {
  test("[ADDR]:PORT in canonical text; an address alone where the port is optional", () => {
    expect(parseEndpoint("[FF3E:0::1:1]:5001", "--dest")).toEqual({ addr: "ff3e::1:1", port: 5001 });
    expect(parseEndpoint("[ff3e::1:1]:5001", "--group", { want: "multicast" })).toEqual({
      addr: "ff3e::1:1",
      port: 5001,
    });
    expect(parseEndpoint("[::]:7000", "--listen", { want: "unicast", defaultAddr: "0.0.0.0" })).toEqual({
      addr: "::",
      port: 7000,
    });
    expect(parseEndpoint("2001:db8::1", "--source", { portOptional: true })).toEqual({ addr: "2001:db8::1", port: 0 });
    expect(parseEndpoint("[2001:db8::1]", "--source", { portOptional: true })).toEqual({
      addr: "2001:db8::1",
      port: 0,
    });
    expect(parseEndpoint("[2001:db8::1]:4000", "--source", { portOptional: true })).toEqual({
      addr: "2001:db8::1",
      port: 4000,
    });
  });
  test("refused, naming the item", () => {
    expect(refusal(() => parseEndpoint("ff3e::1:1:5001", "--dest")).message).toBe(
      '"ff3e::1:1:5001": write an IPv6 address in brackets when a port follows, e.g. [ff3e::1:1]:5001',
    );
    expect(refusal(() => parseEndpoint("[ff3e::1:1]", "--dest")).message).toBe(
      '"[ff3e::1:1]" has no port (use [ADDRESS]:PORT, e.g. [ff3e::1:1]:5001)',
    );
    expect(refusal(() => parseEndpoint("[ff3e::1:1]5001", "--dest")).message).toBe(
      '"[ff3e::1:1]5001": an IPv6 address in brackets is followed by :PORT, e.g. [ff3e::1:1]:5001',
    );
    expect(refusal(() => parseEndpoint("[ff3e::1:1:5001", "--dest")).message).toBe(
      '"[ff3e::1:1:5001": an IPv6 address in brackets is followed by :PORT, e.g. [ff3e::1:1]:5001',
    );
    expect(refusal(() => parseEndpoint("[ff3e::g]:5001", "--dest")).message).toBe(
      '"[ff3e::g]:5001": "ff3e::g" is not an IPv6 address',
    );
    expect(refusal(() => parseEndpoint("[2001:db8::1]:5", "--group", { want: "multicast" })).message).toBe(
      '"[2001:db8::1]:5": 2001:db8::1 is not a multicast group (ff00::/8)',
    );
    expect(refusal(() => parseEndpoint("[ff3e::1]:5", "--listen", { want: "unicast" })).message).toBe(
      '"[ff3e::1]:5": ff3e::1 is a multicast group',
    );
    expect(refusal(() => parseEndpoint("[ff3e::1]:0", "--dest")).message).toBe(
      '"[ff3e::1]:0": the port must be 1..65535',
    );
  });
});

test("IPv4 in network order as the shim reads it: the bytes in memory are the address", () => {
  const u = ipv4NetworkU32("239.1.2.3");
  const b = new Uint8Array(new Uint32Array([u]).buffer);
  expect([...b]).toEqual([239, 1, 2, 3]);
  expect(() => ipv4NetworkU32("239.1.2.03")).toThrow(ValueError);
});
