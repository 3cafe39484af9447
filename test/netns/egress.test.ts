// Egress trouble on one output: a slow interface (tbf) next to a fast one on the same worker,
// and an MTU lowered under traffic. What one output suffers it counts as its own, and what is
// counted sent is what arrived. Needs root.
import { expect, test } from "bun:test";
import { describeNetns, type Labs } from "../helpers/suite.ts";
import { must } from "../helpers/lab.ts";
import { SupervisorDriver } from "../helpers/supervisor.ts";
import { ctl } from "../helpers/supervisor.ts";
import { gen, sink } from "../helpers/tools.ts";
import { until } from "../helpers/lab.ts";

const FAST = "239.9.9.9:5099";

async function relay(labs: Labs) {
  const lab = labs.chain();
  const sup = new SupervisorDriver(lab, "relay", ["veth1"], ["--workers", "1"]);
  await sup.ready();
  return { lab, sup };
}

const output = async (socket: string, id: number) =>
  (await ctl(socket, "stats")).rules.find((r) => r.id === id)!.outputs[0]!;

describeNetns("egress trouble", (labs) => {
  test("a slow output next to a fast one on the same worker: the fast rule loses nothing", async () => {
    const { lab, sup } = await relay(labs);
    lab.addNs("sink2");
    lab.veth("relay", "veth5", "sink2", "veth4");
    lab.addr("relay", "veth5", "10.0.2.1/24");
    lab.addr("sink2", "veth4", "10.0.2.2/24");
    // 1 Mbit/s with a deep queue: the queue holds the frames sent, the packet socket's buffer fills
    // and ring sends stop part way, over and over.
    must([
      "tc",
      "-n",
      lab.ns("relay"),
      "qdisc",
      "add",
      "dev",
      "veth5",
      "root",
      "tbf",
      "rate",
      "1mbit",
      "burst",
      "16kb",
      "limit",
      "8mb",
    ]);
    const fast = sup.addRule("239.1.1.1", 5001, `${FAST}:veth3`);
    const slow = sup.addRule("239.1.1.2", 5002, "239.8.8.8:6003:veth5");
    const RATE = 20_000;
    const COUNT = 60_000;
    const rx = sink(lab, { group: FAST, expect: COUNT, timeoutS: 8 });
    await Bun.sleep(300);
    const tSlow = gen(lab, { dest: "239.1.1.2:5002", rate: RATE, durationS: 4 });
    await Bun.sleep(1000); // the slow output's ring is full by now (its queue holds 8 MB)
    const g = await gen(lab, { dest: "239.1.1.1:5001", rate: RATE, count: COUNT }).result;
    await tSlow.result;
    const s = await rx.result;
    const st = await ctl(sup.socket, "stats");
    const slowOut = st.rules.find((r) => r.id === slow)!.outputs[0]!;
    const fastOut = st.rules.find((r) => r.id === fast)!.outputs[0]!;
    console.log(
      `fast: sent ${g.packets}, received ${s.unique}, lost ${s.lost}; slow output: ${slowOut.packets} sent, ${slowOut.errors} dropped; egress_full ${st.drops.egress_full}`,
    );
    expect(g.packets).toBe(COUNT);
    expect(s.unique).toBe(COUNT);
    expect(s.lost).toBe(0);
    expect(s.duplicates).toBe(0);
    expect(fastOut).toMatchObject({ packets: COUNT, errors: 0 });
    // What the slow one lost is its own, under its own reason; what it counted sent, the device
    // took: sent on by the qdisc or still in its queue (ring sends that stopped part way counted
    // frame by frame).
    const q = JSON.parse(must(["tc", "-n", lab.ns("relay"), "-s", "-j", "qdisc", "show", "dev", "veth5"]))[0];
    console.log(`slow qdisc: sent ${q.packets}, queued ${q.qlen}, dropped ${q.drops}`);
    expect(slowOut.packets).toBe(q.packets + q.qlen);
    expect(slowOut.errors).toBeGreaterThan(0);
    expect(st.drops.egress_full).toBe(slowOut.errors);
    expect(st.drops.send_error).toBe(0);
  }, 60_000);

  test("the egress MTU lowered under traffic: nothing is counted sent that did not arrive", async () => {
    const { lab, sup } = await relay(labs);
    const id = sup.addRule("239.1.1.1", 5001, `${FAST}:veth3`);
    const RATE = 10_000;
    const COUNT = 40_000;
    const rx = sink(lab, { group: FAST, timeoutS: 3, durationS: 20 });
    await Bun.sleep(300);
    const tx = gen(lab, { dest: "239.1.1.1:5001", rate: RATE, count: COUNT, size: 1400 });
    await until(async () => (await output(sup.socket, id)).packets > 5000, 5000, "traffic through the relay");
    must(["ip", "-n", lab.ns("relay"), "link", "set", "veth3", "mtu", "1000"]);
    const g = await tx.result;
    await until(
      async () => (await output(sup.socket, id)).packets + (await output(sup.socket, id)).errors >= COUNT,
      3000,
      "the relay's count",
    ).catch(() => {});
    const s = await rx.result;
    const o = await output(sup.socket, id);
    console.log(
      `MTU 1500 -> 1000 under ${RATE} pps: sent ${g.packets}, counted sent ${o.packets}, errors ${o.errors}, received ${s.unique}`,
    );
    expect(g.packets).toBe(COUNT);
    expect(s.duplicates).toBe(0);
    // Every datagram is either counted sent and arrived, or counted as an error.
    expect(o.packets).toBe(s.unique);
    expect(o.packets + o.errors).toBe(COUNT);
    // Past the change they go fragmented: almost nothing is lost.
    expect(s.unique).toBeGreaterThan(COUNT - RATE / 10);
  }, 60_000);
});
