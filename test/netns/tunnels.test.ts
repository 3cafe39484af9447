// The two-site recipe of docs/tunnels.md, as written there: site A's relay turns a group into
// unicast across the "tunnel", site B's takes that unicast stream and turns it back into
// multicast. The two mcr.toml files are read out of the document, interface names mapped onto
// the lab's, so that the recipe is what is tested.
import { expect, test } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import { describeNetns } from "../helpers/suite.ts";
import { startSupervisor } from "../helpers/supervisor.ts";
import { expectPayloads, receiveInSink, sendFromGen } from "../helpers/traffic.ts";

/** The toml block that follows `heading` in docs/tunnels.md. */
function recipe(heading: string): string {
  const doc = readFileSync(new URL("../../docs/tunnels.md", import.meta.url), "utf8");
  const at = doc.indexOf(heading);
  const m = /```toml\n([\s\S]*?)```/.exec(doc.slice(at));
  if (at < 0 || !m) throw new Error(`no toml after "${heading}" in docs/tunnels.md`);
  return m[1]!;
}

const rename = (text: string, names: Record<string, string>) =>
  Object.entries(names).reduce(
    (t, [from, to]) => t.replaceAll(`"${from}"`, `"${to}"`).replaceAll(`:${from}"`, `:${to}"`),
    text,
  );

describeNetns("two relays across a unicast tunnel (docs/tunnels.md)", (labs) => {
  test("multicast -> unicast -> multicast: every packet once, in order, byte for byte", async () => {
    const lab = labs.empty();
    // gen (veth0) -> siteA (veth1 | veth3 10.99.0.1) = tunnel = (veth2 10.99.0.2 | veth5) siteB -> far (veth4)
    for (const r of ["gen", "siteA", "siteB", "far"]) lab.addNs(r);
    lab.veth("gen", "veth0", "siteA", "veth1");
    lab.veth("siteA", "veth3", "siteB", "veth2");
    lab.veth("siteB", "veth5", "far", "veth4");
    lab.addr("gen", "veth0", "10.0.0.1/24");
    lab.addr("siteA", "veth1", "10.0.0.2/24");
    lab.addr("siteA", "veth3", "10.99.0.1/24");
    lab.addr("siteB", "veth2", "10.99.0.2/24");
    lab.addr("siteB", "veth5", "10.0.2.1/24");
    lab.addr("far", "veth4", "10.0.2.2/24");
    lab.route("gen", "224.0.0.0/4", "veth0");
    lab.route("far", "224.0.0.0/4", "veth4");
    const confA = `/tmp/${lab.id}-siteA.toml`;
    const confB = `/tmp/${lab.id}-siteB.toml`;
    writeFileSync(confA, rename(recipe("## Site A"), { eth0: "veth1", wg0: "veth3" }));
    writeFileSync(confB, rename(recipe("## Site B"), { wg0: "veth2", eth0: "veth5" }));
    const a = await startSupervisor(lab, ["--config", confA], { role: "siteA", interfaces: ["veth1"] });
    const b = await startSupervisor(lab, ["--config", confB], { role: "siteB", interfaces: ["veth2"] });
    expect(JSON.parse(b.mcr(["rule", "list", "--json"]).stdout).rules[0].inputGroup).toBe("10.99.0.2");

    const rx = receiveInSink(lab, { role: "far", group: "239.1.1.1", port: 5001, ifaddr: "10.0.2.2", count: 3000 });
    await rx.listening;
    sendFromGen(lab, { dest: "239.1.1.1", port: 5001, count: 3000, size: 800, seed: 77 });
    const got = await rx.result;
    // Where a short count was lost: site A's counters, the tunnel's neighbour, site B's counters.
    if (got.count !== 3000)
      console.error(
        `received ${got.count}; site A ${JSON.stringify(a.stats().totals)}; site B ${JSON.stringify(b.stats().totals)};`,
        lab.exec("siteA", ["ip", "-s", "neigh", "show", "dev", "veth3"]).stdout,
      );
    expectPayloads(got.payloads, 77, 3000, 800);
    expect(new Set(got.sources.map((s) => s.split(":")[0]))).toEqual(new Set(["10.0.2.1"]));
    expect(a.stats().rules[0].packets).toBe(3000);
    expect(b.stats().rules[0].packets).toBe(3000);
  }, 40000);
});
