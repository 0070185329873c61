// The real-run tests: the same real control plane as the integration tests, and the project's
// Python venv (torch, ray), installed on first use as `npm run tools` builds the binaries.
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import type { TestProject } from "vitest/node";
import { repoRoot } from "../../crds/generate.ts";
import startControlPlane from "../integration/global-setup.ts";

declare module "vitest" {
  export interface ProvidedContext {
    pythonVenv: string;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const started = Date.now();
  const { stdout } = await promisify(execFile)("bash", [`${repoRoot}/hack/python/venv.sh`], {
    maxBuffer: 16 * 1024 * 1024,
  });
  const venv = stdout.trim().split("\n").at(-1) ?? "";
  process.stderr.write(`python venv ready in ${((Date.now() - started) / 1000).toFixed(1)} s (${venv})\n`);
  project.provide("pythonVenv", venv);
  return startControlPlane(project);
}
