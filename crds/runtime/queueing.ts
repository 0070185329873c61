// The label and annotations the queueing machinery shares with pods and tools, and how a
// workload names its queue; the spec fields are in ../queueing.ts.

/** The label twin of spec.queueName, for tools that select by label; the spec field wins. */
export const QUEUE_NAME_LABEL = "stack.sovereign.dev/queue-name";
/** On an AcceleratorQueue: "true" makes it the queue of every workload in its namespace that names none. */
export const DEFAULT_QUEUE_LABEL = "stack.sovereign.dev/default-queue";
/** Set on a victim's pods when it must checkpoint: the time of the request (RFC 3339). */
export const CHECKPOINT_REQUESTED_ANNOTATION = "stack.sovereign.dev/checkpoint-requested";
/** Set on a pod (by the training script, or whatever writes for it) to the checkpoint it wrote. */
export const CHECKPOINT_PATH_ANNOTATION = "stack.sovereign.dev/checkpoint-path";
/** Where a training pod sees the checkpoint request: a downward API file, empty until requested. */
export const CHECKPOINT_REQUEST_FILE = "/etc/stack/checkpoint-requested";

/** What a workload object carries for queueing, as the controllers read it. */
export interface QueueingFields {
  metadata: { namespace?: string | undefined; labels?: Record<string, string> | undefined };
  spec: { queueName?: string | undefined; priorityClassName?: string | undefined };
}

/** spec.queueName, else the label; the namespace default is resolved by the caller. */
export function queueNameOf(obj: QueueingFields): string | undefined {
  return obj.spec.queueName ?? obj.metadata.labels?.[QUEUE_NAME_LABEL];
}

export const MAX_PREEMPTION_GRACE_SECONDS = 86400;
export const DEFAULT_PREEMPTION_GRACE_SECONDS = 300;

/** The condition a preempted workload carries while it checkpoints (True) and once evicted (False). */
export const PREEMPTING_CONDITION = "Preempting";
