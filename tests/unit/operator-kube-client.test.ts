// KubeClient against a small HTTP server on loopback: what it does when the server refuses its
// credentials (401), and when the client certificate it was built with expires.
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ApiError, KubeClient } from "../../operator/kube-client.ts";
import type { ClusterConnection, TlsOptions } from "../../operator/kubeconfig.ts";
import { builtin } from "../../operator/resource.ts";

let server: Server;
let url: string;
/** Authorization headers the server accepts; every other request gets a 401. */
const accepted = new Set<string>();
const seen: string[] = [];

beforeAll(async () => {
  server = createServer((req: IncomingMessage, res) => {
    const auth = req.headers.authorization ?? "";
    seen.push(auth);
    if (!accepted.has(auth)) {
      res.writeHead(401, { "Content-Type": "application/json" });
      res.end(JSON.stringify({ kind: "Status", reason: "Unauthorized", message: "Unauthorized", code: 401 }));
      return;
    }
    res.writeHead(200, { "Content-Type": "application/json" });
    res.end(JSON.stringify({ metadata: { name: "n" } }));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
});

/** A connection whose token changes each time it is invalidated; counts what it is asked. */
function rotating(tls: () => TlsOptions = () => ({})) {
  const counts = { token: 1, invalidated: 0, tlsAsked: 0 };
  const connection: ClusterConnection = {
    server: url,
    tlsOptions: async () => {
      counts.tlsAsked++;
      return tls();
    },
    authHeaders: async () => ({ Authorization: `Bearer t${counts.token}` }),
    invalidate: () => {
      counts.invalidated++;
      counts.token++;
    },
  };
  return { connection, counts };
}

describe("a 401", () => {
  it("drops the cached credentials and sends the request once more with fresh ones", async () => {
    accepted.clear();
    accepted.add("Bearer t2");
    const { connection, counts } = rotating();
    const client = new KubeClient({ kubeConfig: connection, qps: 0 });
    seen.length = 0;
    const node = await client.get(builtin.nodes, "n");
    expect(node.metadata.name).toBe("n");
    expect(seen).toEqual(["Bearer t1", "Bearer t2"]);
    expect(counts.invalidated).toBe(1);
    // The transport was rebuilt with it: TLS material is asked for again.
    expect(counts.tlsAsked).toBe(2);
    await client.close();
  });

  it("is retried once only: credentials refused twice are an error", async () => {
    accepted.clear();
    const { connection, counts } = rotating();
    const client = new KubeClient({ kubeConfig: connection, qps: 0 });
    seen.length = 0;
    const failure = await client.get(builtin.nodes, "n").catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(ApiError);
    expect((failure as ApiError).status).toBe(401);
    expect(seen).toHaveLength(2);
    expect(counts.invalidated).toBe(1);
    await client.close();
  });
});

describe("client certificates that expire", () => {
  it("an expired one is asked for again before the next request", async () => {
    accepted.clear();
    accepted.add("Bearer t1");
    const { connection, counts } = rotating(() => ({ expiresAt: Date.now() - 1 }));
    const client = new KubeClient({ kubeConfig: connection, qps: 0 });
    await client.get(builtin.nodes, "n");
    await client.get(builtin.nodes, "n");
    expect(counts.tlsAsked).toBe(3);
    await client.close();
  });

  it("one still good is not", async () => {
    accepted.clear();
    accepted.add("Bearer t1");
    const { connection, counts } = rotating(() => ({ expiresAt: Date.now() + 3_600_000 }));
    const client = new KubeClient({ kubeConfig: connection, qps: 0 });
    await client.get(builtin.nodes, "n");
    await client.get(builtin.nodes, "n");
    expect(counts.tlsAsked).toBe(1);
    await client.close();
  });
});
