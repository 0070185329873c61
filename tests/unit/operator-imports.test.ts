// What the operator process loads: its entry point run for real (to --help, which comes after
// every controller module is imported), with a module hook that records each module Node
// resolves. The schemas and zod stay out: they are some 25 MB resident that an operator, which
// never parses with them, would carry for its whole life (crds/runtime/index.ts). The compiled
// image runs the same graph: tsc only rewrites the extensions of these imports.
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { expect, test } from "vitest";
import { repoRoot } from "../../crds/generate.ts";

const recorder = `
import { registerHooks } from "node:module";
import { writeSync } from "node:fs";
const seen = new Set();
registerHooks({ resolve(specifier, context, next) { const r = next(specifier, context); seen.add(r.url); return r; } });
process.on("exit", () => writeSync(2, "\\n@@modules " + JSON.stringify([...seen]) + "\\n"));
`;

/** Every file module the entry point loads when run with `args`. */
function modulesLoadedBy(entry: string, args: string[]): string[] {
  const run = spawnSync(
    process.execPath,
    ["--import", `data:text/javascript,${encodeURIComponent(recorder)}`, join(repoRoot, entry), ...args],
    { encoding: "utf8", env: { ...process.env, NODE_OPTIONS: "" }, timeout: 60_000 },
  );
  const line = run.stderr.split("\n").find((l) => l.startsWith("@@modules "));
  if (run.status !== 0 || !line)
    throw new Error(`${entry} ${args.join(" ")}: exit ${run.status}\n${run.stderr}`);
  return (JSON.parse(line.slice("@@modules ".length)) as string[])
    .filter((u) => u.startsWith("file:"))
    .map((u) => fileURLToPath(u));
}

test("the operator loads neither zod nor the CRD schemas, only crds/runtime and the zod-free modules", () => {
  const files = modulesLoadedBy("cmd/operator.ts", ["--help"]);
  const ours = files.filter((f) => !f.includes("/node_modules/")).map((f) => f.slice(repoRoot.length));
  // The controllers are there (the graph was walked), and nothing of crds/ but the zod-free modules.
  expect(ours).toContain("controllers/trainingjob/index.ts");
  expect(ours.filter((f) => f.startsWith("crds/") && !f.startsWith("crds/runtime/")).sort()).toEqual([
    "crds/labels.ts",
    "crds/vendors.ts",
  ]);
  const packages = new Set(
    files.filter((f) => f.includes("/node_modules/")).map((f) => f.split("/node_modules/")[1]?.split("/")[0]),
  );
  expect(packages.has("zod")).toBe(false);
  expect(packages.has("commander")).toBe(true);
});
