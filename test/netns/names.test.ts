// Rules known by name, changed in place and in batches, against dist/mcr and real packets: remove
// and replace by name (a replace never pauses an output that stays), a named config rule that
// keeps its id, counters and metric labels across a reload that edits it, link-local mDNS relayed
// only with --allow-link-local, --dry-run that changes nothing, and `rule apply` all or nothing.
import { expect, test } from "bun:test";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { type Lab, poll } from "../helpers/lab.ts";
import { describeNetns } from "../helpers/suite.ts";
import { startSupervisor, type SupervisorDriver } from "../helpers/supervisor.ts";
import { parseExposition, valueOf } from "../helpers/exposition.ts";
import { expectPayloads, receiveInSink, sendFromGen, sendInBackground } from "../helpers/traffic.ts";
import { payloadFor } from "../helpers/payloads.ts";
import { checkSchema } from "../helpers/stats-schema.ts";

const A = "239.10.10.10:6001:veth3";
const B = "239.10.10.11:6002:veth3";
const C = "239.10.10.12:6003:veth3";

const list = (sup: SupervisorDriver) => {
  const r = sup.mcr(["rule", "list", "--json"]);
  if (r.code !== 0) throw new Error(`rule list failed: ${r.stderr}`);
  return JSON.parse(r.stdout) as { version: number; rules: any[] };
};

function scrape(lab: Lab, url = "http://127.0.0.1:9464/metrics") {
  const js = `const r = await fetch(${JSON.stringify(url)}); console.log(await r.text());`;
  const r = lab.exec("relay", [process.execPath, "-e", js]);
  if (r.code !== 0) throw new Error(`scrape failed: ${r.stderr}`);
  return parseExposition(r.stdout);
}

describeNetns("rule names, replace, apply, dry run, link-local", (labs) => {
  test("replace by name under a steady stream: the output that stays loses and repeats nothing; remove by name", async () => {
    const lab = labs.chain();
    const sup = await startSupervisor(lab);
    const id = sup.addRule("239.1.1.1", 5001, `${A},${B}`, ["--name", "cam-1"]);
    const table = sup.mcr(["rule", "list"]);
    expect(table.stdout.split("\n")[0]).toMatch(/^ID\s+NAME\s+INTERFACE\s+INPUT\s+OUTPUT\s+TTL$/);
    expect(table.stdout.split("\n")[1]).toMatch(new RegExp(`^${id}\\s+cam-1\\s+veth1\\s+239\\.1\\.1\\.1:5001\\s`));
    // A second rule may not take the name.
    const dup = sup.mcr([
      "rule",
      "add",
      "--input-group",
      "239.1.1.2",
      "--input-port",
      "5001",
      "--outputs",
      A,
      "--name",
      "cam-1",
    ]);
    expect(dup.code).toBe(65);
    expect(dup.stderr.trim()).toBe("mcr: --name: rule 1 is already named cam-1: a name names one rule");

    const N = 3000;
    const SIZE = 200;
    const a = receiveInSink(lab, { group: "239.10.10.10", port: 6001, count: N, idleMs: 4000 });
    const b = receiveInSink(lab, { group: "239.10.10.11", port: 6002, count: N, idleMs: 4000 });
    const c = receiveInSink(lab, { group: "239.10.10.12", port: 6003, count: N, idleMs: 4000 });
    await Promise.all([a.listening, b.listening, c.listening]);
    const sending = sendInBackground(lab, {
      dest: "239.1.1.1",
      port: 5001,
      count: N,
      size: SIZE,
      seed: 21,
      gapUs: 1000,
    });
    await Bun.sleep(1000);
    const r = sup.mcr(["rule", "replace", "cam-1", "--outputs", `${A},${C}`]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toBe(`replaced rule ${id} (cam-1)`);
    await sending;
    // A stayed: every datagram, once, in order, byte for byte.
    expectPayloads((await a.result).payloads, 21, N, SIZE);
    // B stopped and C started at the change: between them every datagram, none twice.
    const gotB = (await b.result).payloads;
    const gotC = (await c.result).payloads;
    expect(gotB.length).toBeGreaterThan(0);
    expect(gotC.length).toBeGreaterThan(0);
    expectPayloads(gotB, 21, gotB.length, SIZE);
    const firstC = gotC[0]!;
    const k = [...Array(N).keys()].find((i) => Buffer.from(payloadFor(21, i, SIZE)).toString("hex") === firstC)!;
    expectPayloads(gotC, 21, N - k, SIZE, k);
    expect(k).toBeLessThanOrEqual(gotB.length); // no gap between B's last and C's first

    const after = list(sup).rules;
    expect(after.map((x) => [x.id, x.name, x.outputs.map((o: any) => `${o.group}:${o.port}:${o.interface}`)])).toEqual([
      [id, "cam-1", [A, C]],
    ]);
    // Counters stay with the rule (same id), and with A (same place); C counts only its own.
    const s = await poll(
      () => sup.stats(),
      (x) => x.rules[0]?.packets === N,
    );
    expect(s.rules[0].name).toBe("cam-1");
    expect(s.rules[0].outputs.map((o: any) => o.packets)).toEqual([N, gotC.length]);

    const rm = sup.mcr(["rule", "remove", "cam-1"]);
    expect(rm.code).toBe(0);
    expect(rm.stdout.trim()).toBe(`removed rule ${id} (cam-1)`);
    expect(list(sup).rules).toEqual([]);
    const again = sup.mcr(["rule", "remove", "cam-1"]);
    expect(again.code).toBe(65);
    expect(again.stderr.trim()).toBe("mcr: ID: no rule named cam-1 (see mcr rule list)");
  }, 60000);

  test("a named config rule edited and reloaded keeps its id, its counters and its metric labels", async () => {
    const lab = labs.chain();
    const config = `/tmp/${lab.id}-mcr.toml`;
    const write = (outputs: string[]) =>
      writeFileSync(
        config,
        `interfaces = ["veth1"]\n[[rule]]\nname = "cam-1"\ninput_group = "239.1.1.1"\ninput_port = 5001\noutputs = ${JSON.stringify(outputs)}\n`,
      );
    write([A]);
    const sup = await startSupervisor(lab, ["--config", config, "--metrics-listen", "127.0.0.1:9464"]);
    const id = list(sup).rules[0].id;
    let rx = receiveInSink(lab, { group: "239.10.10.10", port: 6001, count: 500 });
    await rx.listening;
    sendFromGen(lab, { dest: "239.1.1.1", port: 5001, count: 500, size: 100, seed: 3, gapUs: 200 });
    expect((await rx.result).count).toBe(500);
    await poll(
      () => sup.stats(),
      (x) => x.rules[0]?.packets === 500,
    );

    write([A, B]);
    const v = list(sup).version;
    sup.proc.kill("SIGHUP");
    const l = await poll(
      () => list(sup),
      (x) => x.version > v,
    );
    expect(l.rules.map((r) => [r.id, r.name, r.origin, r.outputs.length])).toEqual([[id, "cam-1", "config", 2]]);
    rx = receiveInSink(lab, { group: "239.10.10.11", port: 6002, count: 300 });
    await rx.listening;
    sendFromGen(lab, { dest: "239.1.1.1", port: 5001, count: 300, size: 100, seed: 4, gapUs: 200 });
    expect((await rx.result).count).toBe(300);
    const s = await poll(
      () => sup.stats(),
      (x) => x.rules[0]?.outputs[1]?.packets === 300,
    );
    expect(checkSchema(s)).toEqual([]);
    expect({ id: s.rules[0].id, name: s.rules[0].name, packets: s.rules[0].packets }).toEqual({
      id,
      name: "cam-1",
      packets: 800,
    });
    expect(s.rules[0].outputs.map((o: any) => o.packets)).toEqual([800, 300]);
    const m = scrape(lab);
    expect(valueOf(m, "mcr_rule_receive_packets_total", { rule: String(id), name: "cam-1" })).toBe(800);
    expect(valueOf(m, "mcr_output_transmit_packets_total", { rule: String(id), name: "cam-1", output: "1" })).toBe(300);
    // A config rule is changed in the file, not by command.
    const r = sup.mcr(["rule", "replace", "cam-1", "--outputs", A]);
    expect(r.code).toBe(65);
    expect(r.stderr).toContain(`rule ${id} (cam-1) is declared in ${config}`);
  }, 60000);

  test("mDNS (224.0.0.251:5353) relayed to another segment with --allow-link-local, refused without", async () => {
    const lab = labs.chain();
    const sup = await startSupervisor(lab);
    const mdns = ["--input-group", "224.0.0.251", "--input-port", "5353"];
    let r = sup.mcr(["rule", "add", ...mdns, "--outputs", "224.0.0.251:5353:veth3"]);
    expect(r.code).toBe(65);
    expect(r.stderr.trim()).toBe(
      "mcr: --input-group: 224.0.0.251 is a link-local group (224.0.0.0/24), relayed only by a rule with --allow-link-local (config: allow_link_local = true)",
    );
    r = sup.mcr(["rule", "add", ...mdns, "--outputs", "224.0.0.251:5353:veth1", "--allow-link-local"]);
    expect(r.code).toBe(65);
    expect(r.stderr.trim()).toBe(
      "mcr: --outputs: output 1 (224.0.0.251:5353:veth1) is on the input interface veth1: a rule with allowLinkLocal must send to another interface",
    );
    expect(list(sup).rules).toEqual([]);
    sup.addRule("224.0.0.251", 5353, "224.0.0.251:5353:veth3", ["--allow-link-local", "--name", "mdns"]);
    expect(list(sup).rules[0]).toMatchObject({ name: "mdns", allowLinkLocal: true, inputGroup: "224.0.0.251" });
    const rx = receiveInSink(lab, { group: "224.0.0.251", port: 5353, count: 200 });
    await rx.listening;
    sendFromGen(lab, { dest: "224.0.0.251", port: 5353, count: 200, size: 120, seed: 5, gapUs: 300 });
    const got = await rx.result;
    expectPayloads(got.payloads, 5, 200, 120);
    // Sent by the relay, from its address on the other segment.
    expect(new Set(got.sources.map((x) => x.split(":")[0]))).toEqual(new Set(["10.0.1.1"]));
  }, 60000);

  test("--dry-run checks against the live table and changes nothing", async () => {
    const lab = labs.chain();
    const sup = await startSupervisor(lab);
    const id = sup.addRule("239.1.1.1", 5001, A, ["--name", "cam-1"]);
    const before = list(sup);
    const state = readFileSync(sup.stateFile, "utf8");
    const add = ["rule", "add", "--input-group", "239.1.1.2", "--input-port", "5001", "--outputs", B, "--dry-run"];
    let r = sup.mcr(add);
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toBe(`dry run: rule ${id + 1} would be added (nothing changed)`);
    // A dry run the table refuses is refused as the change would be.
    r = sup.mcr([...add.slice(0, 3), "239.1.1.1", ...add.slice(4)]);
    expect(r.code).toBe(65);
    expect(r.stderr).toContain(`rule ${id} already relays 239.1.1.1:5001 on veth1`);
    r = sup.mcr(["rule", "replace", "cam-1", "--outputs", B, "--dry-run"]);
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toBe(`dry run: rule ${id} (cam-1) would be replaced (nothing changed)`);
    expect(list(sup)).toEqual(before);
    expect(readFileSync(sup.stateFile, "utf8")).toBe(state);
    // And the rule still relays where it did.
    const rx = receiveInSink(lab, { group: "239.10.10.10", port: 6001, count: 100 });
    await rx.listening;
    sendFromGen(lab, { dest: "239.1.1.1", port: 5001, count: 100, size: 64, seed: 6 });
    expect((await rx.result).count).toBe(100);
  }, 60000);

  test("rule apply: one bad entry changes nothing; a good batch is one version, and relays", async () => {
    const lab = labs.chain();
    const sup = await startSupervisor(lab);
    sup.addRule("239.1.1.1", 5001, A, ["--name", "old"]);
    sup.addRule("239.1.1.3", 5003, C, ["--name", "gone"]);
    const before = list(sup);
    const state = readFileSync(sup.stateFile, "utf8");
    const batch = `/tmp/${lab.id}-batch.toml`;
    const add = `[[change]]\nop = "add"\nname = "new"\ninput_group = "239.1.1.2"\ninput_port = 5002\noutputs = ["${B}"]\n`;
    const rm = `[[change]]\nop = "remove"\nrule = "gone"\n`;
    const bad = `[[change]]\nop = "replace"\nrule = "nope"\noutputs = ["${A}"]\n`;
    writeFileSync(batch, `${add}${rm}${bad}`);
    let r = sup.mcr(["rule", "apply", batch]);
    expect(r.code).toBe(65);
    expect(r.stderr.trim()).toBe("mcr: change 3: no rule named nope (see mcr rule list)");
    expect(list(sup)).toEqual(before);
    expect(readFileSync(sup.stateFile, "utf8")).toBe(state);

    writeFileSync(batch, `${add}${rm}[[change]]\nop = "replace"\nrule = "old"\noutputs = ["${C}"]\n`);
    r = sup.mcr(["rule", "apply", batch, "--dry-run"]);
    expect(r.code).toBe(0);
    expect(list(sup)).toEqual(before);
    r = sup.mcr(["rule", "apply", batch]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toBe(
      `applied (table version ${before.version + 1}): 1 added (new), 1 removed (gone), 1 replaced (old)`,
    );
    const after = list(sup);
    expect(after.version).toBe(before.version + 1);
    expect(after.rules.map((x) => [x.name, `${x.inputGroup}:${x.inputPort}`, x.outputs.length])).toEqual([
      ["old", "239.1.1.1:5001", 1],
      ["new", "239.1.1.2:5002", 1],
    ]);
    const rx = receiveInSink(lab, { group: "239.10.10.11", port: 6002, count: 100 });
    await rx.listening;
    sendFromGen(lab, { dest: "239.1.1.2", port: 5002, count: 100, size: 64, seed: 7 });
    expect((await rx.result).count).toBe(100);

    // The protocol's own JSON form works as a file too.
    const json = `/tmp/${lab.id}-batch.json`;
    writeFileSync(json, JSON.stringify({ changes: [{ op: "remove", id: "new" }] }));
    r = sup.mcr(["rule", "apply", json]);
    expect(r.code).toBe(0);
    expect(list(sup).rules.map((x) => x.name)).toEqual(["old"]);
    expect(existsSync(batch)).toBe(true);
  }, 60000);
});
