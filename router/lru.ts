// A map with a hard cap on entries that forgets the least recently used one when full. Map
// keeps insertion order, so re-inserting on use makes its first key the oldest. Affinity
// state lives in these, so it can never grow with the number of distinct sessions seen.

export class BoundedLru<K, V> {
  readonly capacity: number;
  private readonly map = new Map<K, V>();

  constructor(capacity: number) {
    if (!(capacity >= 1)) throw new Error(`LRU capacity must be at least 1, got ${capacity}`);
    this.capacity = Math.floor(capacity);
  }

  get size(): number {
    return this.map.size;
  }

  /** The value, marking the key as just used. */
  get(key: K): V | undefined {
    const value = this.map.get(key);
    if (value === undefined) return undefined;
    this.map.delete(key);
    this.map.set(key, value);
    return value;
  }

  set(key: K, value: V): void {
    if (this.map.has(key)) this.map.delete(key);
    else if (this.map.size >= this.capacity) {
      const oldest = this.map.keys().next();
      if (!oldest.done) this.map.delete(oldest.value);
    }
    this.map.set(key, value);
  }

  delete(key: K): boolean {
    return this.map.delete(key);
  }

  /** Drops every entry whose value matches (a replica that went away). */
  deleteValues(match: (value: V) => boolean): void {
    for (const [k, v] of this.map) if (match(v)) this.map.delete(k);
  }
}
