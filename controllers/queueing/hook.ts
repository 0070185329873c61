// The admitter's quota hook: before each pass it resolves every waiting workload's team (queue,
// TeamQuota, PriorityClass) and describes the admitted ones to the engine; after the pass it keeps
// what the TeamQuota and AcceleratorQueue statuses report, and wakes those whose figures changed.
import { PREEMPTING_CONDITION } from "../../crds/runtime/index.ts";
import { findCondition, type KubeObject } from "../../operator/index.ts";
import type { AdmittedForQuota, Decision, QuotaHook } from "../admission/index.ts";
import type {
  AdmittedWorkload,
  PlacementResult,
  PoolInput,
  QuotaInput,
  TeamUsage,
  Workload,
} from "../placement/index.ts";
import { resourceTypes } from "../resources.ts";
import {
  type Membership,
  membershipOf,
  type PriorityClassLike,
  priorityOf,
  type QueueObject,
  type TeamQuotaObject,
  teamInputOf,
} from "./resolve.ts";
import { surplusOf } from "./surplus.ts";

export interface QueueFigures {
  pending: number;
  admitted: number;
}

export interface QueueingSource {
  teamQuotas(): readonly TeamQuotaObject[];
  queues(): readonly QueueObject[];
  priorityClass(name: string): PriorityClassLike | undefined;
  /** A workload's own pods (labelled with its kind and name): which of them a preemption may take. */
  podsOf(obj: KubeObject): readonly KubeObject[];
  /** Woken after a pass that changed their figures. */
  enqueueTeam(name: string): void;
  enqueueQueue(key: string): void;
}

const isPreempting = (obj: KubeObject): boolean =>
  findCondition((obj as { status?: { conditions?: never[] } }).status?.conditions, PREEMPTING_CONDITION)
    ?.status === "True";

export class QueueingHook implements QuotaHook {
  private readonly source: QueueingSource;
  private teams = new Map<string, TeamUsage>();
  private queueFigures = new Map<string, QueueFigures>();
  /** The key of every waiting workload held by its quota, to its TeamQuota and reason. */
  private held = new Map<string, { team: string; reason: string }>();
  private teamOfKey = new Map<string, string>();
  private nextFigures = new Map<string, QueueFigures>();

  constructor(source: QueueingSource) {
    this.source = source;
  }

  /** Teams or queues exist: every pass must count usage, waiting workloads or not. */
  inUse(): boolean {
    return this.source.teamQuotas().length > 0 || this.source.queues().length > 0;
  }

  prepare(
    waiting: readonly Workload[],
    admitted: readonly AdmittedForQuota[],
    objectOf: (key: string) => KubeObject | undefined,
    pools: readonly PoolInput[],
  ): { waiting: Workload[]; input: QuotaInput; decisions: Map<string, Decision> } | undefined {
    const quotas = this.source.teamQuotas();
    const queues = this.source.queues();
    const names = new Set(quotas.map((q) => q.metadata.name ?? ""));
    const exists = (name: string) => names.has(name);
    const memberships = new Map<KubeObject, Membership>();
    const membership = (obj: KubeObject): Membership => {
      let m = memberships.get(obj);
      if (!m) {
        m = membershipOf(obj, queues, exists);
        memberships.set(obj, m);
      }
      return m;
    };
    const decisions = new Map<string, Decision>();
    const figures = new Map<string, QueueFigures>();
    const count = (obj: KubeObject, m: Membership, field: keyof QueueFigures) => {
      if (m.kind === "none" || !m.queue) return;
      const key = `${obj.metadata.namespace}/${m.queue}`;
      const f = figures.get(key) ?? { pending: 0, admitted: 0 };
      f[field]++;
      figures.set(key, f);
    };
    this.teamOfKey = new Map();
    const out: Workload[] = [];
    for (const w of waiting) {
      const obj = objectOf(w.key);
      if (!obj) {
        out.push(w);
        continue;
      }
      const m = membership(obj);
      count(obj, m, "pending");
      const priority = priorityOf(obj, (n) => this.source.priorityClass(n));
      if (m.kind === "missing" || (priority && "reason" in priority)) {
        const reason = m.kind === "missing" ? m.reason : (priority as { reason: string }).reason;
        decisions.set(w.key, { type: "queued", position: 0, code: "QueueNotFound", reason });
        continue;
      }
      const withPriority = priority ? { ...w, priority: priority.value } : w;
      if (m.kind === "team") this.teamOfKey.set(w.key, m.team);
      out.push(m.kind === "team" ? { ...withPriority, team: m.team } : withPriority);
    }
    const poolOfNode = new Map<string, string>();
    for (const p of pools) for (const n of p.nodeNames) if (!poolOfNode.has(n)) poolOfNode.set(n, p.name);
    const list: AdmittedWorkload[] = [];
    const surplusContext = { podsOf: (obj: KubeObject) => this.source.podsOf(obj), pools };
    for (const a of admitted) {
      const m = membership(a.obj);
      if (!a.running) count(a.obj, m, "admitted");
      if (m.kind !== "team") continue;
      const byPool = new Map<string, number>();
      let cpuMillis = 0;
      let memoryBytes = 0;
      for (const n of a.holds.nodes) {
        const pool = poolOfNode.get(n.node);
        if (pool !== undefined) byPool.set(pool, (byPool.get(pool) ?? 0) + n.devices);
        cpuMillis += n.cpuMillis;
        memoryBytes += n.memoryBytes;
      }
      const priority = priorityOf(a.obj, (n) => this.source.priorityClass(n));
      const surplus = a.running ? undefined : surplusOf(a.obj, a.workload, surplusContext);
      list.push({
        key: a.key,
        team: m.team,
        priority: priority && "value" in priority ? priority.value : a.workload.priority,
        creationTimestamp: a.workload.creationTimestamp,
        pools: [...byPool].map(([pool, devices]) => ({ pool, devices })),
        cpuMillis,
        memoryBytes,
        nodes: a.holds.nodes,
        // Training checkpoints and resumes; a Ray cluster gives back workers above its minimum,
        // a serving workload replicas above its own.
        preemptible: a.obj.kind === resourceTypes.trainingJob.kind,
        preempting: isPreempting(a.obj),
        surplus: surplus?.pods,
        ...(surplus?.limit !== undefined ? { surplusLimit: surplus.limit } : {}),
      });
    }
    this.nextFigures = figures;
    return { waiting: out, input: { teams: quotas.map(teamInputOf), admitted: list }, decisions };
  }

  afterPass(result: PlacementResult): void {
    const teams = new Map((result.teams ?? []).map((t) => [t.team, t]));
    const held = new Map<string, { team: string; reason: string }>();
    for (const q of result.queued) {
      const team = this.teamOfKey.get(q.key);
      if (team && (q.code === "QuotaExceeded" || q.code === "Preempting"))
        held.set(q.key, { team, reason: q.reason });
    }
    for (const [name, usage] of teams)
      if (JSON.stringify(this.teams.get(name)) !== JSON.stringify(usage)) this.source.enqueueTeam(name);
    for (const name of this.teams.keys()) if (!teams.has(name)) this.source.enqueueTeam(name);
    for (const [key, f] of this.nextFigures) {
      const before = this.queueFigures.get(key);
      if (before?.pending !== f.pending || before?.admitted !== f.admitted) this.source.enqueueQueue(key);
    }
    for (const key of this.queueFigures.keys()) if (!this.nextFigures.has(key)) this.source.enqueueQueue(key);
    this.teams = teams;
    this.queueFigures = this.nextFigures;
    this.held = held;
  }

  teamUsage(name: string): TeamUsage | undefined {
    return this.teams.get(name);
  }

  queue(key: string): QueueFigures {
    return this.queueFigures.get(key) ?? { pending: 0, admitted: 0 };
  }

  /** Why a waiting workload's quota holds it (for tools), by engine key. */
  heldBy(key: string): { team: string; reason: string } | undefined {
    return this.held.get(key);
  }
}
