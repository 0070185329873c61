// What describe shows around an object: the Events about it and the Pods, Services and
// Deployments the operator made for it (or, for a pool, the Nodes its selector matches).
import type * as k8s from "@kubernetes/client-node";
import {
  type AcceleratorPool,
  type KindDefinition,
  poolNodeSelector,
  poolResourceName,
  type Vendor,
} from "../../crds/index.ts";
import { kindLabelValue, labels } from "../labels.ts";
import type { ChildView, EventView } from "../output/describe.ts";
import { isRecord, list, rec, str } from "../output/summary.ts";
import { explain } from "./errors.ts";
import type { StackObject } from "./objects.ts";
import type { Session } from "./session.ts";

const iso = (t: Date | string | undefined): string | undefined =>
  t instanceof Date ? t.toISOString() : typeof t === "string" ? t : undefined;

/** Newest last, at most `limit`. Core v1 Events include those written through events.k8s.io/v1. */
export async function eventsAbout(session: Session, object: StackObject, limit = 10): Promise<EventView[]> {
  if (!object.metadata.uid) return [];
  // The operator records events about cluster-scoped objects in the default namespace.
  const namespace = object.metadata.namespace ?? "default";
  const events = await explain(() =>
    session.core.listNamespacedEvent({
      namespace,
      fieldSelector: `involvedObject.uid=${object.metadata.uid}`,
    }),
  );
  return events.items
    .map(
      (e): EventView => ({
        type: e.type ?? "Normal",
        reason: e.reason ?? "",
        time:
          iso(e.series?.lastObservedTime) ??
          iso(e.lastTimestamp) ??
          iso(e.eventTime) ??
          iso(e.metadata.creationTimestamp),
        count: e.series?.count ?? (e.count || 1),
        from: e.reportingComponent || e.source?.component || "",
        message: (e.message ?? "").replace(/\s*\n\s*/g, " "),
      }),
    )
    .sort((a, b) => (a.time ?? "").localeCompare(b.time ?? ""))
    .slice(-limit);
}

/** A LabelSelector as the string form list calls take. */
export function selectorString(selector: unknown): string {
  const s = rec(selector);
  const parts = Object.entries(rec(s.matchLabels)).map(([k, v]) => `${k}=${str(v)}`);
  for (const e of list(s.matchExpressions).filter(isRecord)) {
    const key = str(e.key) ?? "";
    const values = list(e.values).map(String).join(",");
    if (e.operator === "In") parts.push(`${key} in (${values})`);
    else if (e.operator === "NotIn") parts.push(`${key} notin (${values})`);
    else if (e.operator === "Exists") parts.push(key);
    else if (e.operator === "DoesNotExist") parts.push(`!${key}`);
  }
  return parts.join(",");
}

function podStatus(pod: k8s.V1Pod): string {
  const containers = pod.status?.containerStatuses ?? [];
  const ready = containers.filter((c) => c.ready).length;
  const waiting = containers.map((c) => c.state?.waiting?.reason).find(Boolean);
  const parts = [
    pod.metadata?.deletionTimestamp ? "Terminating" : (waiting ?? pod.status?.phase ?? "Pending"),
    `${ready}/${pod.spec?.containers.length ?? 0} ready`,
  ];
  if (pod.spec?.nodeName) parts.push(`node ${pod.spec.nodeName}`);
  const pool = pod.metadata?.labels?.[labels.pool];
  if (pool) parts.push(`pool ${pool}`);
  return parts.join(", ");
}

function serviceStatus(svc: k8s.V1Service): string {
  const ports = (svc.spec?.ports ?? []).map((p) => `${p.port}${p.name ? `/${p.name}` : ""}`).join(",");
  return `${svc.spec?.type ?? "ClusterIP"} ${svc.spec?.clusterIP ?? ""}${ports ? ` ports ${ports}` : ""}`.trim();
}

type Listed = { metadata?: k8s.V1ObjectMeta };

function belongsTo(child: Listed, object: StackObject, kind: KindDefinition): boolean {
  const meta = child.metadata;
  if (meta?.ownerReferences?.some((r) => r.uid === object.metadata.uid)) return true;
  return meta?.labels?.[labels.kind] === kindLabelValue(kind.kind);
}

export async function workloadChildren(
  session: Session,
  kind: KindDefinition,
  object: StackObject,
): Promise<ChildView[]> {
  const namespace = object.metadata.namespace ?? session.namespace;
  const labelSelector = `${labels.name}=${object.metadata.name}`;
  const [pods, services, deployments] = await Promise.all([
    explain(() => session.core.listNamespacedPod({ namespace, labelSelector })),
    explain(() => session.core.listNamespacedService({ namespace, labelSelector })),
    explain(() => session.apps.listNamespacedDeployment({ namespace, labelSelector })),
  ]);
  const view = <T extends Listed>(k: string, items: T[], status: (x: T) => string): ChildView[] =>
    items
      .filter((x) => belongsTo(x, object, kind))
      .map((x) => ({
        kind: k,
        name: x.metadata?.name ?? "",
        status: status(x),
        created: iso(x.metadata?.creationTimestamp),
      }))
      .sort((a, b) => a.name.localeCompare(b.name, undefined, { numeric: true }));
  return [
    ...view("Service", services.items, serviceStatus),
    ...view(
      "Deployment",
      deployments.items,
      (d) => `${d.status?.readyReplicas ?? 0}/${d.spec?.replicas ?? 0} ready`,
    ),
    ...view("Pod", pods.items, podStatus),
  ];
}

export async function poolNodes(session: Session, pool: StackObject): Promise<ChildView[]> {
  const spec = rec(pool.spec);
  const selector = poolNodeSelector({
    metadata: { name: pool.metadata.name },
    spec: { nodeSelector: spec.nodeSelector } as AcceleratorPool["spec"],
  });
  const resource = poolResourceName({
    vendor: str(spec.vendor) as Vendor,
    resourceName: str(spec.resourceName),
  });
  const nodes = await explain(() => session.core.listNode({ labelSelector: selectorString(selector) }));
  return nodes.items
    .map((n) => {
      const ready = n.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True");
      const devices = resource ? (n.status?.allocatable?.[resource] ?? "0") : "?";
      const cordoned = n.spec?.unschedulable ? ", cordoned" : "";
      return {
        kind: "Node",
        name: n.metadata?.name ?? "",
        status: `${ready ? "Ready" : "NotReady"}${cordoned}, ${devices} x ${resource ?? "device"}`,
        created: iso(n.metadata?.creationTimestamp),
      };
    })
    .sort((a, b) => a.name.localeCompare(b.name, undefined, { numeric: true }));
}
