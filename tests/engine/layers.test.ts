// layers.test.ts - the import graph of src/, routes/ and bench/ points one way (STYLE rule 17):
// bench -> cli -> app (the composition root) -> routes -> gateway -> server -> config -> engine / models
// -> ffi, never upwards, not even for a type, and with no cycle anywhere. Every relative
// specifier counts: static imports, re-exports, dynamic import() and the worker scripts named
// with new URL(..., import.meta.url). Only the ffi layer imports bun:ffi.
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { describe, expect, test } from "vitest";

const ROOT = resolve(import.meta.dirname, "..", "..");

/** Layers from the bottom up; a file may import its own layer or a lower one. */
const LAYERS: [string, (path: string) => boolean][] = [
  ["ffi", (p) => p.startsWith("src/ffi/")],
  ["engine", (p) => p.startsWith("src/engine/") || p.startsWith("src/models/")],
  ["config", (p) => p === "src/config.ts"],
  ["server", (p) => p.startsWith("src/server/")],
  ["gateway", (p) => p.startsWith("src/gateway/")],
  ["routes", (p) => p.startsWith("routes/")],
  ["app", (p) => p === "src/app.ts"],
  ["cli", (p) => p.startsWith("src/cli/")],
  ["bench", (p) => p.startsWith("bench/")],
];

function layerOf(path: string): number {
  return LAYERS.findIndex(([, has]) => has(path));
}

const SOURCE = /\.(ts|js|mjs)$/;

function sourceFiles(dir: string): string[] {
  const abs = join(ROOT, dir);
  if (!existsSync(abs)) return [];
  return readdirSync(abs).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(join(ROOT, path)).isDirectory()) return sourceFiles(path);
    return SOURCE.test(name) && !name.endsWith(".d.ts") ? [path] : [];
  });
}

/** Every module specifier a file names. */
function specifiers(text: string): string[] {
  const code = text.replace(/\/\*[\s\S]*?\*\//g, "").replace(/^\s*\/\/.*$/gm, "");
  const out: string[] = [];
  const patterns = [
    /(?:^|[\n;])\s*(?:import|export)\b[^"'`;]*?\bfrom\s*["']([^"']+)["']/g, // import x from / export x from
    /(?:^|[\n;])\s*import\s*["']([^"']+)["']/g, // import "x" (side effects)
    /\bimport\s*\(\s*["']([^"']+)["']\s*\)/g, // import("x")
    /\bnew\s+URL\s*\(\s*["']([^"']+)["']\s*,\s*import\.meta\.url\s*\)/g, // worker scripts
  ];
  for (const re of patterns) for (const m of code.matchAll(re)) out.push(m[1]!);
  return out;
}

/** Strongly connected components with more than one file (or a file importing itself). */
function cycles(graph: Map<string, string[]>): string[][] {
  let counter = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  const visit = (v: string): void => {
    index.set(v, counter);
    low.set(v, counter++);
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) !== index.get(v)) return;
    const scc: string[] = [];
    let w: string;
    do {
      w = stack.pop()!;
      onStack.delete(w);
      scc.push(w);
    } while (w !== v);
    if (scc.length > 1 || (graph.get(v) ?? []).includes(v)) found.push(scc.sort());
  };
  for (const v of graph.keys()) if (!index.has(v)) visit(v);
  return found;
}

/** Imports that point to a higher layer, or out of the layered tree. */
function upward(graph: Map<string, string[]>): string[] {
  const bad: string[] = [];
  for (const [from, tos] of graph) {
    for (const to of tos) {
      const lf = layerOf(from);
      const lt = layerOf(to);
      if (lt < 0) bad.push(`${from} -> ${to} (outside the layers)`);
      else if (lt > lf) bad.push(`${from} (${LAYERS[lf]![0]}) -> ${to} (${LAYERS[lt]![0]})`);
    }
  }
  return bad;
}

const files = ["src", "routes", "bench"].flatMap(sourceFiles);
const texts = new Map(files.map((f) => [f, readFileSync(join(ROOT, f), "utf8")]));
const graph = new Map(
  files.map((f) => [
    f,
    specifiers(texts.get(f)!)
      .filter((s) => s.startsWith("."))
      .map((s) => relative(ROOT, resolve(ROOT, dirname(f), s))),
  ]),
);

describe("layers", () => {
  test("every file belongs to a layer, and the import parser sees the known edges", () => {
    expect(files.length).toBeGreaterThan(50);
    expect(files.filter((f) => layerOf(f) < 0)).toEqual([]);
    expect(graph.get("src/app.ts")).toContain("routes/health.ts");
    expect(graph.get("src/engine/slots.ts")).toContain("src/engine/slot-worker.ts"); // new URL(...)
    expect(specifiers('import {\n  a,\n  type B,\n} from "./a.ts";\nexport { c } from "./c.ts";\nconst d = await import("./d.ts");'))
      .toEqual(["./a.ts", "./c.ts", "./d.ts"]);
  });

  test("the checks catch a cycle and an upward import", () => {
    const g = new Map([
      ["src/server/a.ts", ["src/server/b.ts", "src/ffi/x.ts"]],
      ["src/server/b.ts", ["src/server/a.ts"]],
      ["src/ffi/x.ts", ["src/engine/y.ts"]],
      ["src/engine/y.ts", []],
    ]);
    expect(cycles(g)).toEqual([["src/server/a.ts", "src/server/b.ts"]]);
    expect(upward(g)).toEqual(["src/ffi/x.ts (ffi) -> src/engine/y.ts (engine)"]);
  });

  test("no import cycle", () => {
    expect(cycles(graph)).toEqual([]);
  });

  test("no import from a lower layer to a higher one, or out of the tree", () => {
    expect(upward(graph)).toEqual([]);
  });

  test("only src/ffi/ imports bun:ffi (STYLE rule 8)", () => {
    const outside = files.filter((f) => !f.startsWith("src/ffi/") && specifiers(texts.get(f)!).includes("bun:ffi"));
    expect(outside).toEqual([]);
  });

  test("relative imports name files that exist", () => {
    const missing = [...graph].flatMap(([f, tos]) => tos.filter((t) => !existsSync(join(ROOT, t))).map((t) => `${f} -> ${t}`));
    expect(missing).toEqual([]);
  });
});
