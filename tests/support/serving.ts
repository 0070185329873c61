// A serving testbed on the shared control plane: two pools of the test file's own tainted
// nodes (NVIDIA and AMD), a namespace, the InferenceService controller, and the pod runner
// (the dev cluster's kubelet stand-in) limited to that namespace, which runs the engine
// simulator for each engine pod and the router as itself.
import { randomBytes } from "node:crypto";
import * as k8s from "@kubernetes/client-node";
import type { SimulatedPool } from "../../cli/dev/simulated-nodes.ts";
import { Admitter } from "../../controllers/admission/index.ts";
import { inferenceServiceControllerWith } from "../../controllers/inferenceservice/index.ts";
import { labels } from "../../crds/index.ts";
import { builtin, KubeClient, type KubeObject, type Manager } from "../../operator/index.ts";
import { eventually, loadKubeConfig, type TestNamespace, testNamespace } from "./cluster.ts";
import { startPodRunner } from "./pod-runner.ts";
import { createDedicatedPools, deleteDedicatedPools, namespaceManager } from "./workloads.ts";

export type Pod = KubeObject & {
  status?: { podIP?: string; conditions?: { type: string; status: string }[] };
};

export const isReady = (p: Pod): boolean =>
  p.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True") ?? false;

export interface ServingTestbed {
  ns: TestNamespace;
  client: KubeClient;
  core: k8s.CoreV1Api;
  manager: Manager;
  /** The pools, NVIDIA first, each of `nodesPerPool` nodes with `devicesPerNode` devices. */
  pools: SimulatedPool[];
  /** The service's pods of one group. */
  podsOf(service: string, group: "server" | "router" | "worker"): Promise<Pod[]>;
  /** The base URL of a ready router pod of `service`, once there is one. */
  routerUrl(service: string, timeoutMs?: number): Promise<string>;
  stop(): Promise<void>;
}

export async function startServingTestbed(
  prefix: string,
  devicesPerNode = 2,
  nodesPerPool = 1,
): Promise<ServingTestbed> {
  const kc = loadKubeConfig();
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const client = new KubeClient({ kubeConfig: kc });
  const suffix = randomBytes(3).toString("hex");
  const pool = (name: string, vendor: "nvidia" | "amd", model: string, memoryGiB: number): SimulatedPool => ({
    name,
    nodes: nodesPerPool,
    accelerator: { vendor, model, devicesPerNode, memoryGiB },
    cpu: "64",
    memory: "512Gi",
  });
  const pools = [
    pool(`${prefix}-nv-${suffix}`, "nvidia", "NVIDIA-H100-80GB-HBM3", 80),
    pool(`${prefix}-amd-${suffix}`, "amd", "MI300X", 192),
  ];
  const ns = await testNamespace(prefix, kc);
  await createDedicatedPools(client, pools);
  const runner = await startPodRunner(ns.name);
  const manager = namespaceManager(kc, ns.name, { logEnv: "SERVING_TEST_LOG" });
  manager.add(inferenceServiceControllerWith(new Admitter(manager)));
  await manager.start();
  await manager.waitForCacheSync();

  const podsOf = async (service: string, group: "server" | "router" | "worker"): Promise<Pod[]> =>
    (
      await client.list<Pod>(builtin.pods, {
        namespace: ns.name,
        query: { labelSelector: `${labels.name}=${service},${labels.group}=${group}` },
      })
    ).items;

  return {
    ns,
    client,
    core,
    manager,
    pools,
    podsOf,
    async routerUrl(service, timeoutMs = 120_000) {
      const [router] = await eventually(
        async () => {
          const ready = (await podsOf(service, "router")).filter(isReady);
          return ready.length > 0 ? ready : undefined;
        },
        timeoutMs,
        `a ready router of ${service}`,
      );
      // Ready in the API can run a moment ahead of the process listening (kwok marks a pod
      // ready as it starts; the pod runner's probe takes that back): wait for it to answer.
      const url = `http://${router?.status?.podIP}:8000`;
      await eventually(
        async () => ((await fetch(`${url}/readyz`)).status === 200 ? true : undefined),
        timeoutMs,
        `the router of ${service} answering`,
      );
      return url;
    },
    async stop() {
      await manager.stop();
      await runner.stop();
      await ns[Symbol.asyncDispose]();
      await deleteDedicatedPools(client, pools);
      await client.close();
    },
  };
}

/** One series' sum of an engine's /metrics (all label sets). */
export async function engineMetric(pod: Pod, metric: string): Promise<number> {
  const text = await (await fetch(`http://${pod.status?.podIP}:8000/metrics`)).text();
  let sum = 0;
  for (const line of text.split("\n")) {
    if (line.startsWith(`${metric}{`) || line.startsWith(`${metric} `)) sum += Number(line.split(" ").at(-1));
  }
  return sum;
}
