// Reasons a person can act on: what the workload needs, and for each pool it may use, how much of
// that the pool has right now and what stands in the way (paused, held, not ready, taints).
import type { ClusterState } from "./cluster.ts";
import { formatCpu, formatMemory, listText, plural } from "./format.ts";
import { describeFilters } from "./match.ts";
import {
  type Pass,
  type PreparedGroup,
  type PreparedWorkload,
  podsNeeded,
  poolKeyOn,
  shapeOn,
} from "./pass.ts";
import { podsPerReplica, tryPoolReplicas } from "./replica-groups.ts";
import { formatGiB, MAX_DEVICES_PER_REPLICA } from "./replica-shape.ts";
import { formatTaint } from "./taints.ts";
import type { PoolInput, QueuedCode, UnschedulableCode } from "./types.ts";

type Blocker = "paused" | "held" | "no-nodes" | "not-ready" | "taints" | undefined;

interface PoolStatus {
  readonly pool: number;
  readonly rank: number;
  readonly room: number;
  readonly nodes: number;
  readonly blocker: Blocker;
  readonly note: string | undefined;
}

/** "4 pods × 8 devices (≥80 GiB, nvlink), 32 CPU and 256Gi memory each". */
export function describeNeed(g: PreparedGroup, podsIn: string, pools: readonly PoolInput[] = []): string {
  const { devices, cpuMillis, memoryBytes } = g.shape;
  const req = g.group.accelerators;
  const filters = describeFilters(req);
  // "2 replicas of 2 nodes × 8 devices": replicas spanning nodes are counted as replicas.
  const span = g.group.podsPerReplica ?? 1;
  const pods =
    span > 1
      ? `${podsIn.replace(/\bpods?\b/, (m) => (m === "pod" ? "replica" : "replicas"))} of ${span} nodes`
      : podsIn;
  let text = req.replicaShape
    ? `${pods} × ${formatGiB(req.replicaShape.memoryGiB)} of device memory${shapesText(g, pools)}`
    : devices > 0
      ? `${pods} × ${plural(devices, "device")}`
      : `${pods} (CPU only)`;
  if (filters) text += ` (${filters})`;
  const perPod: string[] = [];
  if (cpuMillis > 0) perPod.push(`${formatCpu(cpuMillis)} CPU`);
  if (memoryBytes > 0) perPod.push(`${formatMemory(memoryBytes)} memory`);
  if (perPod.length > 0) text += `, ${listText(perPod)} each`;
  return text;
}

/** " (4 devices on h100, 1 on mi300x)": an automatic shape on its matching pools. */
function shapesText(g: PreparedGroup, pools: readonly PoolInput[]): string {
  const shown = g.candidates.matching.slice(0, 4).map(({ pool: p }, k) => {
    const d = shapeOn(g, p).devices;
    return `${k === 0 ? plural(d, "device") : d} on ${pools[p]?.name ?? ""}`;
  });
  return shown.length > 0 ? ` (${shown.join(", ")})` : "";
}

/** "4 pods", or "at least 2 of 4 pods" for an elastic gang. */
function podsText(w: PreparedWorkload, g: PreparedGroup): string {
  return w.elastic ? `at least ${w.minPods} of ${plural(g.pods, "pod")}` : plural(g.pods, "pod");
}

export function formatDuration(ms: number): string {
  const s = Math.floor(ms / 1000);
  const d = Math.floor(s / 86400);
  const h = Math.floor((s % 86400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  if (d > 0) return `${d}d${h}h`;
  if (h > 0) return `${h}h${m}m`;
  if (m > 0) return `${m}m`;
  return `${s}s`;
}

function poolStatuses(pass: Pass, w: PreparedWorkload, g: PreparedGroup): PoolStatus[] {
  const { now, holds } = pass;
  return g.candidates.matching.map(({ pool: p, rank }) => {
    const pool = now.pool(p);
    const status = (blocker: Blocker, note: string, room = 0, nodes = 0): PoolStatus => ({
      pool: p,
      rank,
      room,
      nodes,
      blocker,
      note,
    });
    if (pool.input.paused) return status("paused", "paused");
    const holder = holds.holderOf(p);
    if (holds.blocks(p, w.order)) {
      const key = holds.list.find((h) => h.pool === p)?.key ?? "";
      return status("held", `held for ${key}, which has waited too long`);
    }
    if (pool.nodeCount === 0) return status("no-nodes", "no nodes");
    if (pool.indexedCount === 0)
      return status("not-ready", `none of its ${plural(pool.nodeCount, "node")} is ready`);
    const classes = now.toleratedClasses(p, w.tolerationId, w.tolerations);
    if (classes.length === 0)
      return status("taints", "its ready nodes have taints the workload does not tolerate");
    const note = holder === w.order ? "held for this workload" : undefined;
    if (podsPerReplica(g) > 1) {
      // Replicas spanning nodes: the room is whole replicas, not pods.
      const plan = tryPoolReplicas(now, w, g, p, Number.MAX_SAFE_INTEGER, 0);
      return {
        pool: p,
        rank,
        room: plan?.placed ?? 0,
        nodes: plan?.nodes.length ?? 0,
        blocker: undefined,
        note,
      };
    }
    // Each pool at its own shape (an automatic shape differs from pool to pool).
    const room = now.roomNow(p, classes, shapeOn(g, p), poolKeyOn(g, p));
    return { pool: p, rank, room: room.pods, nodes: room.nodes, blocker: undefined, note };
  });
}

function describePools(pass: Pass, statuses: readonly PoolStatus[]): string {
  const sorted = [...statuses].sort((a, b) => b.room - a.room || a.rank - b.rank || a.pool - b.pool);
  const shown = sorted.slice(0, pass.maxPoolsInReason).map((s) => {
    const name = pass.now.pool(s.pool).input.name;
    const where = s.room > 0 ? ` on ${plural(s.nodes, "node")}` : "";
    const note = s.note ? ` (${s.note})` : "";
    return `pool ${name} has room for ${s.room}${where}${note}`;
  });
  const rest = sorted.slice(pass.maxPoolsInReason);
  if (rest.length > 0) {
    const noRoom = rest.every((s) => s.room === 0);
    shown.push(`${plural(rest.length, "more matching pool")}${noRoom ? " with no room" : ""}`);
  }
  return shown.join(", ");
}

function codeFor(statuses: readonly PoolStatus[]): QueuedCode {
  if (statuses.length > 0 && statuses.every((s) => s.blocker === "paused")) return "PoolPaused";
  if (
    statuses.some((s) => s.blocker === "held") &&
    statuses.every((s) => s.blocker === "paused" || s.blocker === "held")
  ) {
    return "PoolHeld";
  }
  if (
    statuses.length > 0 &&
    statuses.every((s) => s.blocker !== undefined && s.blocker !== "taints" && s.blocker !== "held")
  ) {
    return "NoReadyNodes";
  }
  return "InsufficientCapacity";
}

/** Why a workload (or the pending rest of a replicas workload) is still waiting. */
export function explainQueued(
  pass: Pass,
  w: PreparedWorkload,
  pending: number,
): { code: QueuedCode; reason: string } {
  const prefix: string[] = [];
  if (w.starving) {
    const waited = `waiting for ${formatDuration(w.queuedForMs)}, too long`;
    const held = pass.holds.list
      .filter((h) => h.order === w.order)
      .map((h) => pass.now.pool(h.pool).input.name);
    const holdersAhead = [...new Set(pass.holds.list.filter((h) => h.order < w.order).map((h) => h.key))];
    if (held.length > 0) {
      const pools = `${held.length === 1 ? "pool" : "pools"} ${listText(held)} ${held.length === 1 ? "is" : "are"}`;
      prefix.push(`${waited}: ${pools} held for it until it fits`);
    } else if (holdersAhead.length >= pass.maxHolders) {
      prefix.push(
        `${waited}; it holds pools once ${listText(holdersAhead)}, starving ahead of it, is admitted`,
      );
    } else {
      prefix.push(`${waited}, but every pool it could use is paused or already held`);
    }
  }
  const named = w.groups.length > 1;
  const parts: { text: string; statuses: PoolStatus[]; fits: boolean }[] = [];
  for (const g of w.groups) {
    let want = g.pods;
    let need: string;
    if (w.mode === "replicas") {
      want = pending > 0 ? pending : g.pods;
      need =
        pending > 0
          ? `${g.pods - pending} of ${plural(g.pods, "pod")} admitted; needs ${describeNeed(g, plural(pending, "more pod"), pass.pools)}`
          : `needs ${describeNeed(g, `${w.minPods < g.pods ? `at least ${w.minPods} of ` : ""}${plural(g.pods, "pod")}`, pass.pools)}`;
    } else {
      need = `needs ${describeNeed(g, podsText(w, g), pass.pools)}`;
      want = podsNeeded(w, g);
    }
    const statuses = poolStatuses(pass, w, g);
    const fits = statuses.some((s) => s.room >= (w.mode === "replicas" && pending === 0 ? w.minPods : want));
    const pools = statuses.length > 0 ? describePools(pass, statuses) : "no matching pool";
    parts.push({ text: `${named ? `group "${g.name}" ` : ""}${need}; ${pools}`, statuses, fits });
  }
  const short = parts.filter((p) => !p.fits);
  if (short.length === 0 && parts.length > 1) {
    return {
      code: "InsufficientCapacity",
      reason: [
        ...prefix,
        `each group has room on its own but not all at once: ${parts.map((p) => p.text).join("; ")}`,
      ].join("; "),
    };
  }
  const shown = short.length > 0 ? short : parts;
  return {
    code: codeFor(shown.flatMap((p) => p.statuses)),
    reason: [...prefix, ...shown.map((p) => p.text)].join("; "),
  };
}

/** Why a group could not fit even if every matching pool were empty, ready and unpaused. */
export function explainNeverFits(
  pass: Pass,
  w: PreparedWorkload,
  g: PreparedGroup,
  roomsWhenEmpty: readonly number[],
  totalWhenEmpty = 0,
): { code: UnschedulableCode; reason: string } {
  const prefix = w.groups.length > 1 ? `group "${g.name}" ` : "";
  const need = `${prefix}needs ${describeNeed(g, podsText(w, g), pass.pools)}`;
  const names = (ps: readonly number[]) => listText(ps.map((p) => pass.pools[p]?.name ?? ""));
  const { matching, missingPins, mismatched } = g.candidates;
  if (matching.length === 0) {
    if (missingPins.length > 0) {
      const verb = missingPins.length === 1 ? "does" : "do";
      const also = mismatched
        .map((m) => `; pool ${pass.pools[m.pool]?.name} does not match (${m.why})`)
        .join("");
      return {
        code: "NoMatchingPool",
        reason: `${need}, but pool ${listText(missingPins)} ${verb} not exist${also}`,
      };
    }
    if (pass.pools.length === 0)
      return { code: "NoMatchingPool", reason: `${need}, but no AcceleratorPool exists` };
    const shape = g.group.accelerators.replicaShape;
    const largest = shape ? largestPoolText(pass, shape.memoryGiB) : "";
    if (largest)
      return { code: "NoMatchingPool", reason: `${need}, but no AcceleratorPool holds it: ${largest}` };
    const shown = mismatched
      .slice(0, pass.maxPoolsInReason)
      .map((m) => `${pass.pools[m.pool]?.name} (${m.why})`);
    if (mismatched.length > shown.length) shown.push(`${mismatched.length - shown.length} more`);
    return { code: "NoMatchingPool", reason: `${need}, but no AcceleratorPool matches: ${shown.join(", ")}` };
  }

  const state = pass.now;
  const pools = matching.map((c) => c.pool);
  const usable = pools.map((p) => state.staticNodes(p, w.tolerationId, w.tolerations));
  if (pools.every((p) => state.pool(p).nodeCount === 0)) {
    return { code: "ExceedsPoolCapacity", reason: `${need}, but matching pool ${names(pools)} has no nodes` };
  }
  if (usable.every((u) => u.nodes.length === 0)) {
    const k = usable.findIndex((u) => u.untolerated !== undefined);
    const example = usable[k]?.untolerated;
    const where = example ? ` (pool ${pass.pools[pools[k] as number]?.name}: ${formatTaint(example)})` : "";
    return {
      code: "Untolerated",
      reason: `${need}, but every node of the matching pools has a taint it does not tolerate${where}`,
    };
  }
  if (roomsWhenEmpty.every((r) => r === 0)) {
    const span = g.group.podsPerReplica ?? 1;
    if (
      span > 1 &&
      pools.some((p) => state.emptyRoom(p, w.tolerationId, w.tolerations, shapeOn(g, p), poolKeyOn(g, p)) > 0)
    )
      return {
        code: "ExceedsPoolCapacity",
        reason: `${need}, but no matching pool has ${span} nodes that can each hold one of its pods`,
      };
    return { code: "ExceedsNodeCapacity", reason: `${need}, but ${largestNodeText(state, pools, w, g)}` };
  }
  if (w.mode === "replicas") {
    const total = totalWhenEmpty;
    return {
      code: "ExceedsPoolCapacity",
      reason: `${prefix}needs at least ${w.minPods} of ${describeNeed(g, plural(g.pods, "pod"), pass.pools)}, but even empty the matching pools have room for ${total}`,
    };
  }
  let best = 0;
  roomsWhenEmpty.forEach((r, k) => {
    if (r > (roomsWhenEmpty[best] as number)) best = k;
  });
  const bestPool = pools[best] as number;
  return {
    code: "ExceedsPoolCapacity",
    reason: `${need} in one pool, but even empty the largest matching pool (${pass.pools[bestPool]?.name}) has room for ${roomsWhenEmpty[best]}`,
  };
}

/** "the largest pool, mi300x (192 GiB per device), would need 105 devices, more than 64". */
function largestPoolText(pass: Pass, memoryGiB: number): string {
  let largest: PoolInput | undefined;
  for (const pool of pass.pools) if (!largest || pool.memoryGiB > largest.memoryGiB) largest = pool;
  if (!largest || !(largest.memoryGiB > 0)) return "";
  const needed = Math.ceil(memoryGiB / largest.memoryGiB);
  return `the largest pool, ${largest.name} (${largest.memoryGiB} GiB per device), would need ${plural(needed, "device")}, more than ${MAX_DEVICES_PER_REPLICA}`;
}

function largestNodeText(
  state: ClusterState,
  pools: readonly number[],
  w: PreparedWorkload,
  g: PreparedGroup,
): string {
  let devices = 0;
  let cpuMillis = 0;
  let memoryBytes = 0;
  for (const p of pools) {
    const max = state.staticMaxima(p, w.tolerationId, w.tolerations);
    devices = Math.max(devices, max.devices);
    cpuMillis = Math.max(cpuMillis, max.cpuMillis);
    memoryBytes = Math.max(memoryBytes, max.memoryBytes);
  }
  const need = g.shape;
  const largest = "the largest node of the matching pools has";
  if (need.devices > devices) return `${largest} ${plural(devices, "device")}`;
  if (need.cpuMillis > cpuMillis) return `${largest} ${formatCpu(cpuMillis)} CPU`;
  if (need.memoryBytes > memoryBytes) return `${largest} ${formatMemory(memoryBytes)} memory`;
  return "no single node of the matching pools has all of that at once";
}
