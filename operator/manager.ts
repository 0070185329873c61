// The manager wires everything a set of controllers shares: one API client, one informer
// per kind, the metrics registry, the health and metrics listeners, leader election, and the
// order of startup and shutdown:
//   start:    listeners -> informers -> caches synced (ready) -> leadership -> workers
//   shutdown: workers drain -> lease released -> informers stop -> events flushed -> listeners
// Informers run on standby replicas too, so a new leader starts with a warm cache.
import { hostname } from "node:os";
import { Cache } from "./cache.ts";
import { Controller, type ControllerFactory, type ControllerSpec } from "./controller.ts";
import { EventRecorder } from "./events.ts";
import { type BoundServer, type Check, serveMetrics, serveProbes } from "./http-endpoints.ts";
import { Informer } from "./informer.ts";
import { KubeClient } from "./kube-client.ts";
import { type KubeConfigSource, toClusterConnection } from "./kubeconfig.ts";
import { LeaderElector } from "./leader-election.ts";
import { createLogger, describeError, type Logger } from "./log.ts";
import { MetricsRegistry, registerProcessMetrics } from "./metrics.ts";
import { indexByOwnerUid, ownerUidIndex } from "./object-store.ts";
import { type ResourceType, resourceId } from "./resource.ts";
import type { Transform } from "./transform.ts";

export interface LeaderElectionConfig {
  namespace: string;
  /** The Lease's name. */
  id: string;
  identity?: string;
  leaseDurationMs?: number;
  renewDeadlineMs?: number;
  retryPeriodMs?: number;
}

export interface ManagerOptions {
  /** A ClusterConnection (operator/kubeconfig.ts) or a @kubernetes/client-node KubeConfig. */
  kubeConfig: KubeConfigSource;
  /** Namespaces to watch; empty means all. */
  namespaces?: readonly string[];
  /** Default concurrent reconciles per controller. */
  workers?: number;
  qps?: number;
  burst?: number;
  /** "0" disables; ":8080" listens on all interfaces. */
  metricsBindAddress?: string;
  healthProbeBindAddress?: string;
  leaderElection?: LeaderElectionConfig;
  /** Called when the lease is lost; the default exits the process with status 1. */
  onLeadershipLost?: () => void;
  log?: Logger;
  /** /healthz fails when any watch has been down (closed, or open past its idle timeout with nothing read) this long. */
  watchLivenessDeadlineMs?: number;
  relistPeriodMs?: number;
  /** Objects per list page; smaller pages mean less short-lived garbage while syncing. */
  listPageSize?: number;
  watchTimeoutSeconds?: { min: number; max: number };
  watchIdleTimeoutMs?: number;
  /** Every primary object is reconciled this often even without events (0 disables). */
  syncPeriodMs?: number;
  /** How long shutdown waits for reconciles in progress. */
  gracefulShutdownTimeoutMs?: number;
  /** reportingInstance of events; defaults to the host name (the pod name in a cluster). */
  instanceName?: string;
  metrics?: MetricsRegistry;
}

export class Manager {
  readonly client: KubeClient;
  readonly metrics: MetricsRegistry;
  readonly log: Logger;
  readonly cache: Cache;
  readonly controllers: Controller[] = [];
  readonly leaderElector: LeaderElector | undefined;
  private readonly options: ManagerOptions;
  private readonly informers = new Map<string, Informer>();
  private readonly transforms = new Map<string, Transform>();
  private readonly recorders: EventRecorder[] = [];
  private readonly lifetime = new AbortController();
  private servers: BoundServer[] = [];
  private metricsServer: BoundServer | undefined;
  private probeServer: BoundServer | undefined;
  private started = false;
  private stopping: Promise<void> | undefined;
  private controllersStarted = false;
  private leaderClient: KubeClient | undefined;
  private running: Promise<void> | undefined;
  /** Settles when the manager has stopped: "stopped" after stop(), "lost" after losing the lease. */
  readonly done: Promise<"stopped" | "lost">;
  private resolveDone!: (why: "stopped" | "lost") => void;

  constructor(options: ManagerOptions) {
    this.options = options;
    this.log = options.log ?? createLogger();
    this.metrics = options.metrics ?? new MetricsRegistry();
    registerProcessMetrics(this.metrics);
    // One connection for both clients, so an exec plugin runs once rather than twice.
    const connection = toClusterConnection(options.kubeConfig);
    this.client = new KubeClient({
      kubeConfig: connection,
      qps: options.qps,
      burst: options.burst,
      metrics: this.metrics,
    });
    this.cache = new Cache((rt) => this.informers.get(resourceId(rt)));
    this.done = new Promise((resolve) => {
      this.resolveDone = resolve;
    });
    const le = options.leaderElection;
    if (le) {
      // Its own client and rate limiter: a renewal must never wait behind reconcile writes.
      this.leaderClient = new KubeClient({ kubeConfig: connection, qps: 5, burst: 10 });
      this.leaderElector = new LeaderElector({
        client: this.leaderClient,
        namespace: le.namespace,
        name: le.id,
        identity: le.identity,
        leaseDurationMs: le.leaseDurationMs,
        renewDeadlineMs: le.renewDeadlineMs,
        retryPeriodMs: le.retryPeriodMs,
        log: this.log,
        metrics: this.metrics,
      });
    }
  }

  /** Chooses what the cache keeps of `rt`; call before any controller asks for its informer. */
  setTransform(rt: ResourceType, transform: Transform): void {
    const id = resourceId(rt);
    if (this.informers.has(id))
      throw new Error(`the informer for ${id} exists already; set its transform earlier`);
    this.transforms.set(id, transform);
  }

  /**
   * The shared informer for a kind, created on first use. `allNamespaces` lifts the manager's
   * namespace restriction for this kind: capacity accounting must see every pod on a node,
   * not only those of the watched namespaces. There is still one informer (and one copy of
   * each object) per kind; controllers drop keys outside the watched namespaces themselves.
   */
  informer(rt: ResourceType, scope: { allNamespaces?: boolean } = {}): Informer {
    const id = resourceId(rt);
    let informer = this.informers.get(id);
    if (!informer) {
      const o = this.options;
      informer = new Informer({
        client: this.client,
        resource: rt,
        namespaces: scope.allNamespaces ? undefined : o.namespaces,
        transform: this.transforms.get(id),
        // "Children of X" is the commonest cache query of a controller; index it for every kind.
        indexers: { [ownerUidIndex]: indexByOwnerUid },
        relistPeriodMs: o.relistPeriodMs,
        pageSize: o.listPageSize,
        watchTimeoutSeconds: o.watchTimeoutSeconds,
        watchIdleTimeoutMs: o.watchIdleTimeoutMs,
        log: this.log,
        metrics: this.metrics,
      });
      this.informers.set(id, informer);
      if (this.started) informer.start();
    } else if (scope.allNamespaces && !informer.watchesAllNamespaces) {
      informer.widen();
    }
    return informer;
  }

  /** Adds a controller, from its spec or from a factory that builds one. */
  add(controller: ControllerSpec | ControllerFactory): Controller {
    let built: Controller | undefined;
    const spec =
      typeof controller === "function"
        ? controller({
            client: this.client,
            cache: this.cache,
            log: this.log,
            informer: (rt, scope) => this.informer(rt, scope),
            enqueue: (key) => built?.queue.add(key),
            metrics: this.metrics,
          })
        : controller;
    if (this.controllers.some((c) => c.name === spec.name))
      throw new Error(`two controllers named ${spec.name}`);
    const recorder = new EventRecorder({
      client: this.client,
      reportingController: `sovereign.dev/${spec.name}`,
      reportingInstance: this.options.instanceName ?? hostname(),
      log: this.log.with({ controller: spec.name }),
    });
    this.recorders.push(recorder);
    const c = new Controller(spec, {
      client: this.client,
      cache: this.cache,
      log: this.log,
      metrics: this.metrics,
      recorder,
      informer: (rt) => this.informer(rt),
      namespaces: this.options.namespaces ?? [],
      defaultWorkers: this.options.workers ?? 4,
      syncPeriodMs: this.options.syncPeriodMs ?? 10 * 60 * 60_000,
    });
    built = c;
    this.controllers.push(c);
    if (this.controllersStarted) c.start();
    return c;
  }

  get metricsAddress(): string | undefined {
    return this.metricsServer?.address;
  }

  get probeAddress(): string | undefined {
    return this.probeServer?.address;
  }

  get isLeader(): boolean {
    return this.leaderElector ? this.leaderElector.isLeader : this.controllersStarted;
  }

  /** Every informer has listed once. */
  get cachesSynced(): boolean {
    return [...this.informers.values()].every((i) => i.hasSynced);
  }

  healthChecks(): Check[] {
    const deadline = this.options.watchLivenessDeadlineMs ?? 180_000;
    return [
      { name: "ping", check: () => undefined },
      {
        name: "watches",
        check: () => {
          const down = [...this.informers.values()]
            .map((i) => [i.id, i.watchDownForMs()] as const)
            .filter(([, ms]) => ms > deadline);
          if (down.length === 0) return undefined;
          return down.map(([id, ms]) => `${id} watch down for ${Math.round(ms / 1000)}s`).join(", ");
        },
      },
    ];
  }

  readyChecks(): Check[] {
    return [
      {
        name: "informers",
        check: () => {
          const pending = [...this.informers.values()].filter((i) => !i.hasSynced).map((i) => i.id);
          return pending.length === 0 ? undefined : `not synced: ${pending.join(", ")}`;
        },
      },
    ];
  }

  /**
   * Starts listeners and informers and returns; caches sync, leadership is sought and
   * workers start in the background. Await `waitForCacheSync()` or `done` as needed.
   */
  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    const o = this.options;
    this.metricsServer = await serveMetrics(o.metricsBindAddress ?? "0", this.metrics);
    this.probeServer = await serveProbes(o.healthProbeBindAddress ?? "0", {
      healthz: this.healthChecks(),
      readyz: this.readyChecks(),
    });
    this.servers = [this.metricsServer, this.probeServer].filter((s): s is BoundServer => s !== undefined);
    this.log.info("manager starting", {
      metrics: this.metricsAddress ?? "disabled",
      probes: this.probeAddress ?? "disabled",
      namespaces: o.namespaces?.length ? o.namespaces : "all",
      controllers: this.controllers.map((c) => c.name),
    });
    for (const informer of this.informers.values()) informer.start();
    this.running = this.run().catch((error) => {
      if (this.lifetime.signal.aborted) return;
      this.log.error("manager failed", { error: describeError(error) });
    });
  }

  async waitForCacheSync(signal?: AbortSignal): Promise<void> {
    await Promise.all([...this.informers.values()].map((i) => i.waitForSync(signal)));
  }

  private async run(): Promise<void> {
    const signal = this.lifetime.signal;
    await this.waitForCacheSync(signal);
    this.log.info("caches synced", {
      informers: Object.fromEntries([...this.informers.values()].map((i) => [i.id, i.store.size])),
    });
    const elector = this.leaderElector;
    if (elector) await elector.acquire(signal);
    if (signal.aborted) return;
    this.controllersStarted = true;
    for (const c of this.controllers) c.start();
    if (!elector) return;
    // Anything unexpected while holding the lease counts as losing it: a leader that stopped
    // renewing must not keep reconciling.
    const outcome = await elector.holdUntilLost(signal).catch((error) => {
      this.log.error("leader election failed", { error: describeError(error) });
      return "lost" as const;
    });
    if (outcome === "lost") {
      // Another replica may lead within (lease duration - renew deadline) seconds. Reconciles
      // still running here could then race it, so the default is to exit on the spot, as
      // controller-runtime does; an embedder's handler runs after workers are cut off.
      const onLost = this.options.onLeadershipLost;
      if (!onLost) process.exit(1);
      void this.shutdown("lost").then(onLost);
    }
  }

  /** Graceful stop: drain workers, release the lease, stop watches, flush events. */
  stop(): Promise<void> {
    return this.shutdown("stopped");
  }

  private shutdown(why: "stopped" | "lost"): Promise<void> {
    this.stopping ??= (async () => {
      const grace = why === "lost" ? 0 : (this.options.gracefulShutdownTimeoutMs ?? 30_000);
      this.log.info("manager stopping", { reason: why });
      // Workers first: no reconcile may run once the lease is released or lost.
      await Promise.all(this.controllers.map((c) => c.stop(grace)));
      this.lifetime.abort(new Error("manager stopped"));
      // run() ends by releasing the lease (holdUntilLost sees the abort); when the lease was
      // lost, run() is what called us, so it must not be awaited.
      if (why === "stopped") await this.running;
      await Promise.all([...this.informers.values()].map((i) => i.stop()));
      await Promise.all(this.recorders.map((r) => r.stop()));
      await Promise.all(this.servers.map((s) => s.close()));
      await this.client.close();
      await this.leaderClient?.close();
      this.log.info("manager stopped", { reason: why });
      this.resolveDone(why);
    })();
    return this.stopping;
  }
}
