// The shipped dashboard and alert rules read only metrics that exist: dist/mcr's supervisor with
// --metrics-listen, in a namespace, with a rule and traffic through it, is scraped, and every
// metric name that packaging/grafana/mcr.json and packaging/prometheus/mcr-alerts.yml reference
// is in the live exposition, with samples. The process_* and worker CPU series hold true values.
import { expect, test } from "bun:test";
import { describeNetns } from "../helpers/suite.ts";
import type { Lab } from "../helpers/lab.ts";
import { SupervisorDriver } from "../helpers/supervisor.ts";
import { receiveInSink, sendFromGen } from "../helpers/traffic.ts";
import { parseExposition, valueOf } from "../helpers/exposition.ts";
import { alertExprs, dashboardExprs, metricNames, SYNTHETIC } from "../helpers/monitoring.ts";

function scrape(l: Lab) {
  const js = `const r = await fetch("http://127.0.0.1:9464/metrics"); console.log(await r.text());`;
  const r = l.exec("relay", [process.execPath, "-e", js]);
  if (r.code !== 0) throw new Error(`scrape failed: ${r.stderr}`);
  return parseExposition(r.stdout.replace(/\n+$/, "\n"));
}

describeNetns("monitoring", (labs) => {
  test("every metric the dashboard and the alert rules read is in a live /metrics", async () => {
    const lab = labs.chain();
    const sup = new SupervisorDriver(lab, "relay", ["veth1"], ["--workers", "2", "--metrics-listen", ":9464"]);
    await sup.ready();
    sup.addRule("239.1.1.1", 5001, "239.10.10.10:6001:veth3");
    const N = 500;
    const sink = receiveInSink(lab, { group: "239.10.10.10", port: 6001, count: N });
    await sink.listening;
    sendFromGen(lab, { dest: "239.1.1.1", port: 5001, count: N, size: 200, seed: 7, flows: 8, gapUs: 200 });
    expect((await sink.result).count).toBe(N);

    const fams = scrape(lab);
    const referenced = new Map<string, string[]>();
    for (const q of [...dashboardExprs(), ...alertExprs()])
      for (const n of metricNames(q.expr)) referenced.set(n, [...(referenced.get(n) ?? []), q.name]);
    const missing = [...referenced]
      .filter(([n]) => !SYNTHETIC.has(n) && (fams.get(n)?.samples.length ?? 0) === 0)
      .map(([n, where]) => `${n} (${where.join(", ")})`);
    expect(missing).toEqual([]);
    // The check has teeth: the content reads dozens of names, the new ones among them.
    expect(referenced.size).toBeGreaterThan(20);
    for (const n of ["process_cpu_seconds_total", "process_open_fds", "mcr_worker_cpu_seconds_total"])
      expect(referenced.has(n)).toBe(true);

    // The values are the processes' own.
    const status = JSON.parse(sup.mcr(["stats", "--json", "--interval", "0"]).stdout);
    const v = (name: string, labels: Record<string, string> = {}) => valueOf(fams, name, labels);
    const now = Date.now() / 1000;
    expect(v("process_start_time_seconds")).toBeGreaterThan(now - 120);
    expect(v("process_start_time_seconds")).toBeLessThanOrEqual(now);
    expect(v("process_start_time_seconds")).toBeGreaterThanOrEqual(v("mcr_start_time_seconds") - 60);
    expect(v("process_resident_memory_bytes")).toBeGreaterThan(1 << 20);
    expect(v("process_virtual_memory_bytes")).toBeGreaterThan(v("process_resident_memory_bytes"));
    expect(v("process_open_fds")).toBeGreaterThan(3);
    expect(v("process_max_fds")).toBeGreaterThanOrEqual(v("process_open_fds"));
    expect(v("process_cpu_seconds_total")).toBeGreaterThan(0);
    for (const w of status.workers) {
      const stat = lab.exec("relay", ["cat", `/proc/${w.pid}/stat`]).stdout;
      const ticks = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      const now = (Number(ticks[11]) + Number(ticks[12])) / 100;
      const got = v("mcr_worker_cpu_seconds_total", { worker: String(w.index), cpu: String(w.cpu) });
      // Read at the scrape, a moment before this read of the same counter.
      expect(got).toBeGreaterThan(0);
      expect(got).toBeLessThanOrEqual(now);
    }
  }, 60000);
});
