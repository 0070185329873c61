// Publishing an InferencePool where the Gateway API Inference Extension is installed. The CRD is
// optional, so its kind is not watched: whether the API group is served is asked of discovery
// (which every authenticated client may read) at most once a minute, and what was last applied
// per service is remembered so an unchanged pool costs no request. That memory is only a
// shortcut: an operator that restarts applies each pool once more, which changes nothing.
import { isNotFound, type KubeClient, type KubeObject, type ResourceType } from "../../operator/index.ts";
import { digest } from "./children.ts";
import { inferencePoolApiVersion } from "./router.ts";

export const inferencePoolType: ResourceType = {
  apiVersion: inferencePoolApiVersion,
  kind: "InferencePool",
  plural: "inferencepools",
  namespaced: true,
};

const discoveryTtlMs = 60_000;

export class InferencePoolPublisher {
  private readonly client: KubeClient;
  private readonly fieldManager: string;
  private served: { value: boolean; at: number } | undefined;
  private readonly applied = new Map<string, string>();

  constructor(client: KubeClient, fieldManager: string) {
    this.client = client;
    this.fieldManager = fieldManager;
  }

  /** Whether the cluster serves inference.networking.k8s.io/v1 InferencePools. */
  async available(now = Date.now()): Promise<boolean> {
    if (this.served && now - this.served.at < discoveryTtlMs) return this.served.value;
    let value = false;
    try {
      const list = await this.client.request<{ resources?: { name?: string }[] }>(
        "GET",
        `/apis/${inferencePoolApiVersion}`,
      );
      value = list.resources?.some((r) => r.name === inferencePoolType.plural) ?? false;
    } catch (error) {
      if (!isNotFound(error)) throw error;
    }
    this.served = { value, at: now };
    return value;
  }

  /** Applies `pool` (or deletes the service's pool when undefined); a no-op where the CRD is absent. */
  async sync(key: string, namespace: string, name: string, pool: KubeObject | undefined): Promise<void> {
    const want = pool ? digest(pool) : "absent";
    if (this.applied.get(key) === want) return;
    if (!(await this.available())) return;
    if (pool) {
      await this.client.apply(inferencePoolType, pool, { fieldManager: this.fieldManager, force: true });
    } else {
      try {
        await this.client.delete(inferencePoolType, name, namespace);
      } catch (error) {
        if (!isNotFound(error)) throw error;
      }
    }
    this.applied.set(key, want);
  }

  forget(key: string): void {
    this.applied.delete(key);
  }
}
