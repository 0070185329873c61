// `stackctl dev`: the local simulated cluster. `up` leaves it running in the background,
// `down` removes it, `status` shows it; plain `dev` (what `npm run dev` runs) brings it up in
// the foreground and stops everything on Ctrl-C.
import { execFile } from "node:child_process";
import { readdirSync } from "node:fs";
import { rm, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { promisify } from "node:util";
import * as k8s from "@kubernetes/client-node";
import type { Command } from "commander";
import { createSimulatedStorage, installCrds, waitForNodesReady } from "../dev/cluster-setup.ts";
import { type ControlPlane, startControlPlane } from "../dev/control-plane.ts";
import { isWorkloadReady, renderSnapshot, snapshot } from "../dev/live-view.ts";
import * as localRuns from "../dev/local-runs.ts";
import { buildProgressPrinter } from "../dev/progress.ts";
import { defaultPreset, poolLabel } from "../dev/simulated-nodes.ts";
import { devClusterDir, isAlive, readSupervisorState, runningDevCluster } from "../dev/state.ts";
import { ensureTools, toolPath } from "../dev/tools.ts";
import { CliError } from "../errors.ts";
import { labels } from "../labels.ts";
import { packageFile } from "../package-paths.ts";

const run = promisify(execFile);
const samplesDir = packageFile("samples");
const demoStack = packageFile("cli/dev/demo-stack.yaml");
const poolSamples = (): string[] =>
  readdirSync(samplesDir)
    .filter((f) => f.startsWith("acceleratorpool-") && f.endsWith(".yaml"))
    .map((f) => join(samplesDir, f));

/** The lines to paste into another terminal: kubectl (the one built with the cluster) and the kubeconfig. */
const sayExports = (kubeconfig: string): void => {
  say(`export PATH="${dirname(toolPath("kubectl"))}:$PATH"`);
  say(`export KUBECONFIG=${kubeconfig}`);
};

const say = (line: string): void => {
  process.stdout.write(`${line}\n`);
};

interface DevOptions {
  demo: boolean;
  runLocal?: boolean;
}

async function bringUp(detached: boolean, runLocal: boolean): Promise<ControlPlane> {
  await ensureTools(buildProgressPrinter());
  const podRunnerArgs = runLocal
    ? localRuns.podRunnerArgs(await localRuns.ensurePythonVenv(say), process.cwd())
    : [];
  const dir = devClusterDir();
  await rm(dir, { recursive: true, force: true });
  say(`starting etcd, kube-apiserver, kube-controller-manager, kube-scheduler and kwok in ${dir}`);
  const started = Date.now();
  const cp = await startControlPlane({ dir, nodes: defaultPreset, detached, podRunnerArgs });
  try {
    await waitForNodesReady(
      cp.kubeconfigPath,
      defaultPreset.reduce((n, p) => n + p.nodes, 0),
    );
    await installCrds(cp.kubeconfigPath);
    await createSimulatedStorage(cp.kubeconfigPath);
  } catch (error) {
    await cp.stop();
    throw error;
  }
  say(`cluster ready in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  return cp;
}

/** One line per simulated pool: nodes, ready nodes, devices. */
export async function poolSummary(kubeconfig: string): Promise<string[]> {
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(kubeconfig);
  const nodes = (await kc.makeApiClient(k8s.CoreV1Api).listNode()).items;
  const pools = new Map<
    string,
    { nodes: number; ready: number; devices: number; resource: string; product: string }
  >();
  for (const node of nodes) {
    const name = node.metadata?.labels?.[poolLabel] ?? "(none)";
    const entry = pools.get(name) ?? { nodes: 0, ready: 0, devices: 0, resource: "", product: "" };
    entry.nodes++;
    if (node.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True")) entry.ready++;
    for (const [resource, qty] of Object.entries(node.status?.allocatable ?? {})) {
      if (resource.includes("/")) {
        entry.resource = resource;
        entry.devices += Number(qty);
      }
    }
    const labels = node.metadata?.labels ?? {};
    entry.product =
      Object.entries(labels).find(([k]) => /gpu\.product|tpu-accelerator|gaudi\.product/.test(k))?.[1] ??
      entry.product;
    pools.set(name, entry);
  }
  const rows = [["POOL", "NODES", "READY", "DEVICES", "RESOURCE", "MODEL"]];
  for (const [name, p] of [...pools].sort(([a], [b]) => a.localeCompare(b))) {
    rows.push([
      name,
      String(p.nodes),
      String(p.ready),
      String(p.devices),
      p.resource || "-",
      p.product || "-",
    ]);
  }
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => r[i]?.length ?? 0))) ?? [];
  return rows.map((r) =>
    r
      .map((c, i) => c.padEnd(widths[i] ?? 0))
      .join("  ")
      .trimEnd(),
  );
}

/** What makes the bare cluster a stack: the AcceleratorPools, the operator, the demo workloads. */
async function populate(cp: ControlPlane, { demo, runLocal }: DevOptions): Promise<void> {
  await applyFiles(cp.kubeconfigPath, poolSamples());
  if (runLocal) {
    const file = join(cp.dir, "run-local-pool.yaml");
    await writeFile(file, localRuns.cpuPoolYaml());
    await applyFiles(cp.kubeconfigPath, [file]);
    say(
      `pods placed on the ${localRuns.localRunPool} pool run as local processes (logs: ${join(cp.dir, "pods", "logs")})`,
    );
  }
  // Before the operator, so the first engine and router pods already find it.
  await cp.startComponent("pod-runner");
  say(`starting the operator (logs: ${join(devClusterDir(), "logs", "operator.log")})`);
  await cp.startComponent("operator");
  if (demo) {
    await applyFiles(cp.kubeconfigPath, [demoStack]);
    say(
      "applied the demo stack: a TrainingJob, a RayCluster with GPU and TPU workers, an InferenceService across NVIDIA and AMD",
    );
  }
}

async function up(options: DevOptions): Promise<void> {
  const running = runningDevCluster();
  if (running) {
    say(`the dev cluster is already running (supervisor pid ${running.state.pid})`);
    for (const line of await poolSummary(running.kubeconfig)) say(line);
    sayExports(running.kubeconfig);
    return;
  }
  const cp = await bringUp(true, options.runLocal ?? false);
  try {
    await populate(cp, options);
  } catch (error) {
    await cp.stop();
    throw error;
  }
  for (const line of await poolSummary(cp.kubeconfigPath)) say(line);
  cp.detach();
  sayExports(cp.kubeconfigPath);
}

async function down(): Promise<void> {
  const dir = devClusterDir();
  const state = readSupervisorState(dir);
  const pids = state ? [state.pid, ...Object.values(state.components)] : [];
  if (state && isAlive(state.pid)) process.kill(state.pid, "SIGTERM");
  const deadline = Date.now() + 30_000;
  while (pids.some(isAlive) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  for (const pid of pids.filter(isAlive)) process.kill(pid, "SIGKILL");
  await rm(dir, { recursive: true, force: true });
  say(state ? "the dev cluster is stopped and its state removed" : "no dev cluster was running");
}

async function status(): Promise<void> {
  const dir = devClusterDir();
  const state = readSupervisorState(dir);
  const running = runningDevCluster(dir);
  if (!state || !running) throw new CliError("no dev cluster is running (start one with `stackctl dev up`)");
  say(`supervisor  pid ${state.pid}`);
  for (const [name, pid] of Object.entries(state.components))
    say(`${name.padEnd(24)}pid ${pid}  ${isAlive(pid) ? "running" : "exited"}`);
  say("");
  for (const line of await poolSummary(running.kubeconfig)) say(line);
  sayExports(running.kubeconfig);
}

/** Applies manifests with server-side apply, as `kubectl apply --server-side` would. */
async function applyFiles(kubeconfig: string, paths: string[]): Promise<void> {
  if (paths.length === 0) return;
  const args = ["apply", "--server-side", "--field-manager=stackctl-dev", ...paths.flatMap((p) => ["-f", p])];
  await run(toolPath("kubectl"), args, { env: { ...process.env, KUBECONFIG: kubeconfig } });
}

/**
 * The foreground run of `npm run dev`: the cluster, the pools, the operator and the demo stack,
 * then a live view until Ctrl-C, which stops every process this started.
 */
async function runForeground(options: DevOptions): Promise<void> {
  if (runningDevCluster()) {
    throw new CliError(
      "a dev cluster is already running in the background; stop it with `stackctl dev down`",
    );
  }
  const cp = await bringUp(false, options.runLocal ?? false);
  let stopping = false;
  const stopped = new Promise<void>((resolve) => {
    const stop = (): void => {
      if (stopping) return;
      stopping = true;
      say("\nstopping the operator and the dev cluster...");
      void cp
        .stop()
        .then(() => rm(devClusterDir(), { recursive: true, force: true }))
        .then(() => {
          say("stopped; no process left running");
          resolve();
        });
    };
    process.once("SIGINT", stop);
    process.once("SIGTERM", stop);
  });
  try {
    await populate(cp, options);
  } catch (error) {
    await cp.stop();
    throw error;
  }
  sayExports(cp.kubeconfigPath);
  say("press Ctrl-C to stop everything\n");
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(cp.kubeconfigPath);
  const tty = process.stdout.isTTY === true;
  let last = "";
  let announced = false;
  while (!stopping) {
    const view = await snapshot(kc).catch(() => undefined);
    if (view && !stopping) {
      const text = renderSnapshot(view).join("\n");
      if (tty) process.stdout.write(`\x1b[H\x1b[2J${text}\n\n(Ctrl-C stops everything)\n`);
      else if (text !== last) say(`${text}\n`);
      last = text;
      const ready = view.workloads.length > 0 && view.workloads.every((w) => isWorkloadReady(w.kind, w.obj));
      const curl = ready && !announced ? await demoCurl(kc).catch(() => undefined) : undefined;
      if (ready && !announced && (curl || !options.demo)) {
        announced = true;
        say(`all ${view.workloads.length} workloads are ready`);
        if (curl) say(`ask the demo model, streamed through its router:\n${curl}\n`);
      }
    }
    await Promise.race([stopped, new Promise((r) => setTimeout(r, 1000))]);
  }
  await stopped;
}

/**
 * A curl line for the demo InferenceService, through a ready router pod (at its loopback pod
 * address: nothing resolves cluster DNS names here), or undefined while none is ready.
 */
async function demoCurl(kc: k8s.KubeConfig): Promise<string | undefined> {
  const pods = await kc.makeApiClient(k8s.CoreV1Api).listNamespacedPod({
    namespace: "default",
    labelSelector: `${labels.name}=demo-llama,${labels.group}=router`,
  });
  const ready = pods.items.find(
    (p) => p.status?.podIP && p.status.conditions?.some((c) => c.type === "Ready" && c.status === "True"),
  );
  if (!ready) return undefined;
  // Ready in the API can run a moment ahead of the process listening: ask the router itself.
  const url = `http://${ready.status?.podIP}:8000`;
  if ((await fetch(`${url}/readyz`).catch(() => undefined))?.status !== 200) return undefined;
  const body = JSON.stringify({
    model: "llama-70b",
    stream: true,
    max_tokens: 32,
    messages: [{ role: "user", content: "Say hello from every vendor" }],
  });
  return `curl -N ${url}/v1/chat/completions -H 'content-type: application/json' -d '${body}'`;
}

export function registerDev(program: Command): void {
  const dev = program
    .command("dev")
    .description("a local simulated cluster with accelerator pools (runs in the foreground; Ctrl-C stops it)")
    .option("--no-demo", "start the cluster and the operator without the demo workloads")
    .option(
      "--run-local",
      "run the pods placed on the cpu pool as local processes (real torchrun, real Ray from the project's Python venv)",
    )
    .action((opts: DevOptions) => runForeground(opts));
  dev
    .command("up")
    .description("start the local cluster, the operator and the demo stack in the background")
    .option("--no-demo", "start the cluster and the operator without the demo workloads")
    .option("--run-local", "run the pods placed on the cpu pool as local processes")
    // Commander hands `dev up --no-demo` to dev's own --no-demo (parents see options after a
    // subcommand too), so up listens to both.
    .action((opts: DevOptions) => {
      const parent = dev.opts<DevOptions>();
      return up({ demo: opts.demo && parent.demo, runLocal: opts.runLocal || parent.runLocal });
    });
  dev.command("down").description("stop the local cluster and remove its state").action(down);
  dev.command("status").description("show the local cluster's processes and nodes").action(status);
  dev
    .command("tools")
    .description("build the control-plane binaries from pinned sources (a no-op when cached)")
    .action(async () => {
      say(await ensureTools(buildProgressPrinter()));
    });
}
