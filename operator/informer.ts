// A shared informer: keeps an in-memory copy of one kind (in all namespaces or a chosen
// set), fed by list-then-watch, and tells handlers what changed.
//
// The rules it follows, and why:
// - List in pages, then watch from the list's resourceVersion: nothing between the two is
//   missed, and a 40,000-object list never sits in memory as one response.
// - Ask for bookmarks: the server then advances our resourceVersion even when nothing
//   changes, so a reconnect resumes where it left off instead of relisting, and the
//   bookmarks double as a heartbeat for /healthz.
// - 410 Gone means our resourceVersion was compacted away: relist (and emit the difference
//   as events, so nothing that changed during the gap is lost).
// - Any other failure: reconnect from the last resourceVersion after a jittered backoff.
// - Relist periodically anyway, as a safety net against a missed event.
// - Every object passes a transform before it is stored (managedFields dropped, Pods and
//   Nodes trimmed) and handlers see only transformed objects.
import { JitteredBackoff } from "./backoff.ts";
import { ApiError, isGone, type KubeClient, type WatchEvent } from "./kube-client.ts";
import { describeError, type Logger, silentLogger } from "./log.ts";
import type { Counter, Gauge, MetricsRegistry } from "./metrics.ts";
import { type IndexFunc, ObjectStore } from "./object-store.ts";
import { type KubeObject, objectKey, type ResourceType, resourceId, resourcePath } from "./resource.ts";
import { sleep } from "./token-bucket.ts";
import { defaultTransformFor, type Transform } from "./transform.ts";

export interface InformerHandler<T extends KubeObject = KubeObject> {
  onAdd?(obj: T): void;
  onUpdate?(old: T, obj: T): void;
  onDelete?(obj: T): void;
}

export interface InformerOptions {
  client: KubeClient;
  resource: ResourceType;
  /** Namespaces to watch; empty or undefined means all. Ignored for cluster-scoped kinds. */
  namespaces?: readonly string[];
  labelSelector?: string;
  fieldSelector?: string;
  transform?: Transform;
  indexers?: Record<string, IndexFunc>;
  /** Objects per list page. */
  pageSize?: number;
  /** A full relist this often (jittered by up to +10%); 0 disables it. */
  relistPeriodMs?: number;
  /** Bounds of the random server-side watch timeout, so watches do not all end together. */
  watchTimeoutSeconds?: { min: number; max: number };
  /** A watch is torn down when the server sends nothing (not even a bookmark) this long. */
  watchIdleTimeoutMs?: number;
  log?: Logger;
  metrics?: MetricsRegistry;
}

interface InformerMetrics {
  objects: Gauge;
  relists: Counter;
  restarts: Counter;
  events: Counter;
}

/** One list+watch loop for one namespace (or all): the informer runs one per namespace. */
class Reflector {
  lastSignOfLife = performance.now();
  /** Whether a watch stream is open right now (the idle timeout closes one that went quiet). */
  watching = false;
  /** When this reflector last had an open watch or a list in progress. */
  lastConnected = performance.now();
  synced = false;
  resourceVersion = "";
  private needsList = true;
  private lastListAt = 0;
  private readonly backoff = new JitteredBackoff();
  private readonly informer: Informer;
  readonly namespace: string | undefined;
  private watchAbort: AbortController | undefined;

  constructor(informer: Informer, namespace: string | undefined) {
    this.informer = informer;
    this.namespace = namespace;
  }

  get scope(): string {
    return this.namespace ?? "*";
  }

  /** Forces the next iteration to relist (used by the periodic relist timer). */
  requestRelist(): void {
    this.needsList = true;
    this.watchAbort?.abort(new RelistRequested());
  }

  async run(signal: AbortSignal): Promise<void> {
    const inf = this.informer;
    while (!signal.aborted) {
      try {
        if (this.needsList) {
          // Cleared before listing, so a relist requested during this list is not lost.
          this.needsList = false;
          try {
            await this.list(signal);
          } catch (error) {
            this.needsList = true;
            throw error;
          }
        }
        await this.watch(signal);
      } catch (error) {
        if (signal.aborted) return;
        if (error instanceof RelistRequested) continue;
        if (isGone(error)) {
          // Our resourceVersion is older than etcd's compaction window: only a relist helps.
          inf.log.info("watch expired, relisting", {
            scope: this.scope,
            resourceVersion: this.resourceVersion,
          });
          inf.countRelist("expired");
          this.needsList = true;
          continue;
        }
        const delay = this.backoff.next();
        inf.metrics?.restarts.inc({ resource: inf.id });
        inf.log.warn("watch failed, retrying", {
          scope: this.scope,
          error: describeError(error),
          retryInMs: Math.round(delay),
          relist: this.needsList,
        });
        await sleep(delay, signal).catch(() => {});
      }
    }
  }

  private async list(signal: AbortSignal): Promise<void> {
    const inf = this.informer;
    const items: KubeObject[] = [];
    let continueToken: string | undefined;
    let resourceVersion = "";
    do {
      const page = await inf.client.list(inf.resource, {
        namespace: this.namespace,
        signal,
        query: {
          limit: inf.pageSize,
          continue: continueToken,
          labelSelector: inf.labelSelector,
          fieldSelector: inf.fieldSelector,
        },
      });
      // Transform page by page so only the lean copies outlive the page's JSON.
      for (const raw of page.items) items.push(inf.prepare(raw));
      continueToken = page.metadata.continue || undefined;
      resourceVersion = page.metadata.resourceVersion ?? "";
      this.lastSignOfLife = performance.now();
      this.lastConnected = this.lastSignOfLife;
    } while (continueToken);
    this.resourceVersion = resourceVersion;
    this.lastListAt = performance.now();
    inf.applyList(items, this.namespace);
    this.synced = true;
    inf.notifyIfSynced();
    inf.log.debug("listed", { scope: this.scope, count: items.length, resourceVersion });
  }

  private async watch(signal: AbortSignal): Promise<void> {
    const inf = this.informer;
    const { min, max } = inf.watchTimeoutSeconds;
    const timeoutSeconds = Math.round(min + Math.random() * (max - min));
    const abort = new AbortController();
    this.watchAbort = abort;
    const onStop = (): void => abort.abort(signal.reason);
    signal.addEventListener("abort", onStop, { once: true });
    // The periodic relist: end this watch when the period is over, then list again.
    const untilRelist = inf.relistPeriodMs > 0 ? inf.relistPeriodMs * (1 + Math.random() * 0.1) : 0;
    const relistTimer =
      untilRelist > 0
        ? setTimeout(
            () => {
              inf.countRelist("periodic");
              this.requestRelist();
            },
            Math.max(0, untilRelist - (performance.now() - this.lastListAt)),
          )
        : undefined;
    relistTimer?.unref();
    try {
      await inf.client.watch(
        resourcePath(inf.resource, this.namespace),
        (event) => {
          this.lastSignOfLife = performance.now();
          this.handle(event);
        },
        {
          signal: abort.signal,
          idleTimeoutMs: inf.watchIdleTimeoutMs,
          onOpen: () => {
            this.lastSignOfLife = performance.now();
            this.watching = true;
          },
          query: {
            resourceVersion: this.resourceVersion,
            allowWatchBookmarks: true,
            timeoutSeconds,
            labelSelector: inf.labelSelector,
            fieldSelector: inf.fieldSelector,
          },
        },
      );
      // The server ended the watch at its timeout: a healthy cycle.
      this.backoff.reset();
    } catch (error) {
      if (abort.signal.reason instanceof RelistRequested) throw abort.signal.reason;
      // A watch that was open (it got its HTTP 200, and maybe events) broke later: the API
      // server was reachable a moment ago, so reconnect at once; only a failure to open backs off.
      if (this.watching) this.backoff.reset();
      throw error;
    } finally {
      if (this.watching) this.lastConnected = performance.now();
      this.watching = false;
      clearTimeout(relistTimer);
      signal.removeEventListener("abort", onStop);
      this.watchAbort = undefined;
    }
  }

  private handle(event: WatchEvent): void {
    const inf = this.informer;
    if (event.type === "ERROR") {
      const status = event.object as unknown as { code?: number; reason?: string; message?: string };
      throw new ApiError(
        status.code ?? 500,
        status.reason ?? "",
        `watch error: ${status.message ?? ""}`,
        status,
      );
    }
    const rv = event.object?.metadata?.resourceVersion;
    if (event.type === "BOOKMARK") {
      if (rv) this.resourceVersion = rv;
      return;
    }
    inf.metrics?.events.inc({ resource: inf.id, type: event.type });
    const obj = inf.prepare(event.object);
    if (event.type === "DELETED") inf.applyDelete(obj);
    else inf.applyUpsert(obj);
    if (rv) this.resourceVersion = rv;
  }
}

class RelistRequested extends Error {
  constructor() {
    super("relist requested");
  }
}

export class Informer<T extends KubeObject = KubeObject> {
  readonly client: KubeClient;
  readonly resource: ResourceType;
  readonly id: string;
  readonly store: ObjectStore<T>;
  readonly labelSelector: string | undefined;
  readonly fieldSelector: string | undefined;
  readonly pageSize: number;
  readonly relistPeriodMs: number;
  readonly watchTimeoutSeconds: { min: number; max: number };
  readonly watchIdleTimeoutMs: number;
  readonly log: Logger;
  readonly metrics: InformerMetrics | undefined;
  private transform: Transform;
  private readonly handlers: InformerHandler<T>[] = [];
  private reflectors: Reflector[];
  private readonly syncWaiters: Array<() => void> = [];
  private started = false;
  private abort: AbortController | undefined;
  private running: Promise<unknown> | undefined;

  constructor(options: InformerOptions) {
    this.client = options.client;
    this.resource = options.resource;
    this.id = resourceId(options.resource);
    this.store = new ObjectStore<T>(options.indexers);
    this.labelSelector = options.labelSelector;
    this.fieldSelector = options.fieldSelector;
    // Small pages keep the garbage of a list (the full objects, before the transform) small
    // enough to die young; with 500-object pages the operator's resident memory after
    // syncing 40,000 Pods was about 80 MB higher (bench/operator-memory.ts).
    this.pageSize = options.pageSize ?? 100;
    this.relistPeriodMs = options.relistPeriodMs ?? 60 * 60_000;
    this.watchTimeoutSeconds = options.watchTimeoutSeconds ?? { min: 300, max: 600 };
    this.watchIdleTimeoutMs = options.watchIdleTimeoutMs ?? 150_000;
    this.transform = options.transform ?? defaultTransformFor(options.resource.kind);
    this.log = (options.log ?? silentLogger).with({ informer: this.id });
    const namespaces =
      options.resource.namespaced && options.namespaces?.length
        ? [...new Set(options.namespaces)]
        : [undefined];
    this.reflectors = namespaces.map((ns) => new Reflector(this as unknown as Informer, ns));
    if (options.metrics) {
      const m = options.metrics;
      this.metrics = {
        objects: m.gauge("informer_cached_objects", "Objects held in the informer cache.", ["resource"]),
        relists: m.counter("informer_relists_total", "Full relists, by cause.", ["resource", "reason"]),
        restarts: m.counter("informer_watch_restarts_total", "Watches restarted after an error.", [
          "resource",
        ]),
        events: m.counter("informer_watch_events_total", "Watch events received, by type.", [
          "resource",
          "type",
        ]),
      };
      const age = m.gauge(
        "informer_last_event_age_seconds",
        "Seconds since the quietest watch of this informer last showed a sign of life.",
        ["resource"],
      );
      m.onCollect(() => {
        this.metrics?.objects.set({ resource: this.id }, this.store.size);
        age.set({ resource: this.id }, this.silentForMs() / 1000);
      });
    }
  }

  /** Replaces the transform; only before start, since cached objects would be mixed otherwise. */
  setTransform(transform: Transform): void {
    if (this.started) throw new Error(`informer ${this.id} already started`);
    this.transform = transform;
  }

  get watchesAllNamespaces(): boolean {
    return this.reflectors.length === 1 && this.reflectors[0]?.namespace === undefined;
  }

  /** Watches every namespace instead of a chosen few; only before start. */
  widen(): void {
    if (this.started) throw new Error(`informer ${this.id} already started; ask for all namespaces earlier`);
    this.reflectors = [new Reflector(this as unknown as Informer, undefined)];
  }

  addIndexer(name: string, fn: IndexFunc): void {
    this.store.addIndexer(name, fn);
  }

  addHandler(handler: InformerHandler<T>): void {
    this.handlers.push(handler);
    // A handler added after sync still hears about everything already cached.
    if (this.started) for (const obj of this.store.values()) handler.onAdd?.(obj);
  }

  start(): void {
    if (this.started) return;
    this.started = true;
    this.abort = new AbortController();
    const signal = this.abort.signal;
    this.running = Promise.all(this.reflectors.map((r) => r.run(signal)));
  }

  async stop(): Promise<void> {
    this.abort?.abort(new Error("informer stopped"));
    await this.running;
  }

  get hasSynced(): boolean {
    return this.reflectors.every((r) => r.synced);
  }

  /** Resolves once every namespace has been listed at least once. */
  waitForSync(signal?: AbortSignal): Promise<void> {
    if (this.hasSynced) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const onAbort = (): void => reject(signal?.reason);
      signal?.addEventListener("abort", onAbort, { once: true });
      this.syncWaiters.push(() => {
        signal?.removeEventListener("abort", onAbort);
        resolve();
      });
    });
  }

  /** Milliseconds since the quietest watch of this informer last received anything. */
  silentForMs(now = performance.now()): number {
    let oldest = now;
    for (const r of this.reflectors) oldest = Math.min(oldest, r.lastSignOfLife);
    return now - oldest;
  }

  /**
   * Milliseconds the worst watch of this informer has been down: closed (the API server is
   * gone, or refuses us), or open but silent for longer than the idle timeout allows, which
   * means the loop reading it is wedged. 0 while every watch is open and alive. A quiet watch
   * is healthy: nothing changed, and the API server's bookmarks keep it under the idle timeout.
   */
  watchDownForMs(now = performance.now()): number {
    let worst = 0;
    for (const r of this.reflectors) {
      const down = r.watching ? now - r.lastSignOfLife - this.watchIdleTimeoutMs : now - r.lastConnected;
      worst = Math.max(worst, down);
    }
    return worst;
  }

  /** Lists everything again now, in every namespace (for tests and for operators). */
  relist(): void {
    this.countRelist("requested");
    for (const r of this.reflectors) r.requestRelist();
  }

  // ---- called by reflectors --------------------------------------------------------------

  /** @internal */
  prepare(raw: KubeObject): T {
    // List items of built-in kinds arrive without apiVersion/kind; handlers need them.
    raw.apiVersion ??= this.resource.apiVersion;
    raw.kind ??= this.resource.kind;
    return this.transform(raw) as T;
  }

  /** @internal */
  applyList(items: KubeObject[], namespace: string | undefined): void {
    const diff = this.store.replace(items as T[], namespace);
    for (const obj of diff.added) this.dispatch("add", obj);
    for (const [old, obj] of diff.updated) this.dispatch("update", obj, old);
    for (const obj of diff.deleted) this.dispatch("delete", obj);
  }

  /** @internal */
  notifyIfSynced(): void {
    if (this.hasSynced) for (const resolve of this.syncWaiters.splice(0)) resolve();
  }

  /** @internal */
  applyUpsert(obj: KubeObject): void {
    const old = this.store.upsert(obj as T);
    if (old) this.dispatch("update", obj as T, old);
    else this.dispatch("add", obj as T);
  }

  /** @internal */
  applyDelete(obj: KubeObject): void {
    // Handlers get the final state from the event (it carries deletionTimestamp and the
    // last labels), not the possibly older cached copy.
    this.store.delete(objectKey(obj));
    this.dispatch("delete", obj as T);
  }

  /** @internal */
  countRelist(reason: string): void {
    this.metrics?.relists.inc({ resource: this.id, reason });
  }

  private dispatch(kind: "add" | "update" | "delete", obj: T, old?: T): void {
    for (const h of this.handlers) {
      try {
        if (kind === "add") h.onAdd?.(obj);
        else if (kind === "update") h.onUpdate?.(old as T, obj);
        else h.onDelete?.(obj);
      } catch (error) {
        // One faulty handler must not stop the watch that feeds every other controller.
        this.log.error("informer handler failed", { error: describeError(error), key: objectKey(obj) });
      }
    }
  }
}
