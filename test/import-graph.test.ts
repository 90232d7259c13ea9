/**
 * The source tree's import graph (static imports and re-exports, type-only ones
 * included, as madge counts them): no cycles anywhere under src/, and the
 * library's entry point (src/index.ts) reaches none of the tooling (cli, bench,
 * eval, results, fuzz, server, the llama.cpp comparison).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");
const SRC = join(ROOT, "src");
const TOOLING = ["cli", "bench", "eval", "results", "fuzz", "server", "llamacpp"];

type Graph = Map<string, string[]>;

function tsFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = join(dir, e.name);
    return e.isDirectory() ? tsFiles(p) : p.endsWith(".ts") ? [p] : [];
  });
}

// `import x from "./a.js"`, `import type { T } from "../b.js"`, `export * from "./c.js"`, `import "./d.js"`
const IMPORT_RE = /^\s*(?:import|export)\s+(?:type\s+)?(?:[^'";]*?\sfrom\s+)?["'](\.{1,2}\/[^"']+)["']/gm;

function sourceGraph(): Graph {
  const g: Graph = new Map();
  for (const f of tsFiles(SRC)) {
    const deps = [...readFileSync(f, "utf8").matchAll(IMPORT_RE)].map((m) => resolve(dirname(f), m[1]!.replace(/\.js$/, ".ts")));
    g.set(f, deps);
  }
  return g;
}

/** Strongly connected components of more than one node, or a node importing itself (Tarjan). */
export function cycles(g: Graph): string[][] {
  let next = 0;
  const index = new Map<string, number>(), low = new Map<string, number>(), stack: string[] = [], on = new Set<string>();
  const out: string[][] = [];
  const visit = (v: string): void => {
    index.set(v, next);
    low.set(v, next++);
    stack.push(v);
    on.add(v);
    for (const w of g.get(v) ?? []) {
      if (!g.has(w)) continue;
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (on.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) === index.get(v)) {
      const c: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        on.delete(w);
        c.push(w);
      } while (w !== v);
      if (c.length > 1 || (g.get(v) ?? []).includes(v)) out.push(c);
    }
  };
  for (const v of g.keys()) if (!index.has(v)) visit(v);
  return out;
}

function reachable(g: Graph, from: string): Set<string> {
  const seen = new Set<string>();
  const todo = [from];
  while (todo.length) {
    const v = todo.pop()!;
    if (seen.has(v)) continue;
    seen.add(v);
    todo.push(...(g.get(v) ?? []));
  }
  return seen;
}

test("the cycle finder finds a planted cycle and passes a DAG", () => {
  const dag: Graph = new Map([["a", ["b", "c"]], ["b", ["c"]], ["c", []]]);
  assert.deepEqual(cycles(dag), []);
  const cyclic: Graph = new Map([["a", ["b"]], ["b", ["c"]], ["c", ["a"]], ["d", ["d"]]]);
  assert.deepEqual(cycles(cyclic).map((c) => c.sort().join(",")).sort(), ["a,b,c", "d"]);
});

test("the import-statement scan sees every import form the tree uses", () => {
  const text = `import x from "./a.js";\nimport type { T } from "../b.js";\nexport * from "./c.js";\nexport { y } from "./d.js";\nimport "./e.js";\nimport {\n  z,\n} from "./f.js";\nconst m = await import("./dynamic.js");`;
  assert.deepEqual([...text.matchAll(IMPORT_RE)].map((m) => m[1]), ["./a.js", "../b.js", "./c.js", "./d.js", "./e.js", "./f.js"]);
});

test("no import cycles under src/", () => {
  const g = sourceGraph();
  assert.ok(g.size > 100, `found only ${g.size} source files under ${SRC}`);
  const found = cycles(g).map((c) => c.map((f) => relative(ROOT, f)).join(" -> "));
  assert.deepEqual(found, [], `import cycles:\n${found.join("\n")}`);
});

test("the library entry point (src/index.ts) imports no tooling", () => {
  const g = sourceGraph();
  const lib = [...reachable(g, join(SRC, "index.ts"))].map((f) => relative(SRC, f));
  assert.ok(lib.includes("llm.ts") && lib.includes("native.ts"), "the scan reaches the library's own modules");
  const tooling = lib.filter((f) => TOOLING.includes(f.split("/")[0]!));
  assert.deepEqual(tooling, [], `src/index.ts reaches tooling: ${tooling.join(", ")}`);
});
