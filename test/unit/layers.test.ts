// The import-direction check (scripts/layers.ts) on small made-up trees, and on this one.
import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { checkLayers, folderCycles, importsOf, mask, PENDING, RANKS, repoFiles } from "../../scripts/layers.ts";

const RANK = { "main.ts": 4, top: 3, mid: 2, side: 2, low: 1, "errors.ts": 0 };

describe("importsOf", () => {
  test("static, type-only, re-export, side-effect, dynamic and multi-line imports, in line order", () => {
    const text = [
      'import { a } from "./a.ts";', // 1
      'import type { B } from "../b.ts";', // 2
      "import {", // 3
      "  c,",
      "  type D,",
      '} from "./cd.ts";', // 6
      'export * from "./e.ts";', // 7
      'export type { F } from "./f.ts";', // 8
      'import "./side.ts";', // 9
      'const g = await import("./g.ts");', // 10
      'import shim from "../x.so" with { type: "file" };', // 11
      "import * as ns from './ns.ts';", // 12
    ].join("\n");
    expect(importsOf(text)).toEqual([
      { spec: "./a.ts", line: 1 },
      { spec: "../b.ts", line: 2 },
      { spec: "./cd.ts", line: 6 },
      { spec: "./e.ts", line: 7 },
      { spec: "./f.ts", line: 8 },
      { spec: "./side.ts", line: 9 },
      { spec: "./g.ts", line: 10 },
      { spec: "../x.so", line: 11 },
      { spec: "./ns.ts", line: 12 },
    ]);
  });

  test("imports in comments and template literals are not imports; strings that look like comments stay", () => {
    const text = [
      '// import { a } from "./a.ts";',
      '/* import("./b.ts")',
      '   export * from "./c.ts"; */',
      'const url = "http://x/"; import { d } from "./d.ts";',
      'const code = `import("bun:ffi")`;',
    ].join("\n");
    expect(importsOf(text)).toEqual([{ spec: "./d.ts", line: 4 }]);
    expect(mask('a /* b\nc */ "d" // e\nf `g\n`')).toEqual({ code: 'a     \n     "#0" \nf   \n ', strings: ["d"] });
    expect(importsOf("const s = \"import('bun:ffi')\";\nconst t = 'x; import \"./y.ts\"';")).toEqual([]);
  });

  test("a word ending in import or export is not one", () => {
    expect(importsOf('reimport { a } from "./a.ts";\nconst x = myimport("./b.ts");')).toEqual([]);
  });
});

describe("checkLayers", () => {
  test("a tree that imports downward passes, root files included", () => {
    const r = checkLayers(
      {
        "src/main.ts": 'import("./top/t.ts");\nimport { EX } from "./errors.ts";',
        "src/top/t.ts": 'import { m } from "../mid/m.ts";\nimport { s } from "../side/s.ts";\nimport "./u.ts";',
        "src/top/u.ts": "",
        "src/mid/m.ts": 'import type { L } from "../low/l.ts";\nimport { dlopen } from "node:fs";',
        "src/side/s.ts": 'export { l } from "../low/l.ts";',
        "src/low/l.ts": 'import { EX } from "../errors.ts";',
        "src/errors.ts": "",
      },
      RANK,
      [],
    );
    expect(r.errors).toEqual([]);
    expect(r.edges.length).toBe(7); // every cross-folder import, the one inside top/ not counted
  });

  test("an upward import is refused, type-only and dynamic ones too", () => {
    const r = checkLayers(
      {
        "src/low/l.ts": 'import type { M } from "../mid/m.ts";\nconst t = () => import("../top/t.ts");',
        "src/mid/m.ts": "",
        "src/top/t.ts": "",
      },
      RANK,
      [],
    );
    expect(r.errors).toEqual([
      "src/low/l.ts:1: low (rank 1) imports src/mid/m.ts from mid (rank 2), a higher layer",
      "src/low/l.ts:2: low (rank 1) imports src/top/t.ts from top (rank 3), a higher layer",
    ]);
  });

  test("layers of one rank do not import each other", () => {
    const r = checkLayers({ "src/mid/m.ts": 'import { s } from "../side/s.ts";', "src/side/s.ts": "" }, RANK, []);
    expect(r.errors).toEqual(["src/mid/m.ts:1: mid imports src/side/s.ts from side, a layer of the same rank (2)"]);
  });

  test("a cycle is named with its folders and every arrow in it", () => {
    const r = checkLayers(
      {
        "src/top/t.ts": 'import { m } from "../mid/m.ts";',
        "src/mid/m.ts": 'import { l } from "../low/l.ts";',
        "src/low/l.ts": 'import type { T } from "../top/t.ts";',
      },
      RANK,
      [],
    );
    expect(r.errors).toEqual([
      "src/low/l.ts:1: low (rank 1) imports src/top/t.ts from top (rank 3), a higher layer",
      "folder cycle among low, mid, top, e.g. low -> top -> mid -> low; its arrows: " +
        "low -> top (src/low/l.ts:1), mid -> low (src/mid/m.ts:1), top -> mid (src/top/t.ts:1)",
    ]);
  });

  test("bun:ffi only under src/native/, in tests too", () => {
    const ffi = 'import { dlopen } from "bun:ffi";';
    const r = checkLayers(
      {
        "src/native/shim.ts": ffi,
        "src/low/l.ts": `// bun:ffi in a comment is fine\n${ffi}`,
        "test/x.test.ts": `const f = await import("bun:ffi");`,
      },
      { ...RANK, native: 0 },
      [],
    );
    expect(r.errors).toEqual([
      "src/low/l.ts:2: imports bun:ffi; only src/native/ may",
      "test/x.test.ts:1: imports bun:ffi; only src/native/ may",
    ]);
  });

  test("a folder without a rank is an error, and so is importing one", () => {
    const r = checkLayers({ "src/new/n.ts": "", "src/top/t.ts": 'import "../new/n.ts";' }, RANK, []);
    expect(r.errors).toEqual([
      "src/new/n.ts: src/new has no rank in scripts/layers.ts RANKS: give it one",
      "src/top/t.ts:1: imports src/new/n.ts, and src/new has no rank",
    ]);
  });

  test("a pending entry excuses exactly its import, and one that matches nothing is reported", () => {
    const files = {
      "src/low/l.ts": 'import { a } from "../top/a.ts";\nimport { b } from "../top/b.ts";',
      "src/top/a.ts": "",
      "src/top/b.ts": "",
    };
    const pending = [
      { from: "src/low/l.ts", to: "src/top/a.ts", why: "moving" },
      { from: "src/low/l.ts", to: "src/top/gone.ts", why: "moved already" },
    ];
    expect(checkLayers(files, RANK, pending).errors).toEqual([
      "src/low/l.ts:2: low (rank 1) imports src/top/b.ts from top (rank 3), a higher layer",
      "scripts/layers.ts PENDING: src/low/l.ts -> src/top/gone.ts is gone: remove the entry",
    ]);
  });
});

describe("folderCycles", () => {
  test("one entry per strongly connected component, with a shortest loop", () => {
    const g = new Map<string, Set<string>>([
      ["a", new Set(["b"])],
      ["b", new Set(["c", "a"])],
      ["c", new Set(["a", "d"])],
      ["d", new Set(["e"])],
      ["e", new Set(["d"])],
      ["f", new Set(["a"])],
    ]);
    expect(folderCycles(g)).toEqual([
      { folders: ["d", "e"], loop: ["d", "e"] },
      { folders: ["a", "b", "c"], loop: ["a", "b"] },
    ]);
    expect(folderCycles(new Map([["a", new Set(["b"])]]))).toEqual([]);
  });
});

describe("this tree", () => {
  test("imports one way, but for the pending moves", () => {
    const files = repoFiles(join(import.meta.dir, "..", ".."));
    expect(Object.keys(files).filter((f) => f.startsWith("src/")).length).toBeGreaterThan(40);
    expect(checkLayers(files).errors).toEqual([]);
    // Without the excuses, exactly the pending imports are refused.
    const strict = checkLayers(files, RANKS, []).errors.filter((e) => !e.startsWith("folder cycle"));
    expect(strict.map((e) => e.split(":")[0])).toEqual(PENDING.map((p) => p.from).sort());
  });
});
