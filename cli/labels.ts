// The labels the controllers put on the pods, Services and Deployments they create, and by which
// stackctl finds them again (logs, describe). One module so that both sides spell them the same;
// it may move to crds/ once the controllers import it.
import { GROUP } from "../crds/common.ts";

export const labels = {
  /** trainingjob | raycluster | inferenceservice */
  kind: `${GROUP}/kind`,
  /** Name of the owning workload. */
  name: `${GROUP}/name`,
  /** Node rank of a TrainingJob pod, from 0. */
  rank: `${GROUP}/rank`,
  /** head | worker, on RayCluster pods. */
  rayNodeType: `${GROUP}/ray-node-type`,
  /** Worker group of a RayCluster worker pod. */
  rayGroup: `${GROUP}/ray-group`,
  /** AcceleratorPool the pod was placed on. */
  pool: `${GROUP}/pool`,
} as const;

/** The value of the kind label for a kind of the API. */
export const kindLabelValue = (kind: string): string => kind.toLowerCase();
