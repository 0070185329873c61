// The submitter of K8sJob mode: a Kubernetes Job whose one pod runs `ray job submit` against the
// head Service's dashboard and streams the driver's log until the job ends, as KubeRay's
// K8sJobMode does. A retried pod (the Job's backoffLimit) finds the job Ray already has by its
// submission id and only follows its log, so an attempt is submitted once. The operator
// follows the Ray job through the dashboard either way; the Job only says whether the
// submission itself failed. Pure.
import type { RayCluster, RayJob } from "../../crds/index.ts";
import { labels } from "../../crds/runtime/index.ts";
import { controllerReference, type KubeObject } from "../../operator/index.ts";
import { headAffinity } from "../raycluster/pods.ts";
import { submitterJobName } from "./names.ts";

export const submitterContainerName = "ray-job-submitter";
/** Pod retries of one submission (the Job's own backoffLimit, not the RayJob's). */
export const submitterBackoffLimit = 2;

// `ray job submit` quotes each of its words again and Ray runs the result in a shell on the
// head; so the entrypoint goes as `sh -c <entrypoint>`, which that shell runs exactly as it runs
// an entrypoint submitted over HTTP (quotes, variables and all, expanded on the head, not here).
// Runtime env and metadata as JSON, only when given. The head pod turns Ready a moment before
// its dashboard answers (and a loaded node can make that a long moment): the script waits for
// the dashboard, at most two minutes, rather than spending the Job's few retries on refusals.
const script = `set -u
for _ in $(seq 1 60); do
  python -c 'import os, urllib.request; urllib.request.urlopen(os.environ["RAY_DASHBOARD_ADDRESS"].rstrip("/") + "/api/version", timeout=5)' >/dev/null 2>&1 && break
  sleep 2
done
if ray job status --address "$RAY_DASHBOARD_ADDRESS" "$RAY_JOB_SUBMISSION_ID" >/dev/null 2>&1; then
  exec ray job logs --address "$RAY_DASHBOARD_ADDRESS" --follow "$RAY_JOB_SUBMISSION_ID"
fi
args=(--address "$RAY_DASHBOARD_ADDRESS" --submission-id "$RAY_JOB_SUBMISSION_ID")
if [ -n "\${RAY_JOB_RUNTIME_ENV_JSON:-}" ]; then args+=(--runtime-env-json "$RAY_JOB_RUNTIME_ENV_JSON"); fi
if [ -n "\${RAY_JOB_METADATA_JSON:-}" ]; then args+=(--metadata-json "$RAY_JOB_METADATA_JSON"); fi
exec ray job submit "\${args[@]}" -- sh -c "$RAY_JOB_ENTRYPOINT"`;

export interface SubmitterInput {
  job: RayJob & KubeObject;
  cluster: RayCluster & KubeObject;
  attempt: number;
  submissionId: string;
  /** The head Service's dashboard URL (the cluster's status.endpoints.dashboard). */
  dashboard: string;
}

export function submitterJob({ job, cluster, attempt, submissionId, dashboard }: SubmitterInput): KubeObject {
  const name = job.metadata.name as string;
  const podLabels = { [labels.kind]: "rayjob", [labels.name]: name, [labels.group]: "submitter" };
  const env: Record<string, string> = {
    RAY_DASHBOARD_ADDRESS: dashboard,
    RAY_JOB_SUBMISSION_ID: submissionId,
    RAY_JOB_ENTRYPOINT: job.spec.entrypoint,
  };
  if (job.spec.runtimeEnv) env.RAY_JOB_RUNTIME_ENV_JSON = JSON.stringify(job.spec.runtimeEnv);
  if (job.spec.metadata) env.RAY_JOB_METADATA_JSON = JSON.stringify(job.spec.metadata);
  return {
    apiVersion: "batch/v1",
    kind: "Job",
    metadata: {
      name: submitterJobName(job, attempt),
      namespace: job.metadata.namespace,
      labels: { [labels.kind]: "rayjob", [labels.name]: name },
      ownerReferences: [controllerReference(job)],
    },
    spec: {
      backoffLimit: submitterBackoffLimit,
      template: {
        metadata: { labels: podLabels },
        spec: {
          restartPolicy: "Never",
          enableServiceLinks: false,
          // CPU only, like the head: not on an accelerator node where a plain one is free.
          affinity: headAffinity,
          containers: [
            {
              name: submitterContainerName,
              image: cluster.spec.image,
              command: ["bash", "-c", script],
              env: Object.entries(env).map(([k, value]) => ({ name: k, value })),
              resources: {
                requests: { cpu: "500m", memory: "200Mi" },
                limits: { cpu: "1", memory: "1Gi" },
              },
            },
          ],
        },
      },
    },
  };
}

interface JobLike {
  status?: { conditions?: Array<{ type?: string; status?: string; reason?: string; message?: string }> };
}

/** Whether the submitter Job has given up (its pods failed backoffLimit + 1 times), and why. */
export function submitterFailure(obj: KubeObject | undefined): string | undefined {
  const failed = (obj as (KubeObject & JobLike) | undefined)?.status?.conditions?.find(
    (c) => c.type === "Failed" && c.status === "True",
  );
  if (!failed) return undefined;
  return `submitter Job ${obj?.metadata.name} failed: ${[failed.reason, failed.message].filter(Boolean).join(": ")}`;
}

/** Whether the submitter Job's pod ended well (`ray job submit` saw the job to its end). */
export function submitterComplete(obj: KubeObject | undefined): boolean {
  return (
    (obj as (KubeObject & JobLike) | undefined)?.status?.conditions?.some(
      (c) => c.type === "Complete" && c.status === "True",
    ) ?? false
  );
}
