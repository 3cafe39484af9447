// Line numbers for config errors. Bun's TOML parser gives a message but no position, and the
// parsed object keeps none, so both are recovered from the text.

/**
 * The 1-based line of a TOML syntax error: the first line at which the text up to it fails for
 * a reason other than "it ends too early" (an array, string or table still open).
 */
export function syntaxErrorLine(text: string, parse: (t: string) => unknown): number {
  const lines = text.split("\n");
  for (let k = 0; k < lines.length; k++) {
    try {
      parse(lines.slice(0, k + 1).join("\n") + "\n");
    } catch (e) {
      const m = (e as Error).message;
      if (!/Unterminated/.test(m) || /newlines must be escaped/.test(m)) return k + 1;
    }
  }
  return lines.length;
}

/**
 * The 1-based line where `key` is set inside the index-th `[[table]]` (or at the top level when
 * table is undefined); the table's header line if the key is not written there; undefined if
 * there is no such table.
 */
export function keyLine(
  text: string,
  key: string | undefined,
  table?: { name: string; index: number },
): number | undefined {
  const lines = text.split("\n");
  let inside = table === undefined; // the top level comes first
  let seen = -1;
  let header: number | undefined;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.trim();
    const h = /^\[\[?\s*([A-Za-z0-9_.-]+)\s*\]\]?/.exec(line);
    if (h) {
      if (table && line.startsWith("[[") && h[1] === table.name) {
        seen++;
        inside = seen === table.index;
        if (inside) header = i + 1;
      } else {
        if (inside && table && seen === table.index && !h[1]!.startsWith(`${table.name}.`)) return header;
        inside = false;
      }
      continue;
    }
    if (inside && key !== undefined && new RegExp(`^${escape(key)}\\s*=`).test(line)) return i + 1;
  }
  return table ? header : undefined;
}

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

/** The 1-based line of the first `[name]`, `[[name]]` or `[name.sub]` header, if any. */
export function headerLine(text: string, name: string): number | undefined {
  const i = text.split("\n").findIndex((l) => new RegExp(`^\\s*\\[\\[?\\s*${escape(name)}\\s*[\\].]`).test(l));
  return i < 0 ? undefined : i + 1;
}
