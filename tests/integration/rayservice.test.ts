// RayService against real Ray (heads run by the pod runner at their pods' IPs): a tiny Serve
// application deployed through the dashboard's REST API answers on :8000 behind the serve
// Service; a change of the cluster brings up a new cluster, and traffic through the Service's
// endpoints never fails while it moves there.
import { execFileSync } from "node:child_process";
import { copyFileSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { venvProgram } from "../../cli/dev/python.ts";
import { rayServiceController } from "../../controllers/rayservice/index.ts";
import { resourceTypes } from "../../controllers/resources.ts";
import { repoRoot } from "../../crds/generate.ts";
import type { RayService } from "../../crds/index.ts";
import { builtin, type KubeClient, type KubeObject } from "../../operator/index.ts";
import { eventually, type TestNamespace } from "../support/cluster.ts";
import { pythonVenv } from "../support/python.ts";
import { type RayTestbed, startRayTestbed } from "../support/ray-testbed.ts";

const rt = resourceTypes.rayService;
type RS = RayService & KubeObject;
let bed: RayTestbed;
let client: KubeClient;
let ns: TestNamespace;
let zipDir: string;
let zip: string;

beforeAll(async () => {
  // The application's code as a working_dir zip Ray fetches by a file:// URI.
  zipDir = mkdtempSync(join(tmpdir(), "serve-app-"));
  mkdirSync(join(zipDir, "hello"));
  copyFileSync(join(repoRoot, "tests/fixtures/ray/hello_serve.py"), join(zipDir, "hello", "hello_serve.py"));
  zip = join(zipDir, "hello.zip");
  execFileSync(venvProgram(pythonVenv(), "python"), ["-m", "zipfile", "-c", zip, "hello"], { cwd: zipDir });
  bed = await startRayTestbed("raysvc", { controllers: [rayServiceController()], logEnv: "RAYSVC_TEST_LOG" });
  ({ client, ns } = bed);
});

afterAll(async () => {
  await bed?.stop();
  rmSync(zipDir, { recursive: true, force: true });
});

const serveConfig = () =>
  [
    "applications:",
    "  - name: hello",
    "    route_prefix: /",
    "    import_path: hello_serve:app",
    "    runtime_env:",
    `      working_dir: file://${zip}`,
  ].join("\n");

const clusterConfig = (headCpus: string) => ({
  rayVersion: "2.60.0",
  image: "rayproject/ray:2.60.0",
  head: { resources: { cpu: "1", memory: "2Gi" }, rayStartParams: { "num-cpus": headCpus } },
});

const get = () => client.get<RS>(rt, "hello", ns.name);
const until = (what: string, ok: (s: RS) => boolean, timeoutMs = 200_000) =>
  eventually(
    async () => {
      const s = await get();
      return ok(s) ? s : undefined;
    },
    timeoutMs,
    `RayService hello: ${what}`,
  ).catch(async (e) => {
    throw new Error(`${String(e)}; last status ${JSON.stringify((await get()).status)}`);
  });
const isReady = (s: RS) =>
  s.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True") ?? false;

/**
 * Where the serve Service sends traffic: the ready pod its selector matches, port 8000 (what
 * kube-proxy would pick; this control plane runs no EndpointSlice controller).
 */
async function serviceEndpoint(): Promise<string | undefined> {
  const service = await client.get<KubeObject & { spec?: { selector?: Record<string, string> } }>(
    builtin.services,
    "hello-serve",
    ns.name,
  );
  const selector = Object.entries(service.spec?.selector ?? {})
    .map(([k, v]) => `${k}=${v}`)
    .join(",");
  const pods = await client.list<
    KubeObject & { status?: { podIP?: string; conditions?: Array<{ type: string; status: string }> } }
  >(builtin.pods, { namespace: ns.name, query: { labelSelector: selector } });
  const ready = pods.items.find(
    (p) =>
      !p.metadata.deletionTimestamp &&
      p.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True"),
  );
  return ready?.status?.podIP ? `http://${ready.status.podIP}:8000/` : undefined;
}

async function ask(url: string): Promise<string | undefined> {
  const res = await fetch(url, { signal: AbortSignal.timeout(5_000) }).catch(() => undefined);
  return res?.ok ? await res.text() : undefined;
}

describe("RayService", { timeout: 400_000 }, () => {
  it("rejects a serveConfigV2 that is not YAML offline, naming the field", async () => {
    const { validateObject } = await import("../../crds/validate.ts");
    const result = validateObject({
      apiVersion: rt.apiVersion,
      kind: rt.kind,
      metadata: { name: "bad" },
      spec: { serveConfigV2: "applications: [unclosed", rayClusterConfig: clusterConfig("1") },
    });
    expect(result.errors).toEqual([
      { path: "spec.serveConfigV2", message: expect.stringContaining("not YAML") },
    ]);
  });

  it("serves an application on :8000 behind its Service, and upgrades to a new cluster without a failed request", async () => {
    await client.create(rt, {
      apiVersion: rt.apiVersion,
      kind: rt.kind,
      metadata: { name: "hello", namespace: ns.name },
      spec: { serveConfigV2: serveConfig(), rayClusterConfig: clusterConfig("1") },
    });
    const first = await until("Ready", isReady);
    const oldCluster = first.status?.activeServiceStatus?.clusterName as string;
    expect(oldCluster).toMatch(/^hello-[0-9a-f]{8}$/);
    expect(first.status?.activeServiceStatus?.applications).toEqual([
      expect.objectContaining({
        name: "hello",
        status: "RUNNING",
        deployments: [expect.objectContaining({ name: "Hello", status: "HEALTHY", replicas: 1 })],
      }),
    ]);
    const before = await eventually(serviceEndpoint, 60_000, "the serve Service's endpoint");
    expect(await eventually(() => ask(before), 60_000, "an answer through the Service")).toBe(
      "hello from serve",
    );

    await client.patch(rt, "hello", ns.name, { spec: { rayClusterConfig: clusterConfig("2") } }, "merge");
    // Ask through whatever the Service points at, all along the upgrade.
    let asked = 0;
    const failures: string[] = [];
    const moved = await eventually(
      async () => {
        const url = await serviceEndpoint();
        asked++;
        const answer = url ? await ask(url) : undefined;
        if (answer !== "hello from serve") failures.push(`${url}: ${answer}`);
        const s = await get();
        const active = s.status?.activeServiceStatus?.clusterName;
        return active !== oldCluster && isReady(s) && url !== before ? s : undefined;
      },
      300_000,
      "traffic on the new cluster",
    );
    expect(failures).toEqual([]);
    expect(asked).toBeGreaterThan(5);
    expect(moved.status?.pendingServiceStatus).toBeUndefined();
    expect(await ask((await serviceEndpoint()) as string)).toBe("hello from serve");
    await eventually(
      async () =>
        (await client.list(resourceTypes.rayCluster, { namespace: ns.name })).items.some(
          (c) => c.metadata.name === oldCluster,
        )
          ? undefined
          : true,
      60_000,
      "the old cluster deleted",
    );
  });
});
