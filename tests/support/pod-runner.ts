// The dev cluster's pod runner (its kubelet stand-in, cli/dev/pod-runner/) as a test starts it:
// limited to the test's namespace, with a directory of its own for logs and pid files, stopped
// and cleaned up after. Engines, routers and Ray heads of that namespace's pods run as local
// processes at the pods' IPs; with --run-local pools, their other pods too.
import { type ChildProcess, spawn } from "node:child_process";
import { openSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { repoRoot } from "../../crds/generate.ts";
import { kubeconfigPath } from "./cluster.ts";

export interface PodRunner {
  /** Where it writes each program's log (logs/<namespace>_<pod>_<container>.log). */
  dir: string;
  stop(): Promise<void>;
}

/** `stdout: "inherit"` shows the runner's own lines in the test's output; else runner.log in its dir. */
export async function startPodRunner(
  namespace: string,
  extraArgs: string[] = [],
  stdout: "log" | "inherit" = "log",
): Promise<PodRunner> {
  const dir = await mkdtemp(join(tmpdir(), "pod-runner-"));
  const runner: ChildProcess = spawn(
    process.execPath,
    [
      join(repoRoot, "cli/dev/pod-runner/main.ts"),
      `--kubeconfig=${kubeconfigPath()}`,
      `--dir=${dir}`,
      `--namespace=${namespace}`,
      ...extraArgs,
    ],
    {
      stdio: ["ignore", stdout === "inherit" ? "inherit" : openSync(join(dir, "runner.log"), "a"), "inherit"],
    },
  );
  return {
    dir,
    async stop() {
      if (runner.exitCode === null) {
        const gone = new Promise((r) => runner.once("exit", r));
        runner.kill("SIGTERM");
        await gone;
      }
      // POD_RUNNER_KEEP=1 keeps the programs' logs of a failing test.
      if (process.env.POD_RUNNER_KEEP) process.stderr.write(`pod runner logs kept in ${dir}\n`);
      else await rm(dir, { recursive: true, force: true });
    },
  };
}
