// The desired children of a TrainingJob: the headless Service that gives every rank a DNS name,
// and the pod of one rank, with the rendezvous environment torchrun and PyTorch read and the
// user's command run under torchrun. Pure: the same inputs always give the same objects.
import {
  type AcceleratorPool,
  CHECKPOINT_REQUEST_FILE,
  CHECKPOINT_REQUESTED_ANNOTATION,
  labels,
  procsPerNode,
  type TrainingJob,
} from "../../crds/runtime/index.ts";
import type { KubeObject, OwnerReference } from "../../operator/index.ts";
import { placePod } from "../admission/index.ts";
import type { PodTemplateLike } from "../admission/pod-placement.ts";
import {
  hostnameOf,
  jobSelector,
  MASTER_PORT,
  masterAddress,
  podLabels,
  podName,
  serviceName,
  TRAINER_CONTAINER,
} from "./names.ts";
import { mergeTemplate, type PodTemplate } from "./template.ts";

export type TrainingJobObject = TrainingJob & KubeObject;

/** The headless Service: publishes not-ready addresses, so rendezvous does not wait for readiness. */
export function desiredService(job: TrainingJobObject, owner: OwnerReference): KubeObject {
  return {
    apiVersion: "v1",
    kind: "Service",
    metadata: {
      name: serviceName(job),
      namespace: job.metadata.namespace,
      labels: jobSelector(job),
      ownerReferences: [owner],
    },
    spec: {
      clusterIP: "None",
      publishNotReadyAddresses: true,
      selector: jobSelector(job),
      ports: [{ name: "rendezvous", port: MASTER_PORT, targetPort: MASTER_PORT, protocol: "TCP" }],
    },
  };
}

/** Variables the operator owns in the trainer container; a user's variable of the same name yields. */
export function rendezvousEnv(
  job: TrainingJobObject,
  nodes: number,
  rank: number,
  resumeFrom?: string,
): { name: string; value: string }[] {
  const perNode = procsPerNode(job.spec);
  const master = masterAddress(job);
  const env: Record<string, string> = {
    MASTER_ADDR: master,
    MASTER_PORT: String(MASTER_PORT),
    WORLD_SIZE: String(nodes * perNode),
    NODE_RANK: String(rank),
    // torchrun takes each of its flags from PET_<FLAG> too, so a command that calls torchrun
    // itself still joins the right rendezvous.
    PET_NNODES: String(nodes),
    PET_NPROC_PER_NODE: String(perNode),
    PET_NODE_RANK: String(rank),
    PET_MASTER_ADDR: master,
    PET_MASTER_PORT: String(MASTER_PORT),
  };
  if (job.spec.checkpoint) env.CHECKPOINT_DIR = job.spec.checkpoint.mountPath ?? "/checkpoints";
  // A gang admitted again after a preemption resumes from the checkpoint its pods reported.
  if (resumeFrom !== undefined) env.RESUME_FROM = resumeFrom;
  return Object.entries(env).map(([name, value]) => ({ name, value }));
}

const basename = (path: string): string => path.slice(path.lastIndexOf("/") + 1);

/**
 * The trainer's command: torchrun with the static rendezvous of this gang, then the user's
 * command. torchrun runs a script with its own Python, so "python train.py ..." becomes
 * "torchrun ... train.py ...", "python -m pkg ..." becomes "torchrun ... -m pkg ...", and any
 * other program runs with --no-python. A command that already starts with torchrun is left
 * alone: the PET_* variables give it the same flags.
 */
export function torchrunCommand(job: TrainingJobObject, nodes: number, rank: number): string[] {
  const command = job.spec.command;
  const program = basename(command[0] ?? "");
  if (program === "torchrun") return [...command];
  const flags = [
    "torchrun",
    `--nnodes=${nodes}`,
    `--nproc-per-node=${procsPerNode(job.spec)}`,
    `--node-rank=${rank}`,
    `--master-addr=${masterAddress(job)}`,
    `--master-port=${MASTER_PORT}`,
  ];
  if (/^python[0-9.]*$/.test(program)) {
    const rest = command.slice(1);
    if (rest[0] === "-m" && rest[1] !== undefined) return [...flags, "-m", ...rest.slice(1)];
    // A script path: torchrun passes the remaining arguments to it unchanged.
    if (rest[0] !== undefined && !rest[0].startsWith("-")) return [...flags, ...rest];
  }
  return [...flags, "--no-python", ...command];
}

export interface PodInput {
  job: TrainingJobObject;
  owner: OwnerReference;
  attempt: number;
  rank: number;
  /** Nodes the gang was admitted with. */
  nodes: number;
  pool: AcceleratorPool;
  /** The node the admission reserved for this rank, if any. */
  node: string | undefined;
  /** The newest checkpoint after a preemption: RESUME_FROM, and spec.checkpoint.resumeArgs. */
  resumeFrom?: string | undefined;
  /** Set when the job is preempted: the pod's checkpoint request (an annotation). */
  checkpointRequestedAt?: string | undefined;
}

const PODINFO_VOLUME = "stack-podinfo";

export function desiredPod(input: PodInput): KubeObject {
  const { job, attempt, rank, nodes } = input;
  const spec = job.spec;
  const ownEnv = rendezvousEnv(job, nodes, rank, input.resumeFrom);
  const reserved = new Set(ownEnv.map((e) => e.name));
  const userEnv = (spec.env ?? []).filter((e) => !reserved.has(e.name));
  const resources = spec.resources ?? {};
  const trainer: Record<string, unknown> = {
    name: TRAINER_CONTAINER,
    image: spec.image,
    command: [
      ...torchrunCommand(job, nodes, rank),
      ...(input.resumeFrom !== undefined ? (spec.checkpoint?.resumeArgs ?? []) : []),
    ],
    env: [...userEnv, ...ownEnv],
    ports: [{ name: "rendezvous", containerPort: MASTER_PORT, protocol: "TCP" }],
    // torchrun exits 1 for any failed worker and prints the root cause last: the log tail as
    // termination message tells the failure policy a killed worker from a raised exception.
    terminationMessagePolicy: "FallbackToLogsOnError",
  };
  if (Object.keys(resources).length > 0)
    trainer.resources = { requests: { ...resources }, limits: { ...resources } };
  const podSpec: PodTemplate["spec"] = {
    restartPolicy: "Never",
    hostname: hostnameOf(job, rank),
    // The headless Service's name, which masterAddress() resolves through.
    subdomain: serviceName(job),
    containers: [trainer],
  };
  if (spec.checkpoint) {
    // The checkpoint request reaches the script as a file: the kubelet writes the pod's
    // annotation into it when the operator sets it (empty until then).
    const requestDir = CHECKPOINT_REQUEST_FILE.slice(0, CHECKPOINT_REQUEST_FILE.lastIndexOf("/"));
    trainer.volumeMounts = [
      { name: "checkpoint", mountPath: spec.checkpoint.mountPath ?? "/checkpoints" },
      { name: PODINFO_VOLUME, mountPath: requestDir, readOnly: true },
    ];
    podSpec.volumes = [
      { name: "checkpoint", persistentVolumeClaim: { claimName: spec.checkpoint.claimName } },
      {
        name: PODINFO_VOLUME,
        downwardAPI: {
          items: [
            {
              path: CHECKPOINT_REQUEST_FILE.slice(requestDir.length + 1),
              fieldRef: { fieldPath: `metadata.annotations['${CHECKPOINT_REQUESTED_ANNOTATION}']` },
            },
          ],
        },
      },
    ];
  }
  const merged = mergeTemplate(
    { metadata: { labels: podLabels(job, attempt, rank) }, spec: podSpec },
    spec.template,
  );
  const main = merged.spec.containers.findIndex((c) => c.name === TRAINER_CONTAINER);
  const placed = placePod(merged as unknown as PodTemplateLike, {
    pool: input.pool,
    devicesPerPod: spec.accelerators?.count ?? 0,
    node: input.node,
    images: spec.images as Partial<Record<string, string>> | undefined,
    mainContainer: Math.max(0, main),
  });
  const metadata: KubeObject["metadata"] = {
    name: podName(job, attempt, rank),
    namespace: job.metadata.namespace,
    labels: { ...placed.metadata?.labels, [labels.pool]: input.pool.metadata.name ?? "" },
    ownerReferences: [input.owner],
  };
  const annotations = {
    ...placed.metadata?.annotations,
    ...(input.checkpointRequestedAt
      ? { [CHECKPOINT_REQUESTED_ANNOTATION]: input.checkpointRequestedAt }
      : {}),
  };
  if (Object.keys(annotations).length > 0) metadata.annotations = annotations;
  return { apiVersion: "v1", kind: "Pod", metadata, spec: placed.spec };
}
