// Table installs with many outputs on an interface without a transmit ring (lo): each rule
// change is confirmed well within the apply timeout, and a rule beside them loses nothing
// meanwhile. Needs root.
import { expect, test } from "bun:test";
import { describeNetns } from "../helpers/suite.ts";
import { SupervisorDriver } from "../helpers/supervisor.ts";
import { ctl } from "../helpers/supervisor.ts";
import { gen, sink } from "../helpers/tools.ts";

describeNetns("large tables on lo", (labs) => {
  test("1,000 multicast outputs on lo: every rule add confirmed within 1 s, the other rule loses nothing", async () => {
    const lab = labs.chain();
    const sup = new SupervisorDriver(lab, "relay", ["veth1"], ["--workers", "1"]);
    await sup.ready();
    await ctl(sup.socket, "rule.add", {
      inputGroup: "239.1.1.1",
      inputPort: 5001,
      outputs: [{ group: "239.9.9.9", port: 5099, interface: "veth3", ttl: 1 }],
    });
    const COUNT = 30_000;
    const rx = sink(lab, { group: "239.9.9.9:5099", expect: COUNT, timeoutS: 3 });
    await Bun.sleep(300);
    const tx = gen(lab, { dest: "239.1.1.1:5001", rate: 10_000, count: COUNT });
    const took: number[] = [];
    for (let r = 0; r < 4; r++) {
      const t0 = performance.now();
      await ctl(
        sup.socket,
        "rule.add",
        {
          inputGroup: `239.4.4.${r}`,
          inputPort: 7000,
          outputs: Array.from({ length: 250 }, (_, i) => ({
            group: "239.5.5.5",
            port: 6000 + i,
            interface: "lo",
            ttl: 1,
          })),
        },
        10_000,
      );
      took.push(performance.now() - t0);
    }
    const g = await tx.result;
    const s = await rx.result;
    console.log(
      `rule adds of 250 outputs on lo (table 250..1,000): ${took.map((t) => t.toFixed(0)).join(" ")} ms; other rule: sent ${g.packets}, received ${s.unique}`,
    );
    for (const t of took) expect(t).toBeLessThan(1000);
    const list = await ctl(sup.socket, "rule.list");
    expect(list.workers[0]!.appliedVersion).toBe(list.version);
    expect(s.unique).toBe(COUNT);
    expect(s.duplicates).toBe(0);
  }, 90_000);
});
