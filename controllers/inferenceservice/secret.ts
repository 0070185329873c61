// The Secret named by spec.model.secretRef must exist before replicas are admitted: a pod that
// references a missing Secret never starts (CreateContainerConfigError) while holding devices.
//
// Least privilege: the operator only ever GETs the one Secret a service names. It does not
// list or watch Secrets (a cluster-wide Secret informer would need list/watch on every
// Secret and keep their contents in memory), so it cannot learn when a missing Secret appears;
// instead the reconcile looks again after secretRecheckMs while the condition stands.
// Existence is all it keeps; the contents are dropped as soon as the answer arrives.

import type { InferenceService } from "../../crds/runtime/index.ts";
import { findCondition, isNotFound, type KubeClient, type KubeObject } from "../../operator/index.ts";
import { resourceTypes } from "../resources.ts";

export const secretNotFoundReason = "SecretNotFound";

/**
 * Whether the status says the service waits for its Secret before more replicas are admitted,
 * for the spec it has now (the Admitted condition says so): then it asks for no admission. A
 * new generation (a fixed secretRef) asks as usual and is checked again by the reconcile before
 * anything is recorded.
 */
export function secretBlocked(svc: InferenceService & KubeObject): boolean {
  const admitted = findCondition(svc.status?.conditions, "Admitted");
  return admitted?.reason === secretNotFoundReason && admitted.observedGeneration === svc.metadata.generation;
}

export interface SecretCheckOptions {
  /** How long a Secret seen to exist is believed to exist without asking again. */
  positiveTtlMs?: number;
  now?: () => number;
}

/** Existence of named Secrets, by direct GET, with a short memory of positive answers. */
export class SecretCheck {
  private readonly client: KubeClient;
  private readonly seen = new Map<string, number>();
  private readonly ttlMs: number;
  private readonly now: () => number;

  constructor(client: KubeClient, options: SecretCheckOptions = {}) {
    this.client = client;
    this.ttlMs = options.positiveTtlMs ?? 60_000;
    this.now = options.now ?? Date.now;
  }

  async exists(namespace: string, name: string): Promise<boolean> {
    const key = `${namespace}/${name}`;
    const at = this.seen.get(key);
    if (at !== undefined && this.now() - at < this.ttlMs) return true;
    try {
      await this.client.get(resourceTypes.secret, name, namespace);
    } catch (error) {
      if (!isNotFound(error)) throw error;
      this.seen.delete(key);
      return false;
    }
    this.seen.set(key, this.now());
    // Forget old answers so the map cannot grow with every Secret ever named.
    if (this.seen.size > 10_000) {
      for (const [k, t] of this.seen) if (this.now() - t >= this.ttlMs) this.seen.delete(k);
    }
    return true;
  }
}
