// A replica's size from the model and the shape it gets on each pool, and the API rules that
// keep an explicit tensorParallelSize from meeting a shape chosen per pool.
import { describe, expect, it } from "vitest";
import { requirementOf } from "../../controllers/inferenceservice/adapter.ts";
import { desiredDeployment } from "../../controllers/inferenceservice/children.ts";
import {
  devicesPerReplica,
  kvCacheGiB,
  replicaShapeOf,
  weightsGiB,
} from "../../controllers/inferenceservice/sizing.ts";
import { type AcceleratorPool, acceleratorPoolResource, inferenceServiceResource } from "../../crds/index.ts";

function parse(spec: Record<string, unknown>) {
  return inferenceServiceResource.schema.safeParse({
    apiVersion: "stack.sovereign.dev/v1alpha1",
    kind: "InferenceService",
    metadata: { name: "llama", namespace: "ml", uid: "u1" },
    spec: {
      engine: { image: "vllm/vllm-openai:v0.11.0" },
      ...spec,
      model: { uri: "hf://meta/llama", ...(spec.model as object) },
    },
  });
}

function svc(spec: Record<string, unknown>) {
  const result = parse(spec);
  if (!result.success) throw new Error(JSON.stringify(result.error.issues));
  return result.data as typeof result.data & { metadata: { name: string; namespace: string } };
}

describe("the size of a replica", () => {
  it.each([
    [{ sizeGiB: 130 }, 130],
    [{ parameters: 70 }, (70e9 * 2) / 2 ** 30],
    [{ parameters: 70, dtype: "fp16" }, (70e9 * 2) / 2 ** 30],
    [{ parameters: 70, dtype: "fp8" }, 70e9 / 2 ** 30],
    [{ parameters: 70, dtype: "int8" }, 70e9 / 2 ** 30],
    [{ parameters: 70, dtype: "int4" }, 35e9 / 2 ** 30],
    [{}, undefined],
  ])("weights of %o", (model, giB) => {
    expect(weightsGiB(svc({ model }).spec.model)).toBe(giB);
  });

  it.each([
    [{}, 16],
    [{ maxModelLen: 8192 }, 4],
    [{ maxModelLen: 1024 }, 2],
    [{ maxModelLen: 131072 }, 64],
    [{ kvCacheGiB: 7.5, maxModelLen: 131072 }, 7.5],
  ])("KV cache of %o", (engine, giB) => {
    expect(kvCacheGiB(svc({ engine: { image: "i", ...engine } }).spec.engine)).toBe(giB);
  });

  it("leaves 10% headroom over weights and KV cache, and passes the heads on", () => {
    const shape = replicaShapeOf(
      svc({ model: { sizeGiB: 126, attentionHeads: 64 }, engine: { image: "i", kvCacheGiB: 9 } }).spec,
    );
    expect(shape).toEqual({ memoryGiB: 150, attentionHeads: 64 });
  });

  it("is fixed when accelerators.count is given, or no size is", () => {
    expect(replicaShapeOf(svc({ model: { sizeGiB: 10 }, accelerators: { count: 2 } }).spec)).toBeUndefined();
    expect(replicaShapeOf(svc({}).spec)).toBeUndefined();
  });
});

describe("devices per replica on a pool", () => {
  const llama70b = svc({ model: { parameters: 70 } }).spec;
  it.each([
    [80, 4],
    [141, 2],
    [192, 1],
    [128, 2],
    [24, 8],
    [16, 16],
  ])("70B bf16 on %d GiB devices: %d", (memory, devices) => {
    expect(devicesPerReplica(llama70b, memory)).toBe(devices);
  });

  it("has no count on a pool too small at 64 devices", () => {
    expect(devicesPerReplica(svc({ model: { parameters: 670 } }).spec, 16)).toBeUndefined();
  });

  it.each([
    [{ accelerators: { count: 2 } }, 2],
    [{ engine: { image: "i", tensorParallelSize: 4 } }, 4],
    [{ accelerators: { count: 0 } }, 0],
    [{}, 1],
  ])("fixed: %o", (spec, devices) => {
    expect(devicesPerReplica(svc(spec).spec, 192)).toBe(devices);
  });
});

describe("the Deployment on each pool", () => {
  const pool = (name: string, vendor: "nvidia" | "amd", memoryGiB: number) =>
    acceleratorPoolResource.schema.parse({
      apiVersion: "stack.sovereign.dev/v1alpha1",
      kind: "AcceleratorPool",
      metadata: { name },
      spec: { vendor, model: name, memoryGiB },
    }) as AcceleratorPool & { metadata: { name: string } };

  it("sets the tensor-parallel size and the device request from the pool's shape", () => {
    const s = svc({ model: { parameters: 70 } });
    const strategy = { type: "RollingUpdate", rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } } as const;
    for (const [p, resource, devices] of [
      [pool("h100", "nvidia", 80), "nvidia.com/gpu", "4"],
      [pool("mi300x", "amd", 192), "amd.com/gpu", "1"],
    ] as const) {
      const d = desiredDeployment(s, p, 1, strategy) as unknown as {
        spec: {
          template: {
            spec: { containers: { args: string[]; resources: { limits: Record<string, string> } }[] };
          };
        };
      };
      const server = d.spec.template.spec.containers[0];
      const args = server?.args ?? [];
      expect(args[args.indexOf("--tensor-parallel-size") + 1]).toBe(devices);
      expect(String(server?.resources.limits[resource])).toBe(devices);
    }
  });

  it("asks the engine for the automatic shape", () => {
    const req = requirementOf(
      svc({
        model: { sizeGiB: 90 },
        engine: { image: "i", kvCacheGiB: 9 },
        accelerators: { vendors: ["amd"] },
      }),
    );
    expect(req).toMatchObject({ vendors: ["amd"], replicaShape: { memoryGiB: 110 } });
  });
});

describe("the API rules", () => {
  const issues = (spec: Record<string, unknown>) => {
    const result = parse(spec);
    return result.success ? [] : result.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`);
  };

  it("refuses both sizeGiB and parameters, and dtype without parameters", () => {
    expect(issues({ model: { sizeGiB: 1, parameters: 1 } })).toEqual([
      "spec.model.parameters: give sizeGiB or parameters, not both",
    ]);
    expect(issues({ model: { sizeGiB: 1, dtype: "fp8" } })).toEqual([
      "spec.model.dtype: dtype goes with parameters (it gives the bytes per parameter)",
    ]);
  });

  it("refuses an explicit tensorParallelSize with a shape chosen per pool, naming the field", () => {
    expect(issues({ model: { parameters: 70 }, engine: { image: "i", tensorParallelSize: 1 } })).toEqual([
      expect.stringMatching(
        /^spec\.engine\.tensorParallelSize: engine\.tensorParallelSize cannot be set when the shape is chosen per pool/,
      ),
    ]);
  });

  it("takes tensorParallelSize with a size when accelerators.count fixes the shape", () => {
    expect(
      issues({
        model: { parameters: 70 },
        engine: { image: "i", tensorParallelSize: 4 },
        accelerators: { count: 4 },
      }),
    ).toEqual([]);
  });
});
