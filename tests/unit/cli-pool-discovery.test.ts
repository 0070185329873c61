// pools discover: nodes grouped by vendor resource, product label, memory label and pool label.
import type { V1Node } from "@kubernetes/client-node";
import { describe, expect, test } from "vitest";
import { defaultPreset, type SimulatedPool, simulatedNodes } from "../../cli/dev/simulated-nodes.ts";
import { proposalComment, proposePools, shortModelName } from "../../cli/kube/pool-discovery.ts";
import { validateObject } from "../../crds/validate.ts";

const nodesOf = (pools: SimulatedPool[]) => pools.flatMap(simulatedNodes);

const withoutPoolLabel = (nodes: V1Node[]) =>
  nodes.map((n) => {
    const { "sovereign.dev/pool": _pool, ...labels } = n.metadata?.labels ?? {};
    return { ...n, metadata: { ...n.metadata, labels } };
  });

describe("the simulated cluster", () => {
  const proposals = proposePools(nodesOf(defaultPreset));

  test("proposes h100, mi300x and tpu-v5e (CPU nodes are no pool), all valid", () => {
    expect(proposals.map((p) => p.manifest.metadata.name)).toEqual(["h100", "mi300x", "tpu-v5e"]);
    for (const p of proposals) expect(validateObject(p.manifest).errors).toEqual([]);
    expect(proposals.flatMap((p) => p.warnings)).toEqual([]);
  });

  test("reads vendor, model and memory the way each vendor's labeller writes them", () => {
    expect(proposals.map((p) => p.manifest.spec)).toEqual([
      {
        vendor: "nvidia",
        model: "NVIDIA-H100-80GB-HBM3",
        memoryGiB: 80,
        nodeSelector: { matchLabels: { "sovereign.dev/pool": "h100" } },
      },
      {
        vendor: "amd",
        model: "AMD-Instinct-MI300X",
        memoryGiB: 192,
        nodeSelector: { matchLabels: { "sovereign.dev/pool": "mi300x" } },
      },
      {
        vendor: "google",
        model: "tpu-v5-lite-podslice",
        memoryGiB: 16,
        nodeSelector: { matchLabels: { "sovereign.dev/pool": "tpu-v5e" } },
      },
    ]);
    expect(proposalComment(proposals[0] as never)).toBe(
      "# 4 nodes (h100-0, h100-1, h100-2, h100-3) with 8 x nvidia.com/gpu: 32 devices",
    );
  });

  test("without pool labels the names come from the models and the selector from the product labels", () => {
    const unlabelled = proposePools(withoutPoolLabel(nodesOf(defaultPreset)));
    expect(unlabelled.map((p) => p.manifest.metadata.name)).toEqual(["h100", "mi300x", "tpu-v5e"]);
    expect(unlabelled[0]?.manifest.spec.nodeSelector).toEqual({
      matchLabels: { "nvidia.com/gpu.product": "NVIDIA-H100-80GB-HBM3", "nvidia.com/gpu.memory": "81920" },
    });
  });
});

test("one model in two memory sizes becomes two pools told apart by memory", () => {
  const a100 = (memoryGiB: number): SimulatedPool => ({
    name: `a100-${memoryGiB}`,
    nodes: 1,
    accelerator: { vendor: "nvidia", model: "NVIDIA-A100-SXM4", devicesPerNode: 8, memoryGiB },
    cpu: "64",
    memory: "512Gi",
  });
  const proposals = proposePools(withoutPoolLabel(nodesOf([a100(40), a100(80)])));
  expect(proposals.map((p) => [p.manifest.metadata.name, p.manifest.spec.memoryGiB])).toEqual([
    ["a100-40g", 40],
    ["a100-80g", 80],
  ]);
});

test("taints every node of a group carries become tolerations", () => {
  const pool: SimulatedPool = {
    name: "gaudi",
    nodes: 2,
    accelerator: { vendor: "intel", model: "HL-325L", devicesPerNode: 8, memoryGiB: 128 },
    cpu: "160",
    memory: "1Ti",
    taints: [
      { key: "habana.ai/gaudi", effect: "NoSchedule" },
      { key: "dedicated", value: "ml", effect: "NoExecute" },
    ],
  };
  const [p] = proposePools(nodesOf([pool]));
  expect(p?.manifest.spec.tolerations).toEqual([
    { key: "habana.ai/gaudi", operator: "Exists", effect: "NoSchedule" },
    { key: "dedicated", operator: "Equal", value: "ml", effect: "NoExecute" },
  ]);
  expect(validateObject(p?.manifest).errors).toEqual([]);
});

test("missing memory labels are a warning and leave memoryGiB for the user", () => {
  const nodes = nodesOf([defaultPreset[0] as SimulatedPool]).map((n) => {
    const { "nvidia.com/gpu.memory": _m, ...labels } = n.metadata?.labels ?? {};
    return { ...n, metadata: { ...n.metadata, labels } };
  });
  const [p] = proposePools(nodes);
  expect(p?.manifest.spec.memoryGiB).toBeUndefined();
  expect(p?.warnings.join()).toContain("set spec.memoryGiB");
});

test.for([
  ["nvidia", "NVIDIA-H100-80GB-HBM3", "h100"],
  ["nvidia", "Tesla-T4", "t4"],
  ["amd", "AMD-Instinct-MI300X", "mi300x"],
  ["google", "tpu-v5-lite-podslice", "tpu-v5e"],
  ["google", "tpu-v5p-slice", "tpu-v5p"],
  ["google", "tpu-v6e-slice", "tpu-v6e"],
  ["aws", "trn1.32xlarge", "trn1"],
  ["intel", "HL-225", "intel-225"],
] as const)("shortModelName(%s, %s) = %s", ([vendor, model, name]) => {
  expect(shortModelName(vendor, model)).toBe(name);
});
