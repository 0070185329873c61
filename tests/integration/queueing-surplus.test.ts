// Quotas that take back or hold to part of a workload, on the real control plane: an elastic
// training job is admitted with the nodes its team's quota allows, not refused; team A's
// RayCluster borrows B's idle H100s with workers above its group's minReplicas, and when B
// submits a training job the cluster gives back its two highest-index workers (deleted, the
// admission trimmed, a Preempted event) instead of being evicted, and B runs. The workers come
// back once there is room again.
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { resourceTypes } from "../../controllers/resources.ts";
import type { AdmissionStatus } from "../../crds/index.ts";
import { builtin, type KubeObject } from "../../operator/index.ts";
import { eventually } from "../support/cluster.ts";
import { dedicatedJob, type Harness, startHarness } from "./trainingjob-harness.ts";

let h: Harness;
const suffix = randomBytes(3).toString("hex");
const teamA = `sa-${suffix}`;
const teamB = `sb-${suffix}`;
const solo = `ss-${suffix}`;
const rc = resourceTypes.rayCluster;

type RC = KubeObject & { status?: { admission?: AdmissionStatus } };

beforeAll(async () => {
  h = await startHarness("surplus", { nodes: 2, queueing: true, rayClusters: true });
  for (const name of [teamA, teamB])
    await h.client.create(resourceTypes.teamQuota, {
      apiVersion: resourceTypes.teamQuota.apiVersion,
      kind: "TeamQuota",
      metadata: { name },
      spec: { cohort: `sc-${suffix}`, devices: [{ name: "h100", pools: [h.pool], nominal: 8 }] },
    });
  await h.client.create(resourceTypes.teamQuota, {
    apiVersion: resourceTypes.teamQuota.apiVersion,
    kind: "TeamQuota",
    metadata: { name: solo },
    spec: { devices: [{ name: "h100", pools: [h.pool], nominal: 8 }] },
  });
  for (const [name, team] of [
    ["a", teamA],
    ["b", teamB],
    ["solo", solo],
  ] as const)
    await h.client.create(resourceTypes.acceleratorQueue, {
      apiVersion: resourceTypes.acceleratorQueue.apiVersion,
      kind: "AcceleratorQueue",
      metadata: { name, namespace: h.ns },
      spec: { teamQuota: team },
    });
});

afterAll(async () => {
  await h?.client.delete(rc, "ray", h.ns).catch(() => {});
  for (const name of [teamA, teamB, solo])
    await h?.client.delete(resourceTypes.teamQuota, name).catch(() => {});
  await h?.stop();
});

const workers = async (): Promise<string[]> =>
  (await h.client.list<KubeObject>(builtin.pods, { namespace: h.ns })).items
    .map((p) => p.metadata.name ?? "")
    .filter((n) => n.startsWith("ray-gpu-"))
    .sort();

const admittedWorkers = (c: RC | undefined): number | undefined =>
  c?.status?.admission?.placements?.find((p) => p.group === "gpu")?.replicas;

/** The cluster's worker pod names once there are `n` of them. */
const workersBecome = (n: number, what: string): Promise<string[]> =>
  eventually(
    async () => {
      const names = await workers();
      return names.length === n ? names : undefined;
    },
    60_000,
    what,
  );

const gpuWorkers = { cpu: "2", memory: "4Gi" };
const cluster = (): KubeObject => ({
  apiVersion: rc.apiVersion,
  kind: rc.kind,
  metadata: { name: "ray", namespace: h.ns },
  spec: {
    queueName: "a",
    rayVersion: "2.52.0",
    image: "rayproject/ray:2.52.0",
    head: { resources: { cpu: "1", memory: "2Gi" }, rayStartParams: { "num-cpus": "0" } },
    workerGroups: [
      {
        name: "gpu",
        replicas: 4,
        minReplicas: 1,
        accelerators: { count: 4, vendors: ["nvidia"], pools: [h.pool] },
        resources: gpuWorkers,
      },
    ],
  },
});

describe("quota preemption of surplus pods", () => {
  it("an elastic job starts with the nodes its team's quota allows", async () => {
    // Both nodes are free, the team may use 8 devices: one node of the 1 to 2 it could use.
    await h.create(
      "stretchy",
      dedicatedJob(h, 0, {}, {
        nodes: undefined,
        elastic: { minNodes: 1, maxNodes: 2 },
        queueName: "solo",
      } as never),
    );
    const running = await h.when("stretchy", "Running", (j) => j.status?.phase === "Running");
    expect(running.status?.nodes).toBe(1);
    await h.retire("stretchy");
  });

  it("a RayCluster gives back its highest workers above minReplicas to the team it borrowed from", async () => {
    await h.client.create(rc, cluster());
    // 4 workers × 4 H100: A uses 16 of its 8, borrowing B's idle 8.
    await workersBecome(4, "the cluster's 4 workers");
    expect(admittedWorkers(await h.client.get<RC>(rc, "ray", h.ns))).toBe(4);

    await h.create("b-job", dedicatedJob(h, 1, {}, { queueName: "b" } as never));
    const left = await workersBecome(2, "two workers taken back");
    // The highest indices went; the cluster was not evicted.
    expect(left).toEqual(["ray-gpu-0", "ray-gpu-1"]);
    await h.when("b-job", "Running", (j) => j.status?.phase === "Running");
    const events = await eventually(
      async () => {
        const list = (
          await h.client.list<KubeObject & { reason?: string; note?: string; regarding?: { name?: string } }>(
            builtin.events,
            { namespace: h.ns },
          )
        ).items.filter((e) => e.regarding?.name === "ray" && e.reason === "Preempted");
        return list.length > 0 ? list : undefined;
      },
      30_000,
      "the cluster's Preempted event",
    );
    expect(events[0]?.note).toContain(`reclaims the quota team ${teamA} borrowed`);
    // Its 2 missing workers wait for room, and come back when B is done.
    await h.retire("b-job");
    await workersBecome(4, "the workers back once B is gone");
  });
});
