// A retried test must not meet its first attempt: the same names get 409 on create, and the
// first attempt's objects still hold the devices the retry needs. Tests that create workloads
// name them per attempt and clear the namespace of what an earlier attempt left.
import type { KubeClient, KubeObject, ResourceType } from "../../operator/index.ts";
import { builtin } from "../../operator/index.ts";
import { eventually } from "./cluster.ts";

/** `name("chat")` is "chat-1" in a file's first attempt, "chat-2" in the next, and so on. */
export function perAttempt(): { next(): number; name(base: string): string } {
  let attempt = 0;
  return {
    /** Starts an attempt; returns its number (1 for the first). */
    next: () => ++attempt,
    name: (base) => `${base}-${attempt}`,
  };
}

/**
 * Deletes every object of `kinds` in the namespace and waits until its pods are gone (the
 * devices they held free again). A no-op in a first attempt, where there is nothing.
 */
export async function clearNamespace(
  client: KubeClient,
  namespace: string,
  kinds: readonly ResourceType[],
  timeoutMs = 60_000,
): Promise<void> {
  for (const rt of kinds) {
    const { items } = await client.list<KubeObject>(rt, { namespace });
    for (const obj of items) await client.delete(rt, obj.metadata.name ?? "", namespace).catch(() => {});
  }
  await eventually(
    async () => ((await client.list(builtin.pods, { namespace })).items.length === 0 ? true : undefined),
    timeoutMs,
    `the pods of an earlier attempt gone from ${namespace}`,
  );
}
