// The Serving page's figures from each routed InferenceService's router (GET /router/stats on
// the router pod's address, the endpoint the autoscaler reads). Polled by the console's server
// only while a browser is connected, one request per router in flight at most, each with a
// short timeout; a router the server cannot reach (a cluster whose pod network is not routable
// from here) is shown as such, not retried faster.
import { request } from "node:http";
import type { KubeObject } from "../../operator/resource.ts";
import type { RouterPoint, RouterRow, ServiceRow } from "./protocol.ts";

/** Points kept per service: two minutes at the default period. */
const historyLength = 60;

interface StatsService {
  service?: string;
  routerQueued?: number;
  inFlight?: number;
  requestsPerSecond?: Record<string, number>;
  tokensPerSecond?: Record<string, number>;
}

/** The point for one service out of a /router/stats answer, or undefined if it is not there. */
export function pointFrom(stats: unknown, service: string, t: number): RouterPoint | undefined {
  const services = (stats as { services?: StatsService[] })?.services;
  const s = Array.isArray(services) ? services.find((x) => x.service === service) : undefined;
  if (!s) return undefined;
  return {
    t,
    requestsPerSecond: s.requestsPerSecond?.["1s"] ?? 0,
    queued: s.routerQueued ?? 0,
    inFlight: s.inFlight ?? 0,
    tokensPerSecond: s.tokensPerSecond?.["1s"] ?? 0,
  };
}

function getJson(url: string, timeoutMs: number): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const req = request(url, { timeout: timeoutMs }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => {
        if (res.statusCode !== 200) return reject(new Error(`HTTP ${res.statusCode}`));
        try {
          resolve(JSON.parse(Buffer.concat(chunks).toString("utf8")));
        } catch (error) {
          reject(error);
        }
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
          const stats = await getJson(`http://${host}:${port}/router/stats`, timeoutMs);
          const point = pointFrom(stats, service.name, Date.now());
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
  }
}
