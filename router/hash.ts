// String hashing for affinity: FNV-1a to turn a key into 32 bits, and murmur3's finalizer to
// mix a key with a replica's hash, so rendezvous scores of one key are independent across
// replicas. Neither is cryptographic; they only need to spread well and cost nothing.

/** FNV-1a over the UTF-16 code units of `text`, as an unsigned 32-bit integer. */
export function fnv1a32(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** murmur3's 32-bit finalizer: every input bit flips each output bit with probability ~1/2. */
export function mix32(x: number): number {
  let h = x >>> 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/**
 * Weighted rendezvous (highest random weight) score of a key on a replica: the replica with
 * the highest score owns the key, and a replica of weight w owns a share w/Σw of all keys.
 * Removing a replica moves only the keys it owned.
 */
export function rendezvousScore(keyHash: number, replicaHash: number, weight: number): number {
  // (0, 1), never 0 or 1, so the logarithm is finite and negative.
  const u = (mix32(keyHash ^ mix32(replicaHash)) + 0.5) / 4294967296;
  return weight / -Math.log(u);
}
