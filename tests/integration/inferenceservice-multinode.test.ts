// Replicas spanning nodes on the real API server and scheduler: a 405B bf16 model with
// nodesPerReplica 2 on a pool of four 8 × H100 nodes is served by groups of two pods (a leader
// that runs the Ray head and the server, a worker that joins it), each group admitted whole or
// not at all, the leader the only pod behind the Service; a killed worker restarts its group
// and no other.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { resourceTypes } from "../../controllers/resources.ts";
import type { InferenceService } from "../../crds/index.ts";
import { labels } from "../../crds/index.ts";
import { builtin, type KubeObject, resourcePath } from "../../operator/index.ts";
import { eventually } from "../support/cluster.ts";
import { isReady, type Pod, type ServingTestbed, startServingTestbed } from "../support/serving.ts";

type Isvc = InferenceService & KubeObject;
type MemberPod = Pod & {
  spec: {
    nodeName?: string;
    containers: {
      image?: string;
      command?: string[];
      args?: string[];
      resources?: { limits?: Record<string, string> };
    }[];
  };
};

let bed: ServingTestbed;
const name = "llama-405b";

beforeAll(async () => {
  // Four nodes of 8 × 80 GiB: room for two replicas of 2 nodes, not three.
  bed = await startServingTestbed("multinode", 8, 4);
}, 120_000);

afterAll(async () => {
  await bed?.stop();
});

const getIsvc = () => bed.client.get<Isvc>(resourceTypes.inferenceService, name, bed.ns.name);

/** Every member pod of the service (leaders and workers), by name. */
async function members(): Promise<Map<string, MemberPod>> {
  const list = await bed.client.list<MemberPod>(builtin.pods, {
    namespace: bed.ns.name,
    query: { labelSelector: `${labels.name}=${name},${labels.replica}` },
  });
  return new Map(
    list.items.filter((p) => !p.metadata.deletionTimestamp).map((p) => [p.metadata.name ?? "", p]),
  );
}

describe("a 405B service with nodesPerReplica: 2", () => {
  it("runs groups of 2 pods admitted whole: two fit, the third waits with no pod of it created", async () => {
    const nv = bed.pools[0]?.name ?? "";
    // A retry starts from nothing: the first attempt's service and its pods go first.
    await bed.client.delete(resourceTypes.inferenceService, name, bed.ns.name).catch(() => {});
    await eventually(
      async () =>
        !(await bed.client.getOrUndefined(resourceTypes.inferenceService, name, bed.ns.name)) &&
        (await members()).size === 0
          ? true
          : undefined,
      60_000,
      "no service and no member pod left",
    );
    await bed.client.create(resourceTypes.inferenceService, {
      apiVersion: resourceTypes.inferenceService.apiVersion,
      kind: "InferenceService",
      metadata: { name, namespace: bed.ns.name },
      spec: {
        // (754 GiB of weights + 16 GiB of KV cache) / 0.9 over 2 nodes: 8 × 80 GiB a node.
        model: { uri: "hf://meta-llama/Llama-3.1-405B-Instruct", parameters: 405, attentionHeads: 128 },
        engine: { image: "vllm/vllm-openai:v0.11.0" },
        accelerators: { pools: [nv] },
        nodesPerReplica: 2,
        replicas: 3,
      },
    });
    // The engine's reason for the third comes with the pass after the one that admitted two
    // (until then the condition says it waits for that pass).
    const status = await eventually(
      async () => {
        const s = (await getIsvc()).status;
        const admitted = s?.conditions?.find((c) => c.type === "Admitted");
        return s?.readyReplicas === 2 && admitted?.message?.includes("needs") ? s : undefined;
      },
      90_000,
      "two replicas ready and the engine's reason for the third",
    );
    expect(status.placements).toEqual([
      { pool: nv, devicesPerReplica: 16, nodesPerReplica: 2, replicas: 2, readyReplicas: 2 },
    ]);
    const admitted = status.conditions?.find((c) => c.type === "Admitted");
    expect(admitted?.reason).toBe("PartiallyAdmitted");
    expect(admitted?.message).toMatch(
      /2 of 3 replicas admitted.*needs 1 replica of 2 nodes × .* \(8 devices on .*has room for 0/,
    );

    const pods = await members();
    expect([...pods.keys()].sort()).toEqual([
      `${name}-${nv}-0-0`,
      `${name}-${nv}-0-1`,
      `${name}-${nv}-1-0`,
      `${name}-${nv}-1-1`,
    ]);
    // Every member on a node of its own, asking for the node's 8 devices.
    expect(new Set([...pods.values()].map((p) => p.spec.nodeName)).size).toBe(4);
    for (const p of pods.values())
      expect(p.spec.containers[0]?.resources?.limits?.["nvidia.com/gpu"]).toBe("8");
    const leader = pods.get(`${name}-${nv}-0-0`) as MemberPod;
    // Tensor parallel within a node, pipeline parallel over the two, Ray as the executor.
    const args = (leader.spec.containers[0]?.args ?? []).join(" ");
    for (const flag of [
      "--tensor-parallel-size 8",
      "--pipeline-parallel-size 2",
      "--distributed-executor-backend ray",
    ])
      expect(args).toContain(flag);
    // The leaders alone serve: the Service's endpoints and the router's selection (group=server).
    const servers = await bed.podsOf(name, "server");
    expect(servers.map((p) => p.metadata.name).sort()).toEqual([`${name}-${nv}-0-0`, `${name}-${nv}-1-0`]);
    expect((await bed.podsOf(name, "worker")).length).toBe(2);
    // kwok marks a pod ready as it starts and the pod runner's probe takes that back until the
    // engine simulator (started from the leader's shell, with its arguments) has loaded.
    // (Until then, a pod of another file that had the address a moment ago may still answer.)
    const served = await eventually(
      () =>
        fetch(`http://${leader.status?.podIP}:8000/v1/models`)
          .then((r) => (r.ok ? (r.json() as Promise<{ data: { id: string }[] }>) : undefined))
          .then((m) => (m?.data[0]?.id === name ? m.data[0].id : undefined))
          .catch(() => undefined),
      60_000,
      "the leader's server answering for the model",
    );
    expect(served).toBe(name);
  });

  it("restarts the group of a killed worker whole, and no other group", async () => {
    const nv = bed.pools[0]?.name ?? "";
    const before = await members();
    const uid = (pod: string) => before.get(pod)?.metadata.uid;
    await bed.client.delete(builtin.pods, `${name}-${nv}-1-1`, bed.ns.name);
    // The leader of group 1 goes too; then both come back as new pods.
    const after = await eventually(
      async () => {
        const now = await members();
        const leader = now.get(`${name}-${nv}-1-0`);
        const worker = now.get(`${name}-${nv}-1-1`);
        const replaced = leader && worker && leader.metadata.uid !== uid(`${name}-${nv}-1-0`);
        return replaced && worker.metadata.uid !== uid(`${name}-${nv}-1-1`) && isReady(leader)
          ? now
          : undefined;
      },
      90_000,
      "group 1 restarted whole",
    );
    for (const pod of [`${name}-${nv}-0-0`, `${name}-${nv}-0-1`])
      expect(after.get(pod)?.metadata.uid).toBe(uid(pod));
    // The restarting group kept its nodes: the waiting third replica did not take them.
    expect([...after.keys()].sort()).toEqual([...before.keys()].sort());
    const restart = await eventually(
      async () => {
        const events = await bed.client.list<KubeObject & { reason?: string; note?: string }>(
          builtin.events,
          {
            namespace: bed.ns.name,
          },
        );
        return events.items.find((e) => e.reason === "ReplicaRestarted");
      },
      30_000,
      "the ReplicaRestarted event",
    );
    expect(restart.note).toMatch(new RegExp(`replica 1 on pool ${nv} restarts whole: member`));
    await eventually(
      async () => ((await getIsvc()).status?.readyReplicas === 2 ? true : undefined),
      60_000,
      "two replicas ready again",
    );
  });

  it("scales in groups: down to one, the highest group goes whole and the waiting one is dropped", async () => {
    const nv = bed.pools[0]?.name ?? "";
    const before = await members();
    // Through the scale subresource, as kubectl scale and an HPA do.
    await bed.client.patch(
      resourceTypes.inferenceService,
      name,
      bed.ns.name,
      { spec: { replicas: 1 } },
      "merge",
      {
        subresource: "scale",
      },
    );
    const left = await eventually(
      async () => {
        const now = await members();
        return now.size === 2 ? now : undefined;
      },
      60_000,
      "one group left",
    );
    expect([...left.keys()].sort()).toEqual([`${name}-${nv}-0-0`, `${name}-${nv}-0-1`]);
    for (const [pod, p] of left) expect(p.metadata.uid).toBe(before.get(pod)?.metadata.uid);
    const status = await eventually(
      async () => {
        const s = (await getIsvc()).status;
        return s?.placements?.[0]?.replicas === 1 && s.readyReplicas === 1 ? s : undefined;
      },
      30_000,
      "the status of one replica",
    );
    expect(status.conditions?.find((c) => c.type === "Admitted")?.reason).toBe("Admitted");
    expect(status.admission?.placements?.[0]?.nodes).toHaveLength(2);
  });

  it("rolls an image change in groups: a surge group first, then the group replaced whole, then the surge gone", async () => {
    const nv = bed.pools[0]?.name ?? "";
    const before = await members();
    // Every member pod the API server adds, from a watch: a surge group can come and go between
    // two polls when the machine is loaded, a watch misses none.
    const seen = new Set<string>();
    const listed = await bed.client.list<MemberPod>(builtin.pods, { namespace: bed.ns.name });
    const stop = new AbortController();
    const watching = bed.client
      .watch<MemberPod>(
        resourcePath(builtin.pods, bed.ns.name),
        (e) => {
          if (e.type === "ADDED" && e.object.metadata.labels?.[labels.name] === name)
            seen.add(e.object.metadata.name ?? "");
        },
        {
          signal: stop.signal,
          query: { resourceVersion: listed.metadata.resourceVersion, timeoutSeconds: 170 },
        },
      )
      .catch(() => undefined);
    const image = "vllm/vllm-openai:v0.11.1";
    await bed.client.patch(
      resourceTypes.inferenceService,
      name,
      bed.ns.name,
      { spec: { engine: { image } } },
      "merge",
    );
    try {
      const rolled = await eventually(
        async () => {
          const now = await members();
          const done =
            now.size === 2 &&
            [...now.values()].every(
              (p) =>
                p.spec.containers[0]?.image === image &&
                p.metadata.uid !== before.get(p.metadata.name ?? "")?.metadata.uid,
            ) &&
            isReady(now.get(`${name}-${nv}-0-0`) as MemberPod);
          return done ? now : undefined;
        },
        120_000,
        "the group on the new image",
      );
      expect([...rolled.keys()].sort()).toEqual([`${name}-${nv}-0-0`, `${name}-${nv}-0-1`]);
    } finally {
      stop.abort();
      await watching;
    }
    // maxSurge 1: the surge group (index 1, after the count) came and went, both its members.
    expect(seen.has(`${name}-${nv}-1-0`) && seen.has(`${name}-${nv}-1-1`)).toBe(true);
  }, 180_000);
});
