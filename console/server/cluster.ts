// Watches what the console shows (pools, nodes, pods, the three workload kinds, the project's
// events) through the operator's own informers, and keeps ConsoleState's rows current: each
// watch event recomputes only the rows it touches (a pod: its node and its workload).
// Health: the API server is asked for /version every couple of seconds, and every watch must
// be open; otherwise the state says why, and the browser shows it as a banner.
import { resources } from "../../crds/index.ts";
import { Informer } from "../../operator/informer.ts";
import type { KubeClient } from "../../operator/kube-client.ts";
import { describeError } from "../../operator/log.ts";
import { indexByNodeName, nodeNameIndex } from "../../operator/object-store.ts";
import { builtin, type KubeObject, type ResourceType } from "../../operator/resource.ts";
import type { PhaseMark } from "./protocol.ts";
import type { ConsoleState } from "./state.ts";
import {
  childRow,
  eventRow,
  nodeRow,
  type PoolMatch,
  podOwner,
  poolMatch,
  poolRow,
  serviceRow,
  type WorkloadKind,
  workloadId,
  workloadKinds,
  workloadRow,
} from "./views.ts";

const ownerIndex = "console-owner";
const coreEvents: ResourceType = { apiVersion: "v1", kind: "Event", plural: "events", namespaced: true };
const kindResource = (kind: string): ResourceType => {
  const def = resources.find((r) => r.kind === kind);
  if (!def) throw new Error(`unknown kind ${kind}`);
  return {
    apiVersion: def.apiVersion,
    kind: def.kind,
    plural: def.plural,
    namespaced: def.scope === "Namespaced",
  };
};
/** Phases remembered per workload for its timeline; older ones are in its status dates anyway. */
const maxPhaseMarks = 20;

export interface ClusterWatchOptions {
  client: KubeClient;
  state: ConsoleState;
  /** How often the API server is asked whether it is there. */
  probeIntervalMs?: number;
  /** A watch closed this long counts as down (it reconnects by itself in the meantime). */
  watchGraceMs?: number;
}

export class ClusterWatch {
  private readonly client: KubeClient;
  private readonly state: ConsoleState;
  private readonly pools: Informer;
  private readonly nodes: Informer;
  private readonly pods: Informer;
  private readonly events: Informer;
  private readonly workloads = new Map<WorkloadKind, Informer>();
  private poolMatches: PoolMatch[] = [];
  private readonly phases = new Map<string, PhaseMark[]>();
  private readonly lastPhase = new Map<string, string>();
  private probeTimer: NodeJS.Timeout | undefined;
  private readonly probeIntervalMs: number;
  private readonly watchGraceMs: number;
  private lastProbeError: string | undefined;
  private stopped = false;

  constructor(options: ClusterWatchOptions) {
    this.client = options.client;
    this.state = options.state;
    this.probeIntervalMs = options.probeIntervalMs ?? 2000;
    this.watchGraceMs = options.watchGraceMs ?? 1500;
    const make = (resource: ResourceType, extra: Partial<ConstructorParameters<typeof Informer>[0]> = {}) =>
      // Pages of 500: the console lists many kinds at once and a user waits for it; the
      // operator's smaller pages are about its steady memory, which a console has less of.
      new Informer({ client: this.client, resource, pageSize: 500, ...extra });
    this.pools = make(kindResource("AcceleratorPool"));
    this.nodes = make(builtin.nodes);
    this.pods = make(builtin.pods, {
      indexers: {
        [nodeNameIndex]: indexByNodeName,
        [ownerIndex]: (p) => [podOwner(p) ?? ""].filter(Boolean),
      },
    });
    this.events = make(coreEvents, {
      fieldSelector: `involvedObject.apiVersion=${kindResource("TrainingJob").apiVersion}`,
    });
    for (const kind of workloadKinds) this.workloads.set(kind, make(kindResource(kind)));
    this.wire();
  }

  private get informers(): Informer[] {
    return [this.pools, this.nodes, this.pods, this.events, ...this.workloads.values()];
  }

  private wire(): void {
    const each = (inf: Informer, onChange: (obj: KubeObject) => void, onDelete: (obj: KubeObject) => void) =>
      inf.addHandler({ onAdd: onChange, onUpdate: (_old, obj) => onChange(obj), onDelete });

    each(
      this.pools,
      (pool) => {
        this.state.put("pools", poolRow(pool));
        this.poolsChanged();
      },
      (pool) => {
        this.state.remove("pools", pool.metadata.name ?? "");
        this.poolsChanged();
      },
    );
    each(
      this.nodes,
      (node) => this.refreshNode(node.metadata.name ?? ""),
      (node) => this.state.remove("nodes", node.metadata.name ?? ""),
    );
    this.pods.addHandler({
      onAdd: (pod) => this.podChanged(pod),
      onUpdate: (old, pod) => {
        this.podChanged(pod);
        const oldNode = nodeOf(old);
        if (oldNode && oldNode !== nodeOf(pod)) this.refreshNode(oldNode);
      },
      onDelete: (pod) => this.podChanged(pod),
    });
    each(
      this.events,
      (event) => {
        const row = eventRow(event);
        if (row) this.state.put("events", row);
      },
      (event) =>
        this.state.remove("events", `${event.metadata.namespace ?? ""}/${event.metadata.name ?? ""}`),
    );
    for (const [kind, inf] of this.workloads) {
      each(
        inf,
        (obj) => this.refreshWorkload(kind, obj),
        (obj) => {
          const id = workloadId(kind, obj.metadata.namespace, obj.metadata.name ?? "");
          this.phases.delete(id);
          this.lastPhase.delete(id);
          this.state.remove("workloads", id);
          if (kind === "InferenceService") {
            this.state.remove("services", id);
            this.state.remove("routers", id);
          }
        },
      );
    }
  }

  private poolsChanged(): void {
    this.poolMatches = [...this.pools.store.values()].map(poolMatch);
    for (const node of this.nodes.store.values()) this.refreshNode(node.metadata.name ?? "");
    for (const isvc of this.workloads.get("InferenceService")?.store.values() ?? [])
      this.refreshWorkload("InferenceService", isvc);
  }

  private refreshNode(name: string): void {
    const node = this.nodes.store.get(name);
    if (!node) return;
    this.state.put("nodes", nodeRow(node, this.poolMatches, this.pods.store.byIndex(nodeNameIndex, name)));
  }

  private podChanged(pod: KubeObject): void {
    const node = nodeOf(pod);
    if (node) this.refreshNode(node);
    const owner = podOwner(pod);
    if (!owner) return;
    const [kind, namespace, ...rest] = owner.split("/");
    const obj = this.workloads.get(kind as WorkloadKind)?.store.get(`${namespace}/${rest.join("/")}`);
    if (obj) this.refreshWorkload(kind as WorkloadKind, obj);
  }

  private refreshWorkload(kind: WorkloadKind, obj: KubeObject): void {
    const id = workloadId(kind, obj.metadata.namespace, obj.metadata.name ?? "");
    const phase = (obj as { status?: { phase?: string } }).status?.phase;
    // A change of phase seen here is dated now; the phase found at the first sight of an object
    // is not (it may be hours old: its status dates say when it began).
    const seen = this.phases.get(id) ?? [];
    const previous = this.lastPhase.get(id);
    if (phase && previous !== undefined && previous !== phase) {
      seen.push({ phase, time: new Date().toISOString() });
      if (seen.length > maxPhaseMarks) seen.shift();
      this.phases.set(id, seen);
    }
    if (phase) this.lastPhase.set(id, phase);
    const children = this.pods.store.byIndex(ownerIndex, id).map(childRow);
    this.state.put("workloads", workloadRow(kind, obj, children, seen));
    if (kind === "InferenceService") {
      const vendors = new Map(this.poolMatches.map((p) => [p.name, p.vendor]));
      this.state.put("services", serviceRow(obj, vendors));
    }
  }

  /** Router pods of a routed InferenceService that have an address, for the stats poller. */
  routerPods(serviceId: string): KubeObject[] {
    return this.pods.store
      .byIndex(ownerIndex, serviceId)
      .filter((p) => p.metadata.labels?.["stack.sovereign.dev/group"] === "router");
  }

  start(): void {
    for (const inf of this.informers) inf.start();
    const tick = async (): Promise<void> => {
      await this.probe();
      if (!this.stopped) this.probeTimer = setTimeout(tick, this.probeIntervalMs);
    };
    void tick();
  }

  private async probe(): Promise<void> {
    try {
      await this.client.request("GET", "/version", { timeoutMs: Math.max(1000, this.probeIntervalMs) });
      this.lastProbeError = undefined;
    } catch (error) {
      this.lastProbeError = describeError(error);
    }
    this.updateHealth();
  }

  private updateHealth(): void {
    const down = this.informers.filter((i) => i.watchDownForMs() > this.watchGraceMs);
    const synced = this.informers.every((i) => i.hasSynced);
    const server = this.client.server;
    if (this.lastProbeError) {
      this.state.cluster = {
        connected: false,
        server,
        synced,
        message: `cannot reach the API server at ${server}: ${this.lastProbeError}; retrying`,
      };
    } else if (down.length > 0) {
      this.state.cluster = {
        connected: false,
        server,
        synced,
        message: `the API server answers; reopening the watches of ${down.map((i) => i.resource.plural).join(", ")}`,
      };
    } else {
      this.state.cluster = { connected: true, server, synced };
    }
  }

  waitForSync(signal?: AbortSignal): Promise<void> {
    return Promise.all(this.informers.map((i) => i.waitForSync(signal))).then(() => this.updateHealth());
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.probeTimer);
    await Promise.all(this.informers.map((i) => i.stop()));
  }
}

const nodeOf = (pod: KubeObject): string | undefined =>
  (pod.spec as { nodeName?: string } | undefined)?.nodeName;
