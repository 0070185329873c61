// Admission for every workload kind: the shared admitter, how admitted pods are placed, and
// the status record. See types.ts for the protocol a workload controller follows.
export { toAdmissionStatus } from "./admission-status.ts";
export { Admitter, type AdmitterOptions, hasAdmission, workloadKey } from "./admitter.ts";
export {
  clusterView,
  isNodeReady,
  isTerminated,
  type NodeLike,
  type PodLike,
  podRequest,
  poolStatus,
} from "./cluster-view.ts";
export { admissionTimeoutMs, evictionCheck } from "./eviction.ts";
export { hostnameLabel, imageFor, type PlacementTarget, placePod } from "./pod-placement.ts";
export { bytes, cpuMillis, parseQuantity } from "./quantity.ts";
export { groupOfPlacement, reservationFromAdmission } from "./reservations.ts";
export { matchesSelector } from "./selector.ts";
export type { AdmittedForQuota, AdmitterApi, Decision, QuotaHook, WorkloadAdapter } from "./types.ts";
