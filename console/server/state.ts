// The rows the browser sees, per collection, and the changes not yet sent. Changes are
// collected between flushes (a few per second), so a burst of watch events about one object
// costs one row on the wire, and a row equal to what was sent is not sent again.
import {
  type ClusterState,
  type CollectionName,
  type Collections,
  collectionNames,
  type Patch,
  type Snapshot,
} from "./protocol.ts";

type Row = { id: string };

export class ConsoleState {
  private readonly rows = new Map<CollectionName, Map<string, Row>>(
    collectionNames.map((c) => [c, new Map()]),
  );
  /** The JSON last put for each row, to drop updates that change nothing. */
  private readonly sent = new Map<CollectionName, Map<string, string>>(
    collectionNames.map((c) => [c, new Map()]),
  );
  private readonly pendingUpserts = new Map<CollectionName, Set<string>>();
  private readonly pendingDeletes = new Map<CollectionName, Set<string>>();
  cluster: ClusterState;

  constructor(server: string) {
    this.cluster = { connected: false, server, synced: false, message: "connecting" };
  }

  get<K extends CollectionName>(collection: K, id: string): Collections[K] | undefined {
    return this.rows.get(collection)?.get(id) as Collections[K] | undefined;
  }

  values<K extends CollectionName>(collection: K): IterableIterator<Collections[K]> {
    return (this.rows.get(collection) as Map<string, Collections[K]>).values();
  }

  size(collection: CollectionName): number {
    return this.rows.get(collection)?.size ?? 0;
  }

  put<K extends CollectionName>(collection: K, row: Collections[K]): void {
    const json = JSON.stringify(row);
    const sent = this.sent.get(collection) as Map<string, string>;
    if (sent.get(row.id) === json) return;
    sent.set(row.id, json);
    this.rows.get(collection)?.set(row.id, row);
    pending(this.pendingUpserts, collection).add(row.id);
    this.pendingDeletes.get(collection)?.delete(row.id);
  }

  remove(collection: CollectionName, id: string): void {
    if (!this.rows.get(collection)?.delete(id)) return;
    this.sent.get(collection)?.delete(id);
    this.pendingUpserts.get(collection)?.delete(id);
    pending(this.pendingDeletes, collection).add(id);
  }

  snapshot(): Snapshot {
    const out: Partial<Record<CollectionName, Row[]>> = {};
    for (const c of collectionNames) out[c] = [...(this.rows.get(c)?.values() ?? [])];
    return out as Snapshot;
  }

  /** What changed since the last flush, or undefined when nothing did. */
  flush(): Patch | undefined {
    if (this.pendingUpserts.size === 0 && this.pendingDeletes.size === 0) return undefined;
    const patch: Patch = { upserts: {}, deletes: {} };
    const upserts = patch.upserts as Record<string, Row[]>;
    for (const [c, ids] of this.pendingUpserts) {
      if (ids.size === 0) continue;
      const rows = this.rows.get(c) as Map<string, Row>;
      upserts[c] = [...ids].flatMap((id) => rows.get(id) ?? []);
    }
    for (const [c, ids] of this.pendingDeletes) if (ids.size > 0) patch.deletes[c] = [...ids];
    this.pendingUpserts.clear();
    this.pendingDeletes.clear();
    return patch;
  }
}

function pending(map: Map<CollectionName, Set<string>>, c: CollectionName): Set<string> {
  let set = map.get(c);
  if (!set) {
    set = new Set();
    map.set(c, set);
  }
  return set;
}
