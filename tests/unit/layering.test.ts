// The shape of the tree: the runtime (operator/) knows nothing of the controllers or of the
// entry point that joins them, and no module imports itself through others, types included
// (a cycle of type imports still ties two modules into one unit to read and to change).
import { readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, normalize } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const root = fileURLToPath(new URL("../../", import.meta.url));
const sourceDirs = ["cmd", "crds", "operator", "controllers", "cli", "bench", "tests"];

function sourceFiles(dir: string): string[] {
  return readdirSync(join(root, dir)).flatMap((entry) => {
    const path = join(dir, entry);
    if (statSync(join(root, path)).isDirectory()) return sourceFiles(path);
    return path.endsWith(".ts") ? [path] : [];
  });
}

const importPattern =
  /(?:^|\n)\s*(?:import|export)\b[^;]*?\bfrom\s+"(\.{1,2}\/[^"]+\.ts)"|\bimport\("(\.{1,2}\/[^"]+\.ts)"\)/g;

/** Every relative import of every source file, static or dynamic, type-only or not. */
function importGraph(): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  for (const file of sourceDirs.flatMap(sourceFiles)) {
    const text = readFileSync(join(root, file), "utf8");
    const targets = [...text.matchAll(importPattern)].map((m) =>
      normalize(join(dirname(file), (m[1] ?? m[2]) as string)),
    );
    graph.set(file, [...new Set(targets)]);
  }
  return graph;
}

/** One cycle per strongly connected component of more than one module (Tarjan). */
function cycles(graph: Map<string, string[]>): string[][] {
  let index = 0;
  const indices = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  const visit = (v: string): void => {
    indices.set(v, index);
    low.set(v, index);
    index++;
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!graph.has(w)) continue;
      if (!indices.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v) as number, low.get(w) as number));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v) as number, indices.get(w) as number));
    }
    if (low.get(v) === indices.get(v)) {
      const component: string[] = [];
      let w: string;
      do {
        w = stack.pop() as string;
        onStack.delete(w);
        component.push(w);
      } while (w !== v);
      if (component.length > 1 || (graph.get(v) ?? []).includes(v)) found.push(component.sort());
    }
  };
  for (const v of graph.keys()) if (!indices.has(v)) visit(v);
  return found;
}

describe("the import graph", () => {
  const graph = importGraph();

  it("sees the tree", () => {
    expect(graph.get("cmd/operator.ts")).toContain("operator/run.ts");
    expect(graph.get("cmd/operator.ts")).toContain("controllers/trainingjob/index.ts");
  });

  it("has operator/ import nothing of controllers/ or cmd/", () => {
    const upward = [...graph]
      .filter(([file]) => file.startsWith("operator/"))
      .flatMap(([file, targets]) =>
        targets
          .filter((t) => t.startsWith("controllers/") || t.startsWith("cmd/"))
          .map((t) => `${file} -> ${t}`),
      );
    expect(upward).toEqual([]);
  });

  it("has no cycle", () => {
    expect(cycles(graph)).toEqual([]);
  });

  it("finds a cycle when there is one (the check itself)", () => {
    const looped = new Map([
      ["a.ts", ["b.ts"]],
      ["b.ts", ["c.ts"]],
      ["c.ts", ["a.ts"]],
      ["d.ts", ["a.ts"]],
    ]);
    expect(cycles(looped)).toEqual([["a.ts", "b.ts", "c.ts"]]);
  });
});
