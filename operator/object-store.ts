// The informer's cache: objects by "namespace/name" key plus secondary indexes (by
// namespace, owner UID, node name, ...). Indexes hold keys, not objects, so an update
// replaces one map entry and the indexes never point at a stale copy.
import { type KubeObject, objectKey } from "./resource.ts";

/** Maps an object to the index values it should be found under (none, one or several). */
export type IndexFunc = (obj: KubeObject) => readonly string[];

export const namespaceIndex = "namespace";

export interface ReplaceResult<T> {
  added: T[];
  updated: Array<[old: T, current: T]>;
  deleted: T[];
}

export class ObjectStore<T extends KubeObject = KubeObject> {
  private readonly objects = new Map<string, T>();
  private readonly indexers = new Map<string, IndexFunc>();
  private readonly indexes = new Map<string, Map<string, Set<string>>>();

  constructor(indexers: Record<string, IndexFunc> = {}) {
    this.addIndexer(namespaceIndex, (obj) => (obj.metadata.namespace ? [obj.metadata.namespace] : []));
    for (const [name, fn] of Object.entries(indexers)) this.addIndexer(name, fn);
  }

  /** Adds an index; objects already stored are indexed right away. */
  addIndexer(name: string, fn: IndexFunc): void {
    if (this.indexers.has(name)) return;
    this.indexers.set(name, fn);
    const index = new Map<string, Set<string>>();
    this.indexes.set(name, index);
    for (const [key, obj] of this.objects) for (const value of fn(obj)) addTo(index, value, key);
  }

  hasIndex(name: string): boolean {
    return this.indexers.has(name);
  }

  get size(): number {
    return this.objects.size;
  }

  get(key: string): T | undefined {
    return this.objects.get(key);
  }

  keys(): IterableIterator<string> {
    return this.objects.keys();
  }

  values(): IterableIterator<T> {
    return this.objects.values();
  }

  /** Stores `obj` and returns the object it replaced, if any. */
  upsert(obj: T): T | undefined {
    const key = objectKey(obj);
    const old = this.objects.get(key);
    this.objects.set(key, obj);
    if (old) this.reindex(key, old, obj);
    else this.index(key, obj);
    return old;
  }

  delete(key: string): T | undefined {
    const old = this.objects.get(key);
    if (!old) return undefined;
    this.unindex(key, old);
    this.objects.delete(key);
    return old;
  }

  /** Keys of the objects filed under `value` in index `name`. */
  indexKeys(name: string, value: string): string[] {
    const index = this.indexes.get(name);
    if (!index) throw new Error(`no index named ${name}`);
    return [...(index.get(value) ?? [])];
  }

  byIndex(name: string, value: string): T[] {
    const index = this.indexes.get(name);
    if (!index) throw new Error(`no index named ${name}`);
    const out: T[] = [];
    for (const key of index.get(value) ?? []) {
      const obj = this.objects.get(key);
      if (obj) out.push(obj);
    }
    return out;
  }

  /** Every object in `namespace` (all objects when undefined). */
  list(namespace?: string): T[] {
    if (namespace === undefined) return [...this.objects.values()];
    return this.byIndex(namespaceIndex, namespace);
  }

  /**
   * Replaces the objects in scope (one namespace, or all) with a fresh list and reports the
   * difference. Objects whose resourceVersion did not change keep their identity and are
   * not reported, so a relist of an unchanged cluster produces no events.
   */
  replace(objects: readonly T[], namespace?: string): ReplaceResult<T> {
    const result: ReplaceResult<T> = { added: [], updated: [], deleted: [] };
    const seen = new Set<string>();
    for (const obj of objects) {
      const key = objectKey(obj);
      seen.add(key);
      const old = this.objects.get(key);
      if (!old) {
        this.upsert(obj);
        result.added.push(obj);
      } else if (old.metadata.resourceVersion !== obj.metadata.resourceVersion) {
        this.upsert(obj);
        result.updated.push([old, obj]);
      }
    }
    const inScope =
      namespace === undefined ? [...this.objects.keys()] : this.indexKeys(namespaceIndex, namespace);
    for (const key of inScope) {
      if (seen.has(key)) continue;
      const old = this.delete(key);
      if (old) result.deleted.push(old);
    }
    return result;
  }

  private index(key: string, obj: T): void {
    for (const [name, fn] of this.indexers) {
      const index = this.indexes.get(name) as Map<string, Set<string>>;
      for (const value of fn(obj)) addTo(index, value, key);
    }
  }

  private unindex(key: string, obj: T): void {
    for (const [name, fn] of this.indexers) {
      const index = this.indexes.get(name) as Map<string, Set<string>>;
      for (const value of fn(obj)) removeFrom(index, value, key);
    }
  }

  /**
   * Moves `key` from the old object's index values to the new one's. Most updates (a pod's
   * status) change none of them: those touch no index at all.
   */
  private reindex(key: string, old: T, obj: T): void {
    for (const [name, fn] of this.indexers) {
      const before = fn(old);
      const after = fn(obj);
      if (before.length === after.length && before.every((v, i) => v === after[i])) continue;
      const index = this.indexes.get(name) as Map<string, Set<string>>;
      for (const value of before) removeFrom(index, value, key);
      for (const value of after) addTo(index, value, key);
    }
  }
}

function removeFrom(index: Map<string, Set<string>>, value: string, key: string): void {
  const keys = index.get(value);
  if (!keys) return;
  keys.delete(key);
  if (keys.size === 0) index.delete(value);
}

function addTo(index: Map<string, Set<string>>, value: string, key: string): void {
  let keys = index.get(value);
  if (!keys) {
    keys = new Set();
    index.set(value, keys);
  }
  keys.add(key);
}

/** Index of objects by the UIDs of all their owners: "children of X" in one lookup. */
export const ownerUidIndex = "owner-uid";
export const indexByOwnerUid: IndexFunc = (obj) => obj.metadata.ownerReferences?.map((r) => r.uid) ?? [];

/** Index of Pods by the node they are bound to. */
export const nodeNameIndex = "node-name";
export const indexByNodeName: IndexFunc = (obj) => {
  const nodeName = (obj.spec as { nodeName?: string } | undefined)?.nodeName;
  return nodeName ? [nodeName] : [];
};
