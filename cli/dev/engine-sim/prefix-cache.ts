// The KV cache as vLLM's block manager sees it: a fixed number of blocks, some private to one
// sequence, some holding a full prompt block under its hash so that later prompts with the same
// prefix share them (reference counted). A cached block no sequence uses still holds its KV
// until the space is needed: such blocks wait in LRU order and are evicted oldest first, either
// to make room or to keep the cache within its bound. Memory is bounded by the block count.

export interface CachedBlock {
  readonly hash: number;
  refs: number;
  /** Neighbours in the LRU list of unreferenced blocks. */
  prev: CachedBlock | undefined;
  next: CachedBlock | undefined;
}

export class KvCache {
  readonly totalBlocks: number;
  private readonly cacheLimit: number;
  private privateBlocks = 0;
  /** Cached blocks with at least one reference. */
  private referenced = 0;
  private readonly byHash = new Map<number, CachedBlock>();
  private lruHead: CachedBlock | undefined;
  private lruTail: CachedBlock | undefined;
  private lruSize = 0;

  /** cacheLimit: the most blocks the cache may keep, referenced or not. */
  constructor(totalBlocks: number, cacheLimit: number) {
    this.totalBlocks = totalBlocks;
    this.cacheLimit = cacheLimit;
  }

  /** Blocks holding KV some running sequence needs. */
  get usedBlocks(): number {
    return this.privateBlocks + this.referenced;
  }

  /** Blocks a sequence could get now: the free ones and the evictable cached ones. */
  get availableBlocks(): number {
    return this.totalBlocks - this.usedBlocks;
  }

  /** Blocks in the cache, referenced or not. */
  get cachedBlocks(): number {
    return this.byHash.size;
  }

  /** The leading blocks of a hash chain that are cached, at most `limit` of them. */
  match(hashes: readonly number[], limit: number): CachedBlock[] {
    const hits: CachedBlock[] = [];
    for (let i = 0; i < limit && i < hashes.length; i++) {
      const block = this.byHash.get(hashes[i] as number);
      if (!block) break;
      hits.push(block);
    }
    return hits;
  }

  /** Blocks an allocation of these would take from the available ones. */
  cost(hits: readonly CachedBlock[], newCached: number, newPrivate: number): number {
    let revived = 0;
    for (const b of hits) if (b.refs === 0) revived++;
    return revived + newCached + newPrivate;
  }

  /**
   * Takes references on `hits`, caches the blocks of `newHashes` (sharing any another sequence
   * cached meanwhile) and allocates `newPrivate` private blocks. Returns the cached blocks now
   * held, in order, or undefined (and changes nothing) when there is not enough room.
   */
  allocate(
    hits: readonly CachedBlock[],
    newHashes: readonly number[],
    newPrivate: number,
  ): CachedBlock[] | undefined {
    if (this.cost(hits, newHashes.length, newPrivate) > this.availableBlocks) return undefined;
    const held: CachedBlock[] = [];
    for (const b of hits) held.push(this.reference(b));
    for (const hash of newHashes) {
      const existing = this.byHash.get(hash);
      if (existing) held.push(this.reference(existing));
      else {
        const b: CachedBlock = { hash, refs: 0, prev: undefined, next: undefined };
        this.byHash.set(hash, b);
        held.push(this.reference(b, false));
      }
    }
    this.privateBlocks += newPrivate;
    this.evict();
    return held;
  }

  /** Allocates private blocks only; false when there is no room. */
  grow(newPrivate: number): boolean {
    if (newPrivate > this.availableBlocks) return false;
    this.privateBlocks += newPrivate;
    this.evict();
    return true;
  }

  /**
   * Gives back a sequence's blocks. Cached ones are released last block first, so that a
   * prompt's tail (least likely to be shared) is evicted before its head, as vLLM does.
   */
  release(held: readonly CachedBlock[], privateCount: number): void {
    this.privateBlocks -= privateCount;
    for (let i = held.length - 1; i >= 0; i--) {
      const b = held[i] as CachedBlock;
      b.refs--;
      if (b.refs === 0) {
        this.referenced--;
        this.pushLru(b);
      }
    }
    this.evict();
  }

  private reference(b: CachedBlock, inLru = b.refs === 0): CachedBlock {
    if (b.refs === 0) {
      if (inLru) this.unlinkLru(b);
      this.referenced++;
    }
    b.refs++;
    return b;
  }

  /** Evicts the oldest unreferenced blocks while they would not fit the free space or the bound. */
  private evict(): void {
    while (
      this.lruHead &&
      (this.lruSize > this.totalBlocks - this.usedBlocks || this.byHash.size > this.cacheLimit)
    ) {
      const b = this.lruHead;
      this.unlinkLru(b);
      this.byHash.delete(b.hash);
    }
  }

  private pushLru(b: CachedBlock): void {
    b.prev = this.lruTail;
    b.next = undefined;
    if (this.lruTail) this.lruTail.next = b;
    else this.lruHead = b;
    this.lruTail = b;
    this.lruSize++;
  }

  private unlinkLru(b: CachedBlock): void {
    if (b.prev) b.prev.next = b.next;
    else this.lruHead = b.next;
    if (b.next) b.next.prev = b.prev;
    else this.lruTail = b.prev;
    b.prev = undefined;
    b.next = undefined;
    this.lruSize--;
  }
}
