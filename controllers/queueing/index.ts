// Team queues: the TeamQuota and AcceleratorQueue controllers, and the quota hook they give the
// admitter, so that every admission pass honours quotas, cohorts, fair sharing and preemption
// (controllers/placement/quota). The controllers only report: TeamQuota status says what each
// team uses, borrows and waits for; AcceleratorQueue status whether its TeamQuota exists and how
// many of its workloads wait or run. README.md in this folder has the design.
import {
  type AcceleratorQueueStatus,
  type Condition,
  labels,
  type TeamQuotaStatus,
} from "../../crds/runtime/index.ts";
import {
  type ControllerFactory,
  type ControllerSpec,
  type Informer,
  type KubeObject,
  type ResourceType,
  setCondition,
  withObservedGeneration,
} from "../../operator/index.ts";
import type { QuotaHook } from "../admission/index.ts";
import { resourceTypes } from "../resources.ts";
import { QueueingHook } from "./hook.ts";
import { cohortProblem, type PriorityClassLike, type QueueObject, type TeamQuotaObject } from "./resolve.ts";

export { QueueingHook } from "./hook.ts";
export { cohortProblem, membershipOf, teamInputOf } from "./resolve.ts";

const podsOfWorkload = "sovereign.dev/queueing-workload";

export interface QuotaAdmitter {
  useQuota(hook: QuotaHook): void;
  requestPass(): void;
}

/** A pass is due when a quota, queue or priority class changes (not when only its status does). */
function passOnChange(informer: Informer, admitter: QuotaAdmitter): void {
  const poke = (): void => admitter.requestPass();
  informer.addHandler({
    onAdd: poke,
    onUpdate: (old, obj) => {
      if (old.metadata.generation !== obj.metadata.generation || obj.metadata.generation === undefined)
        poke();
    },
    onDelete: poke,
  });
}

interface Ready {
  status: "True" | "False";
  reason: string;
  message: string;
}

type Reported = KubeObject & { status?: { conditions?: Condition[] } };

/** A controller that only reports: figures and the Ready condition, in one status write. */
function reportingController<T extends Reported>(
  name: string,
  rt: ResourceType,
  watches: ControllerSpec["watches"],
  report: (obj: T, key: string) => { figures: object; ready: Ready },
): ControllerSpec {
  return {
    name,
    for: rt,
    watches,
    async reconcile(key, rctx) {
      const obj = rctx.object<T>();
      if (!obj) return undefined;
      const { figures, ready } = report(obj, key);
      const conditions = setCondition(obj.status?.conditions, {
        type: "Ready",
        ...ready,
        observedGeneration: obj.metadata.generation,
      });
      await rctx.writeStatus(rt, obj, withObservedGeneration(obj, { ...figures, conditions }));
      return undefined;
    },
  };
}

/** The two controllers, sharing one hook; register both (cmd/operator.ts). */
export function queueingControllers(admitter: QuotaAdmitter): ControllerFactory[] {
  let hook: QueueingHook | undefined;
  const enqueuers: { team?: (key: string) => void; queue?: (key: string) => void } = {};
  const ensureHook = (ctx: Parameters<ControllerFactory>[0]): QueueingHook => {
    if (hook) return hook;
    const quotas = ctx.informer(resourceTypes.teamQuota);
    const queues = ctx.informer(resourceTypes.acceleratorQueue);
    const classes = ctx.informer(resourceTypes.priorityClass);
    for (const informer of [quotas, queues, classes]) passOnChange(informer, admitter);
    // A workload's own pods, for the surplus a preemption may take (the admitter watches pods
    // of every namespace already; this only indexes them by workload).
    const pods = ctx.informer(resourceTypes.pod, { allNamespaces: true });
    pods.store.addIndexer(podsOfWorkload, (pod) => {
      const kind = pod.metadata.labels?.[labels.kind];
      const name = pod.metadata.labels?.[labels.name];
      return kind && name ? [`${kind}/${pod.metadata.namespace}/${name}`] : [];
    });
    hook = new QueueingHook({
      teamQuotas: () => quotas.store.list() as TeamQuotaObject[],
      queues: () => queues.store.list() as QueueObject[],
      priorityClass: (name) => classes.store.get(name) as PriorityClassLike | undefined,
      podsOf: (obj) =>
        pods.store.byIndex(
          podsOfWorkload,
          `${(obj.kind ?? "").toLowerCase()}/${obj.metadata.namespace}/${obj.metadata.name}`,
        ),
      enqueueTeam: (name) => enqueuers.team?.(name),
      enqueueQueue: (key) => enqueuers.queue?.(key),
    });
    admitter.useQuota(hook);
    return hook;
  };

  const teamQuotaController: ControllerFactory = (ctx) => {
    const h = ensureHook(ctx);
    enqueuers.team = (key) => ctx.enqueue(key);
    return reportingController("teamquota", resourceTypes.teamQuota, [], (tq: TeamQuotaObject, key) => {
      const usage = h.teamUsage(key);
      const problem = cohortProblem(tq, ctx.cache.list<TeamQuotaObject>(resourceTypes.teamQuota));
      const ready: Ready = problem
        ? { status: "False", reason: "BorrowingLimitAboveCohort", message: problem }
        : {
            status: "True",
            reason: "Active",
            message: `${usage?.admitted ?? 0} admitted, ${usage?.pending ?? 0} waiting`,
          };
      const figures: Omit<TeamQuotaStatus, "conditions"> = {
        devices: usage?.devices ?? [],
        admittedWorkloads: usage?.admitted ?? 0,
        pendingWorkloads: usage?.pending ?? 0,
      };
      return { figures, ready };
    });
  };

  const acceleratorQueueController: ControllerFactory = (ctx) => {
    const h = ensureHook(ctx);
    enqueuers.queue = (key) => ctx.enqueue(key);
    const queuesOf = (tq: KubeObject): string[] =>
      ctx.cache
        .list<QueueObject>(resourceTypes.acceleratorQueue)
        .filter((q) => q.spec.teamQuota === tq.metadata.name)
        .map((q) => `${q.metadata.namespace}/${q.metadata.name}`);
    const watches = [{ resource: resourceTypes.teamQuota, map: queuesOf }];
    return reportingController(
      "acceleratorqueue",
      resourceTypes.acceleratorQueue,
      watches,
      (queue: QueueObject, key) => {
        const name = queue.spec.teamQuota;
        const found = ctx.cache.get(resourceTypes.teamQuota, name) !== undefined;
        const ready: Ready = found
          ? { status: "True", reason: "TeamQuotaFound", message: `uses TeamQuota ${name}` }
          : {
              status: "False",
              reason: "TeamQuotaNotFound",
              message: `TeamQuota ${name} (spec.teamQuota) does not exist; its workloads wait`,
            };
        const figures: Omit<AcceleratorQueueStatus, "conditions"> = h.queue(key);
        return { figures, ready };
      },
    );
  };

  return [teamQuotaController, acceleratorQueueController];
}
