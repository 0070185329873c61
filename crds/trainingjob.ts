// TrainingJob: multi-node PyTorch training (torchrun), gang-admitted onto one pool.
import { z } from "zod";
import { acceleratorRequirement } from "./accelerators.ts";
import { admissionStatus } from "./admission.ts";
import {
  conditionsField,
  DNS_1035_LABEL,
  dnsSubdomain,
  envField,
  imageRef,
  observedGenerationField,
  resourcesField,
  timestampField,
  vendorImagesField,
} from "./common.ts";
import { defineKind } from "./kind.ts";
import { passThroughObject, withRules } from "./kit.ts";
import {
  CHECKPOINT_PATH_ANNOTATION,
  CHECKPOINT_REQUEST_FILE,
  CHECKPOINT_REQUESTED_ANNOTATION,
  DEFAULT_PREEMPTION_GRACE_SECONDS,
  MAX_PREEMPTION_GRACE_SECONDS,
  priorityClassNameField,
  queueNameField,
} from "./queueing.ts";
import { trainingJobNames } from "./runtime/kinds.ts";
import { trainingJobPhases } from "./runtime/trainingjob.ts";

const MAX_NODES = 1024;

const elastic = withRules(
  z
    .strictObject({
      minNodes: z.int().min(1).max(MAX_NODES).describe("The fewest nodes the job may start with."),
      maxNodes: z.int().min(1).max(MAX_NODES).describe("The most nodes the job uses when they are free."),
    })
    .describe(
      "Elastic gang size: admitted with as many nodes as fit, from minNodes up to maxNodes, all on one pool. Mutually exclusive with nodes.",
    ),
  [
    {
      rule: "self.minNodes <= self.maxNodes",
      message: "minNodes must be less than or equal to maxNodes",
      fieldPath: ".minNodes",
      holds: (e) => e.minNodes <= e.maxNodes,
    },
  ],
);

const checkpoint = z
  .strictObject({
    claimName: dnsSubdomain().describe(
      "PersistentVolumeClaim in the job's namespace that holds checkpoints.",
    ),
    mountPath: z
      .string()
      .max(256)
      .regex(/^\/[^:]*$/)
      .default("/checkpoints")
      .describe("Where the claim is mounted in every pod; CHECKPOINT_DIR is set to it."),
    preemptionGracePeriodSeconds: z
      .int()
      .min(0)
      .max(MAX_PREEMPTION_GRACE_SECONDS)
      .describe(
        `Default ${DEFAULT_PREEMPTION_GRACE_SECONDS}. How long the job may take to checkpoint once preempted: its pods get the annotation ${CHECKPOINT_REQUESTED_ANNOTATION} (the file ${CHECKPOINT_REQUEST_FILE} through the downward API), and are deleted when a pod reports the checkpoint (annotation ${CHECKPOINT_PATH_ANNOTATION}, or a termination message checkpoint=PATH) or this many seconds have passed.`,
      )
      .optional(),
    resumeArgs: z
      .array(z.string().max(4096))
      .max(64)
      .describe(
        'Arguments appended to the command when the job resumes after a preemption ("--resume", "$(RESUME_FROM)"); RESUME_FROM holds the newest checkpoint path either way.',
      )
      .optional(),
  })
  .describe("Persistent storage for checkpoints, so a restarted gang resumes instead of starting over.");

export const trainingJobSpec = withRules(
  z
    .strictObject({
      image: imageRef().describe("Container image with the training code; see images for per-vendor builds."),
      images: vendorImagesField("the training container"),
      command: z
        .array(z.string().max(4096))
        .min(1)
        .max(256)
        .describe(
          'The training command ("python", "train.py", "--epochs", "3"), run on every node under torchrun, which starts procsPerNode processes with RANK, LOCAL_RANK and WORLD_SIZE set.',
        ),
      nodes: z
        .int()
        .min(1)
        .max(MAX_NODES)
        .describe(
          "Nodes in the gang (one pod per node, all admitted together onto one pool). Unset and no elastic: 1. Mutually exclusive with elastic.",
        )
        .optional(),
      elastic: elastic.optional(),
      procsPerNode: z
        .int()
        .min(1)
        .max(256)
        .describe("Processes torchrun starts per node. Default: accelerators.count, or 1 on CPU.")
        .optional(),
      accelerators: acceleratorRequirement.optional(),
      resources: resourcesField("node (pod)"),
      env: envField("the training container"),
      checkpoint: checkpoint.optional(),
      queueName: queueNameField(),
      priorityClassName: priorityClassNameField(),
      priority: z
        .int()
        .min(-1000000)
        .max(1000000)
        .default(0)
        .describe(
          "Admission priority when priorityClassName is unset: higher first, then older first. Only a job in a queue with a TeamQuota preempts, as the quota's preemption policy allows.",
        ),
      maxRestarts: z
        .int()
        .min(0)
        .max(100)
        .default(3)
        .describe(
          "How often the whole gang is restarted, with exponential backoff, after a pod fails with a retryable exit code (128 and above, or a lost node); exit codes 1-127 fail the job at once.",
        ),
      activeDeadlineSeconds: z
        .int()
        .min(1)
        .max(31536000)
        .describe("Fail the job when it has run this long since it was first admitted.")
        .optional(),
      ttlSecondsAfterFinished: z
        .int()
        .min(0)
        .max(31536000)
        .describe("Delete the job this long after it succeeded or failed; unset: keep it.")
        .optional(),
      suspend: z
        .boolean()
        .default(false)
        .describe("True: delete the pods and hold the job; false again: queue it for admission."),
      template: passThroughObject()
        .describe(
          "A PodTemplateSpec fragment (metadata and spec) merged last into every pod, for what this API does not model: volumes, sidecars, securityContext, affinity.",
        )
        .optional(),
    })
    .describe("What to train, on how many nodes, with which accelerators."),
  [
    {
      rule: "!(has(self.nodes) && has(self.elastic))",
      message: "set either nodes or elastic, not both",
      fieldPath: ".elastic",
      holds: (s) => !(s.nodes !== undefined && s.elastic !== undefined),
    },
  ],
);
export type TrainingJobSpec = z.output<typeof trainingJobSpec>;

const count = (what: string) => z.int().min(0).describe(what).optional();

export const trainingJobStatus = z
  .strictObject({
    observedGeneration: observedGenerationField(),
    phase: z
      .enum(trainingJobPhases)
      .describe(
        "Queued, Admitted, Running, Restarting, Succeeded, Failed, Suspended, Preempting (checkpointing before its pods go) or Preempted (queued again after a preemption).",
      )
      .optional(),
    pool: z.string().max(253).describe("The AcceleratorPool the gang was admitted onto.").optional(),
    nodes: count("Nodes the gang was admitted with (for elastic jobs, between minNodes and maxNodes)."),
    readyNodes: count("Pods of the current gang that are running and ready."),
    queuePosition: z
      .int()
      .min(1)
      .describe("Place in the admission queue, 1 first; only while Queued.")
      .optional(),
    restarts: count("Whole-gang restarts so far."),
    startTime: timestampField("When the job was first admitted."),
    completionTime: timestampField("When the job succeeded or failed."),
    admission: admissionStatus.optional(),
    preemption: z
      .strictObject({
        requestedAt: timestampField("When the checkpoint was requested."),
        by: z.string().max(512).describe("The workload the job was preempted for.").optional(),
        reason: z.string().max(4096).describe("Why the job was chosen.").optional(),
        preemptions: count("Times the job was preempted so far (not restarts)."),
      })
      .describe("The latest preemption, kept after the job resumes.")
      .optional(),
    resumeFrom: z
      .string()
      .max(4096)
      .describe("The newest checkpoint a pod reported; RESUME_FROM of the next gang.")
      .optional(),
    conditions: conditionsField(["Admitted", "Running", "Succeeded", "Failed", "Preempting"]),
  })
  .describe("What the operator last observed about the job.");
export type TrainingJobStatus = z.output<typeof trainingJobStatus>;

export const trainingJobResource = defineKind({
  ...trainingJobNames,
  description:
    "TrainingJob runs multi-node PyTorch training under torchrun: one pod per node, admitted as a gang onto one AcceleratorPool, restarted as a whole on failure.",
  name: {
    maxLength: 50,
    pattern: DNS_1035_LABEL,
    why: "the job's headless Service and its pods' host names <name>-<rank> must be DNS labels",
  },
  spec: trainingJobSpec,
  status: trainingJobStatus,
  printerColumns: [
    { name: "Phase", type: "string", jsonPath: ".status.phase", description: "Lifecycle phase." },
    { name: "Pool", type: "string", jsonPath: ".status.pool", description: "Pool the gang runs on." },
    {
      name: "Ready",
      type: "integer",
      jsonPath: ".status.readyNodes",
      description: "Ready pods of the gang.",
    },
    { name: "Nodes", type: "integer", jsonPath: ".status.nodes", description: "Nodes admitted." },
    { name: "Restarts", type: "integer", jsonPath: ".status.restarts", description: "Whole-gang restarts." },
    {
      name: "Queue",
      type: "integer",
      jsonPath: ".status.queuePosition",
      description: "Queue position.",
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
export type TrainingJob = z.output<typeof trainingJobResource.schema>;

export * from "./runtime/trainingjob.ts";
