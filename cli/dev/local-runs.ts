// `stackctl dev --run-local`: the pods the operator places on the dev cluster's CPU pool run as
// themselves, as local processes (the pod runner's local-pods.ts), with the project's Python
// venv (torch, ray) on their PATH. What that adds to the dev cluster lives here: the venv, the
// pod runner's arguments, and an AcceleratorPool over the CPU nodes so workloads can be placed
// there (a CPU-only pool: vendor "other" with a device resource that no node advertises).
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { CliError } from "../errors.ts";
import { packageFile } from "../package-paths.ts";
import { poolLabel } from "./simulated-nodes.ts";

/** The simulated pool whose pods run locally. */
export const localRunPool = "cpu";

/** Installs the project's Python venv if needed (minutes the first time) and returns its path. */
export async function ensurePythonVenv(say: (line: string) => void): Promise<string> {
  const script = packageFile("hack/python/venv.sh");
  if (!existsSync(script))
    throw new CliError(`local runs need ${script} (run from a checkout of the project)`);
  say("preparing the Python venv for local runs (torch, ray; a few minutes the first time)");
  const { stdout } = await promisify(execFile)("bash", [script], { maxBuffer: 16 * 1024 * 1024 });
  const venv = stdout.trim().split("\n").at(-1) ?? "";
  if (!venv) throw new CliError("hack/python/venv.sh printed no venv path");
  return venv;
}

/** What the pod runner needs to run the CPU pool's pods: the pool, the venv, the working directory. */
export const podRunnerArgs = (venv: string, workdir: string): string[] => [
  `--run-local-pools=${localRunPool}`,
  `--path-prefix=${join(venv, "bin")}`,
  `--workdir=${workdir}`,
];

/** The AcceleratorPool over the CPU nodes, as YAML for `kubectl apply`. */
export const cpuPoolYaml = (): string =>
  [
    "apiVersion: stack.sovereign.dev/v1alpha1",
    "kind: AcceleratorPool",
    `metadata: {name: ${localRunPool}}`,
    "spec:",
    "  vendor: other",
    "  model: cpu",
    "  memoryGiB: 1",
    "  resourceName: sovereign.dev/cpu-only",
    `  nodeSelector: {matchLabels: {${poolLabel}: ${localRunPool}}}`,
    "",
  ].join("\n");
