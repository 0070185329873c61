// Replicas spanning nodes: the group plan (restart whole, roll in groups, scale in groups) and
// the member pods as vLLM's multi-node serving runs them.
import { describe, expect, it } from "vitest";
import type { InferenceServiceObject } from "../../controllers/inferenceservice/adapter.ts";
import { requirementOf, workloadFor } from "../../controllers/inferenceservice/adapter.ts";
import { groupTemplate, memberPod } from "../../controllers/inferenceservice/group-pods.ts";
import { groupMajorNodes, withMemberNodes } from "../../controllers/inferenceservice/group-sync.ts";
import { type MemberObservation, planGroups } from "../../controllers/inferenceservice/groups.ts";
import { selectorString } from "../../controllers/inferenceservice/names.ts";
import { resourceTypes } from "../../controllers/resources.ts";
import type { AcceleratorPool } from "../../crds/index.ts";
import { inferenceServiceResource, labels } from "../../crds/index.ts";
import type { KubeObject } from "../../operator/index.ts";

const member = (index: number, rank: number, over: Partial<MemberObservation> = {}): MemberObservation => ({
  name: `llm-h100-${index}-${rank}`,
  index,
  rank,
  hash: "v1",
  phase: "Running",
  ready: true,
  deleting: false,
  createdAt: 0,
  ...over,
});

/** `groups` whole groups of two members at the given template digests. */
const whole = (hashes: string[], over: (i: number) => Partial<MemberObservation> = () => ({})) =>
  hashes.flatMap((hash, i) => [member(i, 0, { hash, ...over(i) }), member(i, 1, { hash, ...over(i) })]);

const plan = (members: MemberObservation[], over: Partial<Parameters<typeof planGroups>[0]> = {}) =>
  planGroups({
    desired: 2,
    size: 2,
    hash: "v1",
    maxSurge: 1,
    maxUnavailable: 0,
    members,
    now: 60_000,
    graceMs: 5000,
    ...over,
  });

describe("groupMajorNodes", () => {
  it("turns the engine's node-by-node list, dealt to replicas in turn, into one replica after another", () => {
    // Three replicas of two pods: the engine lists pods by node, replica i has pods i and i + 3.
    const nodes = ["a", "a", "b", "c", "c", "d"];
    expect(groupMajorNodes(nodes, 2)).toEqual(["a", "c", "a", "c", "b", "d"]);
  });
});

describe("withMemberNodes", () => {
  const member = (replica: number, rank: number, nodeName?: string) => ({
    metadata: {
      name: `m-${replica}-${rank}`,
      labels: { [labels.pool]: "h100", [labels.replica]: String(replica), [labels.rank]: String(rank) },
    },
    spec: nodeName ? { nodeName } : {},
  });
  it("records the node each bound member runs on, replica by replica, and leaves the rest", () => {
    const admission = {
      placements: [{ group: "server/h100", pool: "h100", replicas: 2, nodes: ["a", "b", "c", "d"] }],
    };
    const members = [member(0, 1, "x"), member(1, 0), member(1, 1, "d"), member(2, 0, "y")];
    expect(withMemberNodes(admission, members, 2)?.placements?.[0]?.nodes).toEqual(["a", "x", "c", "d"]);
    // Nothing moved: the same object, so no status write follows.
    expect(withMemberNodes(admission, [member(0, 0, "a")], 2)).toBe(admission);
  });
});

describe("the group plan", () => {
  it("creates every absent group whole, and nothing more when all are there", () => {
    expect(plan([])).toMatchObject({ create: [0, 1], delete: [], existing: 0, ready: 0 });
    expect(plan(whole(["v1", "v1"]))).toMatchObject({ create: [], delete: [], existing: 2, ready: 2 });
  });

  it("restarts only the group of a failed member, deleting all of it", () => {
    const members = whole(["v1", "v1"]);
    members[3] = { ...(members[3] as MemberObservation), phase: "Failed" };
    const p = plan(members);
    expect(p.delete.map((d) => d.name)).toEqual(["llm-h100-1-0", "llm-h100-1-1"]);
    expect(p.restarted).toEqual([{ index: 1, why: "member llm-h100-1-1 failed" }]);
    expect(p.create).toEqual([]); // once it is gone
    expect(p.ready).toBe(1);
  });

  it("restarts a group whose member is gone, after the grace the cache may lag by", () => {
    const members = whole(["v1", "v1"]).filter((m) => m.name !== "llm-h100-0-1");
    expect(plan(members).restarted).toEqual([{ index: 0, why: "member of rank 1 gone" }]);
    const fresh = members.map((m) => ({ ...m, createdAt: 58_000 }));
    const young = plan(fresh);
    expect(young.delete).toEqual([]);
    expect(young.recheckMs).toBe(3000);
  });

  it("restarts the group of a member someone else deleted, once; its own deletions are no failure", () => {
    const members = whole(["v1", "v1"]);
    members[1] = { ...(members[1] as MemberObservation), deleting: true };
    const p = plan(members);
    expect(p.restarted).toEqual([{ index: 0, why: "member llm-h100-0-1 deleted" }]);
    expect(p.delete.map((d) => d.name)).toEqual(["llm-h100-0-0"]);
    // The leader is being deleted by the restart: no second restart.
    members[0] = { ...(members[0] as MemberObservation), deleting: true, deletedByUs: true };
    expect(plan(members).restarted).toEqual([]);
  });

  it("waits for a group being deleted to be gone before creating it again", () => {
    const members = whole(["v1", "v1"]);
    members[0] = { ...(members[0] as MemberObservation), deleting: true, deletedByUs: true };
    const p = plan(members);
    expect(p.create).toEqual([]);
    expect(p.delete.map((d) => d.name)).toEqual(["llm-h100-0-1"]);
    expect(plan(members.slice(2)).create).toEqual([0]);
  });

  it("rolls with a surge group first, then replaces one ready group at a time, then drops the surge", () => {
    // maxSurge 1, maxUnavailable 0: a third group (index 2) at the new digest comes first.
    const start = plan(whole(["v0", "v0"]));
    expect(start).toMatchObject({ create: [2], delete: [] });
    // The surge group is not ready yet: nothing old may go.
    const loading = plan([...whole(["v0", "v0"]), member(2, 0, { ready: false }), member(2, 1)]);
    expect(loading.delete).toEqual([]);
    // It is ready: one old group goes.
    const surged = plan(whole(["v0", "v0", "v1"]));
    expect(surged.delete.map((d) => d.name)).toEqual(["llm-h100-0-0", "llm-h100-0-1"]);
    // Every group below the count is current: the surge group goes.
    const done = plan(whole(["v1", "v1", "v1"]));
    expect(done.delete.map((d) => d.name)).toEqual(["llm-h100-2-0", "llm-h100-2-1"]);
    expect(done.create).toEqual([]);
  });

  it("with maxUnavailable and no surge, replaces that many groups at once, never more", () => {
    const p = plan(whole(["v0", "v0", "v0"]), { desired: 3, maxSurge: 0, maxUnavailable: 2 });
    expect(p.create).toEqual([]);
    expect(new Set(p.delete.map((d) => d.name.split("-")[2]))).toEqual(new Set(["0", "1"]));
    // One group of the new digest is not ready yet: only one more may go.
    const next = plan([...whole(["v1", "v0", "v0"], (i) => (i === 0 ? { ready: false } : {}))], {
      desired: 3,
      maxSurge: 0,
      maxUnavailable: 2,
    });
    expect(new Set(next.delete.map((d) => d.name.split("-")[2]))).toEqual(new Set(["1"]));
  });

  it("replaces an out-of-date group that is not serving at once", () => {
    const p = plan(
      whole(["v0", "v1"], (i) => (i === 0 ? { ready: false } : {})),
      { maxSurge: 0, maxUnavailable: 0 },
    );
    expect(p.delete.map((d) => d.name)).toEqual(["llm-h100-0-0", "llm-h100-0-1"]);
  });

  it("scales in groups: down deletes the highest groups whole, up creates whole groups", () => {
    const down = plan(whole(["v1", "v1", "v1"]), { desired: 1 });
    expect(down.delete.map((d) => d.name)).toEqual([
      "llm-h100-1-0",
      "llm-h100-1-1",
      "llm-h100-2-0",
      "llm-h100-2-1",
    ]);
    expect(plan(whole(["v1"]), { desired: 3 }).create).toEqual([1, 2]);
  });
});

const h100: AcceleratorPool & KubeObject = {
  apiVersion: "stack.sovereign.dev/v1alpha1",
  kind: "AcceleratorPool",
  metadata: { name: "h100" },
  spec: {
    vendor: "nvidia",
    model: "H100",
    memoryGiB: 80,
    nodeSelector: { matchLabels: { pool: "h100" } },
    paused: false,
  } as AcceleratorPool["spec"],
};

function service(spec: Record<string, unknown>): InferenceServiceObject {
  const parsed = inferenceServiceResource.schema.parse({
    apiVersion: "stack.sovereign.dev/v1alpha1",
    kind: "InferenceService",
    metadata: { name: "big", namespace: "ml", uid: "u1" },
    spec: {
      model: { uri: "hf://meta-llama/Llama-3.1-405B-Instruct" },
      engine: { image: "vllm/vllm-openai:v0.11.0" },
      ...spec,
    },
  });
  return parsed as InferenceServiceObject;
}

interface PodView extends KubeObject {
  spec: {
    containers: {
      command: string[];
      args: string[];
      env: unknown[];
      resources: { limits: Record<string, string> };
      readinessProbe?: unknown;
      ports?: unknown;
    }[];
    subdomain: string;
    restartPolicy: string;
    affinity: { podAntiAffinity: { requiredDuringSchedulingIgnoredDuringExecution: unknown[] } };
  };
}

describe("the members of a replica spanning nodes", () => {
  const svc = service({
    model: { uri: "hf://meta-llama/Llama-3.1-405B-Instruct", parameters: 405 },
    nodesPerReplica: 2,
  });

  it("gives each pod the devices of its node: 405B over 2 nodes of 8 × 80 GiB", () => {
    const group = groupTemplate(svc, h100);
    expect(group.devicesPerPod).toBe(8);
    expect(group.size).toBe(2);
    const w = workloadFor(resourceTypes.inferenceService, svc, 1);
    expect(w.groups[0]?.podsPerReplica).toBe(2);
    expect(requirementOf(svc).replicaShape?.memoryGiB).toBeCloseTo(
      (405e9 * 2) / 2 ** 30 / 0.9 / 2 + 16 / 0.9 / 2,
      5,
    );
  });

  it("starts the leader as the Ray head and the server with PP over nodes and Ray, the worker as a Ray node", () => {
    const group = groupTemplate(svc, h100);
    const leader = memberPod(svc, "h100", group, 3, 0) as PodView;
    const worker = memberPod(svc, "h100", group, 3, 1) as PodView;
    expect(leader.metadata.name).toBe("big-h100-3-0");
    expect(leader.metadata.labels?.[labels.group]).toBe("server");
    expect(worker.metadata.labels?.[labels.group]).toBe("worker");
    // The Service, the router (--pods=<model>=<selector>) and the scale subresource select leaders only.
    const selects = (pod: KubeObject) =>
      selectorString("big")
        .split(",")
        .every((kv) => {
          const [k, v] = kv.split("=");
          return pod.metadata.labels?.[k as string] === v;
        });
    expect([selects(leader), selects(worker)]).toEqual([true, false]);
    const server = leader.spec.containers[0] as PodView["spec"]["containers"][number];
    expect(server.command.slice(0, 2)).toEqual(["/bin/sh", "-c"]);
    expect(server.command[2]).toMatch(/ray start --head --port=6379/);
    const args: string[] = server.args;
    const at = (flag: string) => args[args.indexOf(flag) + 1];
    expect([
      at("--tensor-parallel-size"),
      at("--pipeline-parallel-size"),
      at("--distributed-executor-backend"),
    ]).toEqual(["8", "2", "ray"]);
    expect(server.resources.limits["nvidia.com/gpu"]).toBe("8");
    const ray = worker.spec.containers[0] as PodView["spec"]["containers"][number];
    expect(ray.command[2]).toMatch(/ray start --address="\$LEADER_ADDRESS:6379" --block/);
    expect(ray.readinessProbe).toBeUndefined();
    expect(ray.ports).toBeUndefined();
    expect(ray.env).toContainEqual({ name: "LEADER_ADDRESS", value: "big-h100-3-0.big-h100.ml.svc" });
    expect(ray.resources.limits["nvidia.com/gpu"]).toBe("8");
    // One member per node, found by name under the pool's headless Service, never restarted alone.
    expect(worker.spec.subdomain).toBe("big-h100");
    expect(worker.spec.restartPolicy).toBe("Never");
    expect(worker.spec.affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution[0]).toEqual({
      labelSelector: {
        matchLabels: {
          [labels.kind]: "inferenceservice",
          [labels.name]: "big",
          [labels.pool]: "h100",
          [labels.replica]: "3",
        },
      },
      topologyKey: "kubernetes.io/hostname",
    });
    expect(leader.metadata.labels?.[labels.templateHash]).toBe(group.hash);
  });

  it("refuses nodesPerReplica and pipelineParallelSize that differ, naming the field", () => {
    expect(() =>
      service({ nodesPerReplica: 2, engine: { image: "vllm/vllm-openai:v0.11.0", pipelineParallelSize: 4 } }),
    ).toThrow(/pipelineParallelSize must equal nodesPerReplica/);
  });
});
