// The pods of a replica spanning nodes, as vLLM's multi-node serving runs them: every member is
// a Ray node in the container that holds its devices (Ray hands a node's devices only to the
// processes it starts there), the leader the Ray head and the OpenAI server with
// --distributed-executor-backend ray, tensor parallel over its node's devices and pipeline
// parallel over the nodes; the workers join the leader's Ray cluster and serve nothing. Pure:
// the reconcile creates what these return.
import { type AcceleratorPool, labels } from "../../crds/runtime/index.ts";
import { controllerReference, type KubeObject } from "../../operator/index.ts";
import { type ContainerLike, hostnameLabel, type PodTemplateLike } from "../admission/pod-placement.ts";
import type { InferenceServiceObject } from "./adapter.ts";
import { digest, placedServerTemplate } from "./children.ts";
import {
  kindLabelValue,
  memberLabels,
  memberPodName,
  membersGroup,
  membersServiceName,
  serverGroup,
  serverPort,
  workerGroup,
} from "./names.ts";
import { serverContainerName } from "./pods.ts";
import { nodesPerReplica } from "./sizing.ts";

/** Ray's GCS port on the leader, where the workers join. */
export const rayPort = 6379;
/** How long a worker waits for the leader's Ray head before it gives up (and its replica restarts). */
export const workerJoinSeconds = 600;

/**
 * The leader's container: the Ray head, then (once every member has joined, so vLLM's placement
 * group finds all the devices) the OpenAI server with the pod's arguments ("$@").
 */
export const leaderScript = [
  "set -eu",
  `ray start --head --port=${rayPort} --disable-usage-stats`,
  `python3 -c 'import os, time, ray
ray.init(address="auto")
while sum(1 for n in ray.nodes() if n["Alive"]) < int(os.environ["GROUP_SIZE"]):
    time.sleep(2)'`,
  'exec python3 -m vllm.entrypoints.openai.api_server "$@"',
].join("\n");

/** A worker's container: wait for the leader's head, then be a Ray node for as long as it lives. */
export const workerScript = [
  "set -eu",
  `i=0; until ray health-check --address "$LEADER_ADDRESS:${rayPort}" >/dev/null 2>&1; do i=$((i + 1)); [ "$i" -lt ${workerJoinSeconds / 5} ] || exit 1; sleep 5; done`,
  `exec ray start --address="$LEADER_ADDRESS:${rayPort}" --block --disable-usage-stats`,
].join("\n");

export const shell = ["/bin/sh", "-c"];

/** Pod hostnames are DNS labels: at most 63 characters. */
function hostnameOf(podName: string, service: string, pool: string, index: number, rank: number): string {
  if (podName.length <= 63) return podName;
  return `${service}-${digest(pool).slice(0, 8)}-${index}-${rank}`;
}

export interface GroupTemplate {
  /** The pool-level template every member is made from (placed, before the member's own fields). */
  template: PodTemplateLike;
  /** Its digest: members of another digest are out of date and roll. */
  hash: string;
  devicesPerPod: number;
  size: number;
}

/** The members' common template on one pool, and its digest. */
export function groupTemplate(
  svc: InferenceServiceObject,
  pool: AcceleratorPool & KubeObject,
): GroupTemplate {
  const { template, devices } = placedServerTemplate(svc, pool);
  return { template, hash: digest(template), devicesPerPod: devices, size: nodesPerReplica(svc.spec) };
}

/** Member `rank` of replica `index` (rank 0 the leader) on the pool of `group`. */
export function memberPod(
  svc: InferenceServiceObject,
  poolName: string,
  group: GroupTemplate,
  index: number,
  rank: number,
): KubeObject {
  const name = svc.metadata.name ?? "";
  const namespace = svc.metadata.namespace ?? "";
  const podName = memberPodName(name, poolName, index, rank);
  const leaderName = memberPodName(name, poolName, index, 0);
  const subdomain = membersServiceName(name, poolName);
  const leaderAddress = `${hostnameOf(leaderName, name, poolName, index, 0)}.${subdomain}.${namespace}.svc`;
  const spec = structuredClone(group.template.spec);
  const server = spec.containers.find((c) => c.name === serverContainerName) as ContainerLike;
  const env = [
    { name: "GROUP_SIZE", value: String(group.size) },
    { name: "GROUP_RANK", value: String(rank) },
    { name: "LEADER_ADDRESS", value: leaderAddress },
    ...(server.env ?? []),
  ];
  const leader = rank === 0;
  const args = server.args as string[];
  const member: ContainerLike = leader
    ? {
        ...server,
        command: [...shell, leaderScript, "vllm-leader"],
        args: withPipeline(args, group.size),
        env,
      }
    : workerContainer(server, env);
  spec.containers = spec.containers.map((c) => (c.name === serverContainerName ? member : c));
  const memberSelector = {
    [labels.kind]: kindLabelValue,
    [labels.name]: name,
    [labels.pool]: poolName,
    [labels.replica]: String(index),
  };
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: {
      name: podName,
      namespace,
      labels: {
        ...group.template.metadata?.labels,
        ...memberSelector,
        [labels.group]: leader ? serverGroup : workerGroup,
        [labels.rank]: String(rank),
        [labels.templateHash]: group.hash,
      },
      ownerReferences: [controllerReference(svc)],
    },
    spec: {
      ...spec,
      hostname: hostnameOf(podName, name, poolName, index, rank),
      subdomain,
      // A member that stops is not restarted in place: its replica is restarted whole (the
      // other members' Ray state refers to the process that died).
      restartPolicy: "Never",
      affinity: {
        ...spec.affinity,
        // One member per node: pipeline stages on one node would share its devices.
        podAntiAffinity: {
          requiredDuringSchedulingIgnoredDuringExecution: [
            { labelSelector: { matchLabels: memberSelector }, topologyKey: hostnameLabel },
          ],
        },
      },
    },
  };
}

/** The server's arguments with the pipeline over the nodes and Ray as the executor, before engine.args. */
export function withPipeline(args: readonly string[], nodes: number): string[] {
  const port = args.indexOf("--port");
  const at = port < 0 ? args.length : port;
  return [
    ...args.slice(0, at),
    "--pipeline-parallel-size",
    String(nodes),
    "--distributed-executor-backend",
    "ray",
    ...args.slice(at),
  ];
}

/** A worker: the server container's image, devices, volumes and env, running a Ray node only. */
function workerContainer(server: ContainerLike, env: ContainerLike["env"]): ContainerLike {
  const {
    args: _args,
    ports: _ports,
    startupProbe: _startup,
    readinessProbe: _readiness,
    livenessProbe: _liveness,
    ...rest
  } = server;
  return { ...rest, command: [...shell, workerScript], env };
}

/** The headless Service that gives each member on a pool the DNS name its group finds it by. */
export function desiredMembersService(svc: InferenceServiceObject, pool: string): KubeObject {
  const name = svc.metadata.name ?? "";
  return {
    apiVersion: "v1",
    kind: "Service",
    metadata: {
      name: membersServiceName(name, pool),
      namespace: svc.metadata.namespace,
      labels: { ...memberLabels(name, pool), [labels.group]: membersGroup },
      ownerReferences: [controllerReference(svc)],
    },
    spec: {
      clusterIP: "None",
      // Workers look the leader up before it is ready: it is ready only once they have joined.
      publishNotReadyAddresses: true,
      selector: memberLabels(name, pool),
      ports: [
        { name: "ray", port: rayPort, targetPort: rayPort, protocol: "TCP" },
        { name: "http", port: serverPort, targetPort: serverPort, protocol: "TCP" },
      ],
    },
  };
}
