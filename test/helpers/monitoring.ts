// The PromQL expressions of the shipped monitoring content (packaging/prometheus/mcr-alerts.yml,
// packaging/grafana/mcr.json) and the metric names they read.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { ROOT } from "./mcr.ts";

export const ALERTS = join(ROOT, "packaging/prometheus/mcr-alerts.yml");
export const ALERT_TESTS = join(ROOT, "packaging/prometheus/mcr-alerts.test.yml");
export const DASHBOARD = join(ROOT, "packaging/grafana/mcr.json");

/** Series Prometheus makes itself for every target: never in an exposition. */
export const SYNTHETIC = new Set(["up"]);

export function alertExprs(): { name: string; expr: string }[] {
  const doc = Bun.YAML.parse(readFileSync(ALERTS, "utf8")) as {
    groups: { rules: { alert: string; expr: string }[] }[];
  };
  return doc.groups.flatMap((g) => g.rules.map((r) => ({ name: r.alert, expr: String(r.expr) })));
}

/** Every query of the dashboard: panel targets (rows included) and template variables. */
export function dashboardExprs(): { name: string; expr: string }[] {
  const d = JSON.parse(readFileSync(DASHBOARD, "utf8"));
  const out: { name: string; expr: string }[] = [];
  const panels = (ps: any[]): void => {
    for (const p of ps ?? []) {
      for (const t of p.targets ?? []) out.push({ name: `${p.title} ${t.refId}`, expr: t.expr });
      panels(p.panels);
    }
  };
  panels(d.panels);
  for (const v of d.templating?.list ?? [])
    if (v.type === "query")
      out.push({ name: `$${v.name}`, expr: typeof v.query === "string" ? v.query : v.query.query });
  return out;
}

// Words of PromQL that are not metric names where they stand before "(", after "by"/"without",
// or inside {...} and [...]: removed before names are picked.
const NOT_NAMES =
  /\{[^}]*\}|\[[^\]]*\]|"(?:[^"\\]|\\.)*"|\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)|\b[a-z_]+\s*(?=\()|\$\w+|\b(?:and|or|unless|offset|bool)\b/g;

const AGGREGATIONS =
  /\b(?:sum|min|max|avg|group|count|stddev|stdvar|topk|bottomk|quantile|count_values|limitk|limit_ratio)\b/g;

/** The metric names an expression reads (Grafana's label_values(METRIC, LABEL) reads METRIC). */
export function metricNames(expr: string): string[] {
  const bare = expr
    .replace(/\blabel_values\(([^,]+),\s*\w+\s*\)/g, "$1")
    .replace(NOT_NAMES, " ")
    .replace(AGGREGATIONS, " ");
  return [...new Set(bare.match(/\b[a-zA-Z_:][a-zA-Z0-9_:]*\b/g) ?? [])].filter((w) => !/^\d/.test(w));
}

/** A Grafana query as Prometheus takes it: the dashboard's variables given plain values. */
export function asPromQL(expr: string): string {
  return expr.replaceAll("$__rate_interval", "5m").replace(/\$\w+/g, ".*");
}
