// A RayCluster whose pods run for real: the head and two worker groups (GPUs on an NVIDIA pool,
// TPU chips declared as Ray's TPU resource on a TPU pool) start from the pods' own `ray start`
// lines, each at its pod's loopback address, and join one Ray cluster. A driver run as
// `kubectl exec` into the head would run it checks what Ray itself reports.
import { execFile } from "node:child_process";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Admitter } from "../../controllers/admission/index.ts";
import { rayClusterController } from "../../controllers/raycluster/index.ts";
import { resourceTypes } from "../../controllers/resources.ts";
import type { KubeObject } from "../../operator/index.ts";
import { eventually } from "../support/cluster.ts";
import {
  type Pod,
  podsOf,
  pool,
  type RealTestbed,
  realRayCluster,
  realRayHead,
  smallObjectStore,
  startRealTestbed,
} from "./harness.ts";

const rt = resourceTypes.rayCluster;
const driver = join(import.meta.dirname, "ray_probe.py");
// Not Ray's defaults, so a Ray another program runs on this machine cannot be in the way; the
// client port stays below Ray's worker port range (10002-19999).
const ports = { gcs: 6390, dashboard: 8275, client: 10000, metrics: 8090 };
const small = smallObjectStore;

let t: RealTestbed;

beforeAll(async () => {
  t = await startRealTestbed(
    "real-ray",
    [
      pool("real-gpu", 1, {
        vendor: "nvidia",
        model: "NVIDIA-H100-80GB-HBM3",
        devicesPerNode: 2,
        memoryGiB: 80,
      }),
      pool("real-tpu", 1, {
        vendor: "google",
        model: "tpu-v5-lite-podslice",
        devicesPerNode: 4,
        memoryGiB: 16,
      }),
    ],
    (m) => m.add(rayClusterController(new Admitter(m))),
    // The head asks for no accelerator and no pool: it goes to a plain node, the shared CPU pool's.
    ["cpu"],
  );
});

afterAll(async () => {
  await t?.stop();
});

const running = (pods: Pod[]) =>
  pods.length > 0 && pods.every((p) => p.status?.phase === "Running" && p.status.podIP);

describe("a RayCluster run by real Ray", () => {
  it("joins the head, a GPU group and a TPU group into one cluster; a TPU task runs on the TPU worker", async () => {
    const [gpuPool, tpuPool] = t.pools;
    await t.client.create(
      rt,
      realRayCluster("rc", t.ns, {
        head: realRayHead(ports, 0),
        workerGroups: [
          {
            name: "gpu",
            replicas: 1,
            accelerators: { count: 2, vendors: ["nvidia"], pools: [gpuPool] },
            resources: { cpu: "1", memory: "1Gi" },
            rayStartParams: small,
          },
          {
            name: "tpu",
            replicas: 1,
            accelerators: { count: 4, vendors: ["google"], pools: [tpuPool] },
            resources: { cpu: "1", memory: "1Gi" },
            rayStartParams: small,
          },
        ],
      }),
    );

    const pods = await eventually(
      async () => {
        const all = await t.pods(podsOf("raycluster", "rc"));
        return all.length === 3 && running(all) ? all : undefined;
      },
      120_000,
      "rc: head and two workers running",
    );
    const byName = new Map(pods.map((p) => [p.metadata.name, p]));
    const ip = (name: string) => byName.get(name)?.status?.podIP ?? "";
    expect(byName.get("rc-head")?.spec.nodeName).toMatch(/^cpu-\d+$/);

    // Each worker's raylet is up once its `ray start --block` says so.
    for (const worker of ["rc-gpu-0", "rc-tpu-0"])
      await eventually(
        async () => (t.log(worker, "ray-worker").includes("Ray runtime started") ? true : undefined),
        240_000,
        `${worker}: Ray runtime started (log: ${t.log(worker, "ray-worker").slice(-1500)})`,
      );

    const { stdout } = await promisify(execFile)(
      join(t.venv, "bin", "python"),
      [driver, ip("rc-head"), String(ports.gcs)],
      {
        env: { PATH: process.env.PATH, HOME: process.env.HOME, RAY_USAGE_STATS_ENABLED: "0" },
        timeout: 240_000,
      },
    );
    const line = stdout.split("\n").find((l) => l.startsWith("RESULT "));
    expect(line, stdout.slice(-2000)).toBeDefined();
    const result = JSON.parse(line?.slice(7) ?? "{}") as {
      resources: Record<string, number>;
      nodes: string[];
      tpuTaskNode: string;
      gpuTaskNode: string;
    };
    expect(result.nodes).toEqual([ip("rc-head"), ip("rc-gpu-0"), ip("rc-tpu-0")].sort());
    expect(result.resources).toMatchObject({ CPU: 2, GPU: 2, TPU: 4 });
    expect(result.tpuTaskNode).toBe(ip("rc-tpu-0"));
    expect(result.gpuTaskNode).toBe(ip("rc-gpu-0"));
    // The head's readiness probe (the dashboard's /api/gcs_healthz) now answers for real, so the
    // controller, which reads the pods' Ready conditions, calls the cluster Ready.
    await eventually(
      async () => {
        const rc = await t.client.getOrUndefined<KubeObject & { status?: { phase?: string } }>(
          rt,
          "rc",
          t.ns,
        );
        return rc?.status?.phase === "Ready" ? true : undefined;
      },
      60_000,
      "rc: Ready",
    );
  });
});
