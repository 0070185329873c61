// Comparisons that decide whether a write is needed at all. They are what turn a repeated
// reconcile on unchanged input into zero requests.

/** Drops `undefined` members the way JSON serialization does, so {a: undefined} equals {}. */
export function normalize<T>(value: T): T {
  return value === undefined ? value : (JSON.parse(JSON.stringify(value)) as T);
}

/** Structural equality of JSON values; `undefined` members count as absent. */
export function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== "object" || typeof b !== "object" || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(a) && Array.isArray(b)) {
    if (a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!deepEqual(a[i], b[i])) return false;
    return true;
  }
  const ao = a as Record<string, unknown>;
  const bo = b as Record<string, unknown>;
  const keys = new Set([...Object.keys(ao), ...Object.keys(bo)]);
  for (const k of keys) if (!deepEqual(ao[k], bo[k])) return false;
  return true;
}

/**
 * True when every field set in `desired` has the same value in `actual`. Fields only in
 * `actual` (server defaults, other managers' fields, status) are ignored. Arrays must have
 * the same length and each element must be a subset of its counterpart: that tolerates
 * defaults the server fills into list items (a container port's protocol, say).
 */
export function isSubset(desired: unknown, actual: unknown): boolean {
  if (desired === undefined) return true;
  if (desired === actual) return true;
  if (typeof desired !== "object" || desired === null) return false;
  if (typeof actual !== "object" || actual === null) return false;
  if (Array.isArray(desired)) {
    if (!Array.isArray(actual) || desired.length !== actual.length) return false;
    for (let i = 0; i < desired.length; i++) if (!isSubset(desired[i], actual[i])) return false;
    return true;
  }
  if (Array.isArray(actual)) return false;
  const a = actual as Record<string, unknown>;
  for (const [k, v] of Object.entries(desired as Record<string, unknown>)) {
    if (!isSubset(v, a[k])) return false;
  }
  return true;
}
