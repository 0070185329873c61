// The fields every workload kind takes to join a team's queue, and the label and annotations
// the queueing machinery shares with pods and tools.
import { dnsSubdomain } from "./common.ts";

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

export const queueNameField = () =>
  dnsSubdomain()
    .describe(
      `The AcceleratorQueue (in the workload's namespace) to submit to; its TeamQuota bounds what the workload may use. Also read from the label ${QUEUE_NAME_LABEL}; unset in both: the namespace's queue labelled ${DEFAULT_QUEUE_LABEL}=true, else no quota applies.`,
    )
    .optional();

export const priorityClassNameField = () =>
  dnsSubdomain()
    .describe(
      "A Kubernetes PriorityClass whose value is the workload's admission priority (higher first within its team, and the order of preemption). Read by the operator only: pods do not get it, so the kube-scheduler never preempts them behind the checkpoint protocol.",
    )
    .optional();

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
