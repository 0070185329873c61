// The browser's copy of the console's collections, fed by the server's event stream. A
// snapshot replaces everything (also after a reconnect); patches upsert and delete rows.
// Renders are coalesced to one per animation frame however many patches arrive.
import { useEffect, useState } from "preact/hooks";
import type { ClusterState, CollectionName, Collections, Patch, Snapshot } from "../../server/protocol.ts";

type Maps = { [K in CollectionName]: Map<string, Collections[K]> };

const names: CollectionName[] = ["pools", "nodes", "workloads", "events", "services", "routers"];
const emptyMaps = (): Maps => Object.fromEntries(names.map((n) => [n, new Map()])) as unknown as Maps;

export interface StoreState {
  rows: Maps;
  cluster: ClusterState | undefined;
  /** The stream to the console's own server. */
  stream: "connecting" | "open" | "lost";
  hasSnapshot: boolean;
  /** Bumped on every change: memo keys for derived lists. */
  version: number;
}

export const store: StoreState = {
  rows: emptyMaps(),
  cluster: undefined,
  stream: "connecting",
  hasSnapshot: false,
  version: 0,
};

const listeners = new Set<() => void>();
let scheduled = false;

function changed(): void {
  store.version++;
  if (scheduled) return;
  scheduled = true;
  requestAnimationFrame(() => {
    scheduled = false;
    for (const l of listeners) l();
  });
}

function applySnapshot(s: Snapshot): void {
  const rows = emptyMaps();
  for (const n of names) {
    const map = rows[n] as Map<string, { id: string }>;
    for (const r of s[n] ?? []) map.set(r.id, r);
  }
  store.rows = rows;
  store.hasSnapshot = true;
}

function applyPatch(p: Patch): void {
  for (const n of names) {
    const map = store.rows[n] as Map<string, { id: string }>;
    for (const r of p.upserts[n] ?? []) map.set(r.id, r);
    for (const id of p.deletes[n] ?? []) map.delete(id);
  }
}

export function connect(): void {
  const es = new EventSource("/api/stream");
  es.addEventListener("open", () => {
    store.stream = "open";
    changed();
  });
  es.addEventListener("error", () => {
    // EventSource retries by itself (the server asks for 2 s); a 401 closes it for good.
    store.stream = "lost";
    changed();
  });
  es.addEventListener("cluster", (e) => {
    store.cluster = JSON.parse((e as MessageEvent<string>).data) as ClusterState;
    changed();
  });
  es.addEventListener("snapshot", (e) => {
    if (!store.hasSnapshot) performance.mark("console:snapshot");
    applySnapshot(JSON.parse((e as MessageEvent<string>).data) as Snapshot);
    store.stream = "open";
    changed();
  });
  es.addEventListener("patch", (e) => {
    applyPatch(JSON.parse((e as MessageEvent<string>).data) as Patch);
    changed();
  });
}

/** Re-renders the calling component whenever the store changed (at most once a frame). */
export function useStore(): StoreState {
  const [, setTick] = useState(0);
  useEffect(() => {
    const l = () => setTick((t) => t + 1);
    listeners.add(l);
    return () => {
      listeners.delete(l);
    };
  }, []);
  return store;
}
