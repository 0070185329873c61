// The chart's console option: off by default; on, its ServiceAccount's ClusterRole only lists
// and watches, and that is enough: the console's server, run here with nothing but a token of
// that ServiceAccount, syncs every watch and reports the cluster connected, while the same
// token is refused a write and a Secret.
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as k8s from "@kubernetes/client-node";
import { loadAll } from "js-yaml";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type RunningConsole, startConsole } from "../../console/server/index.ts";
import { resourceTypes } from "../../controllers/resources.ts";
import { repoRoot } from "../../crds/generate.ts";
import {
  ApiError,
  builtin,
  KubeClient,
  type KubeObject,
  loadClusterConnection,
} from "../../operator/index.ts";
import { helm, kubectl, loadKubeConfig, type TestNamespace, testNamespace } from "../support/cluster.ts";

const chart = join(repoRoot, "charts/sovereign-stack");
const kc = loadKubeConfig();
const core = kc.makeApiClient(k8s.CoreV1Api);
const release = "cons";

interface Rule {
  apiGroups: string[];
  resources: string[];
  verbs: string[];
}
type Rendered = KubeObject & { kind: string; rules?: Rule[] };

async function render(namespace: string, set: string[]): Promise<Rendered[]> {
  const r = await helm(["template", release, chart, "-n", namespace, ...set.flatMap((s) => ["--set", s])]);
  expect(r.code, r.stderr).toBe(0);
  return (loadAll(r.stdout) as (Rendered | null)[]).filter((o): o is Rendered => o !== null);
}

let ns: TestNamespace;
let dir: string;
let rendered: Rendered[];
let running: RunningConsole | undefined;
let asConsole: KubeClient;

beforeAll(async () => {
  ns = await testNamespace("chart-console", kc);
  dir = await mkdtemp(join(tmpdir(), "chart-console-"));
  rendered = (await render(ns.name, ["console.enabled=true", "crds.install=false"])).filter((o) =>
    o.metadata.name?.endsWith("-console"),
  );
  // The RBAC part only: the Deployment would run the image, which this cluster cannot pull.
  const rbac = rendered.filter((o) =>
    ["ServiceAccount", "ClusterRole", "ClusterRoleBinding"].includes(o.kind),
  );
  const applied = await kubectl(["apply", "-n", ns.name, "-f", "-"], {
    input: JSON.stringify({ apiVersion: "v1", kind: "List", items: rbac }),
  });
  expect(applied.code, applied.stderr).toBe(0);
  const sa = rbac.find((o) => o.kind === "ServiceAccount")?.metadata.name ?? "";
  const token = await core.createNamespacedServiceAccountToken({
    name: sa,
    namespace: ns.name,
    body: { spec: { audiences: [], expirationSeconds: 3600 } },
  });
  const cluster = kc.getCurrentCluster();
  if (!cluster?.caData || !token.status?.token) throw new Error("no cluster CA or no token");
  const path = join(dir, "console.kubeconfig");
  await writeFile(
    path,
    JSON.stringify({
      apiVersion: "v1",
      kind: "Config",
      clusters: [
        { name: "test", cluster: { server: cluster.server, "certificate-authority-data": cluster.caData } },
      ],
      users: [{ name: sa, user: { token: token.status.token } }],
      contexts: [{ name: "console", context: { cluster: "test", user: sa } }],
      "current-context": "console",
    }),
    { mode: 0o600 },
  );
  asConsole = new KubeClient({ kubeConfig: loadClusterConnection(path) });
  running = await startConsole({
    kubeConfig: loadClusterConnection(path),
    port: 0,
    token: false,
    probeIntervalMs: 500,
  });
}, 120_000);

afterAll(async () => {
  await running?.close();
  await asConsole?.close();
  for (const o of rendered ?? [])
    if (o.kind === "ClusterRole" || o.kind === "ClusterRoleBinding")
      await kubectl(["delete", o.kind.toLowerCase(), o.metadata.name ?? "", "--ignore-not-found"]);
  await ns?.[Symbol.asyncDispose]();
  if (dir) await rm(dir, { recursive: true, force: true });
});

const statusOf = async (request: Promise<unknown>): Promise<number> => {
  try {
    await request;
    return 200;
  } catch (error) {
    if (error instanceof ApiError) return error.status;
    throw error;
  }
};

describe("the chart's console", () => {
  it("is off by default", async () => {
    const objects = await render(ns.name, []);
    expect(objects.filter((o) => o.metadata.name?.endsWith("-console"))).toEqual([]);
  });

  it("renders a ServiceAccount, a list/watch-only ClusterRole, a Deployment and a Service", () => {
    expect(rendered.map((o) => o.kind).sort()).toEqual(
      ["ClusterRole", "ClusterRoleBinding", "Deployment", "Service", "ServiceAccount"].sort(),
    );
    const role = rendered.find((o) => o.kind === "ClusterRole");
    const verbs = new Set(role?.rules?.flatMap((r) => r.verbs));
    expect([...verbs].sort()).toEqual(["list", "watch"]);
    expect(role?.rules?.flatMap((r) => r.resources)).not.toContain("secrets");
    const deployment = rendered.find((o) => o.kind === "Deployment") as unknown as {
      spec: {
        template: {
          spec: { serviceAccountName: string; containers: Array<{ command: string[]; args: string[] }> };
        };
      };
    };
    const pod = deployment.spec.template.spec;
    expect(pod.serviceAccountName).toBe(rendered.find((o) => o.kind === "ServiceAccount")?.metadata.name);
    expect(pod.containers[0]?.command).toEqual(["node", "dist/console/server/main.js"]);
    expect(pod.containers[0]?.args).toContain("--no-token");
  });

  it("is enough for the console: every watch syncs and the cluster shows as connected", async () => {
    const c = running as RunningConsole;
    // A watch the role did not cover would be refused forever and never sync.
    await c.watch.waitForSync(AbortSignal.timeout(60_000));
    await expect.poll(() => c.state.cluster.connected, { timeout: 15_000 }).toBe(true);
    expect(c.state.size("nodes")).toBeGreaterThan(0);
  });

  it("is refused everything else: writes, Secrets", async () => {
    expect(
      await statusOf(
        asConsole.create(resourceTypes.trainingJob, {
          apiVersion: resourceTypes.trainingJob.apiVersion,
          kind: "TrainingJob",
          metadata: { name: "nope", namespace: ns.name },
          spec: { image: "x" },
        }),
      ),
    ).toBe(403);
    expect(await statusOf(asConsole.list(builtin.secrets, { namespace: ns.name }))).toBe(403);
    expect(await statusOf(asConsole.delete(builtin.pods, "any", ns.name))).toBe(403);
  });
});
