// RayService: Ray Serve applications on a RayCluster the service owns, behind a stable Service,
// upgraded without downtime by bringing up a new cluster first, as KubeRay's RayService does.
import { z } from "zod";
import { conditionsField, DNS_1035_LABEL, observedGenerationField, timestampField } from "./common.ts";
import { defineKind } from "./kind.ts";
import { listMap } from "./kit.ts";
import { rayClusterSpec } from "./raycluster.ts";
import { rayServiceNames } from "./runtime/kinds.ts";
import { parseServeConfig } from "./runtime/rayservice.ts";

export const rayServiceSpec = z
  .strictObject({
    serveConfigV2: z
      .string()
      .min(1)
      .max(262144)
      .superRefine((text, ctx) => {
        const parsed = parseServeConfig(text);
        if ("error" in parsed) ctx.addIssue({ code: "custom", message: parsed.error, input: text });
      })
      .describe(
        "The Ray Serve config (the YAML `serve deploy` takes: applications, each with name, route_prefix, import_path, runtime_env, deployments), as a string. Deployed through the dashboard's Serve REST API; a change is applied in place on the running cluster.",
      ),
    rayClusterConfig: rayClusterSpec.describe(
      "The RayCluster the applications run on. A change here brings up a new cluster (upgradeStrategy NewCluster).",
    ),
    upgradeStrategy: z
      .enum(["NewCluster", "None"])
      .default("NewCluster")
      .describe(
        "NewCluster: on a change of rayClusterConfig, start a new cluster, deploy the config there, and once every application is RUNNING switch the serve Service to it and delete the old one. None: keep the running cluster.",
      ),
  })
  .describe("The Serve config and the cluster it runs on.");
export type RayServiceSpec = z.output<typeof rayServiceSpec>;

const count = (what: string) => z.int().min(0).describe(what).optional();

const applicationStatus = z
  .strictObject({
    name: z.string().max(256).describe("The application's name."),
    status: z
      .string()
      .max(32)
      .describe("NOT_STARTED, DEPLOYING, DEPLOY_FAILED, RUNNING, UNHEALTHY or DELETING."),
    message: z.string().max(4096).describe("Ray's message about it.").optional(),
    deployments: listMap(
      z
        .strictObject({
          name: z.string().max(256).describe("The deployment's name."),
          status: z.string().max(32).describe("UPDATING, HEALTHY, UNHEALTHY, UPSCALING or DOWNSCALING."),
          replicas: count("Its replicas."),
          message: z.string().max(4096).describe("Ray's message about it.").optional(),
        })
        .describe("One deployment of the application."),
      "name",
      64,
    )
      .describe("The application's deployments.")
      .optional(),
  })
  .describe("One Serve application, as Ray reports it.");

const clusterStatus = (what: string) =>
  z
    .strictObject({
      clusterName: z.string().max(63).describe("The RayCluster."),
      clusterHash: z.string().max(16).describe("Hash of the rayClusterConfig it was made from."),
      serveConfigHash: z
        .string()
        .max(16)
        .describe("Hash of the serveConfigV2 last deployed to it.")
        .optional(),
      applications: listMap(applicationStatus, "name", 64).describe("Its applications.").optional(),
    })
    .describe(what)
    .optional();

export const rayServiceStatus = z
  .strictObject({
    observedGeneration: observedGenerationField(),
    activeServiceStatus: clusterStatus("The cluster the serve Service sends traffic to."),
    pendingServiceStatus: clusterStatus(
      "A new cluster being brought up for an upgrade; traffic moves once its applications are RUNNING.",
    ),
    serviceName: z
      .string()
      .max(63)
      .describe("The stable Service in front of the active cluster's Serve (port 8000).")
      .optional(),
    lastSwitchTime: timestampField("When traffic last moved to a new cluster."),
    conditions: conditionsField(["Ready", "UpgradeInProgress", "ServeConfigValid"]),
  })
  .describe("What the operator last observed about the service's clusters and applications.");
export type RayServiceStatusFields = z.output<typeof rayServiceStatus>;

export const rayServiceResource = defineKind({
  ...rayServiceNames,
  description:
    "RayService runs Ray Serve applications on a RayCluster it owns, deployed through the dashboard's Serve REST API, behind a stable Service on port 8000; a change of the cluster brings up a new one and moves traffic once its applications are RUNNING.",
  name: {
    maxLength: 31,
    pattern: DNS_1035_LABEL,
    why: "its clusters are named <name>-<8-character hash>",
  },
  spec: rayServiceSpec,
  status: rayServiceStatus,
  printerColumns: [
    {
      name: "Ready",
      type: "string",
      jsonPath: '.status.conditions[?(@.type=="Ready")].status',
      description: "Every application RUNNING on the active cluster.",
    },
    {
      name: "Cluster",
      type: "string",
      jsonPath: ".status.activeServiceStatus.clusterName",
      description: "The active cluster.",
    },
    {
      name: "Pending",
      type: "string",
      jsonPath: ".status.pendingServiceStatus.clusterName",
      description: "The cluster an upgrade brings up.",
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
export type RayService = z.output<typeof rayServiceResource.schema>;

export * from "./runtime/rayservice.ts";
