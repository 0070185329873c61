// The autoscaler's decision for an InferenceService: see README.md in this folder.
export {
  type AutoscalerMemory,
  type DecideInput,
  type Decision,
  decide,
  FAST_RISE,
  FAST_WINDOW_SECONDS,
  type Limit,
  type Mode,
  NOISE_DEVIATIONS,
  PANIC_THRESHOLD,
  stepCeiling,
  TOLERANCE,
} from "./decide.ts";
export { type Learned, type RouterSample, runSeconds } from "./demand.ts";
export { AutoscalerLoop, fetchRouterStats, type RouterServiceStats, toSample } from "./loop.ts";
