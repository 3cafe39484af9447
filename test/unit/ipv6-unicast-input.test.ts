// IPv6 unicast inputs: which IPv6 addresses a rule may take as its input, and how a port's
// holder is found in /proc/net/udp6.
import { describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { InterfaceInfo } from "../../src/net/interfaces.ts";
import { checkHost, checkSpec, isUnicastInput, RuleError } from "../../src/rules/validate.ts";
import { portHolder } from "../../src/supervisor/ports.ts";

const eth0: InterfaceInfo = {
  name: "eth0",
  ifindex: 2,
  ipv4: "10.0.0.2",
  ipv4Addresses: ["10.0.0.2"],
  ipv6: "2001:db8::2",
  ipv6LinkLocal: "fe80::2",
  ipv6Addresses: ["2001:db8::2", "2001:db8:0:0:0:0:0:3", "fe80::2"],
};
const eth1: InterfaceInfo = { name: "eth1", ifindex: 3, ipv4: "10.0.1.1", ipv6: "2001:db8:1::1" };
const lookup = (n: string) => (n === "eth0" ? eth0 : n === "eth1" ? eth1 : undefined);
const spec = (inputGroup: string, inputInterface = "eth0") =>
  checkSpec({
    inputInterface,
    inputGroup,
    inputPort: 5001,
    outputs: [{ group: "ff3e::9:9", port: 6000, interface: "eth1" }],
  });
const refusal = (f: () => unknown) => {
  try {
    f();
  } catch (e) {
    if (e instanceof RuleError) return { field: e.field, message: e.message };
    throw e;
  }
  throw new Error("not refused");
};

describe("IPv6 unicast inputs", () => {
  test("an IPv6 address of the input interface is an input, link-local ones too, in canonical text", () => {
    expect(isUnicastInput("2001:db8::2")).toBe(true);
    expect(isUnicastInput("fe80::2")).toBe(true);
    expect(isUnicastInput("ff3e::1:1")).toBe(false);
    expect(isUnicastInput("ff02::fb")).toBe(false);
    expect(checkHost(spec("2001:db8::2"), ["eth0"], lookup).inputGroup).toBe("2001:db8::2");
    expect(checkHost(spec("2001:DB8:0::3"), ["eth0"], lookup).inputGroup).toBe("2001:db8::3");
    expect(checkHost(spec("fe80::2"), ["eth0"], lookup).inputGroup).toBe("fe80::2");
  });

  test("another interface's address, or one of none, is refused naming the field and what the input has", () => {
    expect(refusal(() => checkHost(spec("2001:db8:1::1"), ["eth0"], lookup))).toEqual({
      field: "inputGroup",
      message:
        "2001:db8:1::1 is not an address of eth0 (it has 2001:db8::2, 2001:db8::3, fe80::2): a unicast input takes the datagrams sent to the relay's own address",
    });
    const none: InterfaceInfo = { name: "eth2", ifindex: 4, ipv4: "10.0.2.1" };
    expect(
      refusal(() => checkHost(spec("2001:db8::2", "eth2"), ["eth2"], (n) => (n === "eth2" ? none : eth1))),
    ).toEqual({
      field: "inputGroup",
      message:
        "2001:db8::2 is not an address of eth2 (it has no IPv6 address): a unicast input takes the datagrams sent to the relay's own address",
    });
  });

  test("addresses that are no host's are refused by checkSpec, naming the problem", () => {
    expect(refusal(() => spec("::"))).toEqual({
      field: "inputGroup",
      message:
        ":: is the unspecified address ::, not a destination: an input is a multicast group (ff00::/8) or an address of the input interface",
    });
    expect(refusal(() => spec("::1")).message).toStartWith("::1 is the loopback address ::1");
    expect(refusal(() => spec("::ffff:10.0.0.2")).message).toStartWith(
      "::ffff:10.0.0.2 is an IPv4-mapped address: write the IPv4 address itself",
    );
  });

  test("a merge rule's inputs are groups: an IPv6 unicast leg is refused", () => {
    const r = refusal(() =>
      checkSpec({
        inputInterface: "eth0",
        inputGroup: "ff3e::1",
        inputPort: 5001,
        outputs: [{ group: "ff3e::9:9", port: 6000, interface: "eth1" }],
        merge: { mode: "rtp", legs: [{ interface: "eth1", group: "2001:db8::2", port: 5001 }] },
      }),
    );
    expect(r.field).toBe("merge.legs[0].group");
  });
});

describe("portHolder, IPv6", () => {
  test("finds the process through /proc/net/udp6's inode; the wildcard address too", () => {
    const proc = mkdtempSync(join(tmpdir(), "mcr-proc6-"));
    try {
      mkdirSync(join(proc, "net"));
      // 2001:db8::2 port 5001 as the kernel prints it (four little-endian u32s, hex port), and [::]:6000.
      writeFileSync(
        join(proc, "net/udp6"),
        [
          "  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops",
          "   1: B80D0120000000000000000002000000:1389 00000000000000000000000000000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 5151 2 0000000000000000 0",
          "   2: 00000000000000000000000000000000:1770 00000000000000000000000000000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 5252 2 0000000000000000 0",
        ].join("\n"),
      );
      mkdirSync(join(proc, "77/fd"), { recursive: true });
      writeFileSync(join(proc, "77/comm"), "socat\n");
      symlinkSync("socket:[5151]", join(proc, "77/fd/3"));
      mkdirSync(join(proc, "88/fd"), { recursive: true });
      symlinkSync("socket:[5252]", join(proc, "88/fd/5"));
      expect(portHolder("2001:db8::2", 5001, proc)).toBe("pid 77 (socat)");
      expect(portHolder("2001:db8::2", 6000, proc)).toBe("pid 88");
      expect(portHolder("2001:db8::3", 5001, proc)).toBeUndefined();
      expect(portHolder("2001:db8::2", 5002, proc)).toBeUndefined();
      // An IPv4 port is had by an IPv6 socket on [::] (both families) too; not by one on another address.
      expect(portHolder("10.0.0.2", 6000, proc)).toBe("pid 88");
      expect(portHolder("10.0.0.2", 5001, proc)).toBeUndefined();
    } finally {
      rmSync(proc, { recursive: true, force: true });
    }
  });
});
