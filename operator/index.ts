// The operator runtime's public surface, for controllers/ and for tests.

export type { ApplyOptions, ApplyResult } from "./apply.ts";
export {
  appliedIntentHashAnnotation,
  applyObject,
  controllerOf,
  controllerReference,
  isControlledBy,
  withTypeMeta,
} from "./apply.ts";
export { JitteredBackoff, PerKeyExponentialBackoff } from "./backoff.ts";
export type { ListOptions } from "./cache.ts";
export { Cache } from "./cache.ts";
export {
  type Condition,
  type ConditionInput,
  type ConditionStatus,
  findCondition,
  formatTime,
  isConditionTrue,
  removeCondition,
  setCondition,
} from "./conditions.ts";
export type {
  ControllerBuilderContext,
  ControllerFactory,
  ControllerSpec,
  ReconcileContext,
  ReconcileResult,
  WatchSpec,
} from "./controller.ts";
export { Controller, fieldManagerFor } from "./controller.ts";
export { deepEqual, isSubset, normalize } from "./equality.ts";
export type { EventInput, EventType } from "./events.ts";
export { EventAggregator, EventRecorder, formatMicroTime, objectReference } from "./events.ts";
export { addFinalizer, removeFinalizer } from "./finalizers.ts";
export type { InformerHandler, InformerOptions } from "./informer.ts";
export { Informer } from "./informer.ts";
export type { DeleteOptions, PatchType, WatchEvent } from "./kube-client.ts";
export {
  ApiError,
  isAlreadyExists,
  isConflict,
  isGone,
  isNotFound,
  KubeClient,
} from "./kube-client.ts";
export {
  type ClusterConnection,
  type KubeConfigSource,
  loadClusterConnection,
  loadInCluster,
  loadKubeconfigFiles,
} from "./kubeconfig.ts";
export { LeaderElector } from "./leader-election.ts";
export type { Logger, LogLevel } from "./log.ts";
export { createLogger, describeError, silentLogger } from "./log.ts";
export type { LeaderElectionConfig, ManagerOptions } from "./manager.ts";
export { Manager } from "./manager.ts";
export { MetricsRegistry } from "./metrics.ts";
export type { IndexFunc } from "./object-store.ts";
export {
  indexByNodeName,
  indexByOwnerUid,
  nodeNameIndex,
  ObjectStore,
  ownerUidIndex,
} from "./object-store.ts";
export { parseOperatorOptions } from "./options.ts";
export type { KubeObject, ObjectMeta, OwnerReference, ResourceType } from "./resource.ts";
export {
  builtin,
  keyOf,
  objectKey,
  resourcePath,
  splitKey,
} from "./resource.ts";
export { type OperatorSetup, runOperator } from "./run.ts";
export { statusEquals, withObservedGeneration, writeStatus } from "./status.ts";
export { TokenBucket } from "./token-bucket.ts";
export type { Transform } from "./transform.ts";
export { defaultTransformFor, leanNode, leanPod, stripManagedFields } from "./transform.ts";
export { WorkQueue } from "./work-queue.ts";
