// Load generation for the router benchmark, on undici's dispatcher API so the client costs
// little next to what it measures: a closed loop (N clients, each sending its next request
// when the last ended) and an open loop (requests sent on a schedule, whatever the answers).
// Time to first token is measured from just before a request is dispatched to the first
// byte of its response body.
import type { IncomingHttpHeaders } from "node:http";
import { type Dispatcher, Pool } from "undici";

export interface Target {
  origin: string;
  pool: Pool;
}

export function target(origin: string, connections: number, pipelining = 1): Target {
  return {
    origin,
    pool: new Pool(origin, { connections, pipelining, headersTimeout: 300_000, bodyTimeout: 300_000 }),
  };
}

export interface Outcome {
  status: number;
  /** ms from dispatch to the first body byte; undefined if none came. */
  ttftMs: number | undefined;
  /** Whether a response arrived at all (false: a connection error). */
  answered: boolean;
  /** The error code when none did. */
  error?: string;
}

/** One POST, resolved when its response ended (never rejects). */
export function send(t: Target, path: string, body: Buffer, pipelined = false): Promise<Outcome> {
  return new Promise((resolve) => {
    const started = performance.now();
    let status = 0;
    let ttftMs: number | undefined;
    const handler: Dispatcher.DispatchHandler = {
      onRequestStart() {},
      onResponseStart(_c, statusCode: number, _h: IncomingHttpHeaders) {
        status = statusCode;
      },
      onResponseData() {
        ttftMs ??= performance.now() - started;
      },
      onResponseEnd() {
        resolve({ status, ttftMs, answered: true });
      },
      onResponseError(_c, error: Error) {
        const code = (error as { code?: string }).code ?? error.message;
        resolve({ status, ttftMs, answered: status !== 0, ...(status === 0 ? { error: code } : {}) });
      },
    };
    try {
      t.pool.dispatch(
        // undici pipelines a POST only when told it is idempotent; the open loop needs that,
        // or requests would wait in the client for a free connection instead of reaching
        // the server on schedule.
        {
          method: "POST",
          path,
          headers: { "content-type": "application/json" },
          body,
          blocking: false,
          idempotent: pipelined,
        },
        handler,
      );
    } catch {
      resolve({ status: 0, ttftMs: undefined, answered: false });
    }
  });
}

export interface LoopResult {
  completed: number;
  failed: number;
  ttfts: number[];
  elapsedMs: number;
  statuses: Record<string, number>;
}

/**
 * `concurrency` clients for `durationMs`, spread round robin over `targets`; `body(i)` builds
 * request i. Requests still running at the end are awaited but not counted.
 */
export async function closedLoop(opts: {
  targets: readonly Target[];
  path: string;
  concurrency: number;
  durationMs: number;
  body: (i: number) => Buffer;
}): Promise<LoopResult> {
  const result: LoopResult = { completed: 0, failed: 0, ttfts: [], elapsedMs: 0, statuses: {} };
  const started = performance.now();
  const deadline = started + opts.durationMs;
  let next = 0;
  const client = async (): Promise<void> => {
    while (performance.now() < deadline) {
      const i = next++;
      const t = opts.targets[i % opts.targets.length] as Target;
      const o = await send(t, opts.path, opts.body(i));
      if (performance.now() > deadline) break;
      result.statuses[o.status] = (result.statuses[o.status] ?? 0) + 1;
      if (o.status === 200) {
        result.completed++;
        if (o.ttftMs !== undefined) result.ttfts.push(o.ttftMs);
      } else result.failed++;
    }
  };
  await Promise.all(Array.from({ length: opts.concurrency }, client));
  result.elapsedMs = Math.min(performance.now(), deadline) - started;
  return result;
}

export interface BurstResult {
  sent: number;
  /** ms from the first to the last request sent. */
  sendMs: number;
  statuses: Record<string, number>;
  /** Requests that got no HTTP answer at all, and why. */
  lost: number;
  lostBy: Record<string, number>;
  /** ms from the first request to the last answer. */
  drainMs: number;
}

/** `total` requests sent evenly over `windowMs`, open loop; resolves when every one ended. */
export async function openLoopBurst(opts: {
  target: Target;
  path: string;
  total: number;
  windowMs: number;
  body: (i: number) => Buffer;
  /** Called about every 50 ms while answers are outstanding. */
  onTick?: () => void;
}): Promise<BurstResult> {
  const statuses: Record<string, number> = {};
  let lost = 0;
  const lostBy: Record<string, number> = {};
  let sent = 0;
  const pending: Promise<void>[] = [];
  const started = performance.now();
  const tick = setInterval(() => opts.onTick?.(), 50);
  await new Promise<void>((resolve) => {
    const pump = (): void => {
      const due = Math.min(
        opts.total,
        Math.ceil(((performance.now() - started) / opts.windowMs) * opts.total),
      );
      for (; sent < due; sent++)
        pending.push(
          send(opts.target, opts.path, opts.body(sent), true).then((o) => {
            if (!o.answered) {
              lost++;
              lostBy[o.error ?? "unknown"] = (lostBy[o.error ?? "unknown"] ?? 0) + 1;
            } else statuses[o.status] = (statuses[o.status] ?? 0) + 1;
          }),
        );
      if (sent < opts.total) setImmediate(pump);
      else resolve();
    };
    pump();
  });
  const sendMs = performance.now() - started;
  await Promise.all(pending);
  clearInterval(tick);
  return { sent, sendMs, statuses, lost, lostBy, drainMs: performance.now() - started };
}

export function quantile(values: readonly number[], q: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))] as number;
}

export async function closeTargets(targets: readonly Target[]): Promise<void> {
  await Promise.all(targets.map((t) => t.pool.destroy()));
}
