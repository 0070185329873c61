// `stackctl dev`: the local simulated cluster. `up` leaves it running in the background,
// `down` removes it, `status` shows it; plain `dev` (what `npm run dev` runs) brings it up in
// the foreground and stops everything on Ctrl-C.
import { rm } from "node:fs/promises";
import * as k8s from "@kubernetes/client-node";
import type { Command } from "commander";
import { installCrds, waitForNodesReady } from "../dev/cluster-setup.ts";
import { type ControlPlane, startControlPlane } from "../dev/control-plane.ts";
import { buildProgressPrinter } from "../dev/progress.ts";
import { defaultPreset, poolLabel } from "../dev/simulated-nodes.ts";
import { devClusterDir, isAlive, readSupervisorState, runningDevCluster } from "../dev/state.ts";
import { ensureTools } from "../dev/tools.ts";
import { CliError } from "../errors.ts";

const say = (line: string): void => {
  process.stdout.write(`${line}\n`);
};

async function bringUp(detached: boolean): Promise<ControlPlane> {
  await ensureTools(buildProgressPrinter());
  const dir = devClusterDir();
  await rm(dir, { recursive: true, force: true });
  say(`starting etcd, kube-apiserver, kube-controller-manager, kube-scheduler and kwok in ${dir}`);
  const started = Date.now();
  const cp = await startControlPlane({ dir, nodes: defaultPreset, detached });
  try {
    await waitForNodesReady(
      cp.kubeconfigPath,
      defaultPreset.reduce((n, p) => n + p.nodes, 0),
    );
    await installCrds(cp.kubeconfigPath);
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

async function up(): Promise<void> {
  const running = runningDevCluster();
  if (running) {
    say(`the dev cluster is already running (supervisor pid ${running.state.pid})`);
    for (const line of await poolSummary(running.kubeconfig)) say(line);
    say(`export KUBECONFIG=${running.kubeconfig}`);
    return;
  }
  const cp = await bringUp(true);
  for (const line of await poolSummary(cp.kubeconfigPath)) say(line);
  cp.detach();
  say(`export KUBECONFIG=${cp.kubeconfigPath}`);
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
  say(`export KUBECONFIG=${running.kubeconfig}`);
}

/** The foreground run of `npm run dev`: up, show the pools, stop everything on Ctrl-C. */
async function runForeground(): Promise<void> {
  if (runningDevCluster())
    throw new CliError(
      "a dev cluster is already running in the background; stop it with `stackctl dev down`",
    );
  const cp = await bringUp(false);
  for (const line of await poolSummary(cp.kubeconfigPath)) say(line);
  say(`export KUBECONFIG=${cp.kubeconfigPath}`);
  say("press Ctrl-C to stop the cluster");
  await new Promise<void>((resolve) => {
    const stop = (): void => {
      say("\nstopping the dev cluster...");
      void cp
        .stop()
        .then(() => rm(devClusterDir(), { recursive: true, force: true }))
        .then(resolve);
    };
    process.once("SIGINT", stop);
    process.once("SIGTERM", stop);
  });
}

export function registerDev(program: Command): void {
  const dev = program
    .command("dev")
    .description("a local simulated cluster with accelerator pools (runs in the foreground; Ctrl-C stops it)")
    .action(runForeground);
  dev.command("up").description("start the local cluster in the background").action(up);
  dev.command("down").description("stop the local cluster and remove its state").action(down);
  dev.command("status").description("show the local cluster's processes and nodes").action(status);
  dev
    .command("tools")
    .description("build the control-plane binaries from pinned sources (a no-op when cached)")
    .action(async () => {
      say(await ensureTools(buildProgressPrinter()));
    });
}
