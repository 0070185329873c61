// RayJob: one Ray entrypoint run to completion on a RayCluster the job creates (or one it
// selects), submitted through Ray's Job Submission API, as KubeRay's RayJob does.
import { z } from "zod";
import { conditionsField, DNS_1035_LABEL, observedGenerationField, timestampField } from "./common.ts";
import { defineKind } from "./kind.ts";
import { boundedMap, passThroughObject, withRules } from "./kit.ts";
import { rayClusterSpec } from "./raycluster.ts";
import { rayJobNames } from "./runtime/kinds.ts";
import { rayJobPhases, rayJobStatuses } from "./runtime/rayjob.ts";

export const rayJobSpec = withRules(
  z
    .strictObject({
      entrypoint: z
        .string()
        .min(1)
        .max(16384)
        .describe('The command Ray runs as the job\'s driver on the head ("python train.py --epochs 3").'),
      runtimeEnv: passThroughObject()
        .describe(
          "Ray's runtime_env for the job (working_dir, pip, env_vars, ...), passed to the Job Submission API as given.",
        )
        .optional(),
      metadata: boundedMap(z.string().max(1024), 32)
        .describe("Job metadata Ray stores with the submission (shown by ray job list).")
        .optional(),
      clusterSelector: boundedMap(z.string().max(63), 8)
        .describe(
          "Labels of an existing RayCluster in the namespace to run on; the job never creates, suspends or deletes it. Exactly one of clusterSelector and rayClusterSpec.",
        )
        .optional(),
      rayClusterSpec: rayClusterSpec
        .describe(
          "The RayCluster the job creates (named like the job, owned by it, gang-admitted like any RayCluster). Exactly one of clusterSelector and rayClusterSpec.",
        )
        .optional(),
      submissionMode: z
        .enum(["HTTP", "K8sJob"])
        .default("HTTP")
        .describe(
          "How the entrypoint is submitted: HTTP, by the operator through the dashboard's Job Submission API; K8sJob, by a Kubernetes Job (<name>-submit-<attempt>) that runs `ray job submit` against the head Service's dashboard and streams the driver's log, as KubeRay's K8sJobMode does. Either way the operator follows the job through the dashboard.",
        ),
      shutdownAfterJobFinishes: z
        .boolean()
        .default(false)
        .describe(
          "Delete the created RayCluster once the job finished (after ttlSecondsAfterFinished), releasing its accelerators. Default false, as in KubeRay.",
        ),
      ttlSecondsAfterFinished: z
        .int()
        .min(0)
        .max(7 * 24 * 3600)
        .default(0)
        .describe(
          "With shutdownAfterJobFinishes: seconds to keep the cluster after the job finished. Default 0.",
        ),
      activeDeadlineSeconds: z
        .int()
        .min(1)
        .max(30 * 24 * 3600)
        .describe(
          "Seconds the job may run once submitted; then it is stopped and the RayJob Failed (DeadlineExceeded).",
        )
        .optional(),
      backoffLimit: z
        .int()
        .min(0)
        .max(100)
        .default(0)
        .describe(
          "Resubmissions of a FAILED job, on the same cluster, before the RayJob is Failed. Default 0.",
        ),
      suspend: z
        .boolean()
        .default(false)
        .describe(
          "True: stop the Ray job and delete the created cluster; false again submits it anew on a new cluster.",
        ),
    })
    .describe("The entrypoint, where it runs, and what happens when it ends."),
  [
    {
      rule: "has(self.clusterSelector) != has(self.rayClusterSpec)",
      message: "exactly one of clusterSelector and rayClusterSpec must be set",
      holds: (s) => (s.clusterSelector === undefined) !== (s.rayClusterSpec === undefined),
    },
    {
      rule: "!has(self.clusterSelector) || self.clusterSelector.size() > 0",
      message: "clusterSelector must name at least one label",
      fieldPath: ".clusterSelector",
      holds: (s) => s.clusterSelector === undefined || Object.keys(s.clusterSelector).length > 0,
    },
  ],
);
export type RayJobSpec = z.output<typeof rayJobSpec>;

export const rayJobStatus = z
  .strictObject({
    observedGeneration: observedGenerationField(),
    phase: z
      .enum(rayJobPhases)
      .describe(
        "Waiting (its cluster waits for admission), Initializing (the cluster is starting), Running (submitted), Complete, Failed or Suspended.",
      )
      .optional(),
    jobStatus: z
      .enum(rayJobStatuses)
      .describe("Ray's status of the job: PENDING, RUNNING, STOPPED, SUCCEEDED, FAILED.")
      .optional(),
    jobId: z.string().max(128).describe("The Ray submission id of the current attempt.").optional(),
    rayClusterName: z.string().max(63).describe("The RayCluster the job runs on.").optional(),
    dashboardURL: z
      .string()
      .max(512)
      .describe("The cluster's dashboard, through its head Service.")
      .optional(),
    startTime: timestampField("When Ray started the current attempt."),
    endTime: timestampField("When Ray ended it."),
    message: z
      .string()
      .max(32768)
      .describe("Ray's message about the job: why it failed, or that it finished.")
      .optional(),
    logTail: z.string().max(4096).describe("The last lines the driver wrote.").optional(),
    attempt: z
      .int()
      .min(1)
      .describe(
        "The current submission, from 1: a retry after FAILED and a resume after suspend each start a new one.",
      )
      .optional(),
    failedAttempts: z.int().min(0).describe("Attempts that ended FAILED.").optional(),
    queuePosition: z
      .int()
      .min(1)
      .describe("The cluster's place in the admission queue, while it waits.")
      .optional(),
    conditions: conditionsField(["Admitted", "ClusterReady", "DashboardReachable", "Complete", "Failed"]),
  })
  .describe("What the operator last observed about the job and its cluster.");
export type RayJobStatusFields = z.output<typeof rayJobStatus>;

export const rayJobResource = defineKind({
  ...rayJobNames,
  description:
    "RayJob runs one Ray entrypoint to completion: it creates a RayCluster (or selects one), waits until it is Ready, submits the entrypoint through Ray's Job Submission API and follows it to SUCCEEDED, FAILED or STOPPED.",
  name: {
    maxLength: 40,
    pattern: DNS_1035_LABEL,
    why: "the RayCluster it creates has its name",
  },
  spec: rayJobSpec,
  status: rayJobStatus,
  printerColumns: [
    {
      name: "Job Status",
      type: "string",
      jsonPath: ".status.jobStatus",
      description: "Ray's status of the job.",
    },
    { name: "Phase", type: "string", jsonPath: ".status.phase", description: "Lifecycle phase." },
    { name: "Cluster", type: "string", jsonPath: ".status.rayClusterName", description: "The RayCluster." },
    {
      name: "Start",
      type: "date",
      jsonPath: ".status.startTime",
      description: "When Ray started it.",
      priority: 1,
    },
    {
      name: "End",
      type: "date",
      jsonPath: ".status.endTime",
      description: "When Ray ended it.",
      priority: 1,
    },
    {
      name: "Age",
      type: "date",
      jsonPath: ".metadata.creationTimestamp",
      description: "Time since creation.",
    },
  ],
});
export type RayJob = z.output<typeof rayJobResource.schema>;

export * from "./runtime/rayjob.ts";
