// The operator as its image runs it: the JavaScript tsconfig.image.json compiles (the image's
// build stage does the same), not the .ts sources with Node's type stripper, which alone keeps
// some 30 MB resident. Compiled once per benchmark run, under node_modules so that the compiled
// files find the same packages, in a folder of this checkout's own: worktrees that share one
// node_modules would otherwise compile over each other's operator while it starts.
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const repo = fileURLToPath(new URL("../..", import.meta.url));
const checkout = createHash("sha256").update(repo).digest("hex").slice(0, 12);
const outDir = join(repo, "node_modules", ".cache", `sovereign-stack-image-${checkout}`);
let compiled: string | undefined;

/** The compiled cmd/operator.js; compiles the tree the first time it is asked for in a run. */
export function compiledOperatorEntry(): string {
  if (compiled) return compiled;
  const tsc = join(repo, "node_modules", "typescript", "bin", "tsc");
  execFileSync(process.execPath, [tsc, "-p", join(repo, "tsconfig.image.json"), "--outDir", outDir], {
    stdio: "inherit",
  });
  const entry = join(outDir, "cmd", "operator.js");
  if (!existsSync(entry)) throw new Error(`compiling the operator left no ${entry}`);
  compiled = entry;
  return entry;
}
