// The shipped alert rules and dashboard: promtool checks the rules and runs their unit tests, and
// parses every dashboard query (when promtool is installed: Debian's prometheus package, about
// 100 MB, is not part of `make deps`); the name extraction the live test relies on; and the
// /proc parsing and restart bookkeeping of src/stats/process.ts.
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ALERT_TESTS, ALERTS, alertExprs, asPromQL, dashboardExprs, metricNames } from "../helpers/monitoring.ts";
import { parseMaxFds, parseRss, parseStat, WorkerCpu } from "../../src/stats/process.ts";

const promtool = Bun.which("promtool");
if (!promtool) console.warn("monitoring.test: promtool not installed (apt-get install prometheus): rules not checked");
const run = (argv: string[]) => {
  const p = Bun.spawnSync(argv, { stdout: "pipe", stderr: "pipe" });
  return { code: p.exitCode, out: p.stdout.toString() + p.stderr.toString() };
};

describe.skipIf(!promtool)("promtool", () => {
  const dir = mkdtempSync(join(tmpdir(), "mcr-promtool-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  test("check rules: the alert rules are valid", () => {
    const r = run([promtool!, "check", "rules", ALERTS]);
    expect(r).toEqual({ code: 0, out: expect.stringContaining(`SUCCESS: ${alertExprs().length} rules found`) });
  });

  test("test rules: each alert fires when it should and not before", () => {
    const r = run([promtool!, "test", "rules", ALERT_TESTS]);
    expect(r).toEqual({ code: 0, out: expect.stringContaining("SUCCESS") });
    // Every alert has a firing case in the unit tests.
    const tests = Bun.YAML.parse(readFileSync(ALERT_TESTS, "utf8")) as any;
    const firing = new Set(
      tests.tests.flatMap((t: any) =>
        t.alert_rule_test.filter((a: any) => a.exp_alerts.length > 0).map((a: any) => a.alertname),
      ),
    );
    expect([...firing].sort()).toEqual(
      alertExprs()
        .map((a) => a.name)
        .sort(),
    );
  });

  test("every dashboard query is valid PromQL", () => {
    const queries = dashboardExprs().filter((q) => !q.name.startsWith("$")); // variables: Grafana's label_values()
    const file = join(dir, "dashboard-rules.yml");
    const rules = queries.map((q, i) => `      - record: q${i}\n        expr: ${JSON.stringify(asPromQL(q.expr))}`);
    writeFileSync(file, `groups:\n  - name: dashboard\n    rules:\n${rules.join("\n")}\n`);
    const r = run([promtool!, "check", "rules", file]);
    expect(r).toEqual({ code: 0, out: expect.stringContaining(`SUCCESS: ${queries.length} rules found`) });
  });
});

test("metricNames: the names a query reads, not its functions, labels, variables or keywords", () => {
  expect(metricNames('sum by (instance, rule) (rate(mcr_a_total{job=~"$job",x="y z"}[$__rate_interval]))')).toEqual([
    "mcr_a_total",
  ]);
  expect(metricNames("rate(a[5m]) == 0 and max_over_time(rate(b[5m])[6h:1m]) > 0")).toEqual(["a", "b"]);
  expect(metricNames("time() - max by (instance) (mcr_start_time_seconds)")).toEqual(["mcr_start_time_seconds"]);
  expect(metricNames('label_values(mcr_build_info{job=~"$job"}, instance)')).toEqual(["mcr_build_info"]);
  // Every query of the shipped content reads at least one metric: none escapes the live check.
  for (const q of [...alertExprs(), ...dashboardExprs()])
    expect({ q: q.name, n: metricNames(q.expr).length > 0 }).toEqual({ q: q.name, n: true });
});

describe("src/stats/process.ts", () => {
  test("parseStat: utime + stime in seconds and vsize, with spaces and parentheses in the name", () => {
    // Fields 1..24 of a real line; the name "(a) b)" holds both.
    const line =
      "1234 ((a) b)) S 1 1234 1234 0 -1 4194560 1000 0 0 0 250 75 0 0 20 0 12 0 98765 6712815616 8192 18446744073709551615";
    expect(parseStat(line)).toEqual({ cpuSeconds: 3.25, virtualBytes: 6712815616 });
    expect(() => parseStat("1234 S 1")).toThrow();
    expect(() => parseStat("1 (x) S 1 1 1 0 -1 0 0 0 0 0 abc 1")).toThrow();
  });

  test("parseRss and parseMaxFds read /proc/PID/status and /proc/PID/limits", () => {
    expect(parseRss("Name:\tmcr\nVmRSS:\t   32768 kB\nVmData:\t1 kB\n")).toBe(32768 * 1024);
    expect(() => parseRss("Name:\tmcr\n")).toThrow();
    const limits =
      "Limit                     Soft Limit           Hard Limit           Units     \nMax open files            65536                524288               files     \n";
    expect(parseMaxFds(limits)).toBe(65536);
    expect(parseMaxFds("Max open files            unlimited            unlimited            files\n")).toBe(Infinity);
  });

  test("WorkerCpu: never goes down across a restart, keeps the last value while the worker is down", () => {
    const cpu = new WorkerCpu();
    const reads: Record<number, number> = { 100: 1.5 };
    const read = (pid: number) => reads[pid];
    const w = (pid: number | null) => ({ index: 0, cpu: 2, pid });
    expect(cpu.seconds(w(100), read)).toBe(1.5);
    reads[100] = 4;
    expect(cpu.seconds(w(100), read)).toBe(4);
    expect(cpu.seconds(w(null), read)).toBe(4); // exited: its last value stays
    reads[200] = 0.25;
    expect(cpu.seconds(w(200), read)).toBe(4.25); // the new run adds to the old
    delete reads[200]; // gone between the report and the read
    expect(cpu.seconds(w(200), read)).toBe(4.25);
    reads[200] = 0.1; // a reused pid reads less: the counter does not go down
    expect(cpu.seconds(w(200), read)).toBe(4.25);
    // Another worker slot is counted apart.
    expect(cpu.seconds({ index: 1, cpu: 3, pid: 300 }, () => 7)).toBe(7);
  });
});
