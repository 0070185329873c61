// Read access to the informers' caches, which is all a reconcile should read: it is local,
// consistent with the events that triggered the reconcile, and free for the API server.
import type { Informer } from "./informer.ts";
import { ownerUidIndex } from "./object-store.ts";
import { type KubeObject, keyOf, type ResourceType, resourceId } from "./resource.ts";

export interface ListOptions {
  namespace?: string;
  /** Objects filed under `value` in the informer index `name`. */
  index?: { name: string; value: string };
  /** Equality-based label match: every listed label must have the given value. */
  labels?: Record<string, string>;
}

export class Cache {
  private readonly informers: (rt: ResourceType) => Informer | undefined;

  constructor(lookup: (rt: ResourceType) => Informer | undefined) {
    this.informers = lookup;
  }

  /** Whether some controller (or manager.informer()) caches `rt`. */
  has(rt: ResourceType): boolean {
    return this.informers(rt) !== undefined;
  }

  /** The informer for `rt`; throws when no controller watches that kind. */
  informer(rt: ResourceType): Informer {
    const informer = this.informers(rt);
    if (!informer) {
      throw new Error(
        `${resourceId(rt)} is not cached: add it to a controller's owns/watches, or call manager.informer() before start`,
      );
    }
    return informer;
  }

  /** The cached object, by "namespace/name" key (or namespace and name). */
  get<T extends KubeObject = KubeObject>(rt: ResourceType, key: string, name?: string): T | undefined {
    const fullKey = name === undefined ? key : keyOf(key, name);
    return this.informer(rt).store.get(fullKey) as T | undefined;
  }

  list<T extends KubeObject = KubeObject>(rt: ResourceType, options: ListOptions = {}): T[] {
    const store = this.informer(rt).store;
    let items: KubeObject[];
    if (options.index) {
      items = store.byIndex(options.index.name, options.index.value);
      if (options.namespace !== undefined)
        items = items.filter((o) => o.metadata.namespace === options.namespace);
    } else {
      items = store.list(options.namespace);
    }
    const labels = options.labels;
    if (labels) {
      items = items.filter((o) => Object.entries(labels).every(([k, v]) => o.metadata.labels?.[k] === v));
    }
    return items as T[];
  }

  /** Objects of kind `rt` that name `owner` (by UID) among their owner references. */
  childrenOf<T extends KubeObject = KubeObject>(rt: ResourceType, owner: KubeObject): T[] {
    const uid = owner.metadata.uid;
    if (!uid) return [];
    return this.list<T>(rt, { index: { name: ownerUidIndex, value: uid } });
  }
}
