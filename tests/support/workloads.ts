// Setup shared by the workload controller tests on the shared control plane: the sample pools
// (cluster-wide, so created if absent and never deleted), a manager that reconciles only the
// test's namespace, and the history of phases an object went through.
import { readFileSync } from "node:fs";
import type * as k8s from "@kubernetes/client-node";
import { load } from "js-yaml";
import { type SimulatedPool, simulatedNodes } from "../../cli/dev/simulated-nodes.ts";
import { isNodeReady, type NodeLike } from "../../controllers/admission/cluster-view.ts";
import { resourceTypes } from "../../controllers/resources.ts";
import {
  builtin,
  createLogger,
  isAlreadyExists,
  type KubeClient,
  type KubeObject,
  Manager,
  type ResourceType,
  silentLogger,
} from "../../operator/index.ts";
import { eventually } from "./cluster.ts";

/** Creates samples/acceleratorpool-NAME.yaml for each name, unless that pool exists already. */
export async function ensureSamplePools(client: KubeClient, names: readonly string[]): Promise<void> {
  for (const name of names) {
    const pool = load(
      readFileSync(new URL(`../../samples/acceleratorpool-${name}.yaml`, import.meta.url), "utf8"),
    ) as KubeObject;
    await client.create(resourceTypes.acceleratorPool, pool).catch((e) => {
      if (!isAlreadyExists(e)) throw e;
    });
  }
}

/** The taint on a test file's own nodes; only pods placed on that file's pools tolerate it. */
export const dedicatedTaintKey = "sovereign.dev/dedicated";

/**
 * A test file's own pools: their simulated nodes, tainted `dedicatedTaintKey=<pool>`, and an
 * AcceleratorPool each whose pods tolerate that taint, so no other file's workload lands there.
 * Returns once kwok has made every node Ready: the admitter places nothing on a node that is not,
 * so a test that creates a workload at once would otherwise find only the pools whose nodes won
 * that race (a loaded CI machine once put a group that prefers NVIDIA on its AMD pool).
 */
export async function createDedicatedPools(
  client: KubeClient,
  pools: readonly SimulatedPool[],
): Promise<void> {
  for (const pool of pools) {
    const taint = { key: dedicatedTaintKey, value: pool.name, effect: "NoSchedule" as const };
    const tainted = { ...pool, taints: [...(pool.taints ?? []), taint] };
    for (const body of simulatedNodes(tainted)) await client.create(builtin.nodes, body as KubeObject);
    // A CPU-only pool still needs an AcceleratorPool to place workloads on: vendor "other" with
    // a device resource no node advertises, so its pods ask for CPU and memory only.
    const acc = pool.accelerator;
    await client.create(resourceTypes.acceleratorPool, {
      apiVersion: resourceTypes.acceleratorPool.apiVersion,
      kind: "AcceleratorPool",
      metadata: { name: pool.name },
      spec: {
        vendor: acc?.vendor ?? "other",
        model: acc?.model ?? "cpu",
        memoryGiB: acc?.memoryGiB ?? 1,
        ...(acc ? {} : { resourceName: "sovereign.dev/cpu-only" }),
        nodeSelector: { matchLabels: { "sovereign.dev/pool": pool.name } },
        tolerations: [{ key: dedicatedTaintKey, operator: "Equal", value: pool.name, effect: "NoSchedule" }],
      },
    });
  }
  const names = new Set(pools.flatMap((pool) => simulatedNodes(pool).map((n) => n.metadata?.name ?? "")));
  await eventually(
    async () => {
      const { items } = await client.list<NodeLike>(builtin.nodes);
      return items.filter((n) => names.has(n.metadata.name ?? "") && isNodeReady(n)).length === names.size
        ? true
        : undefined;
    },
    60_000,
    `the ${names.size} nodes of ${pools.map((p) => p.name).join(", ")} Ready`,
  );
}

export async function deleteDedicatedPools(
  client: KubeClient,
  pools: readonly SimulatedPool[],
): Promise<void> {
  for (const pool of pools) {
    await client.delete(resourceTypes.acceleratorPool, pool.name).catch(() => {});
    for (const node of simulatedNodes(pool))
      await client.delete(builtin.nodes, node.metadata?.name ?? "").catch(() => {});
  }
}

/**
 * A manager for one test namespace with the health probe off; `logEnv` names the environment
 * variable that turns on its debug log (ISVC_TEST_LOG=1 ...), for a failing test's story.
 */
export function namespaceManager(
  kubeConfig: k8s.KubeConfig,
  namespace: string,
  options: { logEnv: string; metricsBindAddress?: string },
): Manager {
  return new Manager({
    kubeConfig,
    namespaces: [namespace],
    metricsBindAddress: options.metricsBindAddress ?? "0",
    healthProbeBindAddress: "0",
    log: process.env[options.logEnv] ? createLogger({ level: "debug" }) : silentLogger,
  });
}

/** Records, per object name, each phase its status showed (from the manager's own watch). */
export function trackPhases(manager: Manager, rt: ResourceType): Map<string, string[]> {
  const phases = new Map<string, string[]>();
  const track = (obj: KubeObject): void => {
    const phase = (obj as { status?: { phase?: string } }).status?.phase;
    const name = obj.metadata.name ?? "";
    const seen = phases.get(name) ?? [];
    if (phase && seen.at(-1) !== phase) seen.push(phase);
    phases.set(name, seen);
  };
  manager.informer(rt).addHandler({ onAdd: track, onUpdate: (_old, obj) => track(obj) });
  return phases;
}
