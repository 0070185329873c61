// A controller: one primary kind, the kinds it owns, extra watches, and a reconcile function
// of one key. The runtime turns events into keys, keys into reconciles on N workers, and
// reconcile outcomes into retries, timers, metrics and logs.
import { randomUUID } from "node:crypto";
import { type ApplyResult, applyObject, controllerOf, createObject } from "./apply.ts";
import type { Cache } from "./cache.ts";
import type { EventInput, EventRecorder } from "./events.ts";
import { addFinalizer, removeFinalizer } from "./finalizers.ts";
import type { Informer } from "./informer.ts";
import { isNotFound, type KubeClient } from "./kube-client.ts";
import { describeError, type Logger } from "./log.ts";
import {
  type Counter,
  type Gauge,
  type Histogram,
  type MetricsRegistry,
  reconcileTimeBuckets,
} from "./metrics.ts";
import { groupOf, type KubeObject, keyOf, objectKey, type ResourceType, splitKey } from "./resource.ts";
import { writeStatus } from "./status.ts";
import { WorkQueue } from "./work-queue.ts";

export interface ReconcileResult {
  /** Reconcile this key again after this many milliseconds (a timer, not a failure). */
  requeueAfter?: number;
  /** Reconcile again soon, with the same backoff as an error but without counting one. */
  requeue?: boolean;
}

export interface WatchSpec {
  resource: ResourceType;
  /** The keys of primary objects to reconcile when `obj` changes. */
  map(obj: KubeObject): readonly string[];
}

export interface ControllerSpec {
  /** Names the metrics series, the log field and (prefixed) the field manager. */
  name: string;
  for: ResourceType;
  /** Kinds whose objects carry a controller ownerReference to the primary. */
  owns?: readonly ResourceType[];
  watches?: readonly WatchSpec[];
  /** Concurrent reconciles; defaults to the manager's --workers. */
  workers?: number;
  /** Whether an update of the primary needs a reconcile; default: every update does. */
  shouldReconcileUpdate?(old: KubeObject, obj: KubeObject): boolean;
  // biome-ignore lint/suspicious/noConfusingVoidType: a reconcile with nothing to schedule just returns
  reconcile(key: string, ctx: ReconcileContext): Promise<ReconcileResult | undefined | void>;
}

/** What a controller factory may use while building its spec (add indexers, read config). */
export interface ControllerBuilderContext {
  client: KubeClient;
  cache: Cache;
  log: Logger;
  /** The shared informer for a kind (created on first request); see Manager.informer. */
  informer(rt: ResourceType, scope?: { allNamespaces?: boolean }): Informer;
  /**
   * Queues a key of the controller being built, for sources other than watches (a shared
   * service such as the admitter). Calls before the controller exists are dropped: its
   * first sync reconciles every object anyway.
   */
  enqueue(key: string): void;
  /** The manager's registry, for a controller's own metrics (served on /metrics). */
  metrics?: MetricsRegistry;
}

export type ControllerFactory = (ctx: ControllerBuilderContext) => ControllerSpec;

export interface ReconcileContext {
  readonly key: string;
  readonly namespace: string | undefined;
  readonly name: string;
  /** Unique per reconcile; on every log line so one reconcile's lines can be found. */
  readonly reconcileID: string;
  readonly log: Logger;
  /** Aborted when the manager shuts down past its grace period. */
  readonly signal: AbortSignal;
  readonly client: KubeClient;
  readonly cache: Cache;
  readonly fieldManager: string;
  /** The primary object from the cache, undefined when it is gone. */
  object<T extends KubeObject = KubeObject>(): T | undefined;
  /**
   * Server-side apply of a child, skipped when the cached child already matches.
   * `createWhenAbsent` is for children written once and rarely changed, such as pods: one the
   * cache does not show is created with a plain POST (with this controller's field manager),
   * which costs the API server about 30% less than the same object applied; AlreadyExists
   * then means the cache is behind a create of ours and is no error (`written` false).
   */
  apply(
    rt: ResourceType,
    desired: KubeObject,
    options?: { createWhenAbsent?: boolean },
  ): Promise<ApplyResult>;
  /**
   * Writes status on the status subresource when it differs; true when written. Once it has
   * succeeded (written, or already as wanted), the events recorded before it are sent whatever
   * the rest of the reconcile does: the status they report is stored.
   *
   * `{ report: true }` says this write ends the reconcile's work (no API call follows it) and
   * nothing waits on it: it goes in the report lane, behind every child create of the process
   * (request-limiter.ts), and the worker moves on to the next key meanwhile. The key stays in
   * progress until the write is done, so no second reconcile of it starts before. An admission
   * record, which must be stored before the pods it allows exist, is never a report.
   */
  writeStatus(
    rt: ResourceType,
    obj: KubeObject,
    status: unknown,
    options?: { report?: boolean },
  ): Promise<boolean>;
  /**
   * Queues an event. It is sent when the reconcile succeeds, or, if it fails, when a later
   * status write of the same reconcile succeeded; a Warning of a failed reconcile always is.
   */
  recordEvent(regarding: KubeObject, event: EventInput): void;
  addFinalizer(rt: ResourceType, obj: KubeObject, finalizer: string): Promise<KubeObject>;
  removeFinalizer(rt: ResourceType, obj: KubeObject, finalizer: string): Promise<KubeObject>;
}

export interface ControllerDeps {
  client: KubeClient;
  cache: Cache;
  log: Logger;
  metrics: MetricsRegistry;
  recorder: EventRecorder;
  informer(rt: ResourceType): Informer;
  /** The manager's watched namespaces (empty: all); keys outside them are dropped. */
  namespaces: readonly string[];
  defaultWorkers: number;
  /** Reconcile every primary object this often even without events; 0 disables. */
  syncPeriodMs: number;
}

interface ControllerMetrics {
  total: Counter;
  errors: Counter;
  time: Histogram;
  active: Gauge;
}

export const fieldManagerFor = (controllerName: string): string => `sovereign-stack/${controllerName}`;

export class Controller {
  readonly spec: ControllerSpec;
  readonly name: string;
  readonly queue: WorkQueue;
  readonly fieldManager: string;
  readonly workers: number;
  private readonly deps: ControllerDeps;
  private readonly log: Logger;
  private readonly m: ControllerMetrics;
  private readonly abort = new AbortController();
  private running: Promise<void>[] = [];
  private syncTimer: NodeJS.Timeout | undefined;

  constructor(spec: ControllerSpec, deps: ControllerDeps) {
    this.spec = spec;
    this.name = spec.name;
    this.deps = deps;
    this.workers = Math.max(1, spec.workers ?? deps.defaultWorkers);
    this.fieldManager = fieldManagerFor(spec.name);
    this.log = deps.log.with({ controller: spec.name });
    this.queue = new WorkQueue({ name: spec.name, metrics: deps.metrics });
    const m = deps.metrics;
    const labels = { controller: spec.name };
    this.m = {
      total: m.counter(
        "controller_runtime_reconcile_total",
        "Total number of reconciliations per controller",
        ["controller", "result"],
      ),
      errors: m.counter(
        "controller_runtime_reconcile_errors_total",
        "Total number of reconciliation errors per controller",
        ["controller"],
      ),
      time: m.histogram(
        "controller_runtime_reconcile_time_seconds",
        "Length of time per reconciliation per controller",
        ["controller"],
        reconcileTimeBuckets,
      ),
      active: m.gauge(
        "controller_runtime_active_workers",
        "Number of currently used workers per controller",
        ["controller"],
      ),
    };
    for (const result of ["success", "error", "requeue", "requeue_after"])
      this.m.total.child({ ...labels, result });
    this.m.errors.child(labels);
    this.m.active.child(labels);
    m.gauge(
      "controller_runtime_max_concurrent_reconciles",
      "Maximum number of concurrent reconciles per controller",
      ["controller"],
    ).set(labels, this.workers);
    this.registerWatches();
  }

  private registerWatches(): void {
    const { spec } = this;
    // An informer may watch more namespaces than the manager (a kind some controller needs
    // cluster-wide); a key of a namespaced primary outside the watched ones is not ours.
    const watched = new Set(this.deps.namespaces);
    const queue = {
      add: (key: string): void => {
        if (watched.size > 0 && spec.for.namespaced && !watched.has(splitKey(key).namespace ?? "")) return;
        this.queue.add(key);
      },
    };
    const primary = this.deps.informer(spec.for);
    primary.addHandler({
      onAdd: (obj) => queue.add(objectKey(obj)),
      onUpdate: (old, obj) => {
        if (!spec.shouldReconcileUpdate || spec.shouldReconcileUpdate(old, obj)) queue.add(objectKey(obj));
      },
      onDelete: (obj) => queue.add(objectKey(obj)),
    });
    const ownerGroup = groupOf(spec.for.apiVersion);
    const ownerKey = (child: KubeObject): string | undefined => {
      const ref = controllerOf(child);
      if (!ref || ref.kind !== spec.for.kind || groupOf(ref.apiVersion) !== ownerGroup) return undefined;
      return keyOf(spec.for.namespaced ? child.metadata.namespace : undefined, ref.name);
    };
    for (const owned of spec.owns ?? []) {
      const informer = this.deps.informer(owned);
      const enqueue = (obj: KubeObject): void => {
        const key = ownerKey(obj);
        if (key !== undefined) queue.add(key);
      };
      informer.addHandler({
        onAdd: enqueue,
        // The owner may have changed; both the old and the new owner must look again.
        onUpdate: (old, obj) => {
          enqueue(old);
          enqueue(obj);
        },
        onDelete: enqueue,
      });
    }
    for (const watch of spec.watches ?? []) {
      const informer = this.deps.informer(watch.resource);
      const enqueue = (obj: KubeObject): void => {
        for (const key of watch.map(obj)) queue.add(key);
      };
      informer.addHandler({
        onAdd: enqueue,
        onUpdate: (old, obj) => {
          enqueue(old);
          enqueue(obj);
        },
        onDelete: enqueue,
      });
    }
  }

  /** Starts the workers (after leader election, if any). */
  start(): void {
    if (this.running.length > 0) return;
    this.log.info("starting workers", { workers: this.workers });
    for (let i = 0; i < this.workers; i++) this.running.push(this.work());
    if (this.deps.syncPeriodMs > 0) {
      this.syncTimer = setInterval(() => {
        for (const key of this.deps.informer(this.spec.for).store.keys()) this.queue.add(key);
      }, this.deps.syncPeriodMs);
      this.syncTimer.unref();
    }
  }

  /**
   * Stops taking keys and waits for reconciles in progress, up to `graceMs`; after that their
   * signal is aborted (a reconcile killed half-way is safe: the next leader redoes it).
   */
  async stop(graceMs: number): Promise<void> {
    clearInterval(this.syncTimer);
    const drained = this.queue.shutdownWithDrain();
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<"timeout">((resolve) => {
      timer = setTimeout(() => resolve("timeout"), graceMs);
    });
    const outcome = await Promise.race([drained.then(() => "drained" as const), timedOut]);
    clearTimeout(timer);
    if (outcome === "timeout") {
      this.log.warn("reconciles still running at shutdown; aborting them", {
        inProgress: this.queue.inProgress,
      });
      this.abort.abort(new Error("controller stopped"));
    }
    await Promise.race([Promise.all(this.running), new Promise((r) => setTimeout(r, 1000).unref())]);
  }

  private async work(): Promise<void> {
    for (;;) {
      const key = await this.queue.get();
      if (key === undefined) return;
      // A reconcile that reaches a report write lets this worker go (see writeStatus).
      let letGo: () => void = () => {};
      const released = new Promise<void>((resolve) => {
        letGo = resolve;
      });
      const finished = this.reconcileKey(key, letGo)
        .catch((error: unknown) => this.log.error("reconcile crashed", { key, error: describeError(error) }))
        .finally(() => this.queue.done(key));
      await Promise.race([finished, released]);
    }
  }

  /** A 404 on a write to the reconciled object itself means it is gone: {@link ObjectGone}. */
  private async unlessGone<T>(rt: ResourceType, write: Promise<T>): Promise<T> {
    try {
      return await write;
    } catch (error) {
      const own =
        rt.plural === this.spec.for.plural && groupOf(rt.apiVersion) === groupOf(this.spec.for.apiVersion);
      if (own && isNotFound(error)) throw new ObjectGone();
      throw error;
    }
  }

  private async reconcileKey(key: string, releaseWorker: () => void): Promise<void> {
    const labels = { controller: this.name };
    const reconcileID = randomUUID();
    const log = this.log.with({ key, reconcileID });
    const { namespace, name } = splitKey(key);
    const events: Array<[KubeObject, EventInput]> = [];
    /** Events [0, committed) were recorded before a status write that succeeded. */
    let committed = 0;
    const { client, cache, recorder } = this.deps;
    const fieldManager = this.fieldManager;
    const ctx: ReconcileContext = {
      key,
      namespace,
      name,
      reconcileID,
      log,
      signal: this.abort.signal,
      client,
      cache,
      fieldManager,
      object: <T extends KubeObject>() => cache.get<T>(this.spec.for, key),
      apply: (rt, desired, options) => {
        const childKey = keyOf(desired.metadata.namespace, desired.metadata.name ?? "");
        const current = cache.has(rt) ? cache.get(rt, childKey) : undefined;
        if (!current && options?.createWhenAbsent) return createObject(client, rt, desired, fieldManager);
        return applyObject(client, rt, desired, { fieldManager, current });
      },
      writeStatus: async (rt, obj, status, options) => {
        const recorded = events.length;
        const report = options?.report === true;
        if (report) releaseWorker();
        const lane = report ? "report" : "work";
        let written: boolean;
        try {
          written = (await writeStatus(client, rt, obj, status, { fieldManager, lane })) !== undefined;
        } catch (error) {
          // The object was deleted after the cache showed it: this reconcile has nothing left
          // to do (its delete event reconciles again), and it did not fail.
          if (isNotFound(error)) throw new ObjectGone();
          throw error;
        }
        committed = recorded;
        return written;
      },
      recordEvent: (regarding, event) => {
        events.push([regarding, event]);
      },
      // A finalizer patch that finds the reconciled object deleted ends the reconcile as a
      // status write does (a delete racing the add, or a removal that let it go already).
      addFinalizer: (rt, obj, finalizer) => this.unlessGone(rt, addFinalizer(client, rt, obj, finalizer)),
      removeFinalizer: (rt, obj, finalizer) =>
        this.unlessGone(rt, removeFinalizer(client, rt, obj, finalizer)),
    };

    this.m.active.child(labels).inc();
    const started = performance.now();
    let result: ReconcileResult | undefined;
    let failure: unknown;
    try {
      result = (await this.spec.reconcile(key, ctx)) as ReconcileResult | undefined;
    } catch (error) {
      failure = error;
    }
    const seconds = (performance.now() - started) / 1000;
    this.m.active.child(labels).dec();
    this.m.time.observe(labels, seconds);

    if (failure instanceof ObjectGone) {
      this.m.total.inc({ ...labels, result: "success" });
      this.queue.forget(key);
      log.debug("the object went away during its reconcile");
      return;
    }
    if (failure !== undefined) {
      this.m.total.inc({ ...labels, result: "error" });
      this.m.errors.inc(labels);
      this.queue.addRateLimited(key);
      log.error("Reconciler error", { error: describeError(failure), retries: this.queue.numRequeues(key) });
      // Events that a stored status reports are true, and a reconcile that failed after storing
      // it will not produce them again (the status no longer changes). Of the rest, Warnings
      // explain a failure and are worth sending; "done X" events are not, since X may not have
      // happened.
      events.forEach(([obj, event], i) => {
        if (i < committed || event.type === "Warning") recorder.record(obj, event);
      });
      return;
    }
    // Success: the status write (if any) has happened, so the events may go out now.
    for (const [obj, event] of events) recorder.record(obj, event);
    if (result?.requeueAfter !== undefined && result.requeueAfter > 0) {
      this.m.total.inc({ ...labels, result: "requeue_after" });
      this.queue.forget(key);
      this.queue.addAfter(key, result.requeueAfter);
    } else if (result?.requeue) {
      this.m.total.inc({ ...labels, result: "requeue" });
      this.queue.addRateLimited(key);
    } else {
      this.m.total.inc({ ...labels, result: "success" });
      this.queue.forget(key);
    }
    log.debug("reconciled", { seconds: Number(seconds.toFixed(6)) });
  }
}

/** A status write found its object deleted: the reconcile ends, successfully. */
class ObjectGone extends Error {
  constructor() {
    super("the object was deleted during its reconcile");
  }
}
