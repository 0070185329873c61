// Deterministic names of a TrainingJob's children. Everything here is derived from the job's
// name, namespace, attempt and rank, so a repeated reconcile (or a restarted operator) always
// computes the same objects.
import type { TrainingJob } from "../../crds/runtime/index.ts";
import { labels } from "../../crds/runtime/index.ts";

/** The container that runs torchrun; a template may add containers beside it, by other names. */
export const TRAINER_CONTAINER = "trainer";
/** The pod group of a TrainingJob in the admission record and the group label. */
export const WORKERS_GROUP = "workers";
/** torchrun's customary rendezvous port. */
export const MASTER_PORT = 29500;

type Named = Pick<TrainingJob, "metadata">;

const nameOf = (job: Named): string => job.metadata.name ?? "";

/** The headless Service that gives every rank a stable DNS name: it is named after the job. */
export const serviceName = (job: Named): string => nameOf(job);

/**
 * Pod of one rank in one gang attempt. The attempt is part of the name so a restarted gang
 * never collides with the pods of the gang it replaces; rank and attempt are plain numbers, so
 * "<job>-<attempt>-<rank>" read from the right is unambiguous between jobs.
 */
export const podName = (job: Named, attempt: number, rank: number): string =>
  `${nameOf(job)}-${attempt}-${rank}`;

/** The pod's hostname: stable across attempts, so rank 0's DNS name never changes. */
export const hostnameOf = (job: Named, rank: number): string => `${nameOf(job)}-${rank}`;

/** Rank 0's DNS name through the headless Service (resolved with the pod's search path). */
export const masterAddress = (job: Named): string =>
  `${hostnameOf(job, 0)}.${serviceName(job)}.${job.metadata.namespace ?? "default"}.svc`;

/** Labels every child carries; the Service selects pods by the first two. */
export function jobSelector(job: Named): Record<string, string> {
  return { [labels.kind]: "trainingjob", [labels.name]: nameOf(job) };
}

export function podLabels(job: Named, attempt: number, rank: number): Record<string, string> {
  return {
    ...jobSelector(job),
    [labels.group]: WORKERS_GROUP,
    [labels.rank]: String(rank),
    [labels.attempt]: String(attempt),
  };
}

interface Labelled {
  metadata: { labels?: Record<string, string> };
}

/** The attempt a pod belongs to, from its label; undefined for a pod that carries none. */
export function attemptOf(pod: Labelled): number | undefined {
  const value = pod.metadata.labels?.[labels.attempt];
  const n = value === undefined ? Number.NaN : Number(value);
  return Number.isInteger(n) && n >= 0 ? n : undefined;
}

export function rankOf(pod: Labelled): number | undefined {
  const value = pod.metadata.labels?.[labels.rank];
  const n = value === undefined ? Number.NaN : Number(value);
  return Number.isInteger(n) && n >= 0 ? n : undefined;
}
