// The AcceleratorPool controller: keeps each pool's status (nodes, ready nodes, devices
// capacity, allocated, free, the largest free slot on one node, Ready) in step with the Nodes
// its selector matches and the Pods bound to them.
import type { AcceleratorPool, AcceleratorPoolStatus } from "../../crds/runtime/index.ts";
import { poolNodeSelector } from "../../crds/runtime/index.ts";
import {
  type ControllerFactory,
  indexByNodeName,
  type KubeObject,
  nodeNameIndex,
  setCondition,
  withObservedGeneration,
} from "../../operator/index.ts";
import { clusterView, matchesSelector, type NodeLike, type PodLike, poolStatus } from "../admission/index.ts";
import { resourceTypes } from "../resources.ts";

export const acceleratorPoolController: ControllerFactory = (ctx) => {
  // Pool status counts every pod on the pool's nodes, whatever namespaces are reconciled.
  const pods = ctx.informer(resourceTypes.pod, { allNamespaces: true });
  if (!pods.store.hasIndex(nodeNameIndex)) pods.addIndexer(nodeNameIndex, indexByNodeName);

  const poolsOfNode = (node: NodeLike | undefined): string[] => {
    if (!node) return [];
    return ctx.cache
      .list<AcceleratorPool & KubeObject>(resourceTypes.acceleratorPool)
      .filter((p) => matchesSelector(node.metadata.labels, poolNodeSelector(p)))
      .map((p) => p.metadata.name ?? "");
  };

  // A pool's status is a sum over every pod on its nodes, and on a busy cluster every pod
  // binding or phase change asks for it again. Recomputing it at most once per interval (a
  // second, or five times what the last one cost) keeps it current within seconds without
  // spending the operator's CPU on sums nobody reads in between.
  const lastRun = new Map<string, { at: number; costMs: number }>();
  const minIntervalMs = (name: string): number => Math.max(1000, 5 * (lastRun.get(name)?.costMs ?? 0));

  return {
    name: "acceleratorpool",
    for: resourceTypes.acceleratorPool,
    watches: [
      { resource: resourceTypes.node, map: (node) => poolsOfNode(node as NodeLike) },
      {
        resource: resourceTypes.pod,
        map: (pod) => {
          const nodeName = (pod as PodLike).spec?.nodeName;
          return nodeName ? poolsOfNode(ctx.cache.get<NodeLike>(resourceTypes.node, nodeName)) : [];
        },
      },
    ],
    async reconcile(key, rctx) {
      const pool = rctx.object<AcceleratorPool & KubeObject>();
      if (!pool) {
        lastRun.delete(key);
        return undefined;
      }
      const started = performance.now();
      const since = started - (lastRun.get(key)?.at ?? Number.NEGATIVE_INFINITY);
      // A spec change (new selector, paused) is shown at once; churn waits for the interval.
      const specSeen = pool.status?.observedGeneration === pool.metadata.generation;
      if (specSeen && since < minIntervalMs(key)) return { requeueAfter: minIntervalMs(key) - since };
      const selector = poolNodeSelector(pool);
      const nodes = ctx.cache
        .list<NodeLike>(resourceTypes.node)
        .filter((n) => matchesSelector(n.metadata.labels, selector));
      const podsOnNodes = nodes.flatMap((n) =>
        ctx.cache.list<PodLike>(resourceTypes.pod, {
          index: { name: nodeNameIndex, value: n.metadata.name ?? "" },
        }),
      );
      const view = clusterView([pool], nodes, podsOnNodes);
      const { ready, ...counts } = poolStatus(pool, view);
      const current = (pool.status ?? {}) as AcceleratorPoolStatus;
      const conditions = setCondition(current.conditions, {
        type: "Ready",
        status: ready.status,
        reason: ready.reason,
        message: ready.message,
        observedGeneration: pool.metadata.generation,
      });
      const status = withObservedGeneration(pool, { ...counts, conditions });
      lastRun.set(key, { at: started, costMs: performance.now() - started });
      const wasReady = current.conditions?.find((c) => c.type === "Ready")?.status;
      if (await rctx.writeStatus(resourceTypes.acceleratorPool, pool, status, { report: true })) {
        if (wasReady !== ready.status) {
          rctx.recordEvent(pool, {
            type: ready.status === "True" ? "Normal" : "Warning",
            reason: ready.reason,
            action: "Observe",
            note: ready.message ?? "",
          });
        }
      }
      return undefined;
    },
  };
};
