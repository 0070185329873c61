// The real-run tests: the same real control plane as the integration tests, and the project's
// Python venv (torch, ray), installed on first use as `npm run tools` builds the binaries.
import type { TestProject } from "vitest/node";
import { ensurePythonVenv } from "../../cli/dev/local-runs.ts";
import startControlPlane from "../integration/global-setup.ts";

declare module "vitest" {
  export interface ProvidedContext {
    pythonVenv: string;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const started = Date.now();
  const venv = await ensurePythonVenv((line) => process.stderr.write(`${line}\n`));
  process.stderr.write(`python venv ready in ${((Date.now() - started) / 1000).toFixed(1)} s (${venv})\n`);
  project.provide("pythonVenv", venv);
  return startControlPlane(project);
}
