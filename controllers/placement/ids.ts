// Small integer ids for tuples of small integers. A pass looks up memo tables once or more per
// queued workload; keys built as strings cost a concatenation, a flattening and a hash each time,
// which on 15,000 workloads is a measurable share of the pass. Walking nested maps keyed by small
// integers allocates nothing once the tuple has been seen.

interface Node {
  id: number;
  readonly next: Map<number, Node>;
}

export class TupleIds {
  private readonly root: Node = { id: -1, next: new Map() };
  private count = 0;

  /** The same id for the same tuple, a new one for a new tuple; ids start at 0. */
  id(a: number, b: number, c?: number, d?: number): number {
    let node = this.step(this.step(this.root, a), b);
    if (c !== undefined) node = this.step(node, c);
    if (d !== undefined) node = this.step(node, d);
    if (node.id < 0) node.id = this.count++;
    return node.id;
  }

  /** The id of (a, b, then key and pods of each group), without building an array. */
  idOfGroups(a: number, b: number, groups: readonly { key: number; pods: number }[]): number {
    let node = this.step(this.step(this.root, a), b);
    for (const g of groups) node = this.step(this.step(node, g.key), g.pods);
    // The count ends the tuple, so that one list is never taken for a longer list's prefix.
    node = this.step(node, -1 - groups.length);
    if (node.id < 0) node.id = this.count++;
    return node.id;
  }

  private step(node: Node, part: number): Node {
    let next = node.next.get(part);
    if (!next) {
      next = { id: -1, next: new Map() };
      node.next.set(part, next);
    }
    return next;
  }
}
