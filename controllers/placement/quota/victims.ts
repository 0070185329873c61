// Victim choice: which admitted workloads to preempt so that one waiting workload fits. Pure
// over a fit predicate, so the rules can be tested apart from the cluster arithmetic:
//   - nobody when the workload fits without a victim (or with only those already leaving);
//   - borrowers first, then lower priority, then fewest devices freed beyond the need, then
//     newest first (it has lost the least work);
//   - never more than needed: a set from which any one victim could be spared is pruned;
//   - never a set that would not make the workload fit: then nobody at all.

export interface VictimCandidate {
  readonly key: string;
  /** Its team uses more than its nominal quota (of the resource the preemptor needs). */
  readonly borrower: boolean;
  readonly priority: number;
  readonly creationTimestamp: number;
  /** Devices its eviction frees where the preemptor could use them. */
  readonly devices: number;
}

function classOrder(a: VictimCandidate, b: VictimCandidate): number {
  if (a.borrower !== b.borrower) return a.borrower ? -1 : 1;
  return a.priority - b.priority;
}

function preference(a: VictimCandidate, b: VictimCandidate): number {
  const byClass = classOrder(a, b);
  if (byClass !== 0) return byClass;
  if (a.creationTimestamp !== b.creationTimestamp) return b.creationTimestamp - a.creationTimestamp;
  return a.key < b.key ? -1 : a.key > b.key ? 1 : 0;
}

/**
 * The victims, in the order they were chosen; [] when none is needed; undefined when even all
 * candidates together would not make room. `fits` is asked about sets of candidates.
 */
export function chooseVictims<V extends VictimCandidate>(
  candidates: readonly V[],
  fits: (victims: readonly V[]) => boolean,
): V[] | undefined {
  if (fits([])) return [];
  const ordered = [...candidates].sort(preference);
  const chosen: V[] = [];
  let last = -1;
  for (let k = 0; k < ordered.length; k++) {
    chosen.push(ordered[k] as V);
    if (fits(chosen)) {
      last = k;
      break;
    }
  }
  if (last < 0) return undefined;
  // One victim is the least disruption: among those of a class (borrower, priority) no less
  // preferred than the greedy set's last, one that suffices alone, freeing the fewest devices
  // beyond the need; the newest among equals, as the order has them.
  const worst = ordered[last] as V;
  let single: V | undefined;
  for (const v of ordered) {
    if (classOrder(v, worst) > 0) break;
    if ((!single || v.devices < single.devices) && fits([v])) single = v;
  }
  if (single) return [single];
  // Spare whoever is not needed, the most preferred victims last (they were added first).
  for (let k = chosen.length - 2; k >= 0; k--) {
    const without = chosen.filter((_, j) => j !== k);
    if (fits(without)) chosen.splice(k, 1);
  }
  return chosen;
}
