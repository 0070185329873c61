// What the real-run tests share: a namespace on the shared control plane, pools of the file's
// own tainted simulated nodes, the controllers under test in a manager for that namespace, and
// the pod runner with those pools run locally: every pod the controllers place there runs as
// itself (its command, args and environment), with the project's Python venv on its PATH.
import { randomBytes } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { inject } from "vitest";
import type { SimulatedPool } from "../../cli/dev/simulated-nodes.ts";
import { acceleratorPoolController } from "../../controllers/acceleratorpool/index.ts";
import { repoRoot } from "../../crds/generate.ts";
import { labels } from "../../crds/index.ts";
import { builtin, KubeClient, type KubeObject, type Manager } from "../../operator/index.ts";
import { eventually, loadKubeConfig, testNamespace } from "../support/cluster.ts";
import { startPodRunner } from "../support/pod-runner.ts";
import {
  createDedicatedPools,
  dedicatedTaintKey,
  deleteDedicatedPools,
  namespaceManager,
} from "../support/workloads.ts";

export type Pod = KubeObject & {
  spec: { nodeName?: string; containers: { name: string; command?: string[]; args?: string[] }[] };
  status?: { phase?: string; podIP?: string };
};

export interface RealTestbed {
  ns: string;
  client: KubeClient;
  manager: Manager;
  /** The pool names, in the order given. */
  pools: string[];
  /** Tolerations for the file's pools (their nodes are tainted). */
  tolerations: { key: string; operator: "Equal"; value: string; effect: "NoSchedule" }[];
  /** The pod runner's directory: logs/<ns>_<pod>_<container>.log, pids/<same>.pid. */
  runnerDir: string;
  venv: string;
  pods(selector: string): Promise<Pod[]>;
  /** What a container printed so far. */
  log(pod: string, container: string): string;
  /** The pid of a running container's main process (its process group), once it has one. */
  pid(pod: string, container: string): Promise<number>;
  stop(): Promise<void>;
}

/** A pool of `nodes` simulated nodes with the given devices (none: CPU only), tainted for this file. */
export const pool = (
  name: string,
  nodes: number,
  accelerator?: SimulatedPool["accelerator"],
): SimulatedPool => ({
  name,
  nodes,
  ...(accelerator ? { accelerator } : {}),
  cpu: "16",
  memory: "64Gi",
});

/**
 * `sharedPools`: pools of the shared cluster (by name, such as the default preset's "cpu") whose
 * nodes also run this file's pods locally, for pods that no pool places (a Ray head).
 */
export async function startRealTestbed(
  prefix: string,
  pools: SimulatedPool[],
  addControllers: (manager: Manager) => void,
  sharedPools: string[] = [],
): Promise<RealTestbed> {
  const kc = loadKubeConfig();
  const client = new KubeClient({ kubeConfig: kc });
  const suffix = randomBytes(3).toString("hex");
  const named = pools.map((p) => pool(`${p.name}-${suffix}`, p.nodes, p.accelerator));
  await createDedicatedPools(client, named);
  const namespace = await testNamespace(prefix, kc);
  const ns = namespace.name;
  const venv = inject("pythonVenv");
  const runner = await startPodRunner(
    ns,
    [
      `--run-local-pools=${[...named.map((p) => p.name), ...sharedPools].join(",")}`,
      `--path-prefix=${join(venv, "bin")}`,
      `--workdir=${repoRoot}`,
    ],
    process.env.REAL_TEST_LOG ? "inherit" : "log",
  );
  const runnerDir = runner.dir;
  const manager = namespaceManager(kc, ns, { logEnv: "REAL_TEST_LOG" });
  manager.add(acceleratorPoolController);
  addControllers(manager);
  await manager.start();
  await manager.waitForCacheSync();

  const file = (pod: string, container: string, kind: "logs" | "pids", ext: string) =>
    join(runnerDir, kind, `${ns}_${pod}_${container}.${ext}`);
  return {
    ns,
    client,
    manager,
    pools: named.map((p) => p.name),
    tolerations: named.map((p) => ({
      key: dedicatedTaintKey,
      operator: "Equal" as const,
      value: p.name,
      effect: "NoSchedule" as const,
    })),
    runnerDir,
    venv,
    pods: async (selector) =>
      (
        await client.list<Pod>(builtin.pods, { namespace: ns, query: { labelSelector: selector } })
      ).items.sort((a, b) => (a.metadata.name ?? "").localeCompare(b.metadata.name ?? "")),
    log: (pod, container) => {
      const path = file(pod, container, "logs", "log");
      return existsSync(path) ? readFileSync(path, "utf8") : "";
    },
    pid: (pod, container) =>
      eventually(
        async () => {
          const path = file(pod, container, "pids", "pid");
          return existsSync(path) ? Number(readFileSync(path, "utf8")) || undefined : undefined;
        },
        60_000,
        `a process for ${pod}/${container}`,
      ),
    async stop() {
      await manager.stop();
      await runner.stop();
      await namespace[Symbol.asyncDispose]();
      await deleteDedicatedPools(client, named);
      await client.close();
    },
  };
}

/** The label selector of a workload's pods. */
export const podsOf = (kind: string, name: string): string => `${labels.kind}=${kind},${labels.name}=${name}`;

/** Ray's object store small enough for a few Ray nodes on one machine. */
export const smallObjectStore = { "object-store-memory": "78643200" };

/** Ports of a real Ray head: each file its own, since a Ray another file ran may linger. */
export interface RealHeadPorts {
  gcs: number;
  dashboard: number;
  client: number;
  metrics: number;
}

/** The head of a RayCluster run by real Ray, offering `cpus` CPUs to tasks (0: workers only). */
export const realRayHead = (ports: RealHeadPorts, cpus: number) => ({
  resources: { cpu: "1", memory: "1Gi" },
  rayStartParams: {
    ...smallObjectStore,
    "num-cpus": String(cpus),
    port: String(ports.gcs),
    "dashboard-port": String(ports.dashboard),
    "ray-client-server-port": String(ports.client),
    "metrics-export-port": String(ports.metrics),
  },
});

/** A RayCluster of Ray 2.60.0 (the venv's) named `name` in `namespace`. */
export const realRayCluster = (
  name: string,
  namespace: string,
  spec: Record<string, unknown>,
): KubeObject => ({
  apiVersion: "stack.sovereign.dev/v1alpha1",
  kind: "RayCluster",
  metadata: { name, namespace },
  spec: { rayVersion: "2.60.0", image: "rayproject/ray:2.60.0", ...spec },
});
