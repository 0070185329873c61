// Gang restarts: when the current attempt failed in a retryable way the whole gang is deleted
// and a new attempt starts after an exponential backoff. The backoff is measured from the
// moment the Restarting condition turned True (its lastTransitionTime), so it survives an
// operator restart without any state outside the API.
import { type Condition, findCondition } from "../../operator/index.ts";
import { type BackoffPolicy, restartBackoffMs } from "./failure.ts";

export const RESTARTING = "Restarting";

/** Milliseconds left before the pending restart may create its gang; 0 when none is pending. */
export function restartBackoffLeftMs(
  conditions: readonly Condition[] | undefined,
  restarts: number,
  now: number,
  policy: BackoffPolicy,
): number {
  const c = findCondition(conditions, RESTARTING);
  if (c?.status !== "True") return 0;
  const since = Date.parse(c.lastTransitionTime);
  if (!Number.isFinite(since)) return 0;
  return Math.max(0, since + restartBackoffMs(restarts, policy) - now);
}
