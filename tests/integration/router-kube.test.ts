// Kube discovery against the real API server: a selector-less Service whose EndpointSlices
// are written by hand and point at engine simulators. EndpointSlice validation refuses
// loopback addresses, so the simulators listen on this host's own non-loopback address
// (traffic to it never leaves the host).
import { networkInterfaces } from "node:os";
import * as k8s from "@kubernetes/client-node";
import { Agent, request } from "undici";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { silentLogger } from "../../operator/log.ts";
import { parseRouterArgs } from "../../router/options.ts";
import { type RunningRouter, startRouter } from "../../router/router.ts";
import {
  eventually,
  kubeconfigPath,
  loadKubeConfig,
  type TestNamespace,
  testNamespace,
} from "../support/cluster.ts";
import { type EngineSim, loopbackHosts, startEngineSim } from "../support/engine-sims.ts";

const model = "llama-8b";
const service = "llama";
const kc = loadKubeConfig();
const discovery = kc.makeApiClient(k8s.DiscoveryV1Api);
const core = kc.makeApiClient(k8s.CoreV1Api);
const agent = new Agent({ connections: 64 });
let ns: TestNamespace;
let sims: EngineSim[] = [];
let router: RunningRouter;

function localAddress(): string {
  for (const list of Object.values(networkInterfaces()))
    for (const a of list ?? []) if (a.family === "IPv4" && !a.internal) return a.address;
  throw new Error("this host has no non-loopback IPv4 address for EndpointSlices to point at");
}

const slice = (name: string, sim: EngineSim, ready: boolean): k8s.V1EndpointSlice => {
  const url = new URL(sim.url);
  return {
    metadata: {
      name,
      labels: {
        "kubernetes.io/service-name": service,
        "endpointslice.kubernetes.io/managed-by": "tests.sovereign.dev",
      },
    },
    addressType: "IPv4",
    endpoints: [{ addresses: [url.hostname], conditions: { ready } }],
    ports: [{ name: "http", port: Number(url.port), protocol: "TCP" }],
  };
};

async function chat(key = "key-a"): Promise<number> {
  const res = await request(`${router.url}/v1/chat/completions`, {
    method: "POST",
    dispatcher: agent,
    headers: { "content-type": "application/json", authorization: `Bearer ${key}` },
    body: JSON.stringify({ model, max_tokens: 2, messages: [{ role: "user", content: "hi" }] }),
  });
  await res.body.dump();
  return res.statusCode;
}

async function servedBy(n: number): Promise<number[]> {
  const before = await Promise.all(sims.map((s) => s.metric("vllm:request_success_total")));
  const codes = await Promise.all(Array.from({ length: n }, () => chat()));
  expect(codes).toEqual(codes.map(() => 200));
  const after = await Promise.all(sims.map((s) => s.metric("vllm:request_success_total")));
  return after.map((v, i) => v - (before[i] as number));
}

const b64 = (s: string): string => Buffer.from(s).toString("base64");

beforeAll(async () => {
  ns = await testNamespace("router-kube");
  const host = localAddress();
  sims = await Promise.all(
    [0, 1, 2].map(() => startEngineSim({ model, host, env: { SIM_TTFT_MS: "2", SIM_ITL_MS: "1" } })),
  );
  await core.createNamespacedService({
    namespace: ns.name,
    body: { metadata: { name: service }, spec: { ports: [{ name: "http", port: 8000, protocol: "TCP" }] } },
  });
  await core.createNamespacedSecret({
    namespace: ns.name,
    body: { metadata: { name: "router-keys" }, data: { team: b64("key-a\nkey-b\n") } },
  });
  for (const [i, name] of ["a", "b"].entries())
    await discovery.createNamespacedEndpointSlice({
      namespace: ns.name,
      body: slice(`${service}-${name}`, sims[i] as EngineSim, true),
    });
  router = await startRouter(
    parseRouterArgs([
      "--host",
      loopbackHosts(1)[0] as string,
      "--port",
      "0",
      "--namespace",
      ns.name,
      "--service",
      `${service}=${model}`,
      "--kubeconfig",
      kubeconfigPath(),
      "--api-keys-secret",
      "router-keys",
    ]),
    silentLogger,
  );
  await eventually(
    async () => ((await request(`${router.url}/readyz`)).statusCode === 200 ? true : undefined),
    30_000,
    "readyz",
  );
}, 120_000);

afterAll(async () => {
  await router?.close();
  await Promise.all(sims.map((s) => s.stop()));
  await agent.close();
  await ns?.[Symbol.asyncDispose]();
});

const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("kube discovery", () => {
  it("routes to every ready endpoint of the Service's slices", async () => {
    const counts = await servedBy(30);
    expect(counts[0]).toBeGreaterThan(0);
    expect(counts[1]).toBeGreaterThan(0);
    expect(counts[2]).toBe(0);
  });

  it("stops sending to an endpoint within a second of it turning unready", async () => {
    await discovery.replaceNamespacedEndpointSlice({
      name: `${service}-a`,
      namespace: ns.name,
      body: {
        ...slice(`${service}-a`, sims[0] as EngineSim, false),
        metadata: { ...(await readSlice("a")).metadata },
      },
    });
    await pause(1000);
    const counts = await servedBy(20);
    expect(counts).toEqual([0, 20, 0]);
  });

  it("starts sending to a new endpoint within a second, without a restart", async () => {
    await discovery.createNamespacedEndpointSlice({
      namespace: ns.name,
      body: slice(`${service}-c`, sims[2] as EngineSim, true),
    });
    await pause(1000);
    const counts = await servedBy(30);
    expect(counts[0]).toBe(0);
    expect(counts[2]).toBeGreaterThan(0);
  });

  it("holds a request while no endpoint is ready and sends it when one comes back", async () => {
    // All slices gone: the model has no replica, and a request waits (up to the default 60 s
    // cold-start wait) instead of failing.
    await discovery.deleteCollectionNamespacedEndpointSlice({
      namespace: ns.name,
      labelSelector: `kubernetes.io/service-name=${service}`,
    });
    await eventually(
      async () => {
        const stats = (await (await request(`${router.url}/router/stats`)).body.json()) as {
          services: Array<{ readyReplicas: number }>;
        };
        return stats.services[0]?.readyReplicas === 0 ? true : undefined;
      },
      5000,
      "no ready replica",
    );
    const held = chat();
    await pause(300);
    await discovery.createNamespacedEndpointSlice({
      namespace: ns.name,
      body: slice(`${service}-b2`, sims[1] as EngineSim, true),
    });
    // The held request goes through as soon as the replica is back.
    expect(await held).toBe(200);
  });

  it("takes API keys from the Secret and follows its changes", async () => {
    expect(await chat("key-b")).toBe(200);
    expect(await chat("key-new")).toBe(401);
    await core.replaceNamespacedSecret({
      name: "router-keys",
      namespace: ns.name,
      body: { metadata: { name: "router-keys" }, data: { team: b64("key-a"), other: b64("key-new") } },
    });
    await eventually(
      async () => ((await chat("key-new")) === 200 ? true : undefined),
      5000,
      "the new key to work",
    );
    expect(await chat("key-b")).toBe(401);
  });
});

async function readSlice(name: string): Promise<k8s.V1EndpointSlice> {
  return discovery.readNamespacedEndpointSlice({ name: `${service}-${name}`, namespace: ns.name });
}
