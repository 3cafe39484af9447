// A merge rule's legs on the ingress (issue 14): the supervisor joins every leg's group on the
// leg's own interface (source-specifically where the leg names a source) and leaves them with the
// rule. The data plane's side of merging is tested elsewhere. Needs root.
import { expect, test } from "bun:test";
import { type Lab, poll } from "../helpers/lab.ts";
import { describeNetns } from "../helpers/suite.ts";
import { startSupervisor } from "../helpers/supervisor.ts";

/** The groups of `ifname` in /proc/net/igmp (memory-order hex, 239.2.1.1 reads 010102EF). */
function igmpGroups(lab: Lab, ifname: string): string[] {
  const out: string[] = [];
  let dev = "";
  for (const line of lab.exec("relay", ["cat", "/proc/net/igmp"]).stdout.split("\n").slice(1)) {
    const head = /^\d+\s+(\S+)\s*:/.exec(line);
    if (head) dev = head[1]!;
    const g = /^\s+([0-9A-F]{8})\s/.exec(line);
    if (g && dev === ifname) out.push(g[1]!);
  }
  return out.sort();
}

/** (device, group, source) of /proc/net/mcfilter, host-order hex. */
const filters = (lab: Lab) =>
  lab
    .exec("relay", ["cat", "/proc/net/mcfilter"])
    .stdout.split("\n")
    .slice(1)
    .map((l) => l.trim().split(/\s+/))
    .filter((f) => f.length >= 4)
    .map((f) => [f[1], f[2], f[3]]);

describeNetns("merge rules: the ingress joins", (labs) => {
  test("every leg's group is joined on its own interface, and left with the rule", async () => {
    const lab = labs.chain();
    // A second network into the relay: the blue leg.
    lab.veth("gen", "veth4", "relay", "veth5");
    lab.addr("gen", "veth4", "10.0.4.1/24");
    lab.addr("relay", "veth5", "10.0.4.2/24");
    const sup = await startSupervisor(lab, ["--workers", "1"], { interfaces: ["veth1", "veth5"] });
    const add = sup.mcr([
      "rule",
      "add",
      "--name",
      "cam",
      "--input",
      "veth1:239.1.1.1:5001",
      "--input",
      "veth5:239.2.1.1:5001:10.0.4.1",
      "--merge",
      "rtp",
      "--outputs",
      "239.10.10.10:6001:veth3",
    ]);
    expect({ code: add.code, stderr: add.stderr }).toEqual({ code: 0, stderr: "" });
    // The blue leg's join is source-specific (read before any-source groups hide it, see
    // rules-match.test.ts); the red leg's is any-source on veth1, and neither is on the other.
    const ssm = await poll(
      () => filters(lab),
      (x) => x.length >= 1,
    );
    expect(ssm).toEqual([["veth5", "0xef020101", "0x0a000401"]]);
    expect(igmpGroups(lab, "veth1")).toEqual(["010000E0", "010101EF"]);
    expect(igmpGroups(lab, "veth5")).toEqual(["010000E0", "010102EF"]);
    const listed = JSON.parse(sup.mcr(["rule", "list", "--json"]).stdout).rules;
    expect(listed).toEqual([
      {
        id: 1,
        name: "cam",
        inputInterface: "veth1",
        inputGroup: "239.1.1.1",
        inputPort: 5001,
        outputs: [{ group: "239.10.10.10", port: 6001, interface: "veth3", ttl: 1 }],
        merge: { mode: "rtp", legs: [{ interface: "veth5", group: "239.2.1.1", port: 5001, source: "10.0.4.1" }] },
      },
    ]);
    expect(sup.mcr(["rule", "remove", "cam"]).code).toBe(0);
    expect(igmpGroups(lab, "veth1")).toEqual(["010000E0"]);
    expect(igmpGroups(lab, "veth5")).toEqual(["010000E0"]);
    expect(filters(lab)).toEqual([]);
  }, 30000);
});
