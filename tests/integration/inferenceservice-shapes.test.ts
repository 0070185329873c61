// A replica shaped per pool from the model's size, on the real API server: a 70B bf16 model
// with no device count takes 4 devices per replica on an 80 GiB NVIDIA pool and 1 on a 192 GiB
// AMD pool, each Deployment with its own --tensor-parallel-size; a model no pool holds waits
// with a reason naming the largest pool.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { deploymentName } from "../../controllers/inferenceservice/names.ts";
import { resourceTypes } from "../../controllers/resources.ts";
import type { InferenceService } from "../../crds/index.ts";
import type { KubeObject } from "../../operator/index.ts";
import { eventually } from "../support/cluster.ts";
import { type ServingTestbed, startServingTestbed } from "../support/serving.ts";

type Isvc = InferenceService & KubeObject;
type Deployment = KubeObject & {
  spec: {
    replicas: number;
    template: { spec: { containers: { args: string[]; resources?: { limits?: Record<string, string> } }[] } };
  };
};

let bed: ServingTestbed;

beforeAll(async () => {
  // Four devices per node: one replica of four on the NVIDIA node, four of one on the AMD node.
  bed = await startServingTestbed("shapes", 4);
}, 120_000);

afterAll(async () => {
  await bed?.stop();
});

async function create(name: string, model: Record<string, unknown>, replicas: number): Promise<void> {
  await bed.client.create(resourceTypes.inferenceService, {
    apiVersion: resourceTypes.inferenceService.apiVersion,
    kind: "InferenceService",
    metadata: { name, namespace: bed.ns.name },
    spec: {
      model: { uri: "hf://meta-llama/Llama-3.1-70B-Instruct", ...model },
      // No maxModelLen: the KV cache default is 16 GiB, so a replica needs (130.4 + 16) / 0.9
      // = 162.7 GiB, more than two 80 GiB devices and less than one of 192 GiB.
      engine: { image: "vllm/vllm-openai:v0.11.0" },
      // Pinned to this file's pools, so other files' pools never take a replica.
      accelerators: { pools: bed.pools.map((p) => p.name) },
      replicas,
    },
  });
}

const getIsvc = (name: string) => bed.client.get<Isvc>(resourceTypes.inferenceService, name, bed.ns.name);

describe("a 70B bf16 service with no device count", () => {
  it("spans both pools, 4 devices per replica on NVIDIA and 1 on AMD, with the tensor-parallel size to match", async () => {
    const [nv, amd] = bed.pools.map((p) => p.name) as [string, string];
    await create("llama-70b", { parameters: 70, dtype: "bf16", attentionHeads: 64 }, 5);
    const placements = await eventually(
      async () => {
        const p = (await getIsvc("llama-70b")).status?.placements ?? [];
        return p.reduce((n, x) => n + (x.replicas ?? 0), 0) === 5 ? p : undefined;
      },
      60_000,
      "five replicas placed",
    );
    // The pin order (NVIDIA first) is a preference, so the NVIDIA pool fills first; the order of
    // pools without pins (fewer devices per replica first) is the engine's unit tests' to show.
    expect(
      placements.map((p) => ({ pool: p.pool, devicesPerReplica: p.devicesPerReplica, replicas: p.replicas })),
    ).toEqual([
      { pool: nv, devicesPerReplica: 4, replicas: 1 },
      { pool: amd, devicesPerReplica: 1, replicas: 4 },
    ]);
    for (const [pool, resource, devices, replicas] of [
      [nv, "nvidia.com/gpu", "4", 1],
      [amd, "amd.com/gpu", "1", 4],
    ] as const) {
      const d = await eventually(
        () =>
          bed.client
            .get<Deployment>(resourceTypes.deployment, deploymentName("llama-70b", pool), bed.ns.name)
            .catch(() => undefined),
        30_000,
        `the Deployment on ${pool}`,
      );
      const server = d.spec.template.spec.containers[0];
      const args = server?.args ?? [];
      expect(args[args.indexOf("--tensor-parallel-size") + 1]).toBe(devices);
      expect(server?.resources?.limits?.[resource]).toBe(devices);
      expect(d.spec.replicas).toBe(replicas);
    }
  });

  it("waits, naming the largest pool and what it would need, when no pool holds a replica", async () => {
    await create("too-big", { sizeGiB: 20_000 }, 1);
    const admitted = await eventually(
      async () =>
        (await getIsvc("too-big")).status?.conditions?.find(
          (c) => c.type === "Admitted" && c.status === "False" && c.reason !== "WaitingForAdmission",
        ),
      30_000,
      "the Admitted condition",
    );
    expect(admitted.reason).toBe("NoMatchingPool");
    expect(admitted.message).toMatch(
      /no AcceleratorPool holds it: the largest pool, .+ \(\d+ GiB per device\), would need \d+ devices, more than 64/,
    );
  });

  it("refuses an explicit tensorParallelSize with the shape chosen per pool, naming the field", async () => {
    const refused = await bed.client
      .create(resourceTypes.inferenceService, {
        apiVersion: resourceTypes.inferenceService.apiVersion,
        kind: "InferenceService",
        metadata: { name: "explicit-tp", namespace: bed.ns.name },
        spec: {
          model: { uri: "hf://meta-llama/Llama-3.1-70B-Instruct", parameters: 70 },
          engine: { image: "vllm/vllm-openai:v0.11.0", tensorParallelSize: 2 },
        },
      })
      .then(
        () => "created",
        (e: unknown) => String(e),
      );
    expect(refused).toMatch(/tensorParallelSize.*cannot be set when the shape is chosen per pool/);
  });
});
