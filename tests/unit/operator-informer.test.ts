import { describe, expect, it } from "vitest";
import { isSubset } from "../../operator/equality.ts";
import { Informer } from "../../operator/informer.ts";
import { KubeClient } from "../../operator/kube-client.ts";
import {
  indexByNodeName,
  indexByOwnerUid,
  nodeNameIndex,
  ObjectStore,
  ownerUidIndex,
} from "../../operator/object-store.ts";
import type { KubeObject } from "../../operator/resource.ts";
import { keyOf, objectKey, resourceOfPath, resourcePath, splitKey } from "../../operator/resource.ts";
import { leanNode, leanPod, stripManagedFields } from "../../operator/transform.ts";

const pod = (name: string, rv: string, extra: Partial<KubeObject> = {}, ns = "a"): KubeObject => ({
  apiVersion: "v1",
  kind: "Pod",
  metadata: { name, namespace: ns, resourceVersion: rv, uid: `uid-${name}` },
  ...extra,
});

describe("ObjectStore", () => {
  it("stores by namespace/name and lists by namespace", () => {
    const s = new ObjectStore();
    s.upsert(pod("x", "1"));
    s.upsert(pod("y", "1", {}, "b"));
    expect(s.get("a/x")?.metadata.name).toBe("x");
    expect(s.list("a").map(objectKey)).toEqual(["a/x"]);
    expect(s.list().length).toBe(2);
    s.delete("a/x");
    expect(s.list("a")).toEqual([]);
  });

  it("keeps indexes current across updates and deletes", () => {
    const s = new ObjectStore({ [ownerUidIndex]: indexByOwnerUid, [nodeNameIndex]: indexByNodeName });
    const owned = (name: string, owner: string, node?: string) =>
      pod(name, "1", {
        metadata: {
          name,
          namespace: "a",
          resourceVersion: "1",
          ownerReferences: [{ apiVersion: "v1", kind: "X", name: owner, uid: owner, controller: true }],
        },
        spec: node ? { nodeName: node } : {},
      });
    s.upsert(owned("p1", "o1"));
    s.upsert(owned("p2", "o1", "n1"));
    s.upsert(owned("p3", "o2", "n1"));
    expect(s.indexKeys(ownerUidIndex, "o1").sort()).toEqual(["a/p1", "a/p2"]);
    expect(s.indexKeys(nodeNameIndex, "n1").sort()).toEqual(["a/p2", "a/p3"]);
    s.upsert(owned("p2", "o2", "n2")); // re-owned and moved
    expect(s.indexKeys(ownerUidIndex, "o1")).toEqual(["a/p1"]);
    expect(s.indexKeys(nodeNameIndex, "n1")).toEqual(["a/p3"]);
    expect(s.byIndex(nodeNameIndex, "n2").map(objectKey)).toEqual(["a/p2"]);
    s.delete("a/p1");
    expect(s.indexKeys(ownerUidIndex, "o1")).toEqual([]);
    expect(() => s.indexKeys("nope", "x")).toThrow(/no index/);
  });

  it("indexes objects already stored when an index is added later", () => {
    const s = new ObjectStore();
    s.upsert(pod("p", "1", { spec: { nodeName: "n" } }));
    s.addIndexer(nodeNameIndex, indexByNodeName);
    expect(s.indexKeys(nodeNameIndex, "n")).toEqual(["a/p"]);
  });

  it("replace() reports the difference and ignores unchanged objects", () => {
    const s = new ObjectStore();
    const same = pod("same", "1");
    s.upsert(same);
    s.upsert(pod("changed", "1"));
    s.upsert(pod("gone", "1"));
    s.upsert(pod("elsewhere", "1", {}, "b"));
    const diff = s.replace([pod("same", "1"), pod("changed", "2"), pod("new", "1")], "a");
    expect(diff.added.map(objectKey)).toEqual(["a/new"]);
    expect(diff.updated.map(([o, n]) => [o.metadata.resourceVersion, n.metadata.resourceVersion])).toEqual([
      ["1", "2"],
    ]);
    expect(diff.deleted.map(objectKey)).toEqual(["a/gone"]);
    expect(s.get("a/same")).toBe(same); // identity kept
    expect(s.get("b/elsewhere")).toBeDefined(); // other namespaces untouched
    const all = s.replace([], undefined);
    expect(all.deleted.length).toBe(4);
    expect(s.size).toBe(0);
  });
});

describe("transforms", () => {
  it("drop managedFields and kubectl's last-applied annotation", () => {
    const obj = stripManagedFields({
      metadata: {
        name: "x",
        managedFields: [{ manager: "kubectl" }],
        annotations: { "kubectl.kubernetes.io/last-applied-configuration": "{...}", keep: "me" },
      },
      spec: { a: 1 },
    });
    expect(obj).toEqual({ metadata: { name: "x", annotations: { keep: "me" } }, spec: { a: 1 } });
  });

  it("keep what reconciles need of a Pod and drop the rest", () => {
    const lean = leanPod({
      apiVersion: "v1",
      kind: "Pod",
      metadata: { name: "p", namespace: "a", uid: "u", labels: { app: "x" }, managedFields: [{}] },
      spec: {
        nodeName: "n1",
        priority: 10,
        schedulingGates: [{ name: "g" }],
        containers: [
          {
            name: "main",
            image: "img",
            env: [{ name: "A", value: "B" }],
            resources: { limits: { "nvidia.com/gpu": "8" } },
            volumeMounts: [{ name: "v", mountPath: "/v" }],
          },
        ],
        volumes: [{ name: "v", emptyDir: {} }],
        tolerations: [{ key: "k" }],
      },
      status: {
        phase: "Failed",
        podIP: "10.0.0.1",
        conditions: [{ type: "Ready", status: "False", lastProbeTime: null, lastTransitionTime: "t" }],
        containerStatuses: [
          {
            name: "main",
            ready: false,
            restartCount: 2,
            image: "img",
            imageID: "sha",
            containerID: "c",
            state: { terminated: { exitCode: 137, reason: "OOMKilled" } },
            lastState: {},
          },
        ],
      },
    });
    expect(lean).toEqual({
      apiVersion: "v1",
      kind: "Pod",
      metadata: { name: "p", namespace: "a", uid: "u", labels: { app: "x" } },
      spec: {
        nodeName: "n1",
        priority: 10,
        schedulingGates: [{ name: "g" }],
        containers: [{ name: "main", image: "img", resources: { limits: { "nvidia.com/gpu": "8" } } }],
      },
      status: {
        phase: "Failed",
        podIP: "10.0.0.1",
        conditions: [{ type: "Ready", status: "False" }],
        containerStatuses: [
          {
            name: "main",
            ready: false,
            restartCount: 2,
            state: { terminated: { exitCode: 137, reason: "OOMKilled" } },
          },
        ],
      },
    });
  });

  it("keep a Node's capacity, taints and conditions but not its images", () => {
    const lean = leanNode({
      metadata: { name: "n" },
      spec: { taints: [{ key: "gpu", effect: "NoSchedule" }], podCIDR: "10.0.0.0/24" },
      status: {
        capacity: { "nvidia.com/gpu": "8" },
        allocatable: { "nvidia.com/gpu": "8" },
        images: [{ names: ["a"], sizeBytes: 1 }],
        conditions: [
          { type: "Ready", status: "True", reason: "KubeletReady", message: "ok", lastHeartbeatTime: "t" },
        ],
      },
    });
    expect(lean.status).toEqual({
      capacity: { "nvidia.com/gpu": "8" },
      allocatable: { "nvidia.com/gpu": "8" },
      conditions: [{ type: "Ready", status: "True", reason: "KubeletReady" }],
    });
    expect(lean.spec).toEqual({ taints: [{ key: "gpu", effect: "NoSchedule" }] });
  });
});

describe("isSubset (the no-write check for server-side apply)", () => {
  it("ignores fields the server or others added", () => {
    const desired = { metadata: { name: "c", labels: { a: "1" } }, data: { k: "v" } };
    const actual = {
      metadata: { name: "c", labels: { a: "1", other: "x" }, uid: "u", resourceVersion: "9" },
      data: { k: "v" },
    };
    expect(isSubset(desired, actual)).toBe(true);
  });

  it("detects a changed or missing field", () => {
    expect(isSubset({ data: { k: "v2" } }, { data: { k: "v" } })).toBe(false);
    expect(isSubset({ data: { k: "v" } }, { data: {} })).toBe(false);
    expect(isSubset({ a: 1 }, { a: "1" })).toBe(false);
  });

  it("compares lists element by element and by length", () => {
    const desired = { ports: [{ port: 80 }] };
    expect(isSubset(desired, { ports: [{ port: 80, protocol: "TCP" }] })).toBe(true);
    expect(isSubset(desired, { ports: [{ port: 80 }, { port: 81 }] })).toBe(false);
    expect(isSubset({ args: ["a", "b"] }, { args: ["b", "a"] })).toBe(false);
  });
});

describe("resource paths and keys", () => {
  it("builds core, group, namespaced, cluster-scoped and subresource paths", () => {
    const pods = { apiVersion: "v1", kind: "Pod", plural: "pods", namespaced: true };
    const nodes = { apiVersion: "v1", kind: "Node", plural: "nodes", namespaced: false };
    const widgets = {
      apiVersion: "test.sovereign.dev/v1",
      kind: "Widget",
      plural: "widgets",
      namespaced: true,
    };
    expect(resourcePath(pods)).toBe("/api/v1/pods");
    expect(resourcePath(pods, "ns")).toBe("/api/v1/namespaces/ns/pods");
    expect(resourcePath(nodes, "ignored", "n1")).toBe("/api/v1/nodes/n1");
    expect(resourcePath(widgets, "ns", "w", "status")).toBe(
      "/apis/test.sovereign.dev/v1/namespaces/ns/widgets/w/status",
    );
  });

  it("reads back the resource a path names, as the API server labels it", () => {
    const cases: [string, string][] = [
      ["/api/v1/pods", "pods"],
      ["/api/v1/namespaces/ns/pods?labelSelector=a", "pods"],
      ["/api/v1/namespaces/ns/pods/p/binding", "pods/binding"],
      ["/api/v1/namespaces", "namespaces"],
      ["/api/v1/namespaces/ns", "namespaces"],
      ["/api/v1/namespaces/ns/status", "namespaces/status"],
      ["/apis/test.sovereign.dev/v1/namespaces/ns/widgets/w/status", "widgets/status"],
      ["/apis/coordination.k8s.io/v1/namespaces/ns/leases/l", "leases"],
      ["/version", "<other>"],
    ];
    expect(cases.map(([path]) => resourceOfPath(path))).toEqual(cases.map(([, r]) => r));
  });

  it("splits and joins keys", () => {
    expect(splitKey("ns/name")).toEqual({ namespace: "ns", name: "name" });
    expect(splitKey("node-1")).toEqual({ namespace: undefined, name: "node-1" });
    expect(keyOf("ns", "x")).toBe("ns/x");
    expect(keyOf(undefined, "x")).toBe("x");
  });
});

describe("Informer scope", () => {
  const client = new KubeClient({
    kubeConfig: { server: "https://unused", tlsOptions: async () => ({}), authHeaders: async () => ({}) },
  });
  const pods = { apiVersion: "v1", kind: "Pod", plural: "pods", namespaced: true };

  it("watches the chosen namespaces, or all once widened before start", () => {
    const informer = new Informer({ client, resource: pods, namespaces: ["a", "b"] });
    expect(informer.watchesAllNamespaces).toBe(false);
    informer.widen();
    expect(informer.watchesAllNamespaces).toBe(true);
  });

  it("ignores namespaces for cluster-scoped kinds", () => {
    const nodes = { apiVersion: "v1", kind: "Node", plural: "nodes", namespaced: false };
    expect(new Informer({ client, resource: nodes, namespaces: ["a"] }).watchesAllNamespaces).toBe(true);
  });

  it("is not synced before its first list", () => {
    expect(new Informer({ client, resource: pods }).hasSynced).toBe(false);
  });
});
