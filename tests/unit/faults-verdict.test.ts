// The fault verdict finds each kind of fault it counts, and none in a correct end state.
import { describe, expect, it } from "vitest";
import { labels } from "../../crds/labels.ts";
import type { KubeObject } from "../../operator/resource.ts";
import { AdmissionHistory, faultCounts, judge, type Snapshot } from "../integration/faults-verdict.ts";

const nodes = [
  { name: "n0", allocatable: { "nvidia.com/gpu": 8 } },
  { name: "n1", allocatable: { "nvidia.com/gpu": 8 } },
];
const gpu = "nvidia.com/gpu";

const job = (name: string, placedOn?: string[], status: Record<string, unknown> = {}): KubeObject => ({
  kind: "TrainingJob",
  metadata: { name, namespace: "ns", uid: `uid-${name}` },
  spec: { nodes: 2, accelerators: { count: 4 } },
  status: placedOn
    ? {
        phase: "Running",
        nodes: 2,
        readyNodes: 2,
        admission: { placements: [{ group: "workers", pool: "p", resourceName: gpu, nodes: placedOn }] },
        ...status,
      }
    : { phase: "Queued", ...status },
});

const pod = (owner: string, rank: number, node: string, extra: Record<string, string> = {}): KubeObject => ({
  kind: "Pod",
  metadata: {
    name: `${owner}-0-${rank}`,
    namespace: "ns",
    labels: {
      [labels.kind]: "trainingjob",
      [labels.name]: owner,
      [labels.rank]: String(rank),
      [labels.attempt]: "0",
      ...extra,
    },
    ownerReferences: [
      { apiVersion: "v1", kind: "TrainingJob", name: owner, uid: `uid-${owner}`, controller: true },
    ],
  },
  spec: { nodeName: node, containers: [{ resources: { requests: { [gpu]: "4" } } }] },
  status: { phase: "Running", conditions: [{ type: "Ready", status: "True" }] },
});

const service = (owner: string): KubeObject => ({
  kind: "Service",
  metadata: {
    name: owner,
    namespace: "ns",
    labels: { [labels.kind]: "trainingjob" },
    ownerReferences: [
      { apiVersion: "v1", kind: "TrainingJob", name: owner, uid: `uid-${owner}`, controller: true },
    ],
  },
});

const correct = (): Snapshot => ({
  trainingJobs: [job("a", ["n0", "n1"]), job("b", ["n0", "n1"]), job("c")],
  rayClusters: [],
  pods: [pod("a", 0, "n0"), pod("a", 1, "n1"), pod("b", 0, "n0"), pod("b", 1, "n1")],
  services: [service("a"), service("b")],
  nodes,
});

describe("the fault verdict", () => {
  it("finds nothing wrong in a correct end state, and counts admitted and queued", () => {
    const v = judge(correct());
    expect(v.problems).toEqual([]);
    expect(faultCounts(v)).toBe(0);
    expect([v.admitted, v.queued]).toEqual([2, 1]);
  });

  it("counts a duplicate, an orphan, a missing pod and a pod of a queued job", () => {
    const s = correct();
    s.pods.push({ ...pod("a", 1, "n1"), metadata: { ...pod("a", 1, "n1").metadata, name: "a-1-1" } });
    s.pods.push(pod("gone", 0, "n0"));
    s.pods = s.pods.filter((p) => p.metadata.name !== "b-0-1");
    s.pods.push(pod("c", 0, "n0"));
    const v = judge(s);
    expect(v.duplicates).toBeGreaterThanOrEqual(1);
    expect(v.orphans).toBe(1);
    expect(v.missing).toBe(1);
    expect(v.unadmittedChildren).toBe(1);
  });

  it("counts devices booked twice, by admissions and by bound pods", () => {
    const s = correct();
    s.trainingJobs.push(job("d", ["n0", "n1"]));
    s.pods.push(pod("d", 0, "n0"), pod("d", 1, "n1"));
    s.services.push(service("d"));
    expect(judge(s).doubleBooked).toBe(2);
  });

  it("counts a status that does not match the children and a pod on another node", () => {
    const s = correct();
    s.trainingJobs[0] = job("a", ["n0", "n1"], { readyNodes: 1 });
    s.pods[1] = pod("a", 1, "n0");
    const v = judge(s);
    expect(v.statusMismatches).toBe(1);
    expect(v.misplaced).toBe(1);
  });

  it("remembers a workload admitted onto other nodes, and a moment of overbooking", () => {
    const history = new AdmissionHistory(nodes);
    history.observe(job("a", ["n0", "n1"]));
    history.observe(job("b", ["n0", "n1"]));
    history.observe(job("x", ["n0", "n0"]));
    history.forget(job("x", ["n0", "n0"]));
    history.observe(job("a", ["n1", "n0"]));
    const v = judge(correct(), history);
    expect(v.admittedTwice).toBe(1);
    expect(v.doubleBooked).toBeGreaterThan(0);
  });
});
