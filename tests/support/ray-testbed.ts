// A testbed for the Ray kinds against real Ray on the shared control plane: a namespace whose
// head pods the pod runner runs as real `ray start --head` at their IPs, optionally a second
// namespace without a pod runner (heads that answer nothing), a one-node NVIDIA pool of the
// file's own, and a manager with the admitter, the RayCluster controller and what the file adds.
import { randomBytes } from "node:crypto";
import type { SimulatedPool } from "../../cli/dev/simulated-nodes.ts";
import { Admitter } from "../../controllers/admission/index.ts";
import { rayClusterController } from "../../controllers/raycluster/index.ts";
import {
  type ControllerFactory,
  createLogger,
  KubeClient,
  Manager,
  silentLogger,
} from "../../operator/index.ts";
import { loadKubeConfig, type TestNamespace, testNamespace } from "./cluster.ts";
import { type PodRunner, startPodRunner } from "./pod-runner.ts";
import { pythonVenv } from "./python.ts";
import { createDedicatedPools, deleteDedicatedPools } from "./workloads.ts";

export interface RayTestbed {
  client: KubeClient;
  ns: TestNamespace;
  /** Present with `bareNamespace`: its head pods run no Ray. */
  bare: TestNamespace | undefined;
  /** One node with two NVIDIA GPUs, tainted for this file's pods only. */
  pool: SimulatedPool;
  manager: Manager;
  runner: PodRunner;
  stop(): Promise<void>;
}

export async function startRayTestbed(
  prefix: string,
  options: { controllers?: ControllerFactory[]; bareNamespace?: boolean; logEnv: string },
): Promise<RayTestbed> {
  pythonVenv();
  const kc = loadKubeConfig();
  const client = new KubeClient({ kubeConfig: kc });
  const name = `${prefix}-nv-${randomBytes(3).toString("hex")}`;
  const pool: SimulatedPool = {
    name,
    nodes: 1,
    accelerator: { vendor: "nvidia", model: "NVIDIA-H100-80GB-HBM3", devicesPerNode: 2, memoryGiB: 80 },
    cpu: "64",
    memory: "512Gi",
  };
  const ns = await testNamespace(prefix, kc);
  const bare = options.bareNamespace ? await testNamespace(`${prefix}-bare`, kc) : undefined;
  await createDedicatedPools(client, [pool]);
  const runner = await startPodRunner(ns.name);
  const manager = new Manager({
    kubeConfig: kc,
    namespaces: bare ? [ns.name, bare.name] : [ns.name],
    metricsBindAddress: "0",
    healthProbeBindAddress: "0",
    log: process.env[options.logEnv] ? createLogger({ level: "debug" }) : silentLogger,
  });
  manager.add(rayClusterController(new Admitter(manager)));
  for (const c of options.controllers ?? []) manager.add(c);
  await manager.start();
  await manager.waitForCacheSync();
  return {
    client,
    ns,
    bare,
    pool,
    manager,
    runner,
    async stop() {
      await manager.stop();
      await runner.stop();
      await ns[Symbol.asyncDispose]();
      await bare?.[Symbol.asyncDispose]();
      await deleteDedicatedPools(client, [pool]);
      await client.close();
    },
  };
}
