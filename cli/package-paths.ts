// Where this package's own files are, whether it runs from the repository (Node strips the
// types of cli/**/*.ts) or installed from npm (compiled to dist/**/*.js inside node_modules).
// Data files (crds/, hack/, samples/, cli/dev/demo-stack.yaml) sit at the package root either
// way; a module started as its own process has the running file's extension, under dist/ when
// compiled.
import { existsSync, readFileSync } from "node:fs";
import { dirname, extname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = fileURLToPath(import.meta.url);
const compiled = extname(here) === ".js";

function findPackageRoot(): string {
  let dir = dirname(here);
  for (;;) {
    const manifest = join(dir, "package.json");
    if (existsSync(manifest) && JSON.parse(readFileSync(manifest, "utf8")).name === "sovereign-stack")
      return dir;
    const parent = dirname(dir);
    if (parent === dir) throw new Error("cannot find the sovereign-stack package root");
    dir = parent;
  }
}

/** The directory with this package's package.json: the repository, or the installed package. */
export const packageRoot = findPackageRoot();

/** A file shipped as is (YAML, go.mod), by its path from the package root. */
export const packageFile = (path: string): string => join(packageRoot, path);

/** A module to run as a process, by its source path ("cmd/operator.ts"): the .js under dist/ when compiled. */
export const packageModule = (sourcePath: string): string =>
  compiled ? join(packageRoot, "dist", sourcePath.replace(/\.ts$/, ".js")) : join(packageRoot, sourcePath);
