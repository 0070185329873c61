// Conditions in the shape of metav1.Condition. The one rule that matters: a condition's
// lastTransitionTime records when its status last flipped, so rewriting the same status
// with a new reason or message must not move it (clients compute "Ready for 3h" from it,
// and a moving timestamp would also make every reconcile a status write).

// The one Condition type: the API's (crds/common.ts, metav1.Condition field for field), which
// every status schema uses. A type-only import: nothing of crds/ is loaded at run time.
import type { Condition } from "../crds/common.ts";

export type { Condition };
export type ConditionStatus = Condition["status"];

export interface ConditionInput {
  type: string;
  status: ConditionStatus;
  reason: string;
  message?: string;
  observedGeneration?: number;
}

/** metav1.Time serializes to RFC 3339 at whole seconds. */
export function formatTime(date: Date): string {
  return `${date.toISOString().slice(0, 19)}Z`;
}

/**
 * Returns a new list with `input` set. Order is kept (a new type goes last) so that a list
 * that did not change compares equal to the old one.
 */
export function setCondition(
  conditions: readonly Condition[] | undefined,
  input: ConditionInput,
  now: Date = new Date(),
): Condition[] {
  const list = conditions ?? [];
  const existing = list.find((c) => c.type === input.type);
  const next: Condition = {
    type: input.type,
    status: input.status,
    reason: input.reason,
    message: input.message ?? "",
    lastTransitionTime:
      existing && existing.status === input.status ? existing.lastTransitionTime : formatTime(now),
  };
  if (input.observedGeneration !== undefined) next.observedGeneration = input.observedGeneration;
  if (!existing) return [...list, next];
  return list.map((c) => (c.type === input.type ? next : c));
}

export function findCondition(
  conditions: readonly Condition[] | undefined,
  type: string,
): Condition | undefined {
  return conditions?.find((c) => c.type === type);
}

export function isConditionTrue(conditions: readonly Condition[] | undefined, type: string): boolean {
  return findCondition(conditions, type)?.status === "True";
}

export function removeCondition(conditions: readonly Condition[] | undefined, type: string): Condition[] {
  return (conditions ?? []).filter((c) => c.type !== type);
}
