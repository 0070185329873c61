// The reconcile of one TrainingJob: read the cache, let the state machine (plan.ts) decide,
// then write in the order that keeps every crash point safe:
//   1. status (one write): the admission exists before any pod, a new attempt number before
//      the old gang is deleted, a released admission before its pods go;
//   2. children: delete what must go, apply the Service and the missing pods.
// The plan's events are recorded before the status write, so the runtime sends them once that
// write has succeeded, even when a child write after it fails: the next reconcile sees the
// status already changed and would never produce them again (docs/architecture-notes.md).

import type { AcceleratorPool } from "../../crds/runtime/index.ts";
import {
  ApiError,
  controllerReference,
  isConflict,
  isNotFound,
  type KubeObject,
  type ReconcileContext,
  type ReconcileResult,
  statusEquals,
} from "../../operator/index.ts";
import type { AdmitterApi, NodeLike } from "../admission/index.ts";
import { resourceTypes } from "../resources.ts";
import { missingClaim } from "./claim.ts";
import type { BackoffPolicy } from "./failure.ts";
import type { TrainingJobMetrics } from "./metrics.ts";
import { planReconcile } from "./plan.ts";
import type { ChildPod, JobStatus, PodDeletion } from "./planner.ts";
import type { TrainingJobObject } from "./pods.ts";
import { readinessVerdict } from "./readiness-batch.ts";
import { RESTARTING } from "./restart.ts";

export interface ReconcilerDeps {
  admitter: AdmitterApi;
  backoff: BackoffPolicy;
  admissionTimeoutMs: number | undefined;
  metrics: TrainingJobMetrics;
  now: () => number;
}

export class TrainingJobReconciler {
  private readonly deps: ReconcilerDeps;
  /**
   * The status this process last wrote per job, with the resourceVersion it was computed from.
   * The job's own watch event can arrive after those of the pods created right after the write;
   * a reconcile in between must build on what was written, not on the cache's older copy (which
   * would, for one, not show the admission those pods were created under).
   */
  private readonly written = new Map<string, { rv: string | undefined; status: JobStatus }>();
  /** Since when a job's readiness counts have been held back unwritten (readiness-batch.ts). */
  private readonly heldSince = new Map<string, number>();
  /**
   * The job's Service, kept per job uid: it depends on the job's identity alone, and the same
   * object applied again is not hashed again (operator/apply.ts) on every reconcile.
   */
  private readonly services = new Map<string, { uid: string | undefined; service: KubeObject }>();

  constructor(deps: ReconcilerDeps) {
    this.deps = deps;
  }

  async reconcile(key: string, ctx: ReconcileContext): Promise<ReconcileResult | undefined> {
    const { admitter } = this.deps;
    const job = ctx.object<TrainingJobObject>();
    if (!job || job.metadata.deletionTimestamp) {
      // Garbage collection deletes the pods and the Service; the admitter stops counting the
      // job once it is gone from its cache.
      this.written.delete(key);
      this.heldSince.delete(key);
      this.services.delete(key);
      return undefined;
    }
    const rv = job.metadata.resourceVersion;
    const memo = this.written.get(key);
    if (memo && memo.rv !== rv) this.written.delete(key);
    const status: JobStatus = memo && memo.rv === rv ? memo.status : ((job.status ?? {}) as JobStatus);
    const now = this.deps.now();
    const cache = ctx.cache;
    const node = (name: string): NodeLike | undefined =>
      cache.has(resourceTypes.node) ? cache.get<NodeLike>(resourceTypes.node, name) : undefined;
    const nodesKnown = cache.has(resourceTypes.node);

    const plan = planReconcile({
      job,
      status,
      pods: cache.childrenOf<ChildPod>(resourceTypes.pod, job),
      decision: admitter.decisionFor(resourceTypes.trainingJob, key),
      preemption: admitter.preemptionFor?.(resourceTypes.trainingJob, key),
      pool: (name) =>
        cache.get<AcceleratorPool & { metadata: { name?: string } }>(resourceTypes.acceleratorPool, name),
      // Without a node cache nothing can be judged lost.
      nodeExists: (name) => !nodesKnown || node(name) !== undefined,
      nodeUsable: (name) => {
        if (!nodesKnown) return true;
        const n = node(name);
        return n !== undefined && !n.spec?.unschedulable;
      },
      now,
      backoff: this.deps.backoff,
      owner: controllerReference(job),
      ...(this.deps.admissionTimeoutMs !== undefined
        ? { admissionTimeoutMs: this.deps.admissionTimeoutMs }
        : {}),
      missingClaim: missingClaim(cache, job),
    });

    for (const event of plan.events) ctx.recordEvent(job, event);
    // A write that records no new admission and has no child write after it only reports.
    const report =
      plan.create.length === 0 &&
      plan.delete.length === 0 &&
      !plan.service &&
      !plan.deleteJob &&
      !recordsAdmission(status, plan.status);
    // A new job that no pass has seen yet: its first status would say only that, and the pass,
    // milliseconds away, enqueues it with a verdict worth the write.
    const unseen = plan.requestPass && job.status === undefined;
    const verdict = readinessVerdict({
      before: status,
      after: plan.status,
      // Events are sent with the status they report; held back, the next reconcile would
      // produce them a second time. The Service apply is no request once it exists.
      batchable:
        plan.create.length === 0 &&
        plan.delete.length === 0 &&
        !plan.deleteJob &&
        plan.events.length === 0 &&
        !recordsAdmission(status, plan.status),
      heldSince: this.heldSince.get(key),
      now,
    });
    if (verdict.write) this.heldSince.delete(key);
    else this.heldSince.set(key, verdict.heldSince);
    if (
      !unseen &&
      verdict.write &&
      (await ctx.writeStatus(resourceTypes.trainingJob, { ...job, status }, plan.status, { report }))
    ) {
      this.written.set(key, { rv, status: plan.status });
      const restarted = (plan.status.restarts ?? 0) > (status.restarts ?? 0);
      if (restarted) {
        const reason = plan.status.conditions?.find((c) => c.type === RESTARTING)?.reason ?? "Unknown";
        this.deps.metrics.restarts?.inc({ reason });
      }
    }

    if (plan.requestPass) admitter.requestPass();
    const requeueAfter = verdict.write
      ? plan.requeueAfterMs
      : Math.min(plan.requeueAfterMs ?? Number.POSITIVE_INFINITY, verdict.retryAfterMs);

    if (plan.deleteJob) {
      await ctx.client
        .delete(resourceTypes.trainingJob, job.metadata.name ?? "", job.metadata.namespace, {
          propagationPolicy: "Background",
          uid: job.metadata.uid,
        })
        .catch(ignoreGone);
      return undefined;
    }
    // The plan never both deletes and creates pods (a new gang waits until the old one is
    // gone), so every child write can go at once.
    // A pod the cache shows is applied again: a checkpoint request adds an annotation to the
    // running gang's pods.
    const createPod = (pod: KubeObject) =>
      ctx.apply(resourceTypes.pod, pod, { createWhenAbsent: true }).catch((error: unknown) => {
        if (error instanceof ApiError && error.status >= 400 && error.status < 500) {
          ctx.recordEvent(job, {
            type: "Warning",
            reason: "FailedCreatePod",
            action: "Create",
            note: `pod ${pod.metadata.name}: ${error.message}`,
          });
        }
        throw error;
      });
    await Promise.all([
      ...plan.delete.map((d) => deletePod(ctx, job.metadata.namespace, d)),
      ...(plan.service ? [ctx.apply(resourceTypes.service, this.serviceOf(key, job, plan.service))] : []),
      ...plan.create.map(createPod),
    ]);
    return requeueAfter !== undefined ? { requeueAfter } : undefined;
  }

  private serviceOf(key: string, job: TrainingJobObject, desired: KubeObject): KubeObject {
    const uid = job.metadata.uid;
    const kept = this.services.get(key);
    if (kept && kept.uid === uid) return kept.service;
    this.services.set(key, { uid, service: desired });
    return desired;
  }
}

/** Whether the write grants or releases devices: others wait on that, so it is work, not a report. */
function recordsAdmission(before: JobStatus, after: JobStatus): boolean {
  return !statusEquals(before.admission, after.admission);
}

/** A pod or job already gone (or replaced by a new one of the same name) needs no delete. */
function ignoreGone(error: unknown): void {
  if (isNotFound(error) || isConflict(error)) return;
  throw error;
}

async function deletePod(
  ctx: ReconcileContext,
  namespace: string | undefined,
  deletion: PodDeletion,
): Promise<void> {
  await ctx.client
    .delete(resourceTypes.pod, deletion.name, namespace, {
      propagationPolicy: "Background",
      uid: deletion.uid,
      // A pod on a node that is gone would wait for a kubelet that never answers.
      ...(deletion.force ? { gracePeriodSeconds: 0 } : {}),
    })
    .catch(ignoreGone);
}
