// `stackctl dev --run-local` end to end, as a person runs it: the dev cluster in the foreground,
// a TrainingJob on its cpu pool run by real torchrun in the working directory stackctl was
// started in, a pod nobody labelled and one on a GPU node left alone, and after Ctrl-C no
// process of any pod left (looked up with ps).
import { execFile, spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { expect, it } from "vitest";
import { markedProcesses } from "../../cli/dev/pod-runner/container-processes.ts";
import { toolPath } from "../../cli/dev/tools.ts";
import { repoRoot } from "../../crds/generate.ts";
import { eventually } from "../support/cluster.ts";

const run = promisify(execFile);

const manifests = (hold: string, evil: string) => `
apiVersion: stack.sovereign.dev/v1alpha1
kind: TrainingJob
metadata: {name: tiny, namespace: default}
spec:
  image: ghcr.io/acme/train:1.0
  command: [python, tests/real/ddp_allreduce.py]
  nodes: 2
  procsPerNode: 2
  accelerators: {count: 0, pools: [cpu]}
  resources: {cpu: "2", memory: 2Gi}
  env: [{name: HOLD_FILE, value: ${hold}}]
---
apiVersion: v1
kind: Pod
metadata: {name: unlabelled, namespace: default}
spec:
  nodeName: cpu-1
  containers: [{name: c, image: busybox, command: [sh, -c, "touch ${evil}-unlabelled; sleep 600"]}]
---
apiVersion: v1
kind: Pod
metadata: {name: on-gpu, namespace: default, labels: {stack.sovereign.dev/kind: trainingjob}}
spec:
  nodeName: h100-0
  containers: [{name: c, image: busybox, command: [sh, -c, "touch ${evil}-gpu; sleep 600"]}]
`;

it("runs a real training job on the cpu pool, nothing else, and leaves no process after Ctrl-C", async () => {
  const state = mkdtempSync(join(tmpdir(), "dev-run-local-"));
  const hold = join(state, "hold");
  const evil = join(state, "ran");
  const env = { ...process.env, XDG_STATE_HOME: state };
  const dev = spawn(process.execPath, ["cli/stackctl.ts", "dev", "--run-local", "--no-demo"], {
    cwd: repoRoot,
    env,
    stdio: ["ignore", "pipe", "inherit"],
  });
  let out = "";
  dev.stdout?.on("data", (chunk: Buffer) => {
    out += chunk.toString();
  });
  const exited = new Promise<number | null>((resolve) => dev.once("exit", resolve));
  const podsDir = join(state, "sovereign-stack", "dev", "pods");
  try {
    const kubeconfig = await eventually(
      async () => /export KUBECONFIG=(\S+)/.exec(out)?.[1],
      300_000,
      `stackctl dev's export line (output so far: ${out.slice(-500)})`,
    );
    await eventually(async () => (out.includes("press Ctrl-C") ? true : undefined), 120_000, "the operator");
    const kubectl = (...args: string[]) =>
      run(toolPath("kubectl"), args, { env: { ...env, KUBECONFIG: kubeconfig } });
    const file = join(state, "manifests.yaml");
    writeFileSync(file, manifests(hold, evil));
    writeFileSync(hold, "");
    await kubectl("apply", "-f", file);

    const log = (rank: number) => {
      const path = join(podsDir, "logs", `default_tiny-0-${rank}_trainer.log`);
      return existsSync(path) ? readFileSync(path, "utf8") : "";
    };
    const results = await eventually(
      async () => {
        const lines = [0, 1].flatMap((r) => log(r).split("\n")).filter((l) => l.startsWith("RESULT "));
        return lines.length === 4 ? lines.map((l) => JSON.parse(l.slice(7)) as { sum: number }) : undefined;
      },
      240_000,
      "every rank of tiny printing its result",
    );
    expect(results.map((r) => r.sum)).toEqual([10, 10, 10, 10]);
    // The ranks hold: their processes are there, under the dev cluster's pod runner.
    expect(markedProcesses(`${podsDir}|default/tiny-0-`).length).toBeGreaterThanOrEqual(6);
    // Both other pods were Running (kwok) all the while, and their commands never ran.
    const phases = await kubectl(
      "get",
      "pod",
      "unlabelled",
      "on-gpu",
      "-o",
      "jsonpath={.items[*].status.phase}",
    );
    expect(phases.stdout).toBe("Running Running");
    expect(existsSync(`${evil}-unlabelled`)).toBe(false);
    expect(existsSync(`${evil}-gpu`)).toBe(false);

    dev.kill("SIGINT");
    expect(await exited).toBe(0);
    const { stdout: ps } = await run("ps", ["-eo", "pid,args"]);
    expect(
      ps.split("\n").filter((l) => l.includes("tests/real/ddp_allreduce.py") || l.includes(podsDir)),
    ).toEqual([]);
    expect(markedProcesses(`${podsDir}|`)).toEqual([]);
  } finally {
    if (dev.exitCode === null) {
      dev.kill("SIGINT");
      await exited;
    }
    rmSync(state, { recursive: true, force: true });
  }
});
