// Label selector matching, as the API server defines it for matchLabels and matchExpressions.
import type { LabelSelector } from "../../crds/runtime/index.ts";

export function matchesSelector(
  labels: Record<string, string> | undefined,
  selector: LabelSelector,
): boolean {
  const l = labels ?? {};
  for (const [k, v] of Object.entries(selector.matchLabels ?? {})) if (l[k] !== v) return false;
  for (const e of selector.matchExpressions ?? []) {
    const has = Object.hasOwn(l, e.key);
    const value = l[e.key];
    switch (e.operator) {
      case "In":
        if (!has || !e.values?.includes(value ?? "")) return false;
        break;
      case "NotIn":
        if (has && e.values?.includes(value ?? "")) return false;
        break;
      case "Exists":
        if (!has) return false;
        break;
      case "DoesNotExist":
        if (has) return false;
        break;
    }
  }
  return true;
}
