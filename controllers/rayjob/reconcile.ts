// One reconcile of a RayJob: find or create its RayCluster, wait until it is Ready (mirroring
// its admission while it waits), submit the entrypoint to the head's dashboard at the head
// pod's address, follow the job, and clean up as the spec says. Every call to Ray is bounded;
// an unreachable dashboard is a condition and a retry with backoff, never a crash loop.
import type { RayCluster, RayJob, RayJobStatusFields } from "../../crds/runtime/index.ts";
import { labels } from "../../crds/runtime/index.ts";
import {
  controllerReference,
  findCondition,
  isNotFound,
  type KubeObject,
  type ReconcileContext,
  type ReconcileResult,
  setCondition,
} from "../../operator/index.ts";
import { isTerminalJobStatus, JobSubmissionClient, RayApiError } from "../ray-api/index.ts";
import { dashboardUrl } from "../raycluster/dashboard.ts";
import { resourceTypes } from "../resources.ts";
import { ownedClusterName, stopJobFinalizer, submissionId, submitterJobName } from "./names.ts";
import { clusterDeletionDelay, finishedPhases, mirrorJob, nextStep, pollIntervalMs } from "./progress.ts";
import { submitterComplete, submitterFailure, submitterJob } from "./submitter.ts";

export type RayJobObject = RayJob & KubeObject;
type RayClusterObject = RayCluster & KubeObject;

export interface RayJobDeps {
  /** The Job Submission client for a dashboard URL; tests and the benchmark keep the default. */
  jobClient?: (dashboardUrl: string) => JobSubmissionClient;
  now?: () => Date;
}

const rt = resourceTypes.rayJob;
const requestTimeoutMs = 5_000;

/** The RayCluster a job runs on: its own, or the oldest one its selector matches. */
export function clusterOf(ctx: ReconcileContext, job: RayJobObject): RayClusterObject | undefined {
  const ns = job.metadata.namespace as string;
  if (job.spec.rayClusterSpec)
    return ctx.cache.get<RayClusterObject>(resourceTypes.rayCluster, ns, ownedClusterName(job));
  const selector = job.spec.clusterSelector ?? {};
  return ctx.cache
    .list<RayClusterObject>(resourceTypes.rayCluster, { namespace: ns, labels: selector })
    .sort((a, b) =>
      (a.metadata.creationTimestamp ?? "").localeCompare(b.metadata.creationTimestamp ?? ""),
    )[0];
}

export function ownedCluster(job: RayJobObject): KubeObject {
  return {
    apiVersion: resourceTypes.rayCluster.apiVersion,
    kind: resourceTypes.rayCluster.kind,
    metadata: {
      name: ownedClusterName(job),
      namespace: job.metadata.namespace,
      labels: { [labels.kind]: "rayjob", [labels.name]: job.metadata.name as string },
      ownerReferences: [controllerReference(job)],
    },
    spec: job.spec.rayClusterSpec as unknown as Record<string, unknown>,
  };
}

const describeRayError = (error: unknown): string =>
  error instanceof RayApiError ? error.message : error instanceof Error ? error.message : String(error);

export function rayJobReconciler(deps: RayJobDeps = {}) {
  const clock = deps.now ?? (() => new Date());
  const clientFor =
    deps.jobClient ?? ((url: string) => new JobSubmissionClient(url, { timeoutMs: requestTimeoutMs }));

  return async function reconcile(_key: string, ctx: ReconcileContext): Promise<ReconcileResult | undefined> {
    const cached = ctx.object<RayJobObject>();
    if (!cached) return undefined;
    let job = cached;
    const now = clock();
    const ns = job.metadata.namespace as string;
    const previous = job.status ?? {};
    let status: RayJobStatusFields = { ...previous };
    const gen = job.metadata.generation;
    const condition = (type: string, s: "True" | "False", reason: string, message: string) => {
      status.conditions = setCondition(
        status.conditions,
        { type, status: s, reason, message, observedGeneration: gen },
        now,
      );
    };
    const owned = job.spec.rayClusterSpec !== undefined;
    let cluster = clusterOf(ctx, job);
    const dashboard = cluster ? dashboardUrl(ctx.cache, cluster) : undefined;
    const running = status.jobId !== undefined && !isTerminalJobStatus(status.jobStatus);

    /** Best effort: a stop that cannot reach the head must not keep a deletion or a suspend waiting forever. */
    const stopRayJob = async (why: string): Promise<void> => {
      if (!running || !dashboard || !status.jobId) return;
      try {
        await clientFor(dashboard).stop(status.jobId);
        status.jobStatus = "STOPPED";
        ctx.recordEvent(job, {
          type: "Normal",
          reason: "Stopped",
          action: "Stop",
          note: `stopped Ray job ${status.jobId}: ${why}`,
        });
      } catch (error) {
        ctx.recordEvent(job, {
          type: "Warning",
          reason: "StopFailed",
          action: "Stop",
          note: `could not stop Ray job ${status.jobId} at ${dashboard}: ${describeRayError(error)}`,
        });
      }
    };
    const deleteOwnedCluster = async (): Promise<void> => {
      if (!owned || !cluster || cluster.metadata.deletionTimestamp) return;
      try {
        await ctx.client.delete(resourceTypes.rayCluster, cluster.metadata.name as string, ns, {
          uid: cluster.metadata.uid,
        });
        ctx.recordEvent(job, {
          type: "Normal",
          reason: "ClusterDeleted",
          action: "Delete",
          note: `deleted RayCluster ${cluster.metadata.name}`,
        });
      } catch (error) {
        if (!isNotFound(error)) throw error;
      }
      cluster = undefined;
    };
    const write = async () => {
      if (gen !== undefined) status.observedGeneration = gen;
      await ctx.writeStatus(rt, job, status);
    };

    if (job.metadata.deletionTimestamp) {
      if (job.metadata.finalizers?.includes(stopJobFinalizer)) {
        await stopRayJob("the RayJob is being deleted");
        await ctx.removeFinalizer(rt, job, stopJobFinalizer);
      }
      return undefined;
    }

    const k8sJobMode = job.spec.submissionMode === "K8sJob";
    const submitterName = submitterJobName(job, status.attempt ?? 1);
    const submitter = k8sJobMode ? ctx.cache.get(resourceTypes.job, ns, submitterName) : undefined;

    if (job.spec.suspend) {
      await stopRayJob("the RayJob is suspended");
      await deleteOwnedCluster();
      if (submitter && !submitter.metadata.deletionTimestamp)
        await ctx.client
          .delete(resourceTypes.job, submitterName, ns, { propagationPolicy: "Background" })
          .catch((error: unknown) => {
            if (!isNotFound(error)) throw error;
          });
      if (status.phase !== "Suspended" && status.jobId !== undefined)
        status.attempt = (status.attempt ?? 1) + 1;
      delete status.jobId;
      delete status.queuePosition;
      status.phase = "Suspended";
      condition("ClusterReady", "False", "Suspended", "the RayJob is suspended");
      await write();
      return undefined;
    }

    if (status.phase && finishedPhases.includes(status.phase)) {
      if (job.metadata.finalizers?.includes(stopJobFinalizer))
        job = (await ctx.removeFinalizer(rt, job, stopJobFinalizer)) as RayJobObject;
      const delay = owned && cluster ? clusterDeletionDelay(job.spec, status, now.getTime()) : undefined;
      if (delay === 0) await deleteOwnedCluster();
      await write();
      return delay !== undefined && delay > 0 ? { requeueAfter: delay } : undefined;
    }

    status.attempt ??= 1;
    if (!cluster) {
      if (!owned) {
        status.phase = "Waiting";
        condition(
          "ClusterReady",
          "False",
          "ClusterNotFound",
          `no RayCluster in ${ns} has the labels ${JSON.stringify(job.spec.clusterSelector)}`,
        );
        await write();
        return undefined;
      }
      await ctx.apply(resourceTypes.rayCluster, ownedCluster(job));
      ctx.recordEvent(job, {
        type: "Normal",
        reason: "ClusterCreated",
        action: "Create",
        note: `created RayCluster ${ownedClusterName(job)}`,
      });
      status.phase = "Initializing";
      status.rayClusterName = ownedClusterName(job);
      condition("ClusterReady", "False", "ClusterCreated", "the RayCluster was just created");
      await write();
      return undefined;
    }

    status.rayClusterName = cluster.metadata.name as string;
    const on = cluster;
    const applySubmitter = (id: string, url: string) =>
      ctx.apply(
        resourceTypes.job,
        submitterJob({ job, cluster: on, attempt: status.attempt ?? 1, submissionId: id, dashboard: url }),
      );
    const endpoints = cluster.status?.endpoints;
    if (endpoints?.dashboard) status.dashboardURL = endpoints.dashboard;
    // Admission is the cluster's: mirror it while the job waits for it.
    const admitted = findCondition(cluster.status?.conditions, "Admitted");
    if (admitted)
      condition("Admitted", admitted.status === "True" ? "True" : "False", admitted.reason, admitted.message);
    if (cluster.status?.queuePosition !== undefined) status.queuePosition = cluster.status.queuePosition;
    else delete status.queuePosition;
    const clusterReady = cluster.status?.phase === "Ready";
    const readyMessage =
      findCondition(cluster.status?.conditions, "Ready")?.message ?? "the cluster is starting";

    if (status.jobId === undefined) {
      if (!clusterReady || !dashboard) {
        status.phase = admitted?.status === "False" ? "Waiting" : "Initializing";
        condition(
          "ClusterReady",
          "False",
          "ClusterNotReady",
          `RayCluster ${cluster.metadata.name}: ${readyMessage}`,
        );
        await write();
        return undefined;
      }
      condition("ClusterReady", "True", "ClusterReady", `RayCluster ${cluster.metadata.name} is Ready`);
      if (!job.metadata.finalizers?.includes(stopJobFinalizer))
        job = (await ctx.addFinalizer(rt, job, stopJobFinalizer)) as RayJobObject;
      const id = submissionId(job, status.attempt);
      // How it was handed over: reason, condition message, event note.
      let handed: [string, string, string];
      if (k8sJobMode) {
        // The Job submits; the operator follows the job through the dashboard from now on.
        const serviceDashboard = endpoints?.dashboard;
        if (!serviceDashboard) {
          condition(
            "ClusterReady",
            "False",
            "NoEndpoints",
            `RayCluster ${cluster.metadata.name} has no endpoints yet`,
          );
          await write();
          return undefined;
        }
        await applySubmitter(id, serviceDashboard);
        status.jobId = id;
        handed = [
          "SubmitterCreated",
          `submitter Job ${submitterName} submits ${id} to ${serviceDashboard}`,
          `created Job ${submitterName} to submit Ray job ${id} to RayCluster ${cluster.metadata.name}`,
        ];
      } else {
        try {
          const submitted = await clientFor(dashboard).submit({
            entrypoint: job.spec.entrypoint,
            submissionId: id,
            ...(job.spec.runtimeEnv ? { runtimeEnv: job.spec.runtimeEnv } : {}),
            ...(job.spec.metadata ? { metadata: job.spec.metadata } : {}),
          });
          status.jobId = submitted.submissionId;
        } catch (error) {
          condition(
            "DashboardReachable",
            "False",
            "SubmitFailed",
            `submitting to ${dashboard}: ${describeRayError(error)}`,
          );
          await write();
          return { requeue: true };
        }
        handed = [
          "Submitted",
          `submitted as ${id} to ${dashboard}`,
          `submitted Ray job ${id} to RayCluster ${cluster.metadata.name}`,
        ];
      }
      const [reason, message, note] = handed;
      condition("DashboardReachable", "True", reason, message);
      status.jobStatus = "PENDING";
      status.phase = "Running";
      delete status.startTime;
      delete status.endTime;
      delete status.message;
      delete status.logTail;
      ctx.recordEvent(job, { type: "Normal", reason, action: "Submit", note });
      await write();
      return { requeueAfter: pollIntervalMs };
    }

    // Submitted: follow it.
    if (!dashboard) {
      condition(
        "DashboardReachable",
        "False",
        "NoHeadAddress",
        `RayCluster ${cluster.metadata.name}: the head pod has no address (${readyMessage})`,
      );
      await write();
      return { requeue: true };
    }
    const client = clientFor(dashboard);
    let details: Awaited<ReturnType<JobSubmissionClient["get"]>>;
    let logs: string | undefined;
    try {
      details = await client.get(status.jobId);
      if (details) logs = await client.logs(status.jobId).catch(() => undefined);
    } catch (error) {
      condition("DashboardReachable", "False", "Unreachable", `${dashboard}: ${describeRayError(error)}`);
      await write();
      return { requeue: true };
    }
    condition("DashboardReachable", "True", "Reachable", `following ${status.jobId} at ${dashboard}`);
    if (!details && k8sJobMode && !submitterComplete(submitter)) {
      // Ray does not know the job yet: its submitter is starting, retrying, or gave up.
      const failure = submitterFailure(submitter);
      if (failure) {
        status.phase = "Failed";
        status.jobStatus = "FAILED";
        status.endTime = now.toISOString();
        status.message = failure.slice(0, 32768);
        condition("Failed", "True", "SubmissionFailed", status.message);
        ctx.recordEvent(job, {
          type: "Warning",
          reason: "SubmissionFailed",
          action: "Submit",
          note: failure.slice(0, 1000),
        });
        await write();
        return { requeue: true };
      }
      if (!submitter) {
        // Deleted by someone: the same attempt again (a pod that finds the job follows it).
        await applySubmitter(status.jobId, endpoints?.dashboard ?? dashboard);
      }
      condition(
        "DashboardReachable",
        "True",
        "Submitting",
        `submitter Job ${submitterName} has not submitted ${status.jobId} yet`,
      );
      await write();
      return { requeueAfter: pollIntervalMs };
    }
    if (!details) {
      // The head no longer knows it (a new head after a crash): submit the attempt again.
      ctx.recordEvent(job, {
        type: "Warning",
        reason: "JobLost",
        action: "Submit",
        note: `the head at ${dashboard} does not know ${status.jobId}; submitting it again`,
      });
      delete status.jobId;
      // A submitter that completed does not run again: the next attempt gets a Job of its own.
      if (k8sJobMode) status.attempt = (status.attempt ?? 1) + 1;
      await write();
      return { requeue: true };
    }
    status = mirrorJob(status, details, logs);
    const step = nextStep({ spec: job.spec, status: previous, job: details, now: now.getTime() });
    switch (step.type) {
      case "poll":
        status.phase = "Running";
        await write();
        return { requeueAfter: step.afterMs };
      case "deadline":
        await client.stop(details.submissionId).catch(() => false);
        status.jobStatus = "STOPPED";
        status.phase = "Failed";
        status.endTime = now.toISOString();
        status.message = `stopped: ran longer than activeDeadlineSeconds (${job.spec.activeDeadlineSeconds} s)`;
        condition("Failed", "True", "DeadlineExceeded", status.message);
        ctx.recordEvent(job, {
          type: "Warning",
          reason: "DeadlineExceeded",
          action: "Stop",
          note: status.message,
        });
        break;
      case "complete":
        status.phase = "Complete";
        condition("Complete", "True", "Succeeded", details.message ?? "the job succeeded");
        ctx.recordEvent(job, {
          type: "Normal",
          reason: "Succeeded",
          action: "Finish",
          note: `Ray job ${details.submissionId} SUCCEEDED`,
        });
        break;
      case "fail":
        status.phase = "Failed";
        if (step.reason === "Failed") status.failedAttempts = (previous.failedAttempts ?? 0) + 1;
        condition("Failed", "True", step.reason, details.message ?? `the job ended ${details.status}`);
        ctx.recordEvent(job, {
          type: "Warning",
          reason: step.reason,
          action: "Finish",
          note: `Ray job ${details.submissionId} ${details.status}: ${details.message ?? ""}`.slice(0, 1000),
        });
        break;
      case "retry":
        status.failedAttempts = (previous.failedAttempts ?? 0) + 1;
        status.attempt = (status.attempt ?? 1) + 1;
        ctx.recordEvent(job, {
          type: "Warning",
          reason: "Retrying",
          action: "Submit",
          note: `Ray job ${details.submissionId} FAILED (${status.failedAttempts} of ${job.spec.backoffLimit + 1} attempts): submitting attempt ${status.attempt}`,
        });
        delete status.jobId;
        status.phase = "Running";
        await write();
        return { requeue: true };
    }
    // Finished: the next reconcile deletes the cluster when the spec says so.
    await write();
    return { requeue: true };
  };
}
