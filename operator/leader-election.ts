// Leader election on a coordination.k8s.io/v1 Lease, so that of several operator replicas
// exactly one reconciles. Timings are client-go's defaults: a 15 s lease, renewals every 2 s
// that must succeed within 10 s, and acquisition attempts every 2 s.
//
// Expiry is judged by the local clock: a candidate notes *when it saw* the lease record
// change, and considers the lease free once it has seen no change for leaseDuration. It never
// compares the holder's renewTime with its own clock, so clock skew between nodes does not
// matter. A leader that cannot renew within renewDeadline (< leaseDuration) steps down before
// anyone else may take over, which is what prevents two leaders; the runtime then exits the
// process, since in-flight reconciles cannot be trusted to stop by themselves.

import { randomUUID } from "node:crypto";
import { hostname } from "node:os";
import { formatMicroTime } from "./events.ts";
import { isAlreadyExists, isConflict, isNotFound, type KubeClient } from "./kube-client.ts";
import { describeError, type Logger, silentLogger } from "./log.ts";
import type { Gauge, MetricsRegistry } from "./metrics.ts";
import { builtin, type KubeObject } from "./resource.ts";
import { sleep } from "./token-bucket.ts";

export interface LeaseSpec {
  holderIdentity?: string;
  leaseDurationSeconds?: number;
  acquireTime?: string;
  renewTime?: string;
  leaseTransitions?: number;
}

interface Lease extends KubeObject {
  spec?: LeaseSpec;
}

export interface LeaderElectionOptions {
  /** A client of its own, so renewals never queue behind reconcile writes in a shared limiter. */
  client: KubeClient;
  namespace: string;
  name: string;
  identity?: string;
  leaseDurationMs?: number;
  renewDeadlineMs?: number;
  retryPeriodMs?: number;
  /** Give up the lease on a clean stop so a standby takes over at once. */
  releaseOnStop?: boolean;
  log?: Logger;
  metrics?: MetricsRegistry;
  now?: () => number;
}

export function defaultIdentity(): string {
  return `${hostname()}_${randomUUID()}`;
}

export class LeaderElector {
  readonly identity: string;
  readonly leaseDurationMs: number;
  readonly renewDeadlineMs: number;
  readonly retryPeriodMs: number;
  private readonly options: LeaderElectionOptions;
  private readonly log: Logger;
  private readonly now: () => number;
  private readonly status: Gauge | undefined;
  // What we last saw of the lease, and when we saw it change (local monotonic time).
  private observed: Lease | undefined;
  private observedAt = 0;
  private leading = false;

  constructor(options: LeaderElectionOptions) {
    this.options = options;
    this.identity = options.identity ?? defaultIdentity();
    this.leaseDurationMs = options.leaseDurationMs ?? 15_000;
    this.renewDeadlineMs = options.renewDeadlineMs ?? 10_000;
    this.retryPeriodMs = options.retryPeriodMs ?? 2_000;
    if (this.renewDeadlineMs >= this.leaseDurationMs) {
      throw new Error("the renew deadline must be shorter than the lease duration");
    }
    this.log = (options.log ?? silentLogger).with({ lease: `${options.namespace}/${options.name}` });
    this.now = options.now ?? (() => performance.now());
    this.status = options.metrics?.gauge(
      "leader_election_master_status",
      "Gauge of if the reporting system is master of the relevant lease, 0 indicates backup, 1 indicates master. 'name' is the string used to identify the lease.",
      ["name"],
    );
    this.status?.set({ name: options.name }, 0);
  }

  get isLeader(): boolean {
    return this.leading;
  }

  /** Resolves once this process holds the lease; rejects if `signal` aborts first. */
  async acquire(signal: AbortSignal): Promise<void> {
    this.log.info("waiting for leadership", { identity: this.identity });
    while (!signal.aborted) {
      if (await this.tryAcquireOrRenew(signal)) {
        this.setLeading(true);
        this.log.info("became leader", { identity: this.identity });
        return;
      }
      await sleep(this.retryPeriodMs * (1 + Math.random() * 0.2), signal);
    }
    throw signal.reason;
  }

  /**
   * Renews every retry period until a renewal fails to succeed within the renew deadline
   * (resolves: leadership lost) or `signal` aborts (resolves after releasing if configured).
   */
  async holdUntilLost(signal: AbortSignal): Promise<"lost" | "stopped"> {
    let lastRenew = this.now();
    while (!signal.aborted) {
      await sleep(this.retryPeriodMs, signal).catch(() => {});
      if (signal.aborted) break;
      // Try until the deadline measured from the last success; each attempt may use only
      // what is left of it, so a hanging request cannot carry us past the deadline.
      let renewed = false;
      while (!signal.aborted && this.now() - lastRenew < this.renewDeadlineMs) {
        if (await this.tryAcquireOrRenew(signal, this.renewDeadlineMs - (this.now() - lastRenew))) {
          renewed = true;
          break;
        }
        await sleep(Math.min(this.retryPeriodMs / 4, 500), signal).catch(() => {});
      }
      if (signal.aborted) break;
      if (!renewed) {
        this.setLeading(false);
        this.log.error("leadership lost: lease not renewed within the renew deadline", {
          identity: this.identity,
          renewDeadlineMs: this.renewDeadlineMs,
        });
        return "lost";
      }
      lastRenew = this.now();
    }
    if (this.leading && (this.options.releaseOnStop ?? true)) await this.release();
    this.setLeading(false);
    return "stopped";
  }

  /** Clears the holder so a standby does not have to wait out the lease. */
  async release(): Promise<void> {
    const lease = this.observed;
    if (!lease?.spec || lease.spec.holderIdentity !== this.identity) return;
    const now = formatMicroTime(new Date());
    const released: Lease = {
      ...lease,
      spec: { ...lease.spec, holderIdentity: "", leaseDurationSeconds: 1, renewTime: now, acquireTime: now },
    };
    try {
      this.observed = await this.options.client.replace(builtin.leases, released);
      this.log.info("released leadership", { identity: this.identity });
    } catch (error) {
      this.log.warn("could not release the lease", { error: describeError(error) });
    }
  }

  private setLeading(leading: boolean): void {
    this.leading = leading;
    this.status?.set({ name: this.options.name }, leading ? 1 : 0);
  }

  /** One attempt; true when we hold the lease afterwards. Never throws. */
  async tryAcquireOrRenew(signal?: AbortSignal, timeoutMs = this.renewDeadlineMs): Promise<boolean> {
    try {
      return await this.attempt(signal, Math.max(100, Math.round(timeoutMs)));
    } catch (error) {
      // A bug here must read as "not renewed" (and so end in stepping down), never as an
      // exception that stops the renew loop while the workers keep running.
      this.log.error("lease attempt failed unexpectedly", { error: describeError(error) });
      return false;
    }
  }

  private async attempt(signal: AbortSignal | undefined, timeoutMs: number): Promise<boolean> {
    const { client, namespace, name } = this.options;
    const timeout = AbortSignal.timeout(timeoutMs);
    const requestSignal = signal ? AbortSignal.any([signal, timeout]) : timeout;
    const nowTime = formatMicroTime(new Date());
    const leaseSeconds = Math.ceil(this.leaseDurationMs / 1000);
    let current: Lease | undefined;
    try {
      current = await client.request<Lease>(
        "GET",
        `/apis/coordination.k8s.io/v1/namespaces/${namespace}/leases/${name}`,
        { signal: requestSignal, timeoutMs },
      );
    } catch (error) {
      if (!isNotFound(error)) {
        this.log.warn("could not read the lease", { error: describeError(error) });
        return false;
      }
    }

    if (!current) {
      const fresh: Lease = {
        apiVersion: "coordination.k8s.io/v1",
        kind: "Lease",
        metadata: { name, namespace },
        spec: {
          holderIdentity: this.identity,
          leaseDurationSeconds: leaseSeconds,
          acquireTime: nowTime,
          renewTime: nowTime,
          leaseTransitions: 0,
        },
      };
      try {
        this.observed = await client.request<Lease>(
          "POST",
          `/apis/coordination.k8s.io/v1/namespaces/${namespace}/leases`,
          {
            body: fresh,
            signal: requestSignal,
            timeoutMs,
          },
        );
        this.observedAt = this.now();
        return true;
      } catch (error) {
        if (!isAlreadyExists(error))
          this.log.warn("could not create the lease", { error: describeError(error) });
        return false;
      }
    }

    // Any change of the record (a renewal by the holder) restarts our local expiry clock.
    if (this.observed?.metadata.resourceVersion !== current.metadata.resourceVersion) {
      this.observed = current;
      this.observedAt = this.now();
    }
    const spec = current.spec ?? {};
    const holder = spec.holderIdentity ?? "";
    const heldByOther = holder !== "" && holder !== this.identity;
    const observedDurationMs = (spec.leaseDurationSeconds ?? leaseSeconds) * 1000;
    if (heldByOther && this.now() < this.observedAt + observedDurationMs) return false;

    const weHeldIt = holder === this.identity;
    const next: Lease = {
      ...current,
      spec: {
        holderIdentity: this.identity,
        leaseDurationSeconds: leaseSeconds,
        acquireTime: weHeldIt ? spec.acquireTime : nowTime,
        renewTime: nowTime,
        leaseTransitions: weHeldIt ? (spec.leaseTransitions ?? 0) : (spec.leaseTransitions ?? 0) + 1,
      },
    };
    try {
      // The PUT carries the resourceVersion we read: if another candidate wrote in between,
      // it fails with a conflict instead of both believing they won.
      this.observed = await client.request<Lease>(
        "PUT",
        `/apis/coordination.k8s.io/v1/namespaces/${namespace}/leases/${name}`,
        { body: next, signal: requestSignal, timeoutMs },
      );
      this.observedAt = this.now();
      return true;
    } catch (error) {
      if (!isConflict(error)) this.log.warn("could not update the lease", { error: describeError(error) });
      return false;
    }
  }
}
