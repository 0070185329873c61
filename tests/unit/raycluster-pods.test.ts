import { describe, expect, test } from "vitest";
import { clusterEndpoints, headPod, headService, workerPod } from "../../controllers/raycluster/pods.ts";
import { acceleratorPoolResource, labels, type RayCluster, rayClusterResource } from "../../crds/index.ts";

const cluster = (spec: Record<string, unknown> = {}): RayCluster => ({
  ...rayClusterResource.schema.parse({
    apiVersion: "stack.sovereign.dev/v1alpha1",
    kind: "RayCluster",
    metadata: { name: "rc", namespace: "ns", uid: "uid-1", generation: 1 },
    spec: {
      rayVersion: "2.52.0",
      image: "rayproject/ray:2.52.0",
      images: { nvidia: "rayproject/ray:2.52.0-gpu", google: "rayproject/ray:2.52.0-tpu" },
      head: { resources: { cpu: "4", memory: "16Gi" } },
      workerGroups: [
        {
          name: "gpu",
          replicas: 2,
          accelerators: { count: 1, vendors: ["nvidia"] },
          resources: { cpu: "8", memory: "64Gi" },
        },
        {
          name: "tpu",
          replicas: 2,
          accelerators: { count: 4, vendors: ["google"] },
          resources: { cpu: "24" },
        },
        { name: "cpu", replicas: 1, resources: { cpu: "2" } },
      ],
      ...spec,
    },
  }),
});

const pool = (name: string, spec: Record<string, unknown>) =>
  acceleratorPoolResource.schema.parse({
    apiVersion: "stack.sovereign.dev/v1alpha1",
    kind: "AcceleratorPool",
    metadata: { name },
    spec,
  });

const h100 = pool("h100", {
  vendor: "nvidia",
  model: "H100",
  memoryGiB: 80,
  tolerations: [{ key: "nvidia.com/gpu", operator: "Exists", effect: "NoSchedule" }],
});
const tpu = pool("tpu-v5e", { vendor: "google", model: "tpu-v5-lite-podslice", memoryGiB: 16 });

type Container = {
  name: string;
  image: string;
  args?: string[];
  command: string[];
  resources?: unknown;
  env?: Array<{ name: string; value?: string }>;
};
type PodSpec = {
  containers: Container[];
  initContainers: Container[];
  nodeSelector?: Record<string, string>;
  tolerations?: unknown[];
  affinity?: unknown;
  restartPolicy: string;
};
const specOf = (pod: { metadata: unknown; [k: string]: unknown }) => pod.spec as PodSpec;

describe("head", () => {
  test("the head pod runs ray start --head with the merged params, CPU only, owned by the cluster", () => {
    const pod = headPod(
      cluster({ head: { resources: { cpu: "4", memory: "16Gi" }, rayStartParams: { "num-cpus": "0" } } }),
    );
    expect(pod.metadata.name).toBe("rc-head");
    expect(pod.metadata.labels).toEqual({
      [labels.kind]: "raycluster",
      [labels.name]: "rc",
      [labels.group]: "head",
      [labels.rayNodeType]: "head",
    });
    expect(pod.metadata.ownerReferences).toEqual([
      {
        apiVersion: "stack.sovereign.dev/v1alpha1",
        kind: "RayCluster",
        name: "rc",
        uid: "uid-1",
        controller: true,
        blockOwnerDeletion: true,
      },
    ]);
    const spec = specOf(pod);
    const [c] = spec.containers;
    expect(c?.image).toBe("rayproject/ray:2.52.0");
    expect(c?.command).toEqual(["ray", "start"]);
    expect(c?.args).toContain("--head");
    expect(c?.args).toContain("--num-cpus=0");
    expect(c?.args).toContain("--dashboard-host=0.0.0.0");
    expect(c?.resources).toEqual({
      requests: { cpu: "4", memory: "16Gi" },
      limits: { cpu: "4", memory: "16Gi" },
    });
    expect(JSON.stringify(c?.resources)).not.toMatch(/gpu|tpu/);
    expect(spec.nodeSelector).toBeUndefined();
    expect(spec.restartPolicy).toBe("Always");
    // Found by running the pods for real: with no preference the head landed on GPU nodes.
    expect(spec.affinity).toEqual({
      nodeAffinity: {
        preferredDuringSchedulingIgnoredDuringExecution: [
          {
            weight: 100,
            preference: {
              matchExpressions: [
                "amd.com/gpu.product-name",
                "cloud.google.com/gke-tpu-accelerator",
                "habana.ai/gaudi.product",
                "nvidia.com/gpu.product",
              ].map((key) => ({ key, operator: "DoesNotExist" })),
            },
          },
        ],
      },
    });
  });

  test("the head Service exposes GCS, dashboard, client and metrics and selects the head", () => {
    const svc = headService(cluster({ head: { serviceType: "NodePort" } }));
    expect(svc.metadata.name).toBe("rc-head");
    const spec = svc.spec as {
      type: string;
      selector: Record<string, string>;
      ports: Array<{ name: string; port: number }>;
    };
    expect(spec.type).toBe("NodePort");
    expect(spec.selector[labels.rayNodeType]).toBe("head");
    expect(spec.ports.map((p) => [p.name, p.port])).toEqual([
      ["gcs", 6379],
      ["dashboard", 8265],
      ["client", 10001],
      ["metrics", 8080],
    ]);
  });

  test("endpoints name the head Service", () => {
    expect(clusterEndpoints(cluster())).toEqual({
      gcs: "rc-head.ns.svc:6379",
      dashboard: "http://rc-head.ns.svc:8265",
      client: "ray://rc-head.ns.svc:10001",
    });
  });
});

describe("workers", () => {
  const rc = cluster();
  const group = (name: string) => {
    const g = rc.spec.workerGroups?.find((x) => x.name === name);
    if (!g) throw new Error(name);
    return g;
  };

  test("an NVIDIA worker: vendor image, GPU limit, pool selector, pinned node, tolerations, wait for the head", () => {
    const pod = workerPod(rc, group("gpu"), 1, { pool: h100, node: "h100-2" });
    expect(pod.metadata.name).toBe("rc-gpu-1");
    expect(pod.metadata.labels).toMatchObject({
      [labels.rayNodeType]: "worker",
      [labels.rayGroup]: "gpu",
      [labels.group]: "gpu",
      [labels.pool]: "h100",
    });
    const spec = specOf(pod);
    const main = spec.containers[0] as Container;
    expect(main.image).toBe("rayproject/ray:2.52.0-gpu");
    expect(main.args).toEqual([
      "--address=rc-head.ns.svc:6379",
      "--num-cpus=8",
      `--memory=${64 * 2 ** 30}`,
      "--num-gpus=1",
      "--metrics-export-port=8080",
      "--block",
    ]);
    expect(main.resources).toEqual({
      requests: { cpu: "8", memory: "64Gi", "nvidia.com/gpu": "1" },
      limits: { cpu: "8", memory: "64Gi", "nvidia.com/gpu": "1" },
    });
    expect(main.env?.find((e) => e.name === "NVIDIA_DRIVER_CAPABILITIES")?.value).toBe("compute,utility");
    expect(spec.nodeSelector).toEqual({ "sovereign.dev/pool": "h100" });
    expect(JSON.stringify(spec.affinity)).toContain("h100-2");
    expect(spec.tolerations).toEqual([{ key: "nvidia.com/gpu", operator: "Exists", effect: "NoSchedule" }]);
    const wait = spec.initContainers[0] as Container;
    expect(wait.image).toBe("rayproject/ray:2.52.0-gpu");
    expect(wait.command.join(" ")).toContain("rc-head.ns.svc:6379");
  });

  test("a TPU worker declares its chips as the TPU resource and asks for google.com/tpu", () => {
    const pod = workerPod(rc, group("tpu"), 0, { pool: tpu, node: undefined });
    const main = specOf(pod).containers[0] as Container;
    expect(main.image).toBe("rayproject/ray:2.52.0-tpu");
    expect(main.args).toContain('--resources={"TPU":4}');
    expect(main.args?.some((a) => a.startsWith("--num-gpus"))).toBe(false);
    expect(main.resources).toMatchObject({ limits: { "google.com/tpu": "4" } });
    expect(specOf(pod).affinity).toBeUndefined();
    expect(specOf(pod).nodeSelector).toEqual({ "sovereign.dev/pool": "tpu-v5e" });
  });

  test("a CPU worker placed on a pool gets no devices and the generic image", () => {
    const pod = workerPod(rc, group("cpu"), 0, { pool: h100, node: "h100-0" });
    const main = specOf(pod).containers[0] as Container;
    expect(main.resources).toEqual({ requests: { cpu: "2" }, limits: { cpu: "2" } });
    expect(main.args).toEqual([
      "--address=rc-head.ns.svc:6379",
      "--num-cpus=2",
      "--metrics-export-port=8080",
      "--block",
    ]);
  });

  test("the same inputs give the same pod", () => {
    expect(workerPod(rc, group("gpu"), 0, { pool: h100, node: "h100-0" })).toEqual(
      workerPod(rc, group("gpu"), 0, { pool: h100, node: "h100-0" }),
    );
  });
});
