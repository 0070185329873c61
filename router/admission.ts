// Burst admission: whether a request goes to an engine now, waits at the router, or is told
// to come back later. Pure: time is passed in and the free capacity of each model comes from
// a callback, so the shell (router/proxy.ts) owns the sockets and timers and this owns the
// policy.
//
// - Per tenant: a token bucket (rate, burst) and a concurrency limit, across all models.
// - Per model: capacity is what its ready replicas can take (the shell's per-replica limit
//   minus what is in flight). When it is used up, requests wait in a FIFO per (model, tenant).
// - Fairness: freed capacity goes round robin over the tenants waiting for that model (deficit
//   round robin with a quantum of one request), so a tenant's burst of ten thousand waits
//   behind its own requests, not in front of another tenant's steady trickle.
// - Bounded: a tenant's queue holds at most maxQueue requests, each for at most
//   maxQueueWaitMs (coldStartWaitMs while its model has no ready replica). Beyond that a
//   request is rejected, never dropped: 429 with a Retry-After computed from how fast the
//   tenant's queue drained over the last ten seconds (or from the token rate), or 503 when
//   the model has no ready replica.
import { RateWindow } from "./rate-window.ts";

export interface TenantLimits {
  /** Requests per second; 0 means no rate limit. */
  ratePerSecond: number;
  burst: number;
  /** Requests in flight at once; 0 means no limit. */
  maxConcurrency: number;
  maxQueue: number;
  maxQueueWaitMs: number;
}

export interface ModelCapacity {
  /** Requests the model's ready replicas can take now. */
  free: number;
  /** No ready replica at all (scaled to zero, starting up, or all unready). */
  cold: boolean;
}

export type TicketState = "queued" | "admitted" | "released" | "cancelled" | "rejected";

export interface Ticket {
  readonly id: number;
  readonly tenant: string;
  readonly model: string;
  readonly enqueuedAt: number;
  state: TicketState;
}

export interface Rejection {
  status: 429 | 503;
  code: "rate_limit_exceeded" | "queue_full" | "queue_timeout" | "no_ready_replica";
  message: string;
  retryAfterSeconds: number;
}

export type Offer =
  | { kind: "admitted"; ticket: Ticket }
  | { kind: "queued"; ticket: Ticket }
  | { kind: "rejected"; rejection: Rejection };

export interface PumpResult {
  admitted: Ticket[];
  rejected: Array<{ ticket: Ticket; rejection: Rejection }>;
}

export interface AdmissionOptions {
  limits: TenantLimits;
  /** Per-tenant overrides of the limits. */
  tenantLimits?: ReadonlyMap<string, Partial<TenantLimits>>;
  coldStartWaitMs: number;
  capacity: (model: string) => ModelCapacity;
}

const maxRetryAfterSeconds = 3600;
const coldRetryAfterSeconds = 5;

/** A FIFO with O(1) push and shift; cancelled tickets are skipped when they reach the head. */
class TicketQueue {
  private items: Ticket[] = [];
  private head = 0;
  live = 0;

  push(t: Ticket): void {
    this.items.push(t);
    this.live++;
  }

  /** The first queued (not cancelled) ticket. */
  peek(): Ticket | undefined {
    while (this.head < this.items.length) {
      const t = this.items[this.head] as Ticket;
      if (t.state === "queued") return t;
      this.head++;
    }
    this.compact();
    return undefined;
  }

  shift(): Ticket | undefined {
    const t = this.peek();
    if (t) {
      this.head++;
      this.live--;
      if (this.head > 1024 && this.head * 2 > this.items.length) this.compact();
    }
    return t;
  }

  /** Called when a queued ticket was cancelled in place. */
  forget(): void {
    this.live--;
    // Cancelled tickets behind the head would otherwise stay until they reach it.
    if (this.items.length - this.head > 64 && this.live * 2 < this.items.length - this.head) this.compact();
  }

  private compact(): void {
    this.items = this.items.slice(this.head).filter((t) => t.state === "queued");
    this.head = 0;
  }
}

interface TenantState {
  limits: TenantLimits;
  tokens: number;
  tokensAt: number;
  inflight: number;
  queued: number;
  /** Requests that left this tenant's queue for an engine, per second. */
  drained: RateWindow;
}

interface ModelState {
  queues: Map<string, TicketQueue>;
  /** Tenants with queued requests for this model, in round-robin order. */
  ring: string[];
  cursor: number;
  queued: number;
}

export class Admission {
  private readonly options: AdmissionOptions;
  private readonly tenants = new Map<string, TenantState>();
  private readonly models = new Map<string, ModelState>();
  private nextId = 1;

  constructor(options: AdmissionOptions) {
    this.options = options;
  }

  /** A new request of `tenant` for `model`. */
  offer(tenant: string, model: string, now: number): Offer {
    const t = this.tenant(tenant, now);
    const m = this.model(model);
    const cap = this.options.capacity(model);
    if (cap.cold && this.options.coldStartWaitMs <= 0)
      return { kind: "rejected", rejection: coldRejection(model, 0) };
    if (t.queued >= t.limits.maxQueue) {
      return {
        kind: "rejected",
        rejection: {
          status: 429,
          code: "queue_full",
          message: `tenant ${tenant} has ${t.queued} requests waiting, the most it may; retry later`,
          retryAfterSeconds: this.drainRetryAfter(t, now),
        },
      };
    }
    if (t.limits.ratePerSecond > 0) {
      refill(t, now);
      const deficit = t.queued + 1 - t.tokens;
      if (deficit > 0 && (deficit / t.limits.ratePerSecond) * 1000 > t.limits.maxQueueWaitMs) {
        return {
          kind: "rejected",
          rejection: {
            status: 429,
            code: "rate_limit_exceeded",
            message: `tenant ${tenant} is over its rate of ${t.limits.ratePerSecond} requests per second`,
            // The earliest moment a retry would fit within the wait bound.
            retryAfterSeconds: clampRetry(
              Math.ceil(deficit / t.limits.ratePerSecond - t.limits.maxQueueWaitMs / 1000),
            ),
          },
        };
      }
    }
    const ticket: Ticket = { id: this.nextId++, tenant, model, enqueuedAt: now, state: "queued" };
    const own = m.queues.get(tenant);
    if ((own === undefined || own.live === 0) && !cap.cold && cap.free > 0 && admissible(t)) {
      this.admit(t, ticket, false, now);
      return { kind: "admitted", ticket };
    }
    let q = own;
    if (!q) {
      q = new TicketQueue();
      m.queues.set(tenant, q);
    }
    if (q.live === 0) m.ring.push(tenant);
    q.push(ticket);
    t.queued++;
    m.queued++;
    return { kind: "queued", ticket };
  }

  /** An admitted request finished: its tenant's concurrency slot is free again. */
  release(ticket: Ticket): void {
    if (ticket.state !== "admitted") return;
    ticket.state = "released";
    const t = this.tenants.get(ticket.tenant);
    if (t) t.inflight--;
  }

  /** The client of a queued request went away. */
  cancel(ticket: Ticket): void {
    if (ticket.state !== "queued") return;
    ticket.state = "cancelled";
    const t = this.tenants.get(ticket.tenant);
    const m = this.models.get(ticket.model);
    if (t) t.queued--;
    if (m) {
      m.queued--;
      const q = m.queues.get(ticket.tenant);
      if (q) {
        q.forget();
        if (q.live === 0) removeFromRing(m, ticket.tenant);
      }
    }
  }

  /**
   * Rejects what waited too long and admits what now fits, round robin across tenants.
   * Call after anything that may free capacity (a release, a replica turning ready) and at
   * nextWakeAt().
   */
  pump(now: number): PumpResult {
    const result: PumpResult = { admitted: [], rejected: [] };
    for (const [model, m] of this.models) {
      if (m.queued === 0) continue;
      const cap = this.options.capacity(model);
      this.expire(model, m, cap.cold, now, result);
      if (cap.cold || m.queued === 0) continue;
      let free = cap.free;
      let misses = 0;
      while (free > 0 && m.ring.length > 0 && misses < m.ring.length) {
        if (m.cursor >= m.ring.length) m.cursor = 0;
        const tenant = m.ring[m.cursor] as string;
        const q = m.queues.get(tenant) as TicketQueue;
        const t = this.tenant(tenant, now);
        if (t.limits.ratePerSecond > 0) refill(t, now);
        const head = q.peek();
        if (head && admissible(t)) {
          q.shift();
          t.queued--;
          m.queued--;
          this.admit(t, head, true, now);
          result.admitted.push(head);
          free--;
          misses = 0;
          if (q.live === 0) {
            m.ring.splice(m.cursor, 1);
            continue; // the next tenant moved into this slot
          }
        } else misses++;
        m.cursor++;
      }
    }
    return result;
  }

  /** When pump() should run next to honour a deadline or a token becoming available. */
  nextWakeAt(now: number): number | undefined {
    let next = Number.POSITIVE_INFINITY;
    for (const [model, m] of this.models) {
      if (m.queued === 0) continue;
      const wait = this.waitLimit(this.options.capacity(model).cold);
      for (const [tenant, q] of m.queues) {
        const head = q.peek();
        if (!head) continue;
        next = Math.min(next, head.enqueuedAt + wait(tenant));
        const t = this.tenants.get(tenant);
        if (t && t.limits.ratePerSecond > 0 && t.tokens < 1) {
          refill(t, now);
          next = Math.min(next, now + ((1 - t.tokens) / t.limits.ratePerSecond) * 1000);
        }
      }
    }
    return Number.isFinite(next) ? next : undefined;
  }

  get totalQueued(): number {
    let n = 0;
    for (const m of this.models.values()) n += m.queued;
    return n;
  }

  queuedForModel(model: string): number {
    return this.models.get(model)?.queued ?? 0;
  }

  tenantStats(): Array<{ tenant: string; queued: number; inflight: number }> {
    return [...this.tenants].map(([tenant, t]) => ({ tenant, queued: t.queued, inflight: t.inflight }));
  }

  private admit(t: TenantState, ticket: Ticket, fromQueue: boolean, now: number): void {
    ticket.state = "admitted";
    t.inflight++;
    if (t.limits.ratePerSecond > 0) t.tokens -= 1;
    if (fromQueue) t.drained.add(now);
  }

  private waitLimit(cold: boolean): (tenant: string) => number {
    return (tenant) =>
      cold ? this.options.coldStartWaitMs : (this.tenants.get(tenant)?.limits.maxQueueWaitMs ?? 0);
  }

  private expire(model: string, m: ModelState, cold: boolean, now: number, result: PumpResult): void {
    const wait = this.waitLimit(cold);
    for (const [tenant, q] of m.queues) {
      const limit = wait(tenant);
      for (let head = q.peek(); head && head.enqueuedAt + limit <= now; head = q.peek()) {
        q.shift();
        head.state = "rejected";
        const t = this.tenants.get(tenant) as TenantState;
        t.queued--;
        m.queued--;
        const rejection: Rejection = cold
          ? coldRejection(model, now - head.enqueuedAt)
          : {
              status: 429,
              code: "queue_timeout",
              message: `waited ${((now - head.enqueuedAt) / 1000).toFixed(1)} s at the router for model ${model}, the most a request may; retry later`,
              retryAfterSeconds: this.drainRetryAfter(t, now),
            };
        result.rejected.push({ ticket: head, rejection });
      }
      if (q.live === 0) removeFromRing(m, tenant);
    }
  }

  /** Seconds until this tenant's queue, at the rate it drained over the last 10 s, has room. */
  private drainRetryAfter(t: TenantState, now: number): number {
    const rate = t.drained.perSecond(now, 10);
    const fromDrain = rate > 0 ? Math.ceil((t.queued + 1) / rate) : Math.ceil(t.limits.maxQueueWaitMs / 1000);
    const fromTokens =
      t.limits.ratePerSecond > 0 ? Math.ceil((t.queued + 1 - t.tokens) / t.limits.ratePerSecond) : 0;
    return clampRetry(Math.max(fromDrain, fromTokens));
  }

  private tenant(name: string, now: number): TenantState {
    let t = this.tenants.get(name);
    if (!t) {
      const limits = { ...this.options.limits, ...this.options.tenantLimits?.get(name) };
      t = { limits, tokens: limits.burst, tokensAt: now, inflight: 0, queued: 0, drained: new RateWindow() };
      this.tenants.set(name, t);
    }
    return t;
  }

  private model(name: string): ModelState {
    let m = this.models.get(name);
    if (!m) {
      m = { queues: new Map(), ring: [], cursor: 0, queued: 0 };
      this.models.set(name, m);
    }
    return m;
  }
}

function admissible(t: TenantState): boolean {
  if (t.limits.maxConcurrency > 0 && t.inflight >= t.limits.maxConcurrency) return false;
  if (t.limits.ratePerSecond > 0 && t.tokens < 1) return false;
  return true;
}

function refill(t: TenantState, now: number): void {
  const elapsed = Math.max(0, now - t.tokensAt);
  t.tokensAt = now;
  t.tokens = Math.min(Math.max(1, t.limits.burst), t.tokens + (elapsed / 1000) * t.limits.ratePerSecond);
}

function removeFromRing(m: ModelState, tenant: string): void {
  const i = m.ring.indexOf(tenant);
  if (i < 0) return;
  m.ring.splice(i, 1);
  if (m.cursor > i) m.cursor--;
}

function coldRejection(model: string, waitedMs: number): Rejection {
  return {
    status: 503,
    code: "no_ready_replica",
    message:
      waitedMs > 0
        ? `model ${model} has no ready replica (waited ${(waitedMs / 1000).toFixed(1)} s for one to start)`
        : `model ${model} has no ready replica`,
    retryAfterSeconds: coldRetryAfterSeconds,
  };
}

const clampRetry = (s: number): number => Math.min(maxRetryAfterSeconds, Math.max(1, s));
