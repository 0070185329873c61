// Steps after the control plane is up: waiting for the simulated nodes, installing the CRDs,
// creating the simulated storage.

import { execFile } from "node:child_process";
import { readdirSync } from "node:fs";
import { promisify } from "node:util";
import * as k8s from "@kubernetes/client-node";
import { packageFile } from "../package-paths.ts";
import { simulatedStorage } from "./simulated-storage.ts";
import { toolPath } from "./tools.ts";

const run = promisify(execFile);
export const crdsDir = packageFile("crds");

export async function waitForNodesReady(
  kubeconfig: string,
  count: number,
  timeoutMs = 60_000,
): Promise<void> {
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(kubeconfig);
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const deadline = Date.now() + timeoutMs;
  let ready = 0;
  while (Date.now() < deadline) {
    const nodes = await core.listNode();
    ready = nodes.items.filter((n) =>
      n.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True"),
    ).length;
    if (ready >= count) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`only ${ready} of ${count} simulated nodes became Ready (is kwok running?)`);
}

/** Server-side applies the generated CRDs and waits until the API server serves them. */
export async function installCrds(kubeconfig: string): Promise<void> {
  if (!readdirSync(crdsDir).some((f) => f.endsWith(".yaml"))) return;
  const env = { ...process.env, KUBECONFIG: kubeconfig };
  await run(
    toolPath("kubectl"),
    ["apply", "--server-side", "--force-conflicts", "--field-manager=sovereign-stack", "-f", crdsDir],
    { env },
  );
  await run(toolPath("kubectl"), ["wait", "--for=condition=Established", "--timeout=60s", "-f", crdsDir], {
    env,
  });
}

/** Creates the default StorageClass and its static volumes (see simulated-storage.ts). */
export async function createSimulatedStorage(kubeconfig: string): Promise<void> {
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(kubeconfig);
  const client = k8s.KubernetesObjectApi.makeApiClient(kc);
  for (const object of simulatedStorage()) await client.create(object as k8s.KubernetesObject);
}
