// One output the kernel refuses (a unicast output to a subnet's broadcast address, in a state
// file) next to good ones: the good outputs and rules forward, later rule changes take effect,
// the failed output is shown with its reason in rule list and stats, and rule add refuses such
// an output outright. Needs root.
import { expect, test } from "bun:test";
import { describeNetns } from "../helpers/suite.ts";
import { type Lab, until } from "../helpers/lab.ts";
import { writeFileSync } from "node:fs";
import { SupervisorDriver } from "../helpers/supervisor.ts";
import { expectPayloads, receiveInSink, sendFromGen } from "../helpers/traffic.ts";

const BROADCAST = { group: "10.0.1.255", port: 7000, interface: "veth3", ttl: 1 }; // veth3 is 10.0.1.1/24

/** count payloads to group:port arrive at the sink whole (or, with count 0, nothing arrives). */
async function relays(lab: Lab, input: [string, number], output: [string, number], count: number, seed: number) {
  const rx = receiveInSink(lab, { group: output[0], port: output[1], count: count || 1, idleMs: 800 });
  await rx.listening;
  sendFromGen(lab, { dest: input[0], port: input[1], count: count || 20, size: 200, seed });
  const got = await rx.result;
  if (count === 0) expect(got.count).toBe(0);
  else expectPayloads(got.payloads, seed, count, 200);
}

describeNetns("an output that cannot open", (labs) => {
  test("fails alone: the rest forwards, changes take effect, rule list and stats say why", async () => {
    const lab = labs.chain();
    const state = `/tmp/${lab.id}-relay.state.json`;
    writeFileSync(
      state,
      JSON.stringify({
        format: "mcr-rules",
        version: 1,
        nextId: 3,
        rules: [
          {
            id: 1,
            inputInterface: "veth1",
            inputGroup: "239.1.1.1",
            inputPort: 5001,
            outputs: [BROADCAST, { group: "239.9.9.9", port: 5099, interface: "veth3", ttl: 1 }],
          },
          {
            id: 2,
            inputInterface: "veth1",
            inputGroup: "239.1.1.2",
            inputPort: 5002,
            outputs: [{ group: "239.9.9.8", port: 5098, interface: "veth3", ttl: 1 }],
          },
        ],
      }),
    );
    const sup = new SupervisorDriver(lab, "relay", ["veth1"], ["--workers", "1"]);
    await sup.ready();
    // The socket answers before the worker has its ring: the stream waits for the ring, not a time.
    await until(
      () =>
        sup
          .stats()
          .workers.every(
            (w: { state: string; inputs: { state: string }[] }) =>
              w.state === "ready" && w.inputs.every((i) => i.state === "up"),
          ),
      10000,
      "the worker's ring on veth1",
    );

    // A restart with such a state forwards the rest: rule 1's good output and rule 2.
    await relays(lab, ["239.1.1.1", 5001], ["239.9.9.9", 5099], 50, 1);
    await relays(lab, ["239.1.1.2", 5002], ["239.9.9.8", 5098], 50, 2);

    const list = JSON.parse(sup.mcr(["rule", "list", "--json"]).stdout);
    expect(list.workers[0].failedOutputs).toEqual([
      { output: "1:0", errno: 13, error: expect.stringContaining("EACCES") },
    ]);
    expect(sup.mcr(["rule", "list"]).stdout).toContain("output 1:0 is out of service (EACCES");
    const stats = sup.stats();
    expect(stats.workers[0].failedOutputs.map((f: { output: string }) => f.output)).toEqual(["1:0"]);
    // Its datagrams are counted as its errors, not as sent.
    const out0 = stats.rules.find((r: { id: number }) => r.id === 1).outputs[0];
    expect(out0.packets).toBe(0);
    expect(out0.errors).toBe(50);

    // Later tables install: a new rule forwards, a removed one stops.
    const id3 = sup.addRule("239.1.1.3", 5003, "239.9.9.7:5097:veth3");
    await relays(lab, ["239.1.1.3", 5003], ["239.9.9.7", 5097], 50, 3);
    expect(sup.mcr(["rule", "remove", String(2)]).code).toBe(0);
    await relays(lab, ["239.1.1.2", 5002], ["239.9.9.8", 5098], 0, 4);
    expect(id3).toBe(3);

    // Known at rule add: refused, naming the field.
    const r = sup.mcr([
      "rule",
      "add",
      "--input-group",
      "239.1.1.4",
      "--input-port",
      "5004",
      "--outputs",
      "10.0.1.255:7000:veth3",
    ]);
    expect(r.code).toBe(65);
    expect(r.stderr).toContain("--outputs: output 1 (10.0.1.255:7000:veth3)");
    expect(r.stderr).toContain("broadcast address of veth3's subnet (10.0.1.1/24)");
  }, 60_000);
});
