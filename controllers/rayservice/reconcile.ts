// One reconcile of a RayService. The service owns at most two RayClusters, named by a hash of
// the rayClusterConfig they were made from: the active one, which the serve Service
// (<name>-serve, port 8000) selects, and, during an upgrade, a pending one. The Serve config is
// put to each cluster's dashboard (at its head pod's address) whenever it differs from what
// that cluster last got. Once every application of the pending cluster is RUNNING, the Service
// switches to it and the old cluster is deleted: traffic never meets a cluster that is not
// serving.
import { createHash } from "node:crypto";
import type { RayCluster, RayService, RayServiceStatusFields } from "../../crds/runtime/index.ts";
import { labels, parseServeConfig } from "../../crds/runtime/index.ts";
import {
  controllerReference,
  isNotFound,
  type KubeObject,
  type ReconcileContext,
  type ReconcileResult,
  setCondition,
} from "../../operator/index.ts";
import { type ApplicationStatus, ServeClient } from "../ray-api/index.ts";
import { dashboardUrl, headPodIp } from "../raycluster/dashboard.ts";
import { headLabels } from "../raycluster/pods.ts";
import { resourceTypes } from "../resources.ts";

export type RayServiceObject = RayService & KubeObject;
type RayClusterObject = RayCluster & KubeObject;
type ClusterStatus = NonNullable<RayServiceStatusFields["activeServiceStatus"]>;

export const servePort = 8000;
const pollMs = 2_000;
const steadyPollMs = 10_000;
const rt = resourceTypes.rayService;

export const shortHash = (value: unknown): string =>
  createHash("sha256").update(JSON.stringify(value)).digest("hex").slice(0, 8);

export const serveServiceName = (svc: KubeObject): string => `${svc.metadata.name}-serve`;

export function serveService(svc: RayServiceObject, cluster: RayClusterObject): KubeObject {
  return {
    apiVersion: "v1",
    kind: "Service",
    metadata: {
      name: serveServiceName(svc),
      namespace: svc.metadata.namespace,
      labels: { [labels.kind]: "rayservice", [labels.name]: svc.metadata.name as string },
      ownerReferences: [controllerReference(svc)],
    },
    spec: {
      selector: headLabels(cluster),
      ports: [{ name: "serve", port: servePort, targetPort: servePort, protocol: "TCP" }],
    },
  };
}

function ownedCluster(svc: RayServiceObject, name: string): KubeObject {
  return {
    apiVersion: resourceTypes.rayCluster.apiVersion,
    kind: resourceTypes.rayCluster.kind,
    metadata: {
      name,
      namespace: svc.metadata.namespace,
      labels: { [labels.kind]: "rayservice", [labels.name]: svc.metadata.name as string },
      ownerReferences: [controllerReference(svc)],
    },
    spec: svc.spec.rayClusterConfig as unknown as Record<string, unknown>,
  };
}

/** Serve listens on the head pod's address, port 8000, unless the config says otherwise. */
export function withHttpOptions(config: Record<string, unknown>, headIp: string): Record<string, unknown> {
  const given = (config.http_options ?? {}) as Record<string, unknown>;
  return { ...config, http_options: { host: headIp, port: servePort, ...given } };
}

const allRunning = (apps: readonly ApplicationStatus[] | ClusterStatus["applications"]): boolean =>
  (apps?.length ?? 0) > 0 && (apps ?? []).every((a) => a.status === "RUNNING");

const toStatus = (apps: readonly ApplicationStatus[]): ClusterStatus["applications"] =>
  apps.map((a) => ({
    name: a.name,
    status: a.status,
    ...(a.message ? { message: a.message.slice(0, 4096) } : {}),
    deployments: a.deployments.map((d) => ({
      name: d.name,
      status: d.status,
      replicas: d.replicas,
      ...(d.message ? { message: d.message.slice(0, 4096) } : {}),
    })),
  }));

export interface RayServiceDeps {
  serveClient?: (dashboardUrl: string) => ServeClient;
  now?: () => Date;
}

export function rayServiceReconciler(deps: RayServiceDeps = {}) {
  const clock = deps.now ?? (() => new Date());
  const clientFor = deps.serveClient ?? ((url: string) => new ServeClient(url, { timeoutMs: 5_000 }));

  return async function reconcile(_key: string, ctx: ReconcileContext): Promise<ReconcileResult | undefined> {
    const svc = ctx.object<RayServiceObject>();
    if (!svc || svc.metadata.deletionTimestamp) return undefined;
    const now = clock();
    const ns = svc.metadata.namespace as string;
    const gen = svc.metadata.generation;
    const status: RayServiceStatusFields = { ...svc.status };
    const condition = (type: string, s: "True" | "False", reason: string, message: string) => {
      status.conditions = setCondition(
        status.conditions,
        { type, status: s, reason, message, observedGeneration: gen },
        now,
      );
    };
    const write = async () => {
      if (gen !== undefined) status.observedGeneration = gen;
      await ctx.writeStatus(rt, svc, status);
    };

    const parsed = parseServeConfig(svc.spec.serveConfigV2);
    if ("error" in parsed) {
      condition("ServeConfigValid", "False", "InvalidServeConfig", `spec.serveConfigV2: ${parsed.error}`);
      await write();
      return undefined;
    }
    condition(
      "ServeConfigValid",
      "True",
      "Parsed",
      `${(parsed.config.applications as unknown[]).length} application(s)`,
    );
    const clusterHash = shortHash(svc.spec.rayClusterConfig);
    const serveHash = shortHash(svc.spec.serveConfigV2);
    const wanted = `${svc.metadata.name}-${clusterHash}`;
    const clusterNamed = (n: string) => ctx.cache.get<RayClusterObject>(resourceTypes.rayCluster, ns, n);

    let active = status.activeServiceStatus;
    if (active && !clusterNamed(active.clusterName)) {
      // The active cluster is gone (deleted by hand): start over from the spec.
      active = undefined;
    }
    let pending: ClusterStatus | undefined = status.pendingServiceStatus;
    const upgrade = svc.spec.upgradeStrategy === "NewCluster";
    if (!active || (upgrade && active.clusterHash !== clusterHash)) {
      if (pending?.clusterName !== wanted) pending = { clusterName: wanted, clusterHash };
    } else pending = undefined;

    // Make and feed each cluster in play.
    const inPlay = [active, pending].filter((c): c is ClusterStatus => c !== undefined);
    let unreachable: string | undefined;
    for (const c of inPlay) {
      const cluster = clusterNamed(c.clusterName);
      if (!cluster) {
        await ctx.apply(resourceTypes.rayCluster, ownedCluster(svc, c.clusterName));
        ctx.recordEvent(svc, {
          type: "Normal",
          reason: "ClusterCreated",
          action: "Create",
          note: `created RayCluster ${c.clusterName}`,
        });
        continue;
      }
      const url = dashboardUrl(ctx.cache, cluster);
      const ip = headPodIp(ctx.cache, cluster);
      if (cluster.status?.phase !== "Ready" || !url || !ip) continue;
      const serve = clientFor(url);
      try {
        if (c.serveConfigHash !== serveHash) {
          await serve.deploy(withHttpOptions(parsed.config, ip));
          c.serveConfigHash = serveHash;
          ctx.recordEvent(svc, {
            type: "Normal",
            reason: "ServeDeployed",
            action: "Deploy",
            note: `deployed the Serve config to ${c.clusterName}`,
          });
        }
        c.applications = toStatus(await serve.applications());
      } catch (error) {
        unreachable = `${url}: ${error instanceof Error ? error.message : String(error)}`;
      }
    }

    // Switch once the pending cluster serves everything.
    if (pending && allRunning(pending.applications)) {
      const pendingCluster = clusterNamed(pending.clusterName) as RayClusterObject;
      await ctx.apply(resourceTypes.service, serveService(svc, pendingCluster));
      ctx.recordEvent(svc, {
        type: "Normal",
        reason: "Switched",
        action: "Switch",
        note: active
          ? `traffic moved from ${active.clusterName} to ${pending.clusterName}`
          : `serving from ${pending.clusterName}`,
      });
      active = pending;
      pending = undefined;
      status.lastSwitchTime = now.toISOString();
    } else if (active) {
      const activeCluster = clusterNamed(active.clusterName);
      if (activeCluster) await ctx.apply(resourceTypes.service, serveService(svc, activeCluster));
    }

    // Clusters of this service that are neither active nor pending go.
    const keep = new Set([active?.clusterName, pending?.clusterName]);
    for (const c of ctx.cache.childrenOf<RayClusterObject>(resourceTypes.rayCluster, svc)) {
      if (keep.has(c.metadata.name) || c.metadata.deletionTimestamp) continue;
      try {
        await ctx.client.delete(resourceTypes.rayCluster, c.metadata.name as string, ns, {
          uid: c.metadata.uid,
        });
        ctx.recordEvent(svc, {
          type: "Normal",
          reason: "ClusterDeleted",
          action: "Delete",
          note: `deleted RayCluster ${c.metadata.name}`,
        });
      } catch (error) {
        if (!isNotFound(error)) throw error;
      }
    }

    if (active) status.activeServiceStatus = active;
    else delete status.activeServiceStatus;
    if (pending) status.pendingServiceStatus = pending;
    else delete status.pendingServiceStatus;
    if (active) status.serviceName = serveServiceName(svc);
    const ready = active !== undefined && allRunning(active.applications);
    const notRunning = (active?.applications ?? [])
      .filter((a) => a.status !== "RUNNING")
      .map((a) => `${a.name} ${a.status}`);
    if (ready) condition("Ready", "True", "Serving", `every application RUNNING on ${active?.clusterName}`);
    else if (unreachable) condition("Ready", "False", "DashboardUnreachable", unreachable);
    else
      condition(
        "Ready",
        "False",
        active ? "ApplicationsNotRunning" : "ClusterStarting",
        active
          ? notRunning.join(", ") || "no applications reported yet"
          : `waiting for ${pending?.clusterName} to serve`,
      );
    if (pending)
      condition(
        "UpgradeInProgress",
        "True",
        "NewCluster",
        `bringing up ${pending.clusterName}; traffic stays on ${active?.clusterName ?? "nothing yet"}`,
      );
    else condition("UpgradeInProgress", "False", "NoUpgrade", "no cluster being brought up");
    await write();
    if (unreachable) return { requeue: true };
    return { requeueAfter: ready && !pending ? steadyPollMs : pollMs };
  };
}
