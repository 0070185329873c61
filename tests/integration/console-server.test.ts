// The console's server on the shared control plane, over plain HTTP: it binds loopback unless
// told otherwise, refuses other origins, other Host names, other sites and requests without
// the session, takes only GET and HEAD, and streams a snapshot of the cluster once let in.
import { request } from "node:http";
import { connect } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type RunningConsole, startConsole } from "../../console/server/index.ts";
import { loadClusterConnection } from "../../operator/kubeconfig.ts";
import { kubeconfigPath } from "../support/cluster.ts";

let c: RunningConsole;
let cookie: string;

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** One request; for the event stream, the first `streamBytes` bytes and then it hangs up. */
function get(
  path: string,
  headers: Record<string, string> = {},
  method = "GET",
  streamBytes = 0,
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: "127.0.0.1",
        port: c.port,
        path,
        method,
        headers: { host: `127.0.0.1:${c.port}`, ...headers },
        timeout: 10_000,
      },
      (res) => {
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (chunk: string) => {
          body += chunk;
          if (streamBytes > 0 && body.length >= streamBytes) {
            req.destroy();
            resolve({ status: res.statusCode ?? 0, headers: res.headers, body });
          }
        });
        res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      },
    );
    req.on("timeout", () => req.destroy(new Error("timeout")));
    req.on("error", reject);
    req.end();
  });
}

beforeAll(async () => {
  c = await startConsole({ kubeConfig: loadClusterConnection(kubeconfigPath()), port: 0 });
  await c.watch.waitForSync();
  const token = new URL(c.url).searchParams.get("token") ?? "";
  const exchange = await get(`/?token=${token}`);
  expect(exchange.status).toBe(303);
  const setCookie = String(exchange.headers["set-cookie"]);
  expect(setCookie).toMatch(/HttpOnly/);
  expect(setCookie).toMatch(/SameSite=Strict/);
  cookie = setCookie.split(";")[0] ?? "";
}, 60_000);

afterAll(async () => {
  await c?.close();
});

describe("the console's server", () => {
  it("listens on 127.0.0.1 only: another loopback address of the same host is refused", async () => {
    expect(c.address).toBe("127.0.0.1");
    const refused = await new Promise<string>((resolve) => {
      const s = connect({ host: "127.0.0.2", port: c.port });
      s.on("connect", () => {
        s.destroy();
        resolve("connected");
      });
      s.on("error", (e: NodeJS.ErrnoException) => resolve(e.code ?? "error"));
    });
    expect(refused).toBe("ECONNREFUSED");
  });

  it("streams the cluster to a same-origin request with the session", async () => {
    const answer = await get(
      "/api/stream",
      { cookie, origin: `http://127.0.0.1:${c.port}`, "sec-fetch-site": "same-origin" },
      "GET",
      200,
    );
    expect(answer.status).toBe(200);
    expect(answer.headers["content-type"]).toMatch(/text\/event-stream/);
    expect(answer.body).toMatch(/^retry: 2000\n\nevent: cluster\ndata: \{"connected":true/);
  });

  it("refuses another origin, another site, a foreign Host and a missing session", async () => {
    const evil = await get("/api/stream", { cookie, origin: "http://evil.example" });
    expect(evil.status).toBe(403);
    expect(evil.body).toMatch(/cross-origin/);
    const site = await get("/api/stream", { cookie, "sec-fetch-site": "cross-site" });
    expect(site.status).toBe(403);
    // DNS rebinding: evil.example resolved to 127.0.0.1 sends its own name as Host.
    const rebound = await get("/api/stream", { cookie, host: `evil.example:${c.port}` });
    expect(rebound.status).toBe(403);
    expect(rebound.body).toMatch(/host evil.example/);
    const anonymous = await get("/api/stream");
    expect(anonymous.status).toBe(401);
    const wrongToken = await get("/?token=not-the-token");
    expect(wrongToken.status).toBe(401);
    const page = await get("/", { host: `evil.example:${c.port}` });
    expect(page.status).toBe(403);
  });

  it("is read-only and serves its front end with a strict content policy", async () => {
    const post = await get("/api/stream", { cookie }, "POST");
    expect(post.status).toBe(405);
    const index = await get("/");
    expect(index.status).toBe(200);
    expect(index.body).toContain('<script type="module" src="/app.js">');
    expect(index.headers["content-security-policy"]).toMatch(/script-src 'self'/);
    expect(index.headers["content-security-policy"]).toMatch(/frame-ancestors 'none'/);
    const app = await get("/app.js");
    expect(app.status).toBe(200);
    expect(app.headers["content-type"]).toMatch(/javascript/);
    expect(app.body.length).toBeGreaterThan(1000);
    // Everything ships with it: no script or style from another host.
    expect(index.body).not.toMatch(/https?:\/\//);
  });
});
