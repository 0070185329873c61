// Free capacity of every node during one pass, indexed so that "which nodes of pool P could take a
// pod of D devices" never scans nodes that are too full: per pool, nodes are split by taint set
// (most pools have one) and bucketed by free device count. Everything placed in the pass is
// subtracted here, which is what keeps two workloads from counting the same free devices.
import { formatTaint, isConditionTaint, isRepelling, taintSignature, toleratesAll } from "./taints.ts";
import type { NodeInput, PoolInput, Reservation, Taint, Toleration } from "./types.ts";

/** "now": what can be admitted at this moment. "empty": every node ready and idle, for the never-fits verdict. */
export type ClusterMode = "now" | "empty";

export interface TaintClass {
  readonly taints: readonly Taint[];
  /**
   * buckets[f]: indices of this class's nodes with f free devices (a negative count sits in 0),
   * sorted by (headroom, index): a scan starts at the first node with enough CPU and memory to
   * possibly fit, tightest first, and the order never depends on what happened earlier in the pass.
   */
  readonly buckets: number[][];
  size: number;
}

export interface PoolState {
  readonly index: number;
  readonly input: PoolInput;
  readonly cost: number;
  readonly classes: TaintClass[];
  maxBucket: number;
  /** Distinct known nodes the pool lists, in any state, by index. */
  members: readonly number[];
  /** Some node of this pool is listed by another pool too (overlapping selectors). */
  sharesNodes: boolean;
  nodeCount: number;
  /** Nodes in the index: ready and not cordoned ("now"), or all of them ("empty"). */
  indexedCount: number;
  /** Sums of non-negative free CPU and memory over indexed nodes: a cheap upper bound on room. */
  freeCpu: number;
  freeMemory: number;
  /** Bumped by every change to one of its nodes: a cached plan is valid while this is unchanged. */
  version: number;
  /** Per toleration set id. */
  readonly toleratedByTolerations: Map<number, readonly number[]>;
  // The memo tables below are arrays indexed by pool key (toleration set and shape), a small dense
  // integer per pass (ids.ts): cheaper than maps on the path every queued workload takes.
  /**
   * Smallest pod count known NOT to fit. Free capacity only shrinks during a pass, so once a
   * shape does not fit a pool it never will again in this pass.
   */
  readonly noRoom: (number | undefined)[];
  /** The last plan, reused while the pool is unchanged. */
  readonly plans: ({ version: number; want: number; plan: Plan } | undefined)[];
  /** Room if the pool were empty, ready, uncordoned and unpaused. */
  readonly emptyRooms: (number | undefined)[];
  /** What roomNow last found, while the pool is unchanged. */
  readonly rooms: ({ version: number; pods: number; nodes: number } | undefined)[];
  readonly staticNodes: Map<number, { nodes: readonly number[]; untolerated: Taint | undefined }>;
}

/** Where a group's pods would go on one pool; not applied until commit. */
export interface Plan {
  readonly pool: number;
  readonly nodes: number[];
  readonly pods: number[];
  placed: number;
  /**
   * Change in devices stranded on partly used nodes: negative when the plan fills holes, zero when
   * it takes whole nodes exactly, positive when it leaves fragments behind.
   */
  fragmentationDelta: number;
}

/** Per-pod demand of a group. */
export interface Shape {
  readonly devices: number;
  readonly cpuMillis: number;
  readonly memoryBytes: number;
  /** Equal demands share one Shape and one id within a pass. */
  readonly id: number;
}

const noTaints: readonly Taint[] = [];

/**
 * Buckets are an array indexed by free device count. Real nodes have at most a few dozen devices;
 * a bogus figure must not allocate millions of buckets, so counts above this share the top one.
 */
const TOP_BUCKET = 1024;

const finite = (x: number): number => (Number.isFinite(x) ? x : 0);

/** First position in a bucket whose (headroom, index) is not below (key, index). */
function lowerBound(list: readonly number[], headroom: Float64Array, key: number, index: number): number {
  let lo = 0;
  let hi = list.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    const j = list[mid] as number;
    const h = headroom[j] as number;
    if (h < key || (h === key && j < index)) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

export class ClusterState {
  readonly mode: ClusterMode;
  readonly pools: readonly PoolState[];
  readonly nodeNames: readonly string[];
  readonly nodeIndex: ReadonlyMap<string, number>;
  readonly allocDevices: Float64Array;
  readonly freeDevices: Float64Array;
  readonly allocCpu: Float64Array;
  readonly freeCpu: Float64Array;
  readonly allocMemory: Float64Array;
  readonly freeMemory: Float64Array;
  /**
   * min(free CPU / cpuScale, free memory / memoryScale): a node can only take a pod needing c CPU
   * and m memory if its headroom is at least min(c / cpuScale, m / memoryScale). Nodes whose CPU or
   * memory is used up while devices are left would otherwise be visited by every scan.
   */
  readonly headroom: Float64Array;
  private readonly cpuScale: number;
  private readonly memoryScale: number;
  /** Per node, flattened (pool, class) pairs of the index entries that hold it. */
  readonly memberships: number[][];
  private readonly undoLog: number[] = [];
  /** Per node, the last pool (index + 1) that listed it while indexing: drops repeats cheaply. */
  private readonly stamp: Int32Array;
  private readonly overlaps = new Map<number, boolean>();
  private readonly nodeTaints: ({ taints: readonly Taint[]; signature: string } | undefined)[];
  private readonly staticTaints: ({ taints: readonly Taint[]; signature: string } | undefined)[];
  private readonly nodes: readonly NodeInput[];
  /** Pools touched by changes that may still be rolled back: their failures are not memoized. */
  private readonly dirty: Uint8Array;
  private readonly dirtyList: number[] = [];

  constructor(
    mode: ClusterMode,
    pools: readonly PoolInput[],
    nodes: readonly NodeInput[],
    reservations: readonly Reservation[],
  ) {
    this.mode = mode;
    const n = nodes.length;
    this.nodeNames = nodes.map((node) => node.name);
    const nodeIndex = new Map<string, number>();
    nodes.forEach((node, i) => {
      nodeIndex.set(node.name, i);
    });
    this.nodeIndex = nodeIndex;
    this.allocDevices = new Float64Array(n);
    this.freeDevices = new Float64Array(n);
    this.allocCpu = new Float64Array(n);
    this.freeCpu = new Float64Array(n);
    this.allocMemory = new Float64Array(n);
    this.freeMemory = new Float64Array(n);
    this.headroom = new Float64Array(n);
    this.stamp = new Int32Array(n);
    this.nodeTaints = new Array(n);
    this.staticTaints = new Array(n);
    this.nodes = nodes;
    this.memberships = Array.from({ length: n }, () => []);
    nodes.forEach((node, i) => {
      this.allocDevices[i] = Math.floor(finite(node.allocatableDevices));
      this.allocCpu[i] = finite(node.allocatableCpuMillis);
      this.allocMemory[i] = finite(node.allocatableMemoryBytes);
      const empty = mode === "empty";
      this.freeDevices[i] = empty ? (this.allocDevices[i] as number) : Math.floor(finite(node.freeDevices));
      this.freeCpu[i] = empty ? (this.allocCpu[i] as number) : finite(node.freeCpuMillis);
      this.freeMemory[i] = empty ? (this.allocMemory[i] as number) : finite(node.freeMemoryBytes);
    });
    if (mode === "now") {
      for (const reservation of reservations) {
        for (const r of reservation.nodes) {
          const i = nodeIndex.get(r.node);
          if (i === undefined) continue;
          this.freeDevices[i] = (this.freeDevices[i] as number) - Math.ceil(finite(r.devices));
          this.freeCpu[i] = (this.freeCpu[i] as number) - finite(r.cpuMillis);
          this.freeMemory[i] = (this.freeMemory[i] as number) - finite(r.memoryBytes);
        }
      }
    }
    let cpuScale = 1;
    let memoryScale = 1;
    for (let i = 0; i < n; i++) {
      cpuScale = Math.max(cpuScale, this.allocCpu[i] as number);
      memoryScale = Math.max(memoryScale, this.allocMemory[i] as number);
    }
    this.cpuScale = cpuScale;
    this.memoryScale = memoryScale;
    for (let i = 0; i < n; i++) this.headroom[i] = this.headroomOf(i);
    this.pools = pools.map((pool, p) => this.indexPool(p, pool, nodes));
    const listedBy = new Int32Array(n);
    for (const pool of this.pools) for (const i of pool.members) listedBy[i] = (listedBy[i] as number) + 1;
    for (const pool of this.pools) pool.sharesNodes = pool.members.some((i) => (listedBy[i] as number) > 1);
    this.dirty = new Uint8Array(pools.length);
  }

  private indexPool(p: number, input: PoolInput, nodes: readonly NodeInput[]): PoolState {
    const pool: PoolState = {
      index: p,
      input,
      cost: input.costPerDeviceHour ?? Number.POSITIVE_INFINITY,
      classes: [],
      maxBucket: 0,
      members: [],
      sharesNodes: false,
      nodeCount: 0,
      indexedCount: 0,
      freeCpu: 0,
      freeMemory: 0,
      version: 0,
      toleratedByTolerations: new Map(),
      noRoom: [],
      plans: [],
      emptyRooms: [],
      rooms: [],
      staticNodes: new Map(),
    };
    const members: number[] = [];
    for (const name of input.nodeNames) {
      const i = this.nodeIndex.get(name);
      // The stamp drops a node listed twice by the same pool without a Set per pool.
      if (i === undefined || this.stamp[i] === p + 1) continue;
      this.stamp[i] = p + 1;
      members.push(i);
    }
    members.sort((a, b) => a - b);
    pool.members = members;
    const classBySignature = new Map<string, number>();
    const classOfNode: number[] = [];
    const indexed: number[] = [];
    for (const i of members) {
      pool.nodeCount++;
      const node = nodes[i] as NodeInput;
      if (this.mode === "now" && (!node.ready || node.unschedulable)) continue;
      const { taints, signature } = this.taintsOf(i, node);
      let c = classBySignature.get(signature);
      if (c === undefined) {
        c = pool.classes.length;
        classBySignature.set(signature, c);
        pool.classes.push({ taints, buckets: [], size: 0 });
      }
      indexed.push(i);
      classOfNode.push(c);
      pool.maxBucket = Math.max(pool.maxBucket, this.bucketOf(i));
    }
    for (const taintClass of pool.classes) {
      for (let f = 0; f <= pool.maxBucket; f++) taintClass.buckets.push([]);
    }
    for (let k = 0; k < indexed.length; k++) {
      const i = indexed[k] as number;
      const c = classOfNode[k] as number;
      const taintClass = pool.classes[c] as TaintClass;
      (taintClass.buckets[this.bucketOf(i)] as number[]).push(i);
      taintClass.size++;
      pool.indexedCount++;
      pool.freeCpu += Math.max(0, this.freeCpu[i] as number);
      pool.freeMemory += Math.max(0, this.freeMemory[i] as number);
      (this.memberships[i] as number[]).push(p, c);
    }
    const headroom = this.headroom;
    const byHeadroom = (a: number, b: number) => (headroom[a] as number) - (headroom[b] as number) || a - b;
    for (const taintClass of pool.classes) {
      for (const bucket of taintClass.buckets) if (bucket.length > 1) bucket.sort(byHeadroom);
    }
    return pool;
  }

  /** The taints that keep pods off node i in this mode, computed once per node for all its pools. */
  private taintsOf(i: number, node: NodeInput): { taints: readonly Taint[]; signature: string } {
    let entry = this.nodeTaints[i];
    if (!entry) {
      const taints =
        node.taints.length === 0
          ? noTaints
          : canonical(
              node.taints.filter((t) => isRepelling(t) && !(this.mode === "empty" && isConditionTaint(t))),
            );
      entry = { taints, signature: taints.length === 0 ? "" : taintSignature(taints) };
      this.nodeTaints[i] = entry;
    }
    return entry;
  }

  private headroomOf(i: number): number {
    return Math.min(
      (this.freeCpu[i] as number) / this.cpuScale,
      (this.freeMemory[i] as number) / this.memoryScale,
    );
  }

  /** The least headroom a node needs to possibly take one pod of the shape. */
  private threshold(shape: Shape): number {
    return Math.min(shape.cpuMillis / this.cpuScale, shape.memoryBytes / this.memoryScale);
  }

  private bucketOf(i: number): number {
    return Math.min(TOP_BUCKET, Math.max(0, this.freeDevices[i] as number));
  }

  pool(p: number): PoolState {
    return this.pools[p] as PoolState;
  }

  /** Index classes of pool p whose taints the pool's plus the workload's tolerations all tolerate. */
  toleratedClasses(p: number, tolerationId: number, tolerations: readonly Toleration[]): readonly number[] {
    const pool = this.pool(p);
    let classes = pool.toleratedByTolerations.get(tolerationId);
    if (!classes) {
      const all = [...pool.input.tolerations, ...tolerations];
      classes = pool.classes.flatMap((c, k) => (toleratesAll(all, c.taints) ? [k] : []));
      pool.toleratedByTolerations.set(tolerationId, classes);
    }
    return classes;
  }

  /** Pods of this shape that node i can take now, at most cap. */
  podsFit(i: number, shape: Shape, cap: number): number {
    let k = cap;
    if (shape.devices > 0) k = Math.min(k, Math.floor((this.freeDevices[i] as number) / shape.devices));
    if (shape.cpuMillis > 0) k = Math.min(k, Math.floor((this.freeCpu[i] as number) / shape.cpuMillis));
    if (shape.memoryBytes > 0)
      k = Math.min(k, Math.floor((this.freeMemory[i] as number) / shape.memoryBytes));
    return Math.max(0, k);
  }

  /** Never below the real room; computed from bucket sizes and pool totals without touching nodes. */
  roomUpperBound(p: number, classes: readonly number[], shape: Shape, want: number): number {
    const pool = this.pool(p);
    let room = Number.POSITIVE_INFINITY;
    if (shape.devices > 0) {
      room = 0;
      for (let f = Math.min(shape.devices, TOP_BUCKET); f <= pool.maxBucket && room < want; f++) {
        // The top bucket holds every count above it, so it bounds nothing.
        const perNode = f === TOP_BUCKET ? want : Math.floor(f / shape.devices);
        for (const c of classes)
          room += ((pool.classes[c] as TaintClass).buckets[f] as number[]).length * perNode;
      }
    } else {
      let nodes = 0;
      for (const c of classes) nodes += (pool.classes[c] as TaintClass).size;
      if (nodes === 0) return 0;
    }
    // Sums of many large numbers may round; the slack keeps this an upper bound.
    if (shape.cpuMillis > 0) room = Math.min(room, Math.floor((pool.freeCpu * (1 + 1e-9)) / shape.cpuMillis));
    if (shape.memoryBytes > 0) {
      room = Math.min(room, Math.floor((pool.freeMemory * (1 + 1e-9)) / shape.memoryBytes));
    }
    return room;
  }

  /**
   * Best-fit node choice for up to `want` pods: first nodes whose free devices are a multiple of
   * the request (holes it fills exactly, smallest first), then the other nodes, smallest first.
   * Big free nodes are thus the last to be broken up, which is what keeps room for big gangs.
   */
  plan(p: number, classes: readonly number[], shape: Shape, want: number): Plan {
    const pool = this.pool(p);
    const plan: Plan = { pool: p, nodes: [], pods: [], placed: 0, fragmentationDelta: 0 };
    const d = shape.devices;
    const threshold = this.threshold(shape);
    const visit = (f: number): boolean => {
      for (const c of classes) {
        const bucket = (pool.classes[c] as TaintClass).buckets[f] as number[];
        for (let at = lowerBound(bucket, this.headroom, threshold, -1); at < bucket.length; at++) {
          const i = bucket[at] as number;
          const k = this.podsFit(i, shape, want - plan.placed);
          if (k === 0) continue;
          plan.nodes.push(i);
          plan.pods.push(k);
          plan.placed += k;
          const alloc = this.allocDevices[i] as number;
          const free = this.freeDevices[i] as number;
          plan.fragmentationDelta += stranded(free - k * d, alloc) - stranded(free, alloc);
          if (plan.placed >= want) return true;
        }
      }
      return false;
    };
    if (d === 0) {
      // CPU-only pods go first to nodes with the fewest free devices, so they do not take the CPU
      // that a node's free accelerators will need.
      for (let f = 0; f <= pool.maxBucket; f++) if (visit(f)) return plan;
      return plan;
    }
    for (let f = d; f <= pool.maxBucket; f += d) if (visit(f)) return plan;
    for (let f = d + 1; f <= pool.maxBucket; f++) if (f % d !== 0 && visit(f)) return plan;
    if (d > TOP_BUCKET && pool.maxBucket === TOP_BUCKET) visit(TOP_BUCKET);
    return plan;
  }

  /**
   * Every pod of the shape the classes' nodes can take now, uncapped, and on how many nodes; for
   * reasons, which quote it. Memoized per pool key while the pool is unchanged.
   */
  roomNow(p: number, classes: readonly number[], shape: Shape, key: number): { pods: number; nodes: number } {
    const pool = this.pool(p);
    const cached = pool.rooms[key];
    if (cached && cached.version === pool.version) return cached;
    const room = { version: pool.version, pods: 0, nodes: 0 };
    const threshold = this.threshold(shape);
    for (let f = Math.min(shape.devices, TOP_BUCKET); f <= pool.maxBucket; f++) {
      for (const c of classes) {
        const bucket = (pool.classes[c] as TaintClass).buckets[f] as number[];
        for (let at = lowerBound(bucket, this.headroom, threshold, -1); at < bucket.length; at++) {
          const k = this.podsFit(bucket[at] as number, shape, 1e9);
          if (k > 0) {
            room.pods += k;
            room.nodes++;
          }
        }
      }
    }
    pool.rooms[key] = room;
    return room;
  }

  /**
   * A plan for `want` pods of the shape on the classes' nodes of pool p, or undefined when fewer
   * than `need` fit. Memoized per pool key (toleration set and shape): the smallest count known
   * not to fit, and the last plan while the pool is unchanged.
   */
  fit(
    p: number,
    classes: readonly number[],
    shape: Shape,
    key: number,
    want: number,
    need: number,
  ): Plan | undefined {
    const pool = this.pool(p);
    const knownNoRoom = pool.noRoom[key];
    if (knownNoRoom !== undefined && knownNoRoom <= need) return undefined;
    const cached = pool.plans[key];
    if (cached && cached.version === pool.version && cached.want === want) {
      return cached.plan.placed >= need ? cached.plan : undefined;
    }
    const bound = this.roomUpperBound(p, classes, shape, want);
    if (bound < need) {
      this.rememberNoRoom(p, key, bound + 1);
      return undefined;
    }
    const plan = this.plan(p, classes, shape, want);
    pool.plans[key] = { version: pool.version, want, plan };
    // A plan that falls short has visited every node that could take a pod, so it is the exact room.
    if (plan.placed < want) this.rememberNoRoom(p, key, plan.placed + 1);
    return plan.placed >= need ? plan : undefined;
  }

  /** Applies a plan; it can be undone with rollback(mark) until settle(). */
  commit(plan: Plan, shape: Shape): void {
    plan.nodes.forEach((i, k) => {
      const pods = plan.pods[k] as number;
      this.take(i, pods * shape.devices, pods * shape.cpuMillis, pods * shape.memoryBytes);
    });
  }

  mark(): number {
    return this.undoLog.length;
  }

  rollback(mark: number): void {
    while (this.undoLog.length > mark) {
      const memory = this.undoLog.pop() as number;
      const cpu = this.undoLog.pop() as number;
      const devices = this.undoLog.pop() as number;
      const i = this.undoLog.pop() as number;
      this.adjust(i, -devices, -cpu, -memory);
    }
    if (mark === 0) this.settle();
  }

  /** Makes everything committed so far final for the pass. */
  settle(): void {
    this.undoLog.length = 0;
    for (const p of this.dirtyList) this.dirty[p] = 0;
    this.dirtyList.length = 0;
  }

  /** Remembers that `pods` pods of a shape do not fit, unless uncommitted changes touch the pool. */
  private rememberNoRoom(p: number, key: number, pods: number): void {
    if (this.dirty[p]) return;
    const noRoom = this.pool(p).noRoom;
    const known = noRoom[key];
    if (known === undefined || pods < known) noRoom[key] = pods;
  }

  /** Takes capacity of node i outside any plan (undoable like a commit): what a preemptor keeps. */
  reserve(i: number, devices: number, cpu: number, memory: number): void {
    if (devices !== 0 || cpu !== 0 || memory !== 0) this.take(i, devices, cpu, memory);
  }

  private take(i: number, devices: number, cpu: number, memory: number): void {
    this.undoLog.push(i, devices, cpu, memory);
    const memberships = this.memberships[i] as number[];
    for (let k = 0; k < memberships.length; k += 2) {
      const p = memberships[k] as number;
      if (!this.dirty[p]) {
        this.dirty[p] = 1;
        this.dirtyList.push(p);
      }
    }
    this.adjust(i, devices, cpu, memory);
  }

  private adjust(i: number, devices: number, cpu: number, memory: number): void {
    const oldBucket = this.bucketOf(i);
    const oldHeadroom = this.headroom[i] as number;
    const oldCpu = Math.max(0, this.freeCpu[i] as number);
    const oldMemory = Math.max(0, this.freeMemory[i] as number);
    this.freeDevices[i] = (this.freeDevices[i] as number) - devices;
    this.freeCpu[i] = (this.freeCpu[i] as number) - cpu;
    this.freeMemory[i] = (this.freeMemory[i] as number) - memory;
    const newBucket = this.bucketOf(i);
    const newHeadroom = this.headroomOf(i);
    this.headroom[i] = newHeadroom;
    const cpuChange = Math.max(0, this.freeCpu[i] as number) - oldCpu;
    const memoryChange = Math.max(0, this.freeMemory[i] as number) - oldMemory;
    const moved = oldBucket !== newBucket || oldHeadroom !== newHeadroom;
    const memberships = this.memberships[i] as number[];
    for (let k = 0; k < memberships.length; k += 2) {
      const pool = this.pools[memberships[k] as number] as PoolState;
      pool.version++;
      const taintClass = pool.classes[memberships[k + 1] as number] as TaintClass;
      if (moved) {
        const from = taintClass.buckets[oldBucket] as number[];
        this.headroom[i] = oldHeadroom;
        const at = lowerBound(from, this.headroom, oldHeadroom, i);
        if (from[at] === i) from.splice(at, 1);
        this.headroom[i] = newHeadroom;
        const to = taintClass.buckets[newBucket] as number[];
        to.splice(lowerBound(to, this.headroom, newHeadroom, i), 0, i);
      }
      pool.freeCpu += cpuChange;
      pool.freeMemory += memoryChange;
    }
  }
  /**
   * Nodes of pool p the tolerations would admit if every node were ready and uncordoned, ignoring
   * the taints that only reflect node conditions; and one taint that keeps the others out.
   */
  staticNodes(
    p: number,
    tolerationId: number,
    tolerations: readonly Toleration[],
  ): { nodes: readonly number[]; untolerated: Taint | undefined } {
    const pool = this.pool(p);
    let entry = pool.staticNodes.get(tolerationId);
    if (!entry) {
      const all = [...pool.input.tolerations, ...tolerations];
      const verdicts = new Map<string, Taint | null>();
      const nodes: number[] = [];
      let untolerated: Taint | undefined;
      for (const i of pool.members) {
        const { taints, signature } = this.staticTaintsOf(i);
        let blocking = verdicts.get(signature);
        if (blocking === undefined) {
          blocking = taints.find((t) => !toleratesAll(all, [t])) ?? null;
          verdicts.set(signature, blocking);
        }
        if (blocking === null) nodes.push(i);
        else untolerated ??= blocking;
      }
      entry = { nodes, untolerated };
      pool.staticNodes.set(tolerationId, entry);
    }
    return entry;
  }

  /** Pods of the shape node i could take if it were idle. */
  podsFitWhenEmpty(i: number, shape: Shape): number {
    let k = 1e9; // a pod that asks for nothing fits any number of times
    if (shape.devices > 0) k = Math.min(k, Math.floor((this.allocDevices[i] as number) / shape.devices));
    if (shape.cpuMillis > 0) k = Math.min(k, Math.floor((this.allocCpu[i] as number) / shape.cpuMillis));
    if (shape.memoryBytes > 0)
      k = Math.min(k, Math.floor((this.allocMemory[i] as number) / shape.memoryBytes));
    return Math.max(0, k);
  }

  /**
   * Pods of the shape pool p could take if it were empty, ready, uncordoned and unpaused. Reads
   * allocatable figures directly, so the never-fits verdict needs no second index of the cluster.
   */
  emptyRoom(
    p: number,
    tolerationId: number,
    tolerations: readonly Toleration[],
    shape: Shape,
    key: number,
  ): number {
    const pool = this.pool(p);
    const cached = pool.emptyRooms[key];
    if (cached !== undefined) return cached;
    let room = 0;
    for (const i of this.staticNodes(p, tolerationId, tolerations).nodes)
      room += this.podsFitWhenEmpty(i, shape);
    pool.emptyRooms[key] = room;
    return room;
  }

  /** Largest allocatable figures among the nodes staticNodes gives, to say what never fits. */
  staticMaxima(
    p: number,
    tolerationId: number,
    tolerations: readonly Toleration[],
  ): { devices: number; cpuMillis: number; memoryBytes: number } {
    const max = { devices: 0, cpuMillis: 0, memoryBytes: 0 };
    for (const i of this.staticNodes(p, tolerationId, tolerations).nodes) {
      max.devices = Math.max(max.devices, this.allocDevices[i] as number);
      max.cpuMillis = Math.max(max.cpuMillis, this.allocCpu[i] as number);
      max.memoryBytes = Math.max(max.memoryBytes, this.allocMemory[i] as number);
    }
    return max;
  }

  /** Like emptyRoom over several pools together: a node that two of them list counts once. */
  emptyRoomAcross(
    pools: readonly number[],
    tolerationId: number,
    tolerations: readonly Toleration[],
    shape: Shape,
    key: number,
  ): number {
    // Overlapping pools are rare, so a pool that shares no node with the others adds its memoized
    // room; only the overlapping ones are walked node by node.
    const seen = new Set<number>();
    let room = 0;
    for (const p of pools) {
      if (!this.pool(p).sharesNodes) {
        room += this.emptyRoom(p, tolerationId, tolerations, shape, key);
        continue;
      }
      for (const i of this.staticNodes(p, tolerationId, tolerations).nodes) {
        if (seen.has(i)) continue;
        seen.add(i);
        room += this.podsFitWhenEmpty(i, shape);
      }
    }
    return room;
  }

  /** Whether two pools list a common node (overlapping selectors); memoized. */
  poolsShareNodes(p: number, q: number): boolean {
    if (p === q) return true;
    if (!this.pool(p).sharesNodes || !this.pool(q).sharesNodes) return false;
    const key = p < q ? p * this.pools.length + q : q * this.pools.length + p;
    let shared = this.overlaps.get(key);
    if (shared === undefined) {
      const mine = new Set(this.pool(p).members);
      shared = this.pool(q).members.some((i) => mine.has(i));
      this.overlaps.set(key, shared);
    }
    return shared;
  }

  private staticTaintsOf(i: number): { taints: readonly Taint[]; signature: string } {
    let entry = this.staticTaints[i];
    if (!entry) {
      const node = this.nodes[i] as NodeInput;
      const taints =
        node.taints.length === 0
          ? noTaints
          : canonical(node.taints.filter((t) => isRepelling(t) && !isConditionTaint(t)));
      entry = { taints, signature: taints.length === 0 ? "" : taintSignature(taints) };
      this.staticTaints[i] = entry;
    }
    return entry;
  }
}

/** Taints in a fixed order, so that messages quoting one do not depend on the input's order. */
function canonical(taints: readonly Taint[]): readonly Taint[] {
  return taints.length < 2 ? taints : [...taints].sort((a, b) => (formatTaint(a) < formatTaint(b) ? -1 : 1));
}

/** Devices left free on a node that is partly used: the fragments a big gang cannot use. */
export function stranded(free: number, alloc: number): number {
  return free > 0 && free < alloc ? free : 0;
}
