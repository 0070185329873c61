// The dev cluster's pod runner (cli/dev/pod-runner/) as a test starts it: limited to the test's
// namespace, with a directory of its own for logs and pid files, stopped and cleaned up after.
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { repoRoot } from "../../crds/generate.ts";
import { kubeconfigPath } from "./cluster.ts";

export interface TestPodRunner {
  dir: string;
  stop(): Promise<void>;
}

export async function startPodRunner(
  namespace: string,
  extraArgs: string[] = [],
  stdout: "ignore" | "inherit" = "ignore",
): Promise<TestPodRunner> {
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
    { stdio: ["ignore", stdout, "inherit"] },
  );
  return {
    dir,
    async stop() {
      if (runner.exitCode === null) {
        const gone = new Promise((r) => runner.once("exit", r));
        runner.kill("SIGTERM");
        await gone;
      }
      await rm(dir, { recursive: true, force: true });
    },
  };
}
