// stackctl describe and pools against the real API server: status, queue reason, conditions,
// events and children of a workload; a pool's nodes; capacity bars; pools discover.
import * as k8s from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { simulatedNodes } from "../../cli/dev/simulated-nodes.ts";
import { acceleratorPoolResource, trainingJobResource } from "../../crds/index.ts";
import { kubectl, loadKubeConfig, type TestNamespace, testNamespace } from "../support/cluster.ts";
import { condition, readObject, stackctl, writeStatus } from "./cli-harness.ts";

const kc = loadKubeConfig();
const core = kc.makeApiClient(k8s.CoreV1Api);
const events = kc.makeApiClient(k8s.EventsV1Api);
const custom = kc.makeApiClient(k8s.CustomObjectsApi);
let ns: TestNamespace;
let token: string;
const pools: string[] = [];

const labels = (name: string, kind = "trainingjob") => ({
  "stack.sovereign.dev/kind": kind,
  "stack.sovereign.dev/name": name,
});

beforeAll(async () => {
  ns = await testNamespace("cli-describe");
  token = ns.name.slice(-6);
});

afterAll(async () => {
  for (const name of pools) {
    await custom
      .deleteClusterCustomObject({
        group: acceleratorPoolResource.group,
        version: "v1alpha1",
        plural: "acceleratorpools",
        name,
      })
      .catch(() => {});
  }
  await ns?.[Symbol.asyncDispose]();
});

test("describe trainingjob: spec, queue position and reason, conditions, events, children", async () => {
  const submitted = await stackctl([
    "-n",
    ns.name,
    "train",
    "submit",
    "--name",
    "llama",
    "--image",
    "ghcr.io/acme/train:1.0",
    "--nodes",
    "2",
    "--accelerators",
    "8",
    "--min-memory",
    "80",
    "--vendor",
    "nvidia,amd",
    "--",
    "python",
    "train.py",
  ]);
  expect(submitted.code, submitted.stderr).toBe(0);
  const job = await readObject(trainingJobResource, "llama", ns.name);
  const uid = job.metadata.uid as string;
  const owner = {
    apiVersion: trainingJobResource.apiVersion,
    kind: "TrainingJob",
    name: "llama",
    uid,
    controller: true,
  };
  await writeStatus(trainingJobResource, "llama", ns.name, {
    observedGeneration: 1,
    phase: "Queued",
    queuePosition: 2,
    conditions: [
      condition("Admitted", "False", "InsufficientCapacity", "needs 2 nodes with 8 free devices; h100 has 1"),
    ],
  });
  await events.createNamespacedEvent({
    namespace: ns.name,
    body: {
      metadata: { name: `llama.${token}`, namespace: ns.name },
      // MicroTime wants six fractional digits; a Date would be sent with three.
      eventTime: new Date().toISOString().replace(/Z$/, "000Z") as unknown as k8s.V1MicroTime,
      reportingController: "sovereign.dev/trainingjob-controller",
      reportingInstance: "test",
      action: "Admit",
      reason: "Queued",
      type: "Normal",
      note: "waiting for capacity behind 1 job",
      regarding: { apiVersion: owner.apiVersion, kind: owner.kind, name: "llama", namespace: ns.name, uid },
    },
  });
  await core.createNamespacedService({
    namespace: ns.name,
    body: {
      metadata: { name: "llama", labels: labels("llama"), ownerReferences: [owner] },
      spec: { clusterIP: "None", ports: [{ name: "c10d", port: 29500 }], selector: labels("llama") },
    },
  });
  const pod = (name: string, podLabels: Record<string, string>, ownerReferences?: k8s.V1OwnerReference[]) =>
    core.createNamespacedPod({
      namespace: ns.name,
      body: {
        metadata: { name, labels: podLabels, ownerReferences },
        spec: {
          nodeSelector: { "kubernetes.io/hostname": "cpu-0" },
          tolerations: [{ operator: "Exists" }],
          containers: [{ name: "trainer", image: "ghcr.io/acme/train:1.0" }],
        },
      },
    });
  await pod(
    "llama-0",
    { ...labels("llama"), "stack.sovereign.dev/rank": "0", "stack.sovereign.dev/pool": "cpu" },
    [owner],
  );
  // Same name label, another kind: not a child of the job.
  await pod("llama-head", labels("llama", "raycluster"));
  for (let i = 0; i < 150; i++) {
    const p = await core.readNamespacedPod({ name: "llama-0", namespace: ns.name });
    if (p.status?.phase === "Running") break;
    await new Promise((r) => setTimeout(r, 200));
  }

  const result = await stackctl(["describe", "tj", "llama", "-n", ns.name]);
  expect(result.stderr).toBe("");
  expect(result.code).toBe(0);
  const text = result.stdout;
  expect(text).toMatch(/^Name: +llama$/m);
  expect(text).toMatch(new RegExp(`^Namespace: +${ns.name}$`, "m"));
  expect(text).toMatch(/^ {2}Command: +python train\.py$/m);
  expect(text).toMatch(/^ {2}Accelerators: +8 devices of at least 80 GiB, vendor nvidia\|amd$/m);
  expect(text).toMatch(/^ {2}Phase: +Queued$/m);
  expect(text).toMatch(/^ {2}Queue: +position 2: needs 2 nodes with 8 free devices; h100 has 1$/m);
  expect(text).toMatch(/^ {2}Admitted +False +InsufficientCapacity +\S+ +needs 2 nodes/m);
  expect(text).toMatch(/^ {2}Service +llama +ClusterIP None ports 29500\/c10d +\S+$/m);
  expect(text).toMatch(/^ {2}Pod +llama-0 +Running, 1\/1 ready, node cpu-0, pool cpu +\S+$/m);
  expect(text).not.toContain("llama-head");
  expect(text).toMatch(
    /^ {2}Normal +Queued +\S+ +sovereign\.dev\/trainingjob-controller +waiting for capacity behind 1 job$/m,
  );
});

test("describe acceleratorpool: spec, status and the nodes its selector matches", async () => {
  const name = `cli-${token}-h100`;
  pools.push(name);
  await custom.createClusterCustomObject({
    group: acceleratorPoolResource.group,
    version: "v1alpha1",
    plural: "acceleratorpools",
    body: {
      apiVersion: acceleratorPoolResource.apiVersion,
      kind: "AcceleratorPool",
      metadata: { name },
      spec: {
        vendor: "nvidia",
        model: "NVIDIA-H100-80GB-HBM3",
        memoryGiB: 80,
        nodeSelector: { matchLabels: { "sovereign.dev/pool": "h100" } },
      },
    },
  });
  const result = await stackctl(["describe", `ap/${name}`]);
  expect(result.code, result.stderr).toBe(0);
  expect(result.stdout).toMatch(/^ {2}Resource: +nvidia\.com\/gpu$/m);
  expect(result.stdout).toMatch(/^ {2}Node selector: +sovereign\.dev\/pool=h100$/m);
  for (const node of ["h100-0", "h100-1", "h100-2", "h100-3"])
    expect(result.stdout).toMatch(new RegExp(`^ {2}Node +${node} +Ready, 8 x nvidia\\.com/gpu +\\S+$`, "m"));
});

describe("pools", () => {
  const statuses: Record<string, Record<string, unknown>> = {
    a: { nodes: 4, readyNodes: 4, capacity: 32, allocated: 24, free: 8, largestFreePerNode: 8 },
    b: { nodes: 2, readyNodes: 2, capacity: 16, allocated: 4, free: 12, largestFreePerNode: 8 },
  };

  // Real nodes and pods behind the numbers, so a pool status controller of another test file
  // running against this cluster computes the same status this test writes.
  const simulated = [
    {
      suffix: "a",
      vendor: "nvidia" as const,
      model: "NVIDIA-H100-80GB-HBM3",
      nodes: 4,
      memoryGiB: 80,
      pods: [8, 8, 8],
    },
    {
      suffix: "b",
      vendor: "amd" as const,
      model: "AMD-Instinct-MI300X",
      nodes: 2,
      memoryGiB: 192,
      pods: [4],
    },
  ];
  const simulatedFor = (x: (typeof simulated)[number]) =>
    simulatedNodes({
      name: `cli-${token}-${x.suffix}`,
      nodes: x.nodes,
      accelerator: { vendor: x.vendor, model: x.model, devicesPerNode: 8, memoryGiB: x.memoryGiB },
      cpu: "64",
      memory: "512Gi",
      labels: { "cli-test": token },
      taints: [{ key: "cli-test", effect: "NoSchedule" }],
    });

  afterAll(async () => {
    for (const x of simulated) {
      for (const n of simulatedFor(x))
        await core.deleteNode({ name: n.metadata?.name ?? "" }).catch(() => {});
    }
  });

  const createSimulated = async (): Promise<void> => {
    for (const x of simulated) {
      const nodes = simulatedFor(x);
      for (const body of nodes) await core.createNode({ body });
      for (const [i, devices] of x.pods.entries()) {
        const resource = x.vendor === "nvidia" ? "nvidia.com/gpu" : "amd.com/gpu";
        await core.createNamespacedPod({
          namespace: ns.name,
          body: {
            metadata: { name: `hold-${x.suffix}-${i}` },
            spec: {
              nodeName: nodes[i]?.metadata?.name ?? "",
              tolerations: [{ key: "cli-test", operator: "Exists" }],
              containers: [
                { name: "hold", image: "busybox", resources: { limits: { [resource]: String(devices) } } },
              ],
            },
          },
        });
      }
    }
  };

  beforeAll(async () => {
    await createSimulated();
    const specs: Record<string, Record<string, unknown>> = {
      a: { vendor: "nvidia", model: "NVIDIA-H100-80GB-HBM3", memoryGiB: 80 },
      b: { vendor: "amd", model: "AMD-Instinct-MI300X", memoryGiB: 192 },
    };
    for (const [suffix, spec] of Object.entries(specs)) {
      const name = `cli-${token}-${suffix}`;
      pools.push(name);
      await custom.createClusterCustomObject({
        group: acceleratorPoolResource.group,
        version: "v1alpha1",
        plural: "acceleratorpools",
        body: {
          apiVersion: acceleratorPoolResource.apiVersion,
          kind: "AcceleratorPool",
          metadata: { name, labels: { "cli-test": token } },
          // This test's own nodes (see simulatedFor): whoever computes the status agrees with it.
          spec: { ...spec, nodeSelector: { matchLabels: { "sovereign.dev/pool": name } } },
        },
      });
    }
  });

  test("capacity per pool with bars: golden", async () => {
    // Pool status controllers of other test files may be running against the same cluster and
    // rewrite these pools' status; write it again until one run of the CLI saw only ours.
    let output = "";
    for (let attempt = 0; attempt < 10; attempt++) {
      const written: string[] = [];
      for (const [suffix, status] of Object.entries(statuses)) {
        await writeStatus(acceleratorPoolResource, `cli-${token}-${suffix}`, undefined, status);
        written.push(
          (await readObject(acceleratorPoolResource, `cli-${token}-${suffix}`)).metadata
            .resourceVersion as string,
        );
      }
      const result = await stackctl(["pools", "-l", `cli-test=${token}`]);
      expect(result.code, result.stderr).toBe(0);
      const after = await Promise.all(
        Object.keys(statuses).map(
          async (s) =>
            (await readObject(acceleratorPoolResource, `cli-${token}-${s}`)).metadata.resourceVersion,
        ),
      );
      output = result.stdout;
      if (after.every((rv, i) => rv === written[i])) break;
      await new Promise((r) => setTimeout(r, 2000));
    }
    await expect(output.replaceAll(token, "tttttt")).toMatchFileSnapshot("../golden/pools-cluster.txt");
  });

  test("-o name lists the pools themselves", async () => {
    const names = await stackctl(["pools", "-l", `cli-test=${token}`, "-o", "name"]);
    expect(names.stdout).toBe(
      `acceleratorpool.stack.sovereign.dev/cli-${token}-a\nacceleratorpool.stack.sovereign.dev/cli-${token}-b\n`,
    );
  });
});

test("pools discover: h100, mi300x and tpu-v5e from the simulated nodes, valid for the API server", async () => {
  const result = await stackctl([
    "pools",
    "discover",
    "-l",
    "sovereign.dev/pool in (h100,mi300x,tpu-v5e,cpu)",
  ]);
  expect(result.stderr).toBe("");
  expect(result.code).toBe(0);
  await expect(result.stdout).toMatchFileSnapshot("../golden/pools-discover.txt");
  expect((await stackctl(["validate", "-f", "-"], { input: result.stdout })).code).toBe(0);
  const server = await kubectl(
    ["apply", "--server-side", "--dry-run=server", "--force-conflicts", "-f", "-"],
    {
      input: result.stdout,
    },
  );
  expect(server.code, server.stderr).toBe(0);
  const json = JSON.parse(
    (await stackctl(["pools", "discover", "-l", "sovereign.dev/pool", "-o", "json"])).stdout,
  );
  expect(json.items.map((p: { metadata: { name: string } }) => p.metadata.name)).toEqual(
    expect.arrayContaining(["h100", "mi300x", "tpu-v5e"]),
  );
});

test("pools discover --apply: creates the proposed pool for nodes of its own", async () => {
  const pool = `cli-${token}-trn`;
  const nodes = simulatedNodes({
    name: pool,
    nodes: 1,
    accelerator: { vendor: "aws", model: "trn1.32xlarge", devicesPerNode: 16, memoryGiB: 32 },
    cpu: "128",
    memory: "512Gi",
    // Keeps other test files' pods off this node while it exists.
    taints: [{ key: "aws.amazon.com/neuron", effect: "NoSchedule" }],
  });
  for (const body of nodes) await core.createNode({ body });
  pools.push(pool);
  try {
    const result = await stackctl(["pools", "discover", "-l", `sovereign.dev/pool=${pool}`, "--apply"]);
    expect(result.stderr).toBe("");
    expect(result.stdout).toBe(`acceleratorpool.stack.sovereign.dev/${pool} created\n`);
    const created = await readObject(acceleratorPoolResource, pool);
    expect(created.spec).toMatchObject({
      vendor: "aws",
      model: "trn1.32xlarge",
      memoryGiB: 32,
      nodeSelector: { matchLabels: { "sovereign.dev/pool": pool } },
      tolerations: [{ key: "aws.amazon.com/neuron", operator: "Exists", effect: "NoSchedule" }],
    });
    const again = await stackctl(["pools", "discover", "-l", `sovereign.dev/pool=${pool}`, "--apply"]);
    expect(again.stdout).toBe(`acceleratorpool.stack.sovereign.dev/${pool} unchanged\n`);
  } finally {
    for (const n of nodes) await core.deleteNode({ name: n.metadata?.name ?? "" }).catch(() => {});
  }
});
