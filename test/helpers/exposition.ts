// A strict parser of the Prometheus text exposition format 0.0.4, for tests of GET /metrics.
// It throws on anything a Prometheus server would refuse or that the format's rules forbid: a
// bad metric or label name, an unknown escape, an unterminated label value, a TYPE or HELP line
// given twice or after the family's samples, a family split in two, a series given twice.
export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export interface Family {
  name: string;
  help?: string;
  type?: string;
  samples: Sample[];
}

const METRIC = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const TYPES = new Set(["counter", "gauge", "histogram", "summary", "untyped"]);

export function parseExposition(text: string): Map<string, Family> {
  if (text.length > 0 && !text.endsWith("\n")) throw new Error("the last line must end with a line feed");
  const families = new Map<string, Family>();
  const closed = new Set<string>(); // families whose samples ended (another family came)
  const series = new Set<string>();
  let current: string | undefined;
  const family = (name: string) => {
    let f = families.get(name);
    if (!f) families.set(name, (f = { name, samples: [] }));
    return f;
  };
  const enter = (name: string, line: number) => {
    if (current !== name) {
      if (current !== undefined) closed.add(current);
      if (closed.has(name)) throw new Error(`line ${line}: ${name} continues after another family`);
      current = name;
    }
  };
  text.split("\n").forEach((raw, i) => {
    const line = i + 1;
    if (raw === "") return;
    if (raw.startsWith("#")) {
      const m = /^# (HELP|TYPE) (\S+)(?: (.*))?$/.exec(raw);
      if (!m) return; // a plain comment
      const [, kind, name, rest] = m as unknown as [string, "HELP" | "TYPE", string, string | undefined];
      if (!METRIC.test(name)) throw new Error(`line ${line}: bad metric name "${name}"`);
      enter(name, line);
      const f = family(name);
      if (kind === "HELP") {
        if (f.help !== undefined) throw new Error(`line ${line}: second HELP for ${name}`);
        f.help = unescape(rest ?? "", false, line);
      } else {
        if (f.type !== undefined) throw new Error(`line ${line}: second TYPE for ${name}`);
        if (f.samples.length > 0) throw new Error(`line ${line}: TYPE for ${name} after its samples`);
        if (!TYPES.has(rest ?? "")) throw new Error(`line ${line}: unknown type "${rest}"`);
        f.type = rest;
      }
      return;
    }
    const s = parseSample(raw, line);
    enter(s.name, line);
    const key = s.name + JSON.stringify(Object.entries(s.labels).sort());
    if (series.has(key)) throw new Error(`line ${line}: series given twice: ${raw}`);
    series.add(key);
    family(s.name).samples.push(s);
  });
  return families;
}

function parseSample(raw: string, line: number): Sample {
  const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)/.exec(raw);
  if (!m) throw new Error(`line ${line}: no metric name: ${raw}`);
  const name = m[1]!;
  let i = name.length;
  const labels: Record<string, string> = {};
  if (raw[i] === "{") {
    i++;
    while (raw[i] !== "}") {
      const ln = /^([a-zA-Z_][a-zA-Z0-9_]*)="/.exec(raw.slice(i));
      if (!ln || !LABEL.test(ln[1]!)) throw new Error(`line ${line}: bad label at column ${i + 1}: ${raw}`);
      i += ln[0].length;
      let value = "";
      for (;;) {
        const c = raw[i];
        if (c === undefined) throw new Error(`line ${line}: unterminated label value`);
        if (c === '"') break;
        if (c === "\\") {
          const e = raw[i + 1];
          if (e === "\\") value += "\\";
          else if (e === '"') value += '"';
          else if (e === "n") value += "\n";
          else throw new Error(`line ${line}: bad escape \\${e} in a label value`);
          i += 2;
          continue;
        }
        value += c;
        i++;
      }
      i++; // the closing quote
      if (ln[1]! in labels) throw new Error(`line ${line}: label ${ln[1]} twice`);
      labels[ln[1]!] = value;
      if (raw[i] === ",") i++;
      else if (raw[i] !== "}") throw new Error(`line ${line}: expected , or } at column ${i + 1}: ${raw}`);
    }
    i++;
  }
  const rest = raw.slice(i);
  const v = /^ (\S+)(?: (-?\d+))?$/.exec(rest);
  if (!v) throw new Error(`line ${line}: expected " VALUE [TIMESTAMP]": ${raw}`);
  const text = v[1]!;
  const value = text === "+Inf" ? Infinity : text === "-Inf" ? -Infinity : text === "NaN" ? NaN : Number(text);
  if (Number.isNaN(value) && text !== "NaN") throw new Error(`line ${line}: bad value "${text}"`);
  return { name, labels, value };
}

function unescape(s: string, quotes: boolean, line: number): string {
  let out = "";
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    if (c !== "\\") {
      out += c;
      continue;
    }
    const e = s[++i];
    if (e === "\\") out += "\\";
    else if (e === "n") out += "\n";
    else if (quotes && e === '"') out += '"';
    else throw new Error(`line ${line}: bad escape \\${e} in HELP`);
  }
  return out;
}

/** The value of one series: the family's sample whose labels include `labels`; throws if not exactly one. */
export function valueOf(families: Map<string, Family>, name: string, labels: Record<string, string> = {}): number {
  const f = families.get(name);
  if (!f) throw new Error(`no family ${name}`);
  const hits = f.samples.filter((s) => Object.entries(labels).every(([k, v]) => s.labels[k] === v));
  if (hits.length !== 1) throw new Error(`${name}${JSON.stringify(labels)}: ${hits.length} series match`);
  return hits[0]!.value;
}
