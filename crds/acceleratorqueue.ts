// AcceleratorQueue: the queue a team submits to, in the team's namespace, pointing at the
// cluster-scoped TeamQuota that bounds it. Named after what it queues for, so `kubectl get aq`
// reads as the accelerator queue of a namespace (Kueue's LocalQueue, with the quota made explicit).
import { z } from "zod";
import { conditionsField, DNS_LABEL, dnsSubdomain, observedGenerationField } from "./common.ts";
import { defineKind } from "./kind.ts";
import { DEFAULT_QUEUE_LABEL } from "./queueing.ts";
import { acceleratorQueueNames } from "./runtime/kinds.ts";

export const acceleratorQueueSpec = z
  .strictObject({
    teamQuota: dnsSubdomain().describe(
      "The TeamQuota whose quota this queue's workloads use; several queues (of several namespaces) may share one.",
    ),
  })
  .describe(
    `Which TeamQuota the queue uses. Label the queue ${DEFAULT_QUEUE_LABEL}=true to make it its namespace's default.`,
  );
export type AcceleratorQueueSpec = z.output<typeof acceleratorQueueSpec>;

const count = (what: string) => z.int().min(0).describe(what).optional();

export const acceleratorQueueStatus = z
  .strictObject({
    observedGeneration: observedGenerationField(),
    pending: count("Workloads of this queue waiting for admission."),
    admitted: count("Workloads of this queue admitted now."),
    conditions: conditionsField(["Ready"]),
  })
  .describe("What the operator last observed about the queue.");
export type AcceleratorQueueStatus = z.output<typeof acceleratorQueueStatus>;

export const acceleratorQueueResource = defineKind({
  ...acceleratorQueueNames,
  description:
    "AcceleratorQueue is the queue a team submits workloads to (spec.queueName of a TrainingJob, RayCluster or InferenceService); it points at the TeamQuota that bounds what they use.",
  name: { maxLength: 63, pattern: DNS_LABEL, why: "queue names are label values" },
  spec: acceleratorQueueSpec,
  status: acceleratorQueueStatus,
  printerColumns: [
    {
      name: "Ready",
      type: "string",
      jsonPath: '.status.conditions[?(@.type=="Ready")].status',
      description: "Whether the operator accepted it.",
    },
    { name: "Quota", type: "string", jsonPath: ".spec.teamQuota", description: "The TeamQuota." },
    { name: "Pending", type: "integer", jsonPath: ".status.pending", description: "Waiting workloads." },
    { name: "Admitted", type: "integer", jsonPath: ".status.admitted", description: "Admitted workloads." },
    {
      name: "Age",
      type: "date",
      jsonPath: ".metadata.creationTimestamp",
      description: "Time since creation.",
    },
  ],
});
export type AcceleratorQueue = z.output<typeof acceleratorQueueResource.schema>;
