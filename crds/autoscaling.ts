// spec.autoscaling and status.autoscaling of an InferenceService: the limits the decision loop
// works within (controllers/inferenceservice/autoscaling/decide.ts) and its last decision.
import { z } from "zod";
import { timestampField } from "./common.ts";
import { withRules } from "./kit.ts";
import { autoscalingMetrics } from "./runtime/autoscaling.ts";

const MAX_REPLICAS = 1000;

const seconds = (what: string, fallback: number, min = 1) =>
  z.int().min(min).max(86400).default(fallback).describe(what);

// A count of replicas, or a percentage of the ready replicas (over 100% allowed: "1000%" lets a
// single ready replica order ten more in one step).
const scaleUpLimit = z
  .union([
    z.int().min(1).max(MAX_REPLICAS),
    z
      .string()
      .max(6)
      .regex(/^[1-9][0-9]{0,4}%$/),
  ])
  .default("1000%")
  .describe(
    'How far one step may go above the ready replicas: a count of replicas (10), or a percentage of the ready replicas, at least one replica ("100%" doubles them). A step lasts until the replicas it ordered are ready, so the limit bounds how many replicas load at once. Default "1000%".',
  );

export const autoscalingSpec = withRules(
  z
    .strictObject({
      minReplicas: z
        .int()
        .min(0)
        .max(MAX_REPLICAS)
        .default(1)
        .describe(
          "Fewest replicas. 0 scales to zero after idleTimeoutSeconds without requests and needs router.enabled (the router holds requests while the first replica starts). Default 1.",
        ),
      maxReplicas: z
        .int()
        .min(1)
        .max(MAX_REPLICAS)
        .describe("Most replicas, over all pools. Required: it is the ceiling on what a burst may cost."),
      metric: z
        .enum(autoscalingMetrics)
        .default("concurrency")
        .describe(
          "What the replicas are sized by, from the router's figures: concurrency (requests in flight at the engines plus those held at the router, per replica), queueDepth (requests waiting at the router and in the engines' queues, per replica), kvCacheUsage (mean KV-cache use of the ready replicas, a fraction) or tokensPerSecond (generated tokens per second, per replica). Default concurrency.",
        ),
      target: z
        .number()
        .max(1000000)
        .describe(
          "The metric's value one replica should carry: requests for concurrency (default 32) and queueDepth (default 8), a fraction in (0, 1] for kvCacheUsage (default 0.8), tokens per second for tokensPerSecond (default 2000).",
        )
        .optional(),
      scaleUpLimit,
      scaleDownDelaySeconds: seconds(
        "How long the wish for fewer replicas must last before replicas are removed: the count kept is the highest wished for over this time. Default 120.",
        120,
        0,
      ),
      panicWindowSeconds: seconds(
        "The short window: when the replicas it asks for reach twice the replicas there are (ready or loading), the autoscaler panics: it follows this window and never scales down until the stable window has passed without another such spike. Default 6.",
        6,
      ),
      stableWindowSeconds: seconds(
        "The long window the replicas follow outside panic; noise shorter than it averages out. Default 60.",
        60,
      ),
      idleTimeoutSeconds: seconds(
        "With minReplicas 0: how long without a request before the last replica is removed. Default 300.",
        300,
      ),
    })
    .describe(
      "Replicas follow the load the router measures: up within a second or two of a burst, down slowly. When set, the autoscaler decides the replica count (status.desiredReplicas) and spec.replicas is only the count to start from.",
    ),
  [
    {
      rule: "self.minReplicas <= self.maxReplicas",
      message: "minReplicas must be less than or equal to maxReplicas",
      fieldPath: ".minReplicas",
      holds: (a) => a.minReplicas <= a.maxReplicas,
    },
    {
      rule: "!has(self.target) || self.target > 0.0",
      message: "target must be greater than 0",
      fieldPath: ".target",
      holds: (a) => a.target === undefined || a.target > 0,
    },
    {
      rule: "self.metric != 'kvCacheUsage' || !has(self.target) || self.target <= 1.0",
      message: "target must be a fraction in (0, 1] when metric is kvCacheUsage",
      fieldPath: ".target",
      holds: (a) => a.metric !== "kvCacheUsage" || a.target === undefined || a.target <= 1,
    },
    {
      rule: "self.panicWindowSeconds <= self.stableWindowSeconds",
      message: "panicWindowSeconds must be less than or equal to stableWindowSeconds",
      fieldPath: ".panicWindowSeconds",
      holds: (a) => a.panicWindowSeconds <= a.stableWindowSeconds,
    },
  ],
);
export type AutoscalingSpec = z.output<typeof autoscalingSpec>;

export const autoscalingStatus = z
  .strictObject({
    mode: z
      .enum(["stable", "panic"])
      .describe("stable: following the long window; panic: following the short one after a spike.")
      .optional(),
    lastDecision: z
      .strictObject({
        time: timestampField("When the decision was made."),
        from: z.int().min(0).describe("Replicas before the decision.").optional(),
        to: z.int().min(0).describe("Replicas the decision asked for.").optional(),
        reason: z
          .string()
          .max(1024)
          .describe(
            "Why, in words: queue depth 412 over 8 replicas, target 16 → 26, capped at scaleUpLimit 10.",
          )
          .optional(),
      })
      .describe("The last decision that changed the replica count.")
      .optional(),
  })
  .describe(
    "The autoscaler's state, while spec.autoscaling is set. Beside it, the condition ScalingLimited is True while the service cannot have the replicas the autoscaler wants: reason MaxReplicas or MinReplicas (the load asks for more or fewer than the limits allow), ScaleUpLimit (the step is capped until the replicas it ordered are ready) or NoCapacity (no pool has room for another replica; the message names the pools and what they lack); False with reason WithinLimits otherwise.",
  );
export type AutoscalingStatus = z.output<typeof autoscalingStatus>;

export * from "./runtime/autoscaling.ts";
