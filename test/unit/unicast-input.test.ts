// Unicast inputs (issue 16): which addresses a rule may take as its input, and how a port's
// holder is found in /proc.
import { describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { InterfaceInfo } from "../../src/net/interfaces.ts";
import { checkHost, checkSpec, isUnicastInput, RuleError } from "../../src/rules/validate.ts";
import { portHolder } from "../../src/supervisor/ports.ts";

const eth0: InterfaceInfo = { name: "eth0", ifindex: 2, ipv4: "10.0.0.2", ipv4Addresses: ["10.0.0.2", "10.0.0.3"] };
const eth1: InterfaceInfo = { name: "eth1", ifindex: 3, ipv4: "10.0.1.1", ipv4Addresses: ["10.0.1.1"] };
const lookup = (n: string) => (n === "eth0" ? eth0 : n === "eth1" ? eth1 : undefined);
const spec = (inputGroup: string) =>
  checkSpec({
    inputInterface: "eth0",
    inputGroup,
    inputPort: 5001,
    outputs: [{ group: "239.9.9.9", port: 6000, interface: "eth1" }],
  });

describe("unicast inputs", () => {
  test("an address of the input interface is an input, any of its addresses", () => {
    expect(isUnicastInput("10.0.0.2")).toBe(true);
    expect(isUnicastInput("239.1.1.1")).toBe(false);
    expect(checkHost(spec("10.0.0.2"), ["eth0"], lookup).inputGroup).toBe("10.0.0.2");
    expect(checkHost(spec("10.0.0.3"), ["eth0"], lookup).inputGroup).toBe("10.0.0.3");
  });

  test("another interface's address is refused, naming the field and what the interface has", () => {
    let err: unknown;
    try {
      checkHost(spec("10.0.1.1"), ["eth0"], lookup);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(RuleError);
    expect((err as RuleError).field).toBe("inputGroup");
    expect((err as RuleError).message).toBe(
      "10.0.1.1 is not an address of eth0 (it has 10.0.0.2, 10.0.0.3): a unicast input takes the datagrams sent to the relay's own address",
    );
  });
});

describe("portHolder", () => {
  test("finds the process through /proc/net/udp's inode and its fd links; the wildcard address too", () => {
    const proc = mkdtempSync(join(tmpdir(), "mcr-proc-"));
    try {
      mkdirSync(join(proc, "net"));
      // 10.0.0.2:5001 as the kernel prints it (little-endian u32, hex port), and 0.0.0.0:6000.
      writeFileSync(
        join(proc, "net/udp"),
        [
          "   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops",
          "  1: 0200000A:1389 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 4242 2 0000000000000000 0",
          "  2: 00000000:1770 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 4343 2 0000000000000000 0",
        ].join("\n"),
      );
      mkdirSync(join(proc, "77/fd"), { recursive: true });
      writeFileSync(join(proc, "77/comm"), "socat\n");
      symlinkSync("socket:[4242]", join(proc, "77/fd/3"));
      mkdirSync(join(proc, "88/fd"), { recursive: true });
      symlinkSync("socket:[4343]", join(proc, "88/fd/5"));
      expect(portHolder("10.0.0.2", 5001, proc)).toBe("pid 77 (socat)");
      expect(portHolder("10.0.0.2", 6000, proc)).toBe("pid 88");
      expect(portHolder("10.0.0.3", 5001, proc)).toBeUndefined();
      expect(portHolder("10.0.0.2", 5002, proc)).toBeUndefined();
    } finally {
      rmSync(proc, { recursive: true, force: true });
    }
  });
});
