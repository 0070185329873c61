// One real control plane for the whole integration run: built tools, etcd, kube-apiserver,
// kube-controller-manager, kube-scheduler and kwok with the default simulated pools, and
// the project's CRDs installed. Each test works in a namespace of its own.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { TestProject } from "vitest/node";
import { installCrds, waitForNodesReady } from "../../cli/dev/cluster-setup.ts";
import { startControlPlane } from "../../cli/dev/control-plane.ts";
import { buildProgressPrinter } from "../../cli/dev/progress.ts";
import { defaultPreset } from "../../cli/dev/simulated-nodes.ts";
import { ensureTools } from "../../cli/dev/tools.ts";

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  await ensureTools(buildProgressPrinter());
  const dir = await mkdtemp(join(tmpdir(), "sovereign-it-"));
  const started = Date.now();
  const cp = await startControlPlane({ dir, nodes: defaultPreset });
  let stopped = false;
  const teardown = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    await cp.stop();
    await rm(dir, { recursive: true, force: true });
  };
  try {
    await waitForNodesReady(
      cp.kubeconfigPath,
      defaultPreset.reduce((n, p) => n + p.nodes, 0),
    );
    await installCrds(cp.kubeconfigPath);
  } catch (error) {
    await teardown();
    throw error;
  }
  process.stderr.write(`control plane ready in ${((Date.now() - started) / 1000).toFixed(1)} s (${dir})\n`);
  project.provide("kubeconfigPath", cp.kubeconfigPath);
  return teardown;
}
