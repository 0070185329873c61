// RayCluster: a Ray head and groups of workers, each group on the accelerators it asks for.
import { z } from "zod";
import { acceleratorRequirement } from "./accelerators.ts";
import { admissionStatus } from "./admission.ts";
import {
  conditionsField,
  DNS_1035_LABEL,
  dns1035Label,
  imageRef,
  observedGenerationField,
  resourcesField,
  timestampField,
  vendorImagesField,
} from "./common.ts";
import { defineKind } from "./kind.ts";
import { boundedMap, listMap, withRules } from "./kit.ts";
import { priorityClassNameField, queueNameField } from "./queueing.ts";
import { rayClusterNames } from "./runtime/kinds.ts";

const MAX_REPLICAS = 1000;

// The operator owns these: it points workers at the head and declares their devices to Ray.
const operatorOwnedStartParams = ["address", "block", "head", "num-gpus"];

const rayStartParams = (who: string) =>
  withRules(boundedMap(z.string().max(1024), 32), [
    {
      rule: `self.all(k, !(k in [${operatorOwnedStartParams.map((p) => `'${p}'`).join(", ")}]))`,
      message: `${operatorOwnedStartParams.join(", ")} are set by the operator`,
      holds: (params) => Object.keys(params).every((k) => !operatorOwnedStartParams.includes(k)),
    },
  ])
    .describe(
      `Extra ray start options for the ${who}, without the leading dashes ({"num-cpus": "8", "object-store-memory": "1000000000"}).`,
    )
    .optional();

const head = z
  .strictObject({
    resources: resourcesField("head pod"),
    rayStartParams: rayStartParams("head"),
    serviceType: z
      .enum(["ClusterIP", "NodePort", "LoadBalancer"])
      .default("ClusterIP")
      .describe("Type of the head Service (GCS 6379, dashboard 8265, client 10001)."),
  })
  .describe("The head pod: GCS, dashboard and client endpoint. It runs on CPU.");

const workerGroup = withRules(
  z
    .strictObject({
      name: dns1035Label(15).describe("Name of the group, unique in the cluster; part of its pods' names."),
      replicas: z.int().min(0).max(MAX_REPLICAS).default(1).describe("Worker pods wanted in this group."),
      minReplicas: z
        .int()
        .min(0)
        .max(MAX_REPLICAS)
        .default(0)
        .describe("Fewest workers the autoscaler may leave; at most replicas."),
      maxReplicas: z
        .int()
        .min(0)
        .max(MAX_REPLICAS)
        .describe("Most workers the autoscaler may create; at least replicas. Unset: no limit beyond 1000.")
        .optional(),
      accelerators: acceleratorRequirement.optional(),
      resources: resourcesField("worker pod"),
      rayStartParams: rayStartParams("workers of this group"),
    })
    .describe("A group of identical workers."),
  [
    {
      rule: "self.minReplicas <= self.replicas",
      message: "minReplicas must be less than or equal to replicas",
      fieldPath: ".minReplicas",
      holds: (g) => g.minReplicas <= g.replicas,
    },
    {
      rule: "!has(self.maxReplicas) || self.minReplicas <= self.maxReplicas",
      message: "minReplicas must be less than or equal to maxReplicas",
      fieldPath: ".minReplicas",
      holds: (g) => g.maxReplicas === undefined || g.minReplicas <= g.maxReplicas,
    },
    {
      rule: "!has(self.maxReplicas) || self.replicas <= self.maxReplicas",
      message: "replicas must be less than or equal to maxReplicas",
      fieldPath: ".replicas",
      holds: (g) => g.maxReplicas === undefined || g.replicas <= g.maxReplicas,
    },
  ],
);
export type RayWorkerGroup = z.output<typeof workerGroup>;

export const rayAutoscalingModes = ["Default", "Aggressive", "Conservative"] as const;

const autoscaling = z
  .strictObject({
    enabled: z
      .boolean()
      .default(false)
      .describe("True: the operator sizes every worker group from Ray's own demand."),
    idleTimeoutSeconds: z
      .int()
      .min(0)
      .max(24 * 3600)
      .default(60)
      .describe(
        "How long a worker Ray reports idle stays before it is removed (down to minReplicas). Default 60.",
      ),
    upscalingMode: z
      .enum(rayAutoscalingModes)
      .default("Default")
      .describe(
        "Default and Aggressive: add every worker the pending demand needs at once; Conservative: at most as many workers as the group has running, per step.",
      ),
  })
  .describe(
    "Autoscaling from Ray's own signal: the resource demand Ray's GCS reports pending (tasks, actors, placement groups) scales up the groups whose workers provide it, within minReplicas and maxReplicas, through gang admission; workers Ray reports idle past idleTimeoutSeconds are removed. spec replicas is then only the count to start from; status.autoscaling holds the counts in force.",
  );

export const rayClusterSpec = z
  .strictObject({
    rayVersion: z
      .string()
      .max(32)
      .regex(/^[0-9]+\.[0-9]+\.[0-9]+$/)
      .describe('Ray version in the images ("2.52.0"); every image must carry the same version.'),
    image: imageRef().describe("Ray image for the head and the workers; see images for per-vendor builds."),
    images: vendorImagesField("Ray pods"),
    head: head.prefault({}),
    workerGroups: listMap(workerGroup, "name", 16)
      .describe("Groups of workers, each placed on a pool matching its accelerators.")
      .optional(),
    autoscaling: autoscaling.optional(),
    suspend: z.boolean().default(false).describe("True: delete every pod and keep the cluster definition."),
    queueName: queueNameField(),
    priorityClassName: priorityClassNameField(),
  })
  .describe("The Ray version and image, the head and the worker groups.");
export type RayClusterSpec = z.output<typeof rayClusterSpec>;

export const rayClusterPhases = ["Pending", "Ready", "Degraded", "Suspended"] as const;
export type RayClusterPhase = (typeof rayClusterPhases)[number];

const count = (what: string) => z.int().min(0).describe(what).optional();

const endpoint = (what: string) => z.string().max(512).describe(what).optional();

export const rayClusterStatus = z
  .strictObject({
    observedGeneration: observedGenerationField(),
    phase: z.enum(rayClusterPhases).describe("Pending, Ready, Degraded or Suspended.").optional(),
    endpoints: z
      .strictObject({
        gcs: endpoint("GCS address for ray start --address (host:6379)."),
        dashboard: endpoint("Dashboard and job submission URL (http://host:8265)."),
        client: endpoint("Ray client address (ray://host:10001)."),
      })
      .describe("Where to reach the cluster, through the head Service.")
      .optional(),
    desiredWorkers: count("Worker pods wanted, over all groups."),
    readyWorkers: count("Worker pods ready, over all groups."),
    workerGroups: listMap(
      z
        .strictObject({
          name: z.string().max(15).describe("Name of the group."),
          pool: z.string().max(253).describe("The AcceleratorPool the group runs on.").optional(),
          replicas: count("Worker pods that exist."),
          readyReplicas: count("Worker pods that are ready."),
        })
        .describe("Where one worker group runs and how many of its pods are ready."),
      "name",
      16,
    )
      .describe("Per worker group: pool and pod counts.")
      .optional(),
    queuePosition: z
      .int()
      .min(1)
      .describe("Place in the admission queue, 1 first; only while waiting.")
      .optional(),
    autoscaling: z
      .strictObject({
        groups: listMap(
          z
            .strictObject({
              name: z.string().max(15).describe("Name of the group."),
              replicas: z.int().min(0).describe("Workers the autoscaler wants in the group."),
              reason: z.string().max(1024).describe("Why, in words.").optional(),
            })
            .describe("The autoscaler's count for one group."),
          "name",
          16,
        )
          .describe("Per group: the worker count in force, which replaces spec replicas.")
          .optional(),
        lastScaleTime: timestampField("When a group's count last changed."),
      })
      .describe("The autoscaler's decisions, while spec.autoscaling.enabled.")
      .optional(),
    admission: admissionStatus.optional(),
    conditions: conditionsField(["Admitted", "HeadReady", "Ready", "Autoscaling"]),
  })
  .describe("What the operator last observed about the cluster.");
export type RayClusterStatus = z.output<typeof rayClusterStatus>;

export const rayClusterResource = defineKind({
  ...rayClusterNames,
  description:
    "RayCluster runs a Ray head and groups of workers; each group is placed on an AcceleratorPool matching its accelerators, with the vendor's image and its devices declared to Ray.",
  name: {
    maxLength: 40,
    pattern: DNS_1035_LABEL,
    why: "<name>-head is a Service and <name>-<group>-<index> a host name",
  },
  spec: rayClusterSpec,
  status: rayClusterStatus,
  printerColumns: [
    { name: "Phase", type: "string", jsonPath: ".status.phase", description: "Lifecycle phase." },
    { name: "Ready", type: "integer", jsonPath: ".status.readyWorkers", description: "Ready worker pods." },
    {
      name: "Desired",
      type: "integer",
      jsonPath: ".status.desiredWorkers",
      description: "Worker pods wanted.",
    },
    {
      name: "Dashboard",
      type: "string",
      jsonPath: ".status.endpoints.dashboard",
      description: "Dashboard URL.",
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
export type RayCluster = z.output<typeof rayClusterResource.schema>;
