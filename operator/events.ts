// Kubernetes Events (events.k8s.io/v1) that tell a person what a controller did.
//
// Controllers tend to say the same thing on every retry ("waiting for capacity"), so
// repeats are aggregated: an identical event about the same object within the series window
// bumps a local counter, and the counter is written to the first Event's `series` at most
// every `seriesFlushMs`. A per-object token bucket bounds how many distinct events one
// object can produce, and the bookkeeping is bounded in size, so a flood of events costs
// neither API calls nor memory without limit.
import { randomBytes } from "node:crypto";
import type { KubeClient } from "./kube-client.ts";
import { describeError, type Logger, silentLogger } from "./log.ts";
import { builtin, type KubeObject } from "./resource.ts";

export type EventType = "Normal" | "Warning";

export interface EventInput {
  type: EventType;
  /** Why: a CamelCase machine-readable word, e.g. "Admitted". */
  reason: string;
  /** What the controller did or failed to do, e.g. "Schedule". */
  action: string;
  /** For a person; up to 1 kB. */
  note?: string;
}

export interface ObjectReference {
  apiVersion?: string;
  kind?: string;
  name?: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
}

export interface AggregatorOptions {
  /** Identical events closer together than this join one series. */
  seriesWindowMs: number;
  /** A series' count is written at most this often. */
  seriesFlushMs: number;
  /** Bound on remembered series (oldest forgotten first). */
  maxEntries: number;
  /** Distinct events one object may produce at once... */
  perObjectBurst: number;
  /** ...and one more each this often. */
  perObjectRefillMs: number;
}

export const defaultAggregatorOptions: AggregatorOptions = {
  seriesWindowMs: 10 * 60_000,
  seriesFlushMs: 30_000,
  maxEntries: 4096,
  perObjectBurst: 25,
  perObjectRefillMs: 5 * 60_000,
};

export interface SeriesEntry {
  key: string;
  objectKey: string;
  eventName: string;
  namespace: string;
  count: number;
  firstObservedAt: number;
  lastObservedAt: number;
  /** count as last written to the API (1 after the create). */
  writtenCount: number;
  lastWrittenAt: number;
}

export type Decision =
  | { kind: "create"; entry: SeriesEntry }
  | { kind: "aggregate"; entry: SeriesEntry }
  | { kind: "drop" };

interface Bucket {
  tokens: number;
  at: number;
}

/** The pure bookkeeping behind the recorder: what to write for each observed event. */
export class EventAggregator {
  private readonly options: AggregatorOptions;
  private readonly entries = new Map<string, SeriesEntry>();
  private readonly buckets = new Map<string, Bucket>();

  constructor(options: Partial<AggregatorOptions> = {}) {
    this.options = { ...defaultAggregatorOptions, ...options };
  }

  get size(): number {
    return this.entries.size;
  }

  observe(regarding: ObjectReference, input: EventInput, now: number, makeName: () => string): Decision {
    const objectKey = regarding.uid ?? `${regarding.kind}/${regarding.namespace}/${regarding.name}`;
    const key = `${objectKey}\u0000${input.type}\u0000${input.reason}\u0000${input.action}\u0000${input.note ?? ""}`;
    const existing = this.entries.get(key);
    if (existing && now - existing.lastObservedAt <= this.options.seriesWindowMs) {
      existing.count += 1;
      existing.lastObservedAt = now;
      // Re-insert so Map order stays least-recently-used first.
      this.entries.delete(key);
      this.entries.set(key, existing);
      return { kind: "aggregate", entry: existing };
    }
    if (!this.allow(objectKey, now)) return { kind: "drop" };
    if (existing) this.entries.delete(key);
    const entry: SeriesEntry = {
      key,
      objectKey,
      eventName: makeName(),
      namespace: regarding.namespace || "default",
      count: 1,
      firstObservedAt: now,
      lastObservedAt: now,
      writtenCount: 1,
      lastWrittenAt: now,
    };
    this.entries.set(key, entry);
    while (this.entries.size > this.options.maxEntries) {
      const oldest = this.entries.keys().next().value as string;
      this.entries.delete(oldest);
    }
    return { kind: "create", entry };
  }

  /** Series whose count moved and whose last write is at least `seriesFlushMs` old. */
  due(now: number, all = false): SeriesEntry[] {
    const out: SeriesEntry[] = [];
    for (const entry of this.entries.values()) {
      if (entry.count === entry.writtenCount) continue;
      if (all || now - entry.lastWrittenAt >= this.options.seriesFlushMs) out.push(entry);
    }
    return out;
  }

  markWritten(entry: SeriesEntry, count: number, now: number): void {
    entry.writtenCount = count;
    entry.lastWrittenAt = now;
  }

  forget(entry: SeriesEntry): void {
    this.entries.delete(entry.key);
  }

  private allow(objectKey: string, now: number): boolean {
    const { perObjectBurst, perObjectRefillMs } = this.options;
    let bucket = this.buckets.get(objectKey);
    if (!bucket) {
      bucket = { tokens: perObjectBurst, at: now };
    } else {
      bucket.tokens = Math.min(perObjectBurst, bucket.tokens + (now - bucket.at) / perObjectRefillMs);
      bucket.at = now;
      this.buckets.delete(objectKey);
    }
    this.buckets.set(objectKey, bucket);
    while (this.buckets.size > this.options.maxEntries) {
      this.buckets.delete(this.buckets.keys().next().value as string);
    }
    if (bucket.tokens < 1) return false;
    bucket.tokens -= 1;
    return true;
  }
}

/** metav1.MicroTime: RFC 3339 with microseconds. */
export function formatMicroTime(date: Date): string {
  return date.toISOString().replace(/\.(\d{3})Z$/, ".$1000Z");
}

export function objectReference(obj: KubeObject): ObjectReference {
  const ref: ObjectReference = { apiVersion: obj.apiVersion, kind: obj.kind, name: obj.metadata.name };
  if (obj.metadata.namespace) ref.namespace = obj.metadata.namespace;
  if (obj.metadata.uid) ref.uid = obj.metadata.uid;
  if (obj.metadata.resourceVersion) ref.resourceVersion = obj.metadata.resourceVersion;
  return ref;
}

export interface EventRecorderOptions {
  client: KubeClient;
  /** e.g. "sovereign.dev/training-controller"; must be a qualified name. */
  reportingController: string;
  /** This process, e.g. the pod name. */
  reportingInstance: string;
  log?: Logger;
  aggregator?: Partial<AggregatorOptions>;
}

const truncate = (s: string, max: number): string => (s.length <= max ? s : `${s.slice(0, max - 3)}...`);

export class EventRecorder {
  private readonly client: KubeClient;
  private readonly reportingController: string;
  private readonly reportingInstance: string;
  private readonly log: Logger;
  private readonly aggregator: EventAggregator;
  private readonly inflight = new Set<Promise<unknown>>();
  private timer: NodeJS.Timeout | undefined;
  private counter = 0;

  constructor(options: EventRecorderOptions) {
    this.client = options.client;
    this.reportingController = truncate(options.reportingController, 128);
    this.reportingInstance = truncate(options.reportingInstance, 128);
    this.log = options.log ?? silentLogger;
    this.aggregator = new EventAggregator(options.aggregator);
    const flushMs = options.aggregator?.seriesFlushMs ?? defaultAggregatorOptions.seriesFlushMs;
    this.timer = setInterval(() => this.writeDueSeries(false), Math.max(1000, flushMs / 2));
    this.timer.unref();
  }

  /** Records an event about `regarding`; never throws and never waits for the API. */
  record(regarding: KubeObject, input: EventInput): void {
    const ref = objectReference(regarding);
    const now = Date.now();
    const decision = this.aggregator.observe(ref, input, now, () => this.eventName(ref.name ?? "object"));
    if (decision.kind !== "create") return;
    const event = {
      apiVersion: "events.k8s.io/v1",
      kind: "Event",
      metadata: { name: decision.entry.eventName, namespace: decision.entry.namespace },
      eventTime: formatMicroTime(new Date(now)),
      reportingController: this.reportingController,
      reportingInstance: this.reportingInstance,
      action: truncate(input.action, 128),
      reason: truncate(input.reason, 128),
      type: input.type,
      note: truncate(input.note ?? "", 1024),
      regarding: ref,
    };
    this.track(
      this.client.create(builtin.events, event, undefined, "report").catch((error) => {
        this.aggregator.forget(decision.entry);
        this.log.warn("event not recorded", { reason: input.reason, error: describeError(error) });
      }),
    );
  }

  /** Writes pending series counts now and waits for every write in flight. */
  async flush(): Promise<void> {
    // Creates first: a series patch that overtakes its Event's create finds nothing to patch.
    while (this.inflight.size > 0) await Promise.all([...this.inflight]);
    this.writeDueSeries(true);
    while (this.inflight.size > 0) await Promise.all([...this.inflight]);
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    await this.flush();
  }

  private writeDueSeries(all: boolean): void {
    const now = Date.now();
    for (const entry of this.aggregator.due(now, all)) {
      const count = entry.count;
      this.aggregator.markWritten(entry, count, now);
      const patch = { series: { count, lastObservedTime: formatMicroTime(new Date(entry.lastObservedAt)) } };
      this.track(
        this.client
          .patch(builtin.events, entry.eventName, entry.namespace, patch, "merge", { lane: "report" })
          .catch((error) => {
            // Usually the Event expired (1 h TTL); the next occurrence starts a new one.
            this.aggregator.forget(entry);
            this.log.debug("event series not updated", {
              event: entry.eventName,
              error: describeError(error),
            });
          }),
      );
    }
  }

  private track(p: Promise<unknown>): void {
    this.inflight.add(p);
    void p.finally(() => this.inflight.delete(p));
  }

  private eventName(objectName: string): string {
    // Unique per process and time: <object>.<hex time><hex counter><random>.
    this.counter = (this.counter + 1) % 0x10000;
    const suffix = `${Date.now().toString(16)}${this.counter.toString(16).padStart(4, "0")}${randomBytes(2).toString("hex")}`;
    return `${objectName.slice(0, 253 - suffix.length - 1)}.${suffix}`;
  }
}
