// A receive ring with fewer frames than a batch (--ring-mb 1 at MTU 9000: 64 frames of 16 KiB, or
// 32 blocks of 2 with --ingress blocks) under a burst that fills it: what the ring overflows is
// lost and counted, and nothing is relayed twice. Needs root.
import { expect, test } from "bun:test";
import { describeNetns } from "../helpers/suite.ts";
import { must } from "../helpers/lab.ts";
import { SupervisorDriver } from "../helpers/supervisor.ts";
import { ctl } from "../helpers/supervisor.ts";
import { gen, sink } from "../helpers/tools.ts";

describeNetns("a ring smaller than the batch", (labs) => {
  // blocks: 1 MiB at MTU 9000 is 32 blocks of 32 KiB, 2 frames each.
  for (const ingress of ["frames", "blocks"])
    test(`--ring-mb 1 at MTU 9000, --ingress ${ingress}, under a burst: duplicates 0, every loss a counted ring drop`, async () => {
      const lab = labs.chain();
      for (const [role, ifname] of [
        ["gen", "veth0"],
        ["relay", "veth1"],
        ["relay", "veth3"],
        ["sink", "veth2"],
      ] as const)
        must(["ip", "-n", lab.ns(role), "link", "set", ifname, "mtu", "9000"]);
      const sup = new SupervisorDriver(
        lab,
        "relay",
        ["veth1"],
        ["--workers", "1", "--ring-mb", "1", "--ingress", ingress],
      );
      await sup.ready();
      const id = sup.addRule("239.1.1.1", 5001, "239.9.9.9:5099:veth3");
      const COUNT = 20_000;
      const rx = sink(lab, { group: "239.9.9.9:5099", expect: COUNT, timeoutS: 3 });
      await Bun.sleep(300);
      const g = await gen(lab, { dest: "239.1.1.1:5001", rate: 200_000, count: COUNT, size: 1000 }).result;
      const s = await rx.result;
      await Bun.sleep(1200); // ring statistics are read every second
      const st = await ctl(sup.socket, "stats");
      const rule = st.rules.find((r) => r.id === id)!;
      console.log(
        `tiny ring: sent ${g.packets}, relayed ${rule.packets}, received ${s.unique}, duplicates ${s.duplicates}, ringDrops ${st.totals.ringDrops}`,
      );
      expect(g.packets).toBe(COUNT);
      expect(s.duplicates).toBe(0);
      expect(rule.packets).toBe(s.unique);
      expect(rule.packets + st.totals.ringDrops).toBe(COUNT);
    }, 60_000);
});
