// A loopback stand-in for the dashboards of many Ray heads, for the benchmarks: one HTTP server
// on every address (0.0.0.0), so each kwok head pod's IP reaches it, keeping one state per
// head by the address the request came in on. It answers as Ray's own API does, with the
// same paths and field names: Job Submission (a job is PENDING, RUNNING for runMs, then
// SUCCEEDED with a log line) and the cluster status the autoscaler reads (the demand a
// benchmark sets per head).
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";

interface Job {
  submittedAt: number;
  entrypoint: string;
}

interface Head {
  jobs: Map<string, Job>;
  demand: Array<[Record<string, number>, number]>;
}

export interface RayStandIn {
  port: number;
  /** When each job (by submission id) was first submitted. */
  submittedAt: Map<string, number>;
  setDemand(ip: string, demand: Array<[Record<string, number>, number]>): void;
  close(): Promise<void>;
}

const body = async (req: IncomingMessage): Promise<Record<string, unknown>> => {
  let text = "";
  for await (const chunk of req) text += chunk;
  return text ? (JSON.parse(text) as Record<string, unknown>) : {};
};

export async function startRayStandIn(options: { runMs: number }): Promise<RayStandIn> {
  const heads = new Map<string, Head>();
  const submittedAt = new Map<string, number>();
  const headOf = (ip: string): Head => {
    let h = heads.get(ip);
    if (!h) {
      h = { jobs: new Map(), demand: [] };
      heads.set(ip, h);
    }
    return h;
  };
  const server: Server = createServer(async (req, res) => {
    const ip = (req.socket.localAddress ?? "").replace(/^::ffff:/, "");
    const head = headOf(ip);
    const url = new URL(req.url ?? "/", "http://x");
    const send = (status: number, value: unknown) => {
      res.writeHead(status, { "content-type": "application/json" });
      res.end(JSON.stringify(value));
    };
    const job = /^\/api\/jobs\/([^/]+)(\/logs|\/stop)?$/.exec(url.pathname);
    if (req.method === "POST" && url.pathname === "/api/jobs/") {
      const b = await body(req);
      const id = String(b.submission_id);
      if (head.jobs.has(id)) return send(500, `Job with submission_id ${id} already exists.`);
      head.jobs.set(id, { submittedAt: Date.now(), entrypoint: String(b.entrypoint) });
      if (!submittedAt.has(id)) submittedAt.set(id, performance.now());
      return send(200, { job_id: id, submission_id: id });
    }
    if (req.method === "GET" && job) {
      const id = decodeURIComponent(job[1] as string);
      const j = head.jobs.get(id);
      if (!j) return send(404, `Job ${id} does not exist`);
      const age = Date.now() - j.submittedAt;
      const done = age >= options.runMs;
      if (job[2] === "/logs") return send(200, { logs: done ? "done\n" : "" });
      return send(200, {
        type: "SUBMISSION",
        submission_id: id,
        job_id: null,
        status: done ? "SUCCEEDED" : age > options.runMs / 2 ? "RUNNING" : "PENDING",
        entrypoint: j.entrypoint,
        message: done ? "Job finished successfully." : null,
        error_type: null,
        start_time: j.submittedAt,
        end_time: done ? j.submittedAt + options.runMs : 0,
        driver_exit_code: done ? 0 : null,
      });
    }
    if (req.method === "GET" && url.pathname === "/api/cluster_status") {
      return send(200, {
        result: true,
        msg: "Got cluster status.",
        data: {
          autoscalingStatus: "",
          autoscalingError: null,
          clusterStatus: {
            time: Date.now() / 1000,
            loadMetricsReport: {
              resourceDemand: head.demand,
              pgDemand: [],
              requestDemand: [],
              usageByNode: { [`node-${ip}`]: { CPU: [0, 1], memory: [0, 1e9] } },
            },
          },
        },
      });
    }
    if (req.method === "GET" && url.pathname === "/api/v0/nodes") {
      return send(200, {
        result: true,
        msg: "",
        data: {
          result: {
            total: 1,
            result: [{ node_id: `node-${ip}`, node_ip: ip, is_head_node: true, state: "ALIVE" }],
          },
        },
      });
    }
    send(404, "not found");
  });
  await new Promise<void>((resolve) => server.listen(0, "0.0.0.0", resolve));
  return {
    port: (server.address() as AddressInfo).port,
    submittedAt,
    setDemand: (ip, demand) => {
      headOf(ip).demand = demand;
    },
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
