// The loop guard of --allow-link-local for IPv6, against dist/mcr: a rule on the link-local scope
// group ff02::fb whose output segment is bridged back to its input. The relay's copies come back
// on its input with its own MAC and link-local address; a frame from its own address behind
// another MAC (a reflector that rewrites the MAC) is its own as well. Each is dropped and counted
// as `loop`, never relayed again.
import { beforeAll, expect, test } from "bun:test";
import { buildFrame6 } from "../helpers/frames.ts";
import { poll } from "../helpers/lab.ts";
import { payloadFor } from "../helpers/payloads.ts";
import { describeNetns } from "../helpers/suite.ts";
import { startSupervisor } from "../helpers/supervisor.ts";
import { buildWireTools, capture, inject } from "../helpers/wire.ts";

const hex = (seed: number, i: number) => Buffer.from(payloadFor(seed, i, 100)).toString("hex");

describeNetns("IPv6 loop guard", (labs) => {
  beforeAll(() => buildWireTools());

  test("ff02::fb relayed onto a segment that reflects it: each frame relayed once; its return, and a frame from the relay's own address, counted as loop", async () => {
    const lab = labs.empty();
    for (const r of ["gen", "seg", "sink"]) lab.addNs(r);
    // Only the link-local addresses given below: the relay's source address is known.
    lab.addNs("relay", { ipv6: true });
    lab.sysctl("relay", { "net.ipv6.conf.default.addr_gen_mode": 1, "net.ipv6.conf.all.addr_gen_mode": 1 });
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
    lab.addr("relay", "veth1", "fe80::1:2/64");
    lab.addr("relay", "veth3", "fe80::3:1/64");
    const sup = await startSupervisor(lab);
    sup.addRule("ff02::fb", 5353, "[ff02::fb]:5353:veth3", ["--allow-link-local", "--name", "mdns6"]);
    const N = 200;
    const cap = capture(lab, "sink", "veth2", { count: 10 * N, idleMs: 2000 });
    await cap.listening;
    const frame = (src: string, srcMac: number[], seed: number, i: number) =>
      buildFrame6({ src, dst: "ff02::fb", sport: 5353, dport: 5353, srcMac, payload: payloadFor(seed, i, 100) });
    const sent = [...Array(N).keys()].map((i) => frame("fe80::1", [2, 0, 0, 0, 0, 2], 5, i));
    // From the relay's own address behind a MAC it does not have.
    const reflected = [...Array(N).keys()].map((i) => frame("fe80::3:1", [2, 0, 0, 0, 0, 0x99], 6, i));
    for (let i = 0; i < N; i += 50) {
      inject(lab, "gen", "veth0", [...sent.slice(i, i + 50), ...reflected.slice(i, i + 50)]);
      await Bun.sleep(20);
    }
    const got = (await cap.result).filter((f) => f.family === 6 && f.group === "ff02::fb" && f.dport === 5353);
    const want = (seed: number) => [...Array(N).keys()].map((i) => hex(seed, i));
    // The sender's datagrams, the reflector's, and the relay's one copy of the sender's: no second round.
    expect(got.filter((f) => f.source === "fe80::1").map((f) => f.payload)).toEqual(want(5));
    expect(got.filter((f) => f.srcMac === "02:00:00:00:00:99").map((f) => f.payload)).toEqual(want(6));
    const copies = got.filter((f) => f.source === "fe80::3:1" && f.srcMac !== "02:00:00:00:00:99");
    expect(copies.map((f) => f.payload)).toEqual(want(5));
    expect(got.length).toBe(3 * N);
    // Each copy came back by the bridge (the relay's MAC), each reflected frame by its address.
    const s = await poll(
      () => sup.stats(),
      (x) => x.drops.loop >= 2 * N,
    );
    expect(s.rules[0].packets).toBe(N);
    expect(s.rules[0].outputs[0].packets).toBe(N);
    expect(s.drops.loop).toBe(2 * N);
    expect(s.totals.drops).toBe(2 * N);
  }, 60000);
});
