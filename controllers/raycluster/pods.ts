// The head Pod, the head Service and the worker Pods as the operator wants them. Pure: the
// same cluster, group, index and placement always give the same objects.
import type {
  AcceleratorPool,
  Quantity,
  RayCluster,
  RayWorkerGroup,
  Vendor,
} from "../../crds/runtime/index.ts";
import { labels, vendorCatalog } from "../../crds/runtime/index.ts";
import { controllerReference, type KubeObject } from "../../operator/index.ts";
import { imageFor, placePod } from "../admission/index.ts";
import type { ContainerLike, PodTemplateLike } from "../admission/pod-placement.ts";
import { endpointsFor, headHost, headPodName, headServiceName, workerPodName } from "./names.ts";
import { headPorts, headStartArgs, workerStartArgs } from "./ray-start.ts";

export const headContainerName = "ray-head";
export const workerContainerName = "ray-worker";
export const waitContainerName = "wait-for-head";

type Resources = Partial<Record<string, Quantity>> | undefined;

/** Requests equal limits: a Ray node that is promised more than it may use gets OOM-killed under load. */
function containerResources(resources: Resources): ContainerLike["resources"] {
  if (!resources || Object.keys(resources).length === 0) return undefined;
  const list = Object.fromEntries(Object.entries(resources).map(([k, v]) => [k, String(v)]));
  return { requests: list, limits: { ...list } };
}

export function clusterLabels(rc: RayCluster): Record<string, string> {
  return { [labels.kind]: "raycluster", [labels.name]: rc.metadata.name as string };
}

export function headLabels(rc: RayCluster): Record<string, string> {
  return { ...clusterLabels(rc), [labels.group]: "head", [labels.rayNodeType]: "head" };
}

function workerLabels(rc: RayCluster, group: string): Record<string, string> {
  return {
    ...clusterLabels(rc),
    [labels.group]: group,
    [labels.rayNodeType]: "worker",
    [labels.rayGroup]: group,
  };
}

// Ray keeps its object store in /dev/shm; the container runtime's 64 MiB default would make
// it spill to disk at once.
const shmVolume = { name: "shm", emptyDir: { medium: "Memory" } };
const shmMount = { name: "shm", mountPath: "/dev/shm" };

const env = (vars: Record<string, string>) => Object.entries(vars).map(([name, value]) => ({ name, value }));

const podNameEnv = { name: "RAY_CLOUD_INSTANCE_ID", valueFrom: { fieldRef: { fieldPath: "metadata.name" } } };

// The labels each vendor's node tooling puts on accelerator nodes (not AWS's instance type,
// which every EKS node carries).
const acceleratorNodeLabels = [
  ...new Set(
    (["nvidia", "amd", "intel", "google"] as const).flatMap((v) => vendorCatalog[v].productLabel ?? []),
  ),
].sort();

/**
 * The head asks for CPU only, so it should not take an accelerator node's CPU and memory where
 * a plain node is free: a preference, since some clusters have no plain nodes at all.
 */
export const headAffinity = {
  nodeAffinity: {
    preferredDuringSchedulingIgnoredDuringExecution: [
      {
        weight: 100,
        preference: {
          matchExpressions: acceleratorNodeLabels.map((key) => ({ key, operator: "DoesNotExist" })),
        },
      },
    ],
  },
};

export function headPod(rc: RayCluster): KubeObject {
  const name = rc.metadata.name as string;
  const head = rc.spec.head;
  const ports = headPorts(head.rayStartParams);
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: {
      name: headPodName(name),
      namespace: rc.metadata.namespace,
      labels: headLabels(rc),
      ownerReferences: [controllerReference(rc)],
    },
    spec: {
      // A crashed head restarts in place; a head pod that is gone or failed is recreated.
      restartPolicy: "Always",
      enableServiceLinks: false,
      affinity: headAffinity,
      containers: [
        {
          name: headContainerName,
          image: rc.spec.image,
          command: ["ray", "start"],
          args: headStartArgs(head),
          ports: [
            { name: "gcs", containerPort: ports.gcs },
            { name: "dashboard", containerPort: ports.dashboard },
            { name: "client", containerPort: ports.client },
            { name: "metrics", containerPort: ports.metrics },
          ],
          env: [
            ...env({
              RAY_CLUSTER_NAME: name,
              RAY_ADDRESS: `127.0.0.1:${ports.gcs}`,
              RAY_NODE_TYPE_NAME: "head",
              // The autoscaler reads the demand Ray's monitor reports; every second, not every 5.
              ...(rc.spec.autoscaling?.enabled ? { AUTOSCALER_UPDATE_INTERVAL_S: "1" } : {}),
            }),
            podNameEnv,
          ],
          resources: containerResources(head.resources),
          readinessProbe: {
            httpGet: { path: "/api/gcs_healthz", port: ports.dashboard },
            periodSeconds: 5,
            timeoutSeconds: 2,
            failureThreshold: 6,
          },
          volumeMounts: [shmMount],
        },
      ],
      volumes: [shmVolume],
    },
  };
}

export function headService(rc: RayCluster): KubeObject {
  const name = rc.metadata.name as string;
  const ports = headPorts(rc.spec.head.rayStartParams);
  const port = (portName: string, n: number) => ({ name: portName, port: n, targetPort: n, protocol: "TCP" });
  return {
    apiVersion: "v1",
    kind: "Service",
    metadata: {
      name: headServiceName(name),
      namespace: rc.metadata.namespace,
      labels: headLabels(rc),
      ownerReferences: [controllerReference(rc)],
    },
    spec: {
      type: rc.spec.head.serviceType ?? "ClusterIP",
      selector: headLabels(rc),
      // Workers wait for the GCS themselves (their init container), and they must reach it
      // before the dashboard behind the head's readiness probe is up.
      publishNotReadyAddresses: true,
      ports: [
        port("gcs", ports.gcs),
        port("dashboard", ports.dashboard),
        port("client", ports.client),
        port("metrics", ports.metrics),
      ],
    },
  };
}

export function clusterEndpoints(rc: RayCluster) {
  return endpointsFor(
    rc.metadata.name as string,
    rc.metadata.namespace as string,
    headPorts(rc.spec.head.rayStartParams),
  );
}

export interface WorkerPlacement {
  pool: AcceleratorPool;
  /** The node the admission reserved for this worker, if it names one. */
  node: string | undefined;
}

export const waitRequests = { cpu: "100m", memory: "128Mi" };
const waitResources = { requests: waitRequests, limits: { ...waitRequests } };

/** A worker pod placed on its pool (and node): the vendor's image, resource name, env and tolerations. */
export function workerPod(
  rc: RayCluster,
  group: RayWorkerGroup,
  index: number,
  placement: WorkerPlacement,
): KubeObject {
  const name = rc.metadata.name as string;
  const namespace = rc.metadata.namespace as string;
  const ports = headPorts(rc.spec.head.rayStartParams);
  const gcs = `${headHost(name, namespace)}:${ports.gcs}`;
  const vendor = placement.pool.spec.vendor as Vendor;
  const devices = group.accelerators?.count ?? 0;
  // The init container runs the same image as the worker: one pull, and the same ray CLI.
  const image = imageFor(vendor, rc.spec.image, rc.spec.images) ?? rc.spec.image;
  const template: PodTemplateLike = {
    metadata: { labels: workerLabels(rc, group.name) },
    spec: {
      // A worker whose raylet exits (the head went away) restarts and joins the head again.
      restartPolicy: "Always",
      enableServiceLinks: false,
      // Without it a worker started before the GCS listens fails and backs off for minutes.
      initContainers: [
        {
          name: waitContainerName,
          image,
          command: [
            "/bin/sh",
            "-c",
            `until ray health-check --address=${gcs} >/dev/null 2>&1; do echo "waiting for the Ray head at ${gcs}"; sleep 2; done`,
          ],
          resources: waitResources,
        },
      ],
      containers: [
        {
          name: workerContainerName,
          image: rc.spec.image,
          command: ["ray", "start"],
          args: workerStartArgs({
            gcsAddress: gcs,
            resources: group.resources,
            rayStartParams: group.rayStartParams,
            devices,
            vendor,
            metricsPort: ports.metrics,
          }),
          ports: [{ name: "metrics", containerPort: ports.metrics }],
          env: [
            ...env({ RAY_CLUSTER_NAME: name, RAY_ADDRESS: gcs, RAY_NODE_TYPE_NAME: group.name }),
            podNameEnv,
          ],
          resources: containerResources(group.resources),
          volumeMounts: [shmMount],
        },
      ],
      volumes: [shmVolume],
    },
  };
  const placed = placePod(template, {
    pool: placement.pool,
    devicesPerPod: devices,
    node: placement.node,
    images: rc.spec.images,
  });
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: {
      name: workerPodName(name, group.name, index),
      namespace,
      labels: placed.metadata?.labels,
      ownerReferences: [controllerReference(rc)],
    },
    spec: placed.spec,
  };
}
