// Checks that src/ imports one way: every folder (and root file) of src/ has a rank, and a file
// may import only from a lower rank, `import type` and dynamic `import()` included. Equal ranks
// do not import each other. Also: no folder cycle, and `bun:ffi` only in src/native/.
// `make lint` runs it; `bun scripts/layers.ts [ROOT]` prints one line per problem and exits 1 on any.
import { readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, normalize, relative } from "node:path";

/** Top to bottom. A layer is a folder of src/ or a file at its root. */
export const RANKS: Record<string, number> = {
  "main.ts": 12,
  cli: 11,
  control: 10,
  supervisor: 9,
  worker: 8,
  // Leaves of the daemon's logic, beside each other: none imports another of these three.
  stats: 7,
  config: 7,
  tools: 7,
  rules: 6, // read by config (rule lines in the file) and by every layer above
  // The bottom: plain types, value parsers, interface lookup, the FFI boundary, in that order.
  types: 5,
  values: 4,
  net: 3,
  native: 2,
  "errors.ts": 1,
  "log.ts": 1,
  "version.ts": 1,
};

export interface Allowed {
  from: string; // a file, from the repository root
  to: string;
  why: string;
}

/**
 * Imports that break the order today and are being removed on other branches. Empty this list at
 * their merge: an entry that matches no import is itself reported.
 */
export const PENDING: Allowed[] = [];

export interface Import {
  spec: string; // as written
  line: number;
}

/** The module specifiers a file imports: static, type-only, re-exports, dynamic, side-effect. */
export function importsOf(text: string): Import[] {
  const { code, strings } = mask(text);
  const out: Import[] = [];
  const lineAt = (i: number) => code.slice(0, i).split("\n").length;
  // `import x from "m"`, `import type { a,\n b } from "m"`, `import "m"`, `export * from "m"`,
  // `export type { a } from "m"`; the names may span lines. Every string is a "#N" by now.
  const stat = /(?:^|[\s;])(?:import|export)\s+(?:type\s+)?(?:[\w$*{},\s]*?\sfrom\s*)?"#(\d+)"/g;
  const dyn = /(?:^|[^\w$.])import\s*\(\s*"#(\d+)"\s*\)/g;
  for (const re of [stat, dyn])
    for (const m of code.matchAll(re))
      out.push({ spec: strings[Number(m[1])] as string, line: lineAt(m.index + m[0].indexOf('"#')) });
  return out.sort((a, b) => a.line - b.line);
}

/**
 * The code with comments blanked, template literals blanked and each quoted string replaced by
 * "#N" (its text in strings[N]), so that nothing inside a comment or a string reads as an import.
 * Newlines are kept, so line numbers hold.
 */
export function mask(text: string): { code: string; strings: string[] } {
  const strings: string[] = [];
  let code = "";
  let i = 0;
  const blank = (t: string) => t.replace(/[^\n]/g, " ");
  while (i < text.length) {
    const c = text[i] as string;
    const next = text[i + 1];
    if (c === "/" && next === "/") {
      while (i < text.length && text[i] !== "\n") i++;
    } else if (c === "/" && next === "*") {
      const end = text.indexOf("*/", i + 2);
      const stop = end < 0 ? text.length : end + 2;
      code += blank(text.slice(i, stop));
      i = stop;
    } else if (c === '"' || c === "'" || c === "`") {
      let j = i + 1;
      while (j < text.length && text[j] !== c && !(c !== "`" && text[j] === "\n")) j += text[j] === "\\" ? 2 : 1;
      const body = text.slice(i + 1, j);
      if (c === "`") code += blank(text.slice(i, j + 1));
      else {
        code += `"#${strings.length}"`;
        strings.push(body);
      }
      i = j + 1;
    } else {
      code += c;
      i++;
    }
  }
  return { code, strings };
}

/** "src/stats/aggregate.ts" -> "stats"; "src/log.ts" -> "log.ts"; outside src/ -> undefined. */
export function layerOf(file: string): string | undefined {
  const parts = normalize(file).split("/");
  if (parts[0] !== "src" || parts.length < 2) return undefined;
  return parts[1];
}

export interface Edge {
  from: string;
  to: string;
  line: number;
}

export interface Result {
  errors: string[];
  edges: Edge[]; // file to file, inside src/
}

/** Checks files (path from the repository root -> text). Files outside src/ are checked for bun:ffi only. */
export function checkLayers(
  files: Record<string, string>,
  ranks: Record<string, number> = RANKS,
  pending: Allowed[] = PENDING,
): Result {
  const errors: string[] = [];
  const edges: Edge[] = [];
  const used = new Set<Allowed>();
  const graph = new Map<string, Set<string>>();
  const example = new Map<string, Edge>(); // "a>b" -> one import that makes the arrow
  for (const [file, text] of Object.entries(files)) {
    const from = layerOf(file);
    if (from !== undefined && ranks[from] === undefined)
      errors.push(`${file}: src/${from} has no rank in scripts/layers.ts RANKS: give it one`);
    for (const imp of importsOf(text)) {
      if (imp.spec === "bun:ffi" && !file.startsWith("src/native/"))
        errors.push(`${file}:${imp.line}: imports bun:ffi; only src/native/ may`);
      if (from === undefined || !imp.spec.startsWith(".")) continue;
      const target = normalize(join(dirname(file), imp.spec));
      const to = layerOf(target);
      if (to === undefined || to === from) continue;
      const edge = { from: file, to: target, line: imp.line };
      edges.push(edge);
      const allowed = pending.find((a) => a.from === file && a.to === target);
      if (allowed) {
        used.add(allowed);
        continue;
      }
      if (!graph.has(from)) graph.set(from, new Set());
      graph.get(from)?.add(to);
      if (!example.has(`${from}>${to}`)) example.set(`${from}>${to}`, edge);
      const rf = ranks[from];
      const rt = ranks[to];
      if (rf === undefined) continue; // reported above
      if (rt === undefined) errors.push(`${file}:${imp.line}: imports ${target}, and src/${to} has no rank`);
      else if (rt > rf)
        errors.push(
          `${file}:${imp.line}: ${from} (rank ${rf}) imports ${target} from ${to} (rank ${rt}), a higher layer`,
        );
      else if (rt === rf)
        errors.push(`${file}:${imp.line}: ${from} imports ${target} from ${to}, a layer of the same rank (${rf})`);
    }
  }
  for (const { folders, loop } of folderCycles(graph)) {
    // Every arrow among the folders of the cycle, each with one import that makes it.
    const inside = new Set(folders);
    const arrows = [...example.entries()]
      .filter(([k]) => k.split(">").every((l) => inside.has(l)))
      .map(([k, e]) => `${k.replace(">", " -> ")} (${e.from}:${e.line})`)
      .sort();
    errors.push(
      `folder cycle among ${folders.join(", ")}, e.g. ${[...loop, loop[0]].join(" -> ")}; its arrows: ${arrows.join(", ")}`,
    );
  }
  for (const a of pending)
    if (!used.has(a)) errors.push(`scripts/layers.ts PENDING: ${a.from} -> ${a.to} is gone: remove the entry`);
  return { errors, edges };
}

/**
 * The cycles between folders: one per strongly connected component of more than one folder
 * (Tarjan), with a shortest loop through it, so that the message shows one loop to follow.
 */
export function folderCycles(graph: Map<string, Set<string>>): { folders: string[]; loop: string[] }[] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const comps: string[][] = [];
  let n = 0;
  const visit = (v: string) => {
    index.set(v, n);
    low.set(v, n);
    n++;
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v) as number, low.get(w) as number));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v) as number, index.get(w) as number));
    }
    if (low.get(v) === index.get(v)) {
      const comp: string[] = [];
      let w: string;
      do {
        w = stack.pop() as string;
        onStack.delete(w);
        comp.push(w);
      } while (w !== v);
      if (comp.length > 1) comps.push(comp);
    }
  };
  for (const v of [...graph.keys()].sort()) if (!index.has(v)) visit(v);
  return comps.map((comp) => ({ folders: comp.sort(), loop: loopThrough(graph, new Set(comp)) }));
}

/** A shortest loop from the component's first folder (by name) back to itself, inside it. */
function loopThrough(graph: Map<string, Set<string>>, comp: Set<string>): string[] {
  const start = [...comp].sort()[0] as string;
  const prev = new Map<string, string>();
  const queue = [start];
  while (queue.length > 0) {
    const v = queue.shift() as string;
    for (const w of [...(graph.get(v) ?? [])].sort()) {
      if (!comp.has(w)) continue;
      if (w === start) {
        const path = [v];
        while (path[0] !== start) path.unshift(prev.get(path[0] as string) as string);
        return path;
      }
      if (!prev.has(w)) {
        prev.set(w, v);
        queue.push(w);
      }
    }
  }
  return [start]; // not reached: a component of two or more always loops back
}

/** The TypeScript files under dir, as paths from the repository root. */
export function sources(root: string, dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const name of readdirSync(join(root, d))) {
      if (name === "node_modules" || name.startsWith(".")) continue;
      const p = join(d, name);
      if (statSync(join(root, p)).isDirectory()) walk(p);
      else if (/\.(ts|tsx|mts|js|mjs)$/.test(name)) out.push(p);
    }
  };
  walk(dir);
  return out.sort();
}

/** The repository's files: src/ for the layers, test/, bench/ and scripts/ for bun:ffi. */
export function repoFiles(root: string): Record<string, string> {
  const files: Record<string, string> = {};
  for (const dir of ["src", "test", "bench", "scripts"]) {
    try {
      statSync(join(root, dir));
    } catch {
      continue;
    }
    for (const f of sources(root, dir)) files[f] = readFileSync(join(root, f), "utf8");
  }
  return files;
}

if (import.meta.main) {
  // A tree other than this one may be named (to see what the check says of an old commit).
  const root = process.argv[2] ?? (relative(process.cwd(), join(import.meta.dir, "..")) || ".");
  const { errors, edges } = checkLayers(repoFiles(root));
  for (const e of errors) console.error(e);
  if (errors.length > 0) {
    console.error(`layers: ${errors.length} problem(s)`);
    process.exit(1);
  }
  console.log(`layers: ${edges.length} imports across src/ folders, all downward; ${PENDING.length} pending`);
}
