// spec.autoscaling's metrics and their default targets, apart from the schema (../autoscaling.ts).
export const autoscalingMetrics = ["concurrency", "queueDepth", "kvCacheUsage", "tokensPerSecond"] as const;
export type AutoscalingMetric = (typeof autoscalingMetrics)[number];

/** The target when spec.autoscaling.target is unset; one default cannot fit four units. */
export const defaultAutoscalingTargets: Readonly<Record<AutoscalingMetric, number>> = {
  concurrency: 32,
  queueDepth: 8,
  kvCacheUsage: 0.8,
  tokensPerSecond: 2000,
};

/** The target in force: the spec's, else the metric's default. */
export const autoscalingTarget = (spec: { metric: AutoscalingMetric; target?: number | undefined }): number =>
  spec.target ?? defaultAutoscalingTargets[spec.metric];
