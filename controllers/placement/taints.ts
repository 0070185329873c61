import type { Taint, Toleration } from "./types.ts";

/** PreferNoSchedule only steers the kube-scheduler; it never keeps a pod off a node. */
export function isRepelling(taint: Taint): boolean {
  return taint.effect === "NoSchedule" || taint.effect === "NoExecute";
}

// The node lifecycle controller sets and clears these as conditions change, so they say nothing
// about whether a workload could ever run on the node; the unschedulable-ever verdict ignores them.
const conditionTaints = new Set([
  "node.kubernetes.io/not-ready",
  "node.kubernetes.io/unreachable",
  "node.kubernetes.io/unschedulable",
  "node.kubernetes.io/memory-pressure",
  "node.kubernetes.io/disk-pressure",
  "node.kubernetes.io/pid-pressure",
  "node.kubernetes.io/network-unavailable",
  "node.cloudprovider.kubernetes.io/uninitialized",
]);

export function isConditionTaint(taint: Taint): boolean {
  return conditionTaints.has(taint.key);
}

export function tolerates(toleration: Toleration, taint: Taint): boolean {
  if (toleration.effect && toleration.effect !== taint.effect) return false;
  const operator = toleration.operator ?? "Equal";
  if (!toleration.key) return operator === "Exists";
  if (toleration.key !== taint.key) return false;
  return operator === "Exists" || (toleration.value ?? "") === (taint.value ?? "");
}

export function toleratesAll(tolerations: readonly Toleration[], taints: readonly Taint[]): boolean {
  return taints.every((taint) => tolerations.some((t) => tolerates(t, taint)));
}

export function formatTaint(taint: Taint): string {
  return `${taint.key}${taint.value ? `=${taint.value}` : ""}:${taint.effect}`;
}

/** Order-insensitive identity of a taint set, so nodes with equal taints share one index class. */
export function taintSignature(taints: readonly Taint[]): string {
  return taints.map(formatTaint).sort().join(",");
}

/** Order-insensitive identity of a toleration list, for memo keys. */
export function tolerationSignature(tolerations: readonly Toleration[]): string {
  if (tolerations.length === 0) return "";
  return tolerations
    .map((t) => `${t.key ?? ""}|${t.operator ?? "Equal"}|${t.value ?? ""}|${t.effect ?? ""}`)
    .sort()
    .join(";");
}
