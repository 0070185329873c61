// AcceleratorPool status follows kwok nodes and the pods bound to them. The test brings its own
// simulated Gaudi nodes and pool, so no other test's pods move its numbers.
import { randomBytes } from "node:crypto";
import * as k8s from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { simulatedNodes } from "../../cli/dev/simulated-nodes.ts";
import { acceleratorPoolController } from "../../controllers/acceleratorpool/index.ts";
import { resourceTypes } from "../../controllers/resources.ts";
import type { AcceleratorPool } from "../../crds/index.ts";
import { KubeClient, Manager, silentLogger } from "../../operator/index.ts";
import { eventually, loadKubeConfig, type TestNamespace, testNamespace } from "../support/cluster.ts";

const kc = loadKubeConfig();
const core = kc.makeApiClient(k8s.CoreV1Api);
const client = new KubeClient({ kubeConfig: kc });
const poolName = `gaudi-${randomBytes(3).toString("hex")}`;
let ns: TestNamespace;
let manager: Manager;

const simulated = (nodes: number) => ({
  name: poolName,
  nodes,
  accelerator: { vendor: "intel" as const, model: "Gaudi3", devicesPerNode: 8, memoryGiB: 128 },
  cpu: "160",
  memory: "1Ti",
});

const status = () =>
  client.get<AcceleratorPool & { metadata: { name: string } }>(resourceTypes.acceleratorPool, poolName);

const statusWhen = (what: string, ok: (s: NonNullable<AcceleratorPool["status"]>) => boolean) =>
  eventually(
    async () => {
      const s = (await status()).status;
      return s && ok(s) ? s : undefined;
    },
    30_000,
    what,
  ).catch(async (e) => {
    throw new Error(`${String(e)}; last status ${JSON.stringify((await status()).status)}`);
  });

const gaudiPod = (name: string, devices: number, node: string): k8s.V1Pod => ({
  metadata: { name },
  spec: {
    nodeSelector: { "kubernetes.io/hostname": node },
    containers: [
      {
        name: "main",
        image: "vault.habana.ai/gaudi",
        resources: { limits: { "habana.ai/gaudi": String(devices) } },
      },
    ],
  },
});

beforeAll(async () => {
  ns = await testNamespace("pools", kc);
  for (const body of simulatedNodes(simulated(2))) await core.createNode({ body });
  await client.create(resourceTypes.acceleratorPool, {
    apiVersion: resourceTypes.acceleratorPool.apiVersion,
    kind: resourceTypes.acceleratorPool.kind,
    metadata: { name: poolName },
    spec: { vendor: "intel", model: "Gaudi3", memoryGiB: 128 },
  });
  manager = new Manager({
    kubeConfig: kc,
    namespaces: [ns.name],
    metricsBindAddress: "0",
    healthProbeBindAddress: "0",
    log: silentLogger,
  });
  manager.add(acceleratorPoolController);
  await manager.start();
  await manager.waitForCacheSync();
});

afterAll(async () => {
  await manager?.stop();
  await client.delete(resourceTypes.acceleratorPool, poolName).catch(() => {});
  for (const n of simulatedNodes(simulated(3)))
    await core.deleteNode({ name: n.metadata?.name ?? "" }).catch(() => {});
  await ns?.[Symbol.asyncDispose]();
});

describe("AcceleratorPool status", () => {
  it("counts the nodes its default selector matches and their devices", async () => {
    const s = await statusWhen("2 ready nodes", (s) => s.readyNodes === 2);
    expect(s).toMatchObject({
      nodes: 2,
      readyNodes: 2,
      capacity: 16,
      allocated: 0,
      free: 16,
      largestFreePerNode: 8,
    });
    expect(s.conditions?.find((c) => c.type === "Ready")).toMatchObject({
      status: "True",
      reason: "NodesReady",
    });
  });

  it("follows pods as they are bound and deleted", async () => {
    const node = `${poolName}-0`;
    await core.createNamespacedPod({ namespace: ns.name, body: gaudiPod("six", 6, node) });
    const s = await statusWhen("6 allocated", (s) => s.allocated === 6);
    expect(s).toMatchObject({ capacity: 16, free: 10, largestFreePerNode: 8 });
    await core.createNamespacedPod({ namespace: ns.name, body: gaudiPod("four", 4, `${poolName}-1`) });
    expect(await statusWhen("10 allocated", (s) => s.allocated === 10)).toMatchObject({
      free: 6,
      largestFreePerNode: 4,
    });
    await core.deleteNamespacedPod({ name: "six", namespace: ns.name, gracePeriodSeconds: 0 });
    expect(await statusWhen("4 allocated", (s) => s.allocated === 4)).toMatchObject({
      free: 12,
      largestFreePerNode: 8,
    });
  });

  it("follows nodes as they join and leave", async () => {
    const third = simulatedNodes(simulated(3))[2];
    if (!third) throw new Error("no third node");
    await core.createNode({ body: third });
    expect(await statusWhen("3 ready nodes", (s) => s.readyNodes === 3)).toMatchObject({
      nodes: 3,
      capacity: 24,
    });
    await core.patchNode(
      {
        name: third.metadata?.name ?? "",
        body: { spec: { unschedulable: true } },
      },
      k8s.setHeaderOptions("Content-Type", k8s.PatchStrategy.MergePatch),
    );
    expect(await statusWhen("cordoned node left out", (s) => s.readyNodes === 2)).toMatchObject({
      nodes: 3,
      capacity: 16,
    });
    await core.deleteNode({ name: third.metadata?.name ?? "" });
    expect(await statusWhen("2 nodes", (s) => s.nodes === 2)).toMatchObject({ readyNodes: 2, capacity: 16 });
  });

  it("is not Ready when no node matches", async () => {
    const lonely = `${poolName}-empty`;
    await client.create(resourceTypes.acceleratorPool, {
      apiVersion: resourceTypes.acceleratorPool.apiVersion,
      kind: resourceTypes.acceleratorPool.kind,
      metadata: { name: lonely },
      spec: { vendor: "aws", model: "trn2", memoryGiB: 96 },
    });
    try {
      const s = await eventually(
        async () => {
          const p = await client.get<AcceleratorPool & { metadata: { name: string } }>(
            resourceTypes.acceleratorPool,
            lonely,
          );
          return p.status?.conditions?.length ? p.status : undefined;
        },
        30_000,
        "the empty pool's status",
      );
      expect(s).toMatchObject({ nodes: 0, capacity: 0 });
      expect(s.conditions?.find((c) => c.type === "Ready")).toMatchObject({
        status: "False",
        reason: "NoNodes",
      });
    } finally {
      await client.delete(resourceTypes.acceleratorPool, lonely).catch(() => {});
    }
  });
});
