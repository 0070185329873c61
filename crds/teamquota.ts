// TeamQuota: what one team may use of the accelerators (devices per class of pools), CPU and
// memory; what it may borrow from and lend to the other teams of its cohort; how it preempts;
// and its weight when a cohort's idle quota is shared out.
import { z } from "zod";
import { POOL_NAME_MAX_LENGTH } from "./accelerators.ts";
import { conditionsField, DNS_LABEL, dnsLabel, observedGenerationField, quantity } from "./common.ts";
import { defineKind } from "./kind.ts";
import { listMap, listSet, withRules } from "./kit.ts";
import { teamQuotaNames } from "./runtime/kinds.ts";
import { vendors } from "./vendors.ts";

const MAX_DEVICES = 1_000_000;
const MODEL_GLOB = /^[A-Za-z0-9*?][-A-Za-z0-9_.*?]*$/;

const limits = {
  borrowingLimit: z
    .int()
    .min(0)
    .max(MAX_DEVICES)
    .describe(
      "The most the team may use beyond nominal, borrowed from its cohort; unset: whatever the cohort can lend.",
    )
    .optional(),
  lendingLimit: z
    .int()
    .min(0)
    .max(MAX_DEVICES)
    .describe("The most of its unused nominal the cohort may lend to other teams; unset: all of it.")
    .optional(),
};

const lendingWithinNominal = {
  rule: "!has(self.lendingLimit) || self.lendingLimit <= self.nominal",
  message: "lendingLimit must not exceed nominal",
  fieldPath: ".lendingLimit",
  holds: (q: { nominal: number; lendingLimit?: number | undefined }) =>
    q.lendingLimit === undefined || q.lendingLimit <= q.nominal,
};

export const deviceQuota = withRules(
  z
    .strictObject({
      name: dnsLabel(63).describe(
        "The device class, such as h100. Teams of one cohort lend and borrow a class by this name, so give it the same name and pools in each.",
      ),
      pools: listSet(dnsLabel(POOL_NAME_MAX_LENGTH), 32)
        .describe("The AcceleratorPools of the class, by name. Empty: every pool matching vendor and models.")
        .optional(),
      vendor: z.enum(vendors).describe("Only pools of this vendor.").optional(),
      models: listSet(z.string().min(1).max(64).regex(MODEL_GLOB), 16)
        .describe('Globs on the pool\'s model ("H100*"), case-insensitive.')
        .optional(),
      nominal: z.int().min(0).max(MAX_DEVICES).describe("Devices of the class the team is entitled to."),
      ...limits,
    })
    .describe(
      "Quota in devices on one class of pools. A pool counts against the first class of the list that matches it; a team has no quota on a pool no class matches.",
    ),
  [lendingWithinNominal],
);
export type DeviceQuota = z.output<typeof deviceQuota>;

const computeQuota = (what: string) =>
  z
    .strictObject({
      nominal: quantity().describe(`${what} the team is entitled to, as a quantity.`),
      borrowingLimit: quantity()
        .describe("The most beyond nominal; unset: whatever the cohort lends.")
        .optional(),
      lendingLimit: quantity()
        .describe("The most of its unused nominal lent to the cohort; unset: all.")
        .optional(),
    })
    .describe(`Quota on ${what} summed over the team's admitted pods; unset: not limited.`)
    .optional();

export const preemptionPolicies = {
  withinTeam: ["LowerPriority", "Never"] as const,
  reclaimBorrowed: ["Any", "LowerPriority", "Never"] as const,
};

export const teamQuotaSpec = z
  .strictObject({
    cohort: dnsLabel(63)
      .describe(
        "Teams of one cohort lend unused quota to each other; unset: the team uses its nominal quota only.",
      )
      .optional(),
    devices: listMap(deviceQuota, "name", 32).describe("Quota in devices, per class of pools.").optional(),
    cpu: computeQuota("CPU"),
    memory: computeQuota("memory"),
    preemption: z
      .strictObject({
        withinTeam: z
          .enum(preemptionPolicies.withinTeam)
          .default("LowerPriority")
          .describe(
            "LowerPriority: a workload over the team's quota may preempt the team's own lower-priority workloads.",
          ),
        reclaimBorrowed: z
          .enum(preemptionPolicies.reclaimBorrowed)
          .default("Any")
          .describe(
            "A workload within the team's nominal quota may preempt other teams' workloads that borrow it: Any of them, only LowerPriority ones, or Never.",
          ),
      })
      .prefault({})
      .describe("Whom the team's workloads may preempt to get what the team is entitled to."),
    fairSharing: z
      .strictObject({
        weight: z
          .number()
          .min(0)
          .max(10000)
          .default(1)
          .describe(
            "Share of the cohort's idle quota relative to other teams; 0: borrow only what no one else wants.",
          ),
      })
      .prefault({})
      .describe("How the cohort's idle quota is shared out (dominant resource share, weighted)."),
  })
  .describe("What a team may use, borrow and lend, and how it preempts.");
export type TeamQuotaSpec = z.output<typeof teamQuotaSpec>;

const count = (what: string) => z.int().min(0).describe(what).optional();

export const teamQuotaStatus = z
  .strictObject({
    observedGeneration: observedGenerationField(),
    devices: listMap(
      z
        .strictObject({
          name: z.string().max(63).describe("The device class."),
          nominal: count("Devices the team is entitled to."),
          used: count("Devices its admitted workloads hold."),
          borrowed: count("Of used, devices beyond nominal, lent by the cohort."),
          pending: count("Devices its waiting workloads ask for."),
        })
        .describe("Use of one device class."),
      "name",
      32,
    )
      .describe("Per device class: nominal, used, borrowed, pending.")
      .optional(),
    admittedWorkloads: count("Workloads of the team admitted now."),
    pendingWorkloads: count("Workloads of the team waiting."),
    conditions: conditionsField(["Ready"]),
  })
  .describe("What the team uses now, as the operator last computed it.");
export type TeamQuotaStatus = z.output<typeof teamQuotaStatus>;

export const teamQuotaResource = defineKind({
  ...teamQuotaNames,
  description:
    "TeamQuota is what one team may use of the accelerators, CPU and memory, what it may borrow from and lend to its cohort, and whom its workloads may preempt. AcceleratorQueues point at it.",
  name: { maxLength: 63, pattern: DNS_LABEL, why: "team names appear in labels and reasons" },
  spec: teamQuotaSpec,
  status: teamQuotaStatus,
  printerColumns: [
    {
      name: "Ready",
      type: "string",
      jsonPath: '.status.conditions[?(@.type=="Ready")].status',
      description: "Whether the operator accepted it.",
    },
    { name: "Cohort", type: "string", jsonPath: ".spec.cohort", description: "The cohort." },
    {
      name: "Admitted",
      type: "integer",
      jsonPath: ".status.admittedWorkloads",
      description: "Admitted workloads.",
    },
    {
      name: "Pending",
      type: "integer",
      jsonPath: ".status.pendingWorkloads",
      description: "Waiting workloads.",
    },
    {
      name: "Weight",
      type: "number",
      jsonPath: ".spec.fairSharing.weight",
      description: "Fair-sharing weight.",
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
export type TeamQuota = z.output<typeof teamQuotaResource.schema>;
