// The fields every workload kind takes to join a team's queue, and the label and annotations
// the queueing machinery shares with pods and tools.
import { dnsSubdomain } from "./common.ts";
import { DEFAULT_QUEUE_LABEL, QUEUE_NAME_LABEL } from "./runtime/queueing.ts";

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

export * from "./runtime/queueing.ts";
