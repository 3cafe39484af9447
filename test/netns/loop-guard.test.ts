// The loop guard of --allow-link-local (issue 12 item 6), against dist/mcr: a link-local rule
// whose output segment is bridged back to its input. The relay's copies come back on its input
// with its own MAC and address; each is dropped and counted as `loop`, never relayed again.
import { beforeAll, expect, test } from "bun:test";
import { buildFrame } from "../helpers/frames.ts";
import { poll } from "../helpers/lab.ts";
import { payloadFor } from "../helpers/payloads.ts";
import { describeNetns } from "../helpers/suite.ts";
import { startSupervisor } from "../helpers/supervisor.ts";
import { buildWireTools, capture, inject } from "../helpers/wire.ts";

describeNetns("loop guard", (labs) => {
  beforeAll(() => buildWireTools());

  test("mDNS relayed onto a segment that reflects it to the input: each frame relayed once, its return counted as loop", async () => {
    const lab = labs.empty();
    for (const r of ["gen", "relay", "seg", "sink"]) lab.addNs(r);
    // One switch (a bridge that floods) joins the sender, both relay interfaces and a listener.
    lab.bridge("seg", "br0");
    for (const [role, ifname, port] of [
      ["gen", "veth0", "p0"],
      ["relay", "veth1", "p1"],
      ["relay", "veth3", "p3"],
      ["sink", "veth2", "p2"],
    ] as const) {
      lab.veth(role, ifname, "seg", port);
      lab.attach("seg", port, "br0");
    }
    lab.addr("gen", "veth0", "10.0.0.1/24");
    lab.addr("relay", "veth1", "10.0.0.2/24");
    lab.addr("relay", "veth3", "10.0.1.1/24");
    lab.addr("sink", "veth2", "10.0.0.3/24");
    const sup = await startSupervisor(lab);
    sup.addRule("224.0.0.251", 5353, "224.0.0.251:5353:veth3", ["--allow-link-local", "--name", "mdns"]);
    const N = 200;
    const cap = capture(lab, "sink", "veth2", { count: 10 * N, idleMs: 2000 });
    await cap.listening;
    const frames = [...Array(N).keys()].map((i) =>
      buildFrame({ src: "10.0.0.1", dst: "224.0.0.251", sport: 5353, dport: 5353, payload: payloadFor(5, i, 100) }),
    );
    for (let i = 0; i < N; i += 50) {
      inject(lab, "gen", "veth0", frames.slice(i, i + 50));
      await Bun.sleep(20);
    }
    const got = (await cap.result).filter((f) => f.group === "224.0.0.251" && f.dport === 5353);
    const want = frames.map((_, i) => Buffer.from(payloadFor(5, i, 100)).toString("hex"));
    const s = await poll(
      () => sup.stats(),
      (x) => x.drops.loop >= N,
    );
    // Counts first, side by side, so that a failure says where missing copies went (CI once saw
    // the relay's first 50 copies missing at the sink, with no counters to tell why).
    const from = (src: string) => got.filter((f) => f.source === src).map((f) => f.payload);
    expect({
      sender: from("10.0.0.1").length,
      relayed: from("10.0.1.1").length,
      captured: got.length,
      taken: s.rules[0].packets,
      sent: s.rules[0].outputs[0].packets,
      sendErrors: s.rules[0].outputs[0].errors,
      loop: s.drops.loop,
      drops: s.totals.drops,
      rxFrames: s.totals.rxFrames,
    }).toEqual({
      sender: N,
      relayed: N,
      captured: 2 * N,
      taken: N,
      sent: N,
      sendErrors: 0,
      loop: N,
      drops: N,
      rxFrames: 2 * N,
    });
    // The sender's datagrams, and the relay's one copy of each: no second round.
    expect(from("10.0.0.1")).toEqual(want);
    expect(from("10.0.1.1")).toEqual(want);
  }, 60000);
});
