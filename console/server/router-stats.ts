// The Serving page's figures from each routed InferenceService's router (GET /router/stats on
// the router pod's address, the endpoint the autoscaler reads). Polled by the console's server
// only while a browser is connected, one request per router in flight at most, each with a
// short timeout; a router the server cannot reach (a cluster whose pod network is not routable
// from here) is shown as such, not retried faster.
import { request } from "node:http";
import type { KubeObject } from "../../operator/resource.ts";
import { parsePrometheusText } from "../../router/prom-text.ts";
import type { RouterPoint, RouterRow, ServiceRow } from "./protocol.ts";
import {
  type Counts,
  countsFor,
  quantileBetween,
  rejectedPerSecond,
  wantedSeries,
} from "./router-metrics.ts";

/** Points kept per service: two minutes at the default period. */
const historyLength = 60;

interface StatsService {
  service?: string;
  model?: string;
  routerQueued?: number;
  inFlight?: number;
  requestsPerSecond?: Record<string, number>;
  tokensPerSecond?: Record<string, number>;
}

/**
 * The point for one InferenceService out of its router's /router/stats answer, or undefined if
 * it is not there. The router names what it fronts after its source ("pods:llama-70b"), not
 * after the InferenceService, so the entry is found by the served model's name; a router
 * fronts one InferenceService, so a single entry is that service's.
 */
export function pointFrom(
  stats: unknown,
  service: { name: string; servedModel?: string },
  t: number,
): (RouterPoint & { model?: string }) | undefined {
  const services = (stats as { services?: StatsService[] })?.services;
  const list = Array.isArray(services) ? services : [];
  const s =
    list.find((x) => x.service === service.name) ??
    list.find((x) => service.servedModel !== undefined && x.model === service.servedModel) ??
    (list.length === 1 ? list[0] : undefined);
  if (!s) return undefined;
  return {
    t,
    model: s.model,
    requestsPerSecond: s.requestsPerSecond?.["1s"] ?? 0,
    queued: s.routerQueued ?? 0,
    inFlight: s.inFlight ?? 0,
    tokensPerSecond: s.tokensPerSecond?.["1s"] ?? 0,
    rejectedPerSecond: 0,
  };
}

function getText(url: string, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request(url, { timeout: timeoutMs }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => {
        if (res.statusCode !== 200) return reject(new Error(`HTTP ${res.statusCode}`));
        resolve(Buffer.concat(chunks).toString("utf8"));
      });
      res.on("error", reject);
    });
    req.on("timeout", () => req.destroy(new Error(`no answer in ${timeoutMs} ms`)));
    req.on("error", reject);
    req.end();
  });
}

export interface RouterPollerOptions {
  services: () => Iterable<ServiceRow>;
  routerPods: (serviceId: string) => KubeObject[];
  publish: (row: RouterRow) => void;
  periodMs?: number;
  timeoutMs?: number;
  port?: number;
}

export class RouterPoller {
  private readonly options: RouterPollerOptions;
  private readonly history = new Map<string, RouterPoint[]>();
  /** The last scrape's counts per service, for the next interval's differences. */
  private readonly lastCounts = new Map<string, { t: number; counts: Counts }>();
  private timer: NodeJS.Timeout | undefined;
  private running = false;

  constructor(options: RouterPollerOptions) {
    this.options = options;
  }

  /** Starts polling (idempotent); stop() ends it. */
  start(): void {
    if (this.running) return;
    this.running = true;
    const loop = async (): Promise<void> => {
      await this.pollOnce();
      if (this.running) this.timer = setTimeout(loop, this.options.periodMs ?? 2000);
    };
    void loop();
  }

  stop(): void {
    this.running = false;
    clearTimeout(this.timer);
  }

  async pollOnce(): Promise<void> {
    const { timeoutMs = 1000, port = 8000 } = this.options;
    const routed = [...this.options.services()].filter((s) => s.routed);
    await Promise.all(
      routed.map(async (service) => {
        const pod = this.options
          .routerPods(service.id)
          .find((p) => (p.status as { podIP?: string } | undefined)?.podIP);
        const ip = (pod?.status as { podIP?: string } | undefined)?.podIP;
        const points = this.history.get(service.id) ?? [];
        if (!ip) {
          this.options.publish({
            id: service.id,
            reachable: false,
            error: "no router pod with an address",
            points,
          });
          return;
        }
        try {
          const host = ip.includes(":") ? `[${ip}]` : ip;
          const base = `http://${host}:${port}`;
          const [stats, metrics] = await Promise.all([
            getText(`${base}/router/stats`, timeoutMs).then((t) => JSON.parse(t) as unknown),
            getText(`${base}/metrics`, timeoutMs).catch(() => ""),
          ]);
          const found = pointFrom(stats, service, Date.now());
          let point: RouterPoint | undefined;
          if (found) {
            const { model, ...rest } = found;
            point = rest;
            const counts = countsFor(parsePrometheusText(metrics, wantedSeries), model ?? service.name);
            const last = this.lastCounts.get(service.id);
            point.ttftP50 = quantileBetween(last?.counts, counts, 0.5);
            point.ttftP99 = quantileBetween(last?.counts, counts, 0.99);
            point.rejectedPerSecond = rejectedPerSecond(
              last?.counts,
              counts,
              (point.t - (last?.t ?? point.t)) / 1000,
            );
            this.lastCounts.set(service.id, { t: point.t, counts });
          }
          if (point) {
            points.push(point);
            if (points.length > historyLength) points.shift();
            this.history.set(service.id, points);
          }
          this.options.publish({ id: service.id, reachable: true, points: [...points] });
        } catch (error) {
          this.options.publish({
            id: service.id,
            reachable: false,
            error: `router at ${ip}:${port} not reachable from the console: ${(error as Error).message}`,
            points,
          });
        }
      }),
    );
    for (const id of this.history.keys()) if (!routed.some((s) => s.id === id)) this.history.delete(id);
    for (const id of this.lastCounts.keys()) if (!routed.some((s) => s.id === id)) this.lastCounts.delete(id);
  }
}
