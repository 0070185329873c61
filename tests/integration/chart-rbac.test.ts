// The chart's RBAC is enough, and no more: the chart is installed, a token of its
// ServiceAccount is requested (TokenRequest), and the operator runs as a local process
// (`node cmd/operator.ts --kubeconfig <file with only that token> --leader-elect ...`).
// It must become ready, lead, keep an AcceleratorPool's status, and run every workload kind
// registered in cmd/operator.ts to its ready state without a single 401/403; the same
// token must be refused what the operator never needs.
//
// Isolation on the shared cluster: the workloads run on a pool of this file's own simulated
// AWS Trainium nodes (tainted, and a vendor no other test asks for), in a namespace of their
// own that the operator is limited to (--namespace), so no other file's objects are touched.
import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as k8s from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { exitCodeAnnotation, runForAnnotation } from "../../cli/dev/kwok-stages.ts";
import { freePort } from "../../cli/dev/loopback.ts";
import { type SimulatedPool, simulatedNodes } from "../../cli/dev/simulated-nodes.ts";
import { resourceTypes } from "../../controllers/resources.ts";
import { repoRoot } from "../../crds/generate.ts";
import { labels } from "../../crds/index.ts";
import {
  ApiError,
  builtin,
  isNotFound,
  KubeClient,
  type KubeObject,
  loadClusterConnection,
  type ResourceType,
} from "../../operator/index.ts";
import {
  eventually,
  helm,
  kubectl,
  loadKubeConfig,
  type TestNamespace,
  testNamespace,
} from "../support/cluster.ts";

const chart = join(repoRoot, "charts/sovereign-stack");
const kc = loadKubeConfig();
const core = kc.makeApiClient(k8s.CoreV1Api);
const admin = new KubeClient({ kubeConfig: kc });
const suffix = randomBytes(3).toString("hex");
const release = "rbac";
const serviceAccount = `${release}-sovereign-stack`;
const leaseId = "sovereign-stack-operator";
const poolName = `trn-${suffix}`;
const taintKey = "sovereign.dev/dedicated";
const storageClass = `chart-rbac-${suffix}`;
const volumeName = `chart-rbac-${suffix}`;

const simulated: SimulatedPool = {
  name: poolName,
  nodes: 2,
  accelerator: { vendor: "aws", model: "trn2", devicesPerNode: 16, memoryGiB: 96 },
  cpu: "128",
  memory: "1Ti",
  taints: [{ key: taintKey, value: poolName, effect: "NoSchedule" }],
};
const nodeNames = simulatedNodes(simulated).map((n) => n.metadata?.name ?? "");

let ops: TestNamespace;
let work: TestNamespace;
let dir: string;
let tokenKubeconfig: string;
/** A client that holds nothing but the ServiceAccount's token. */
let asOperator: KubeClient;
let operator: OperatorProcess;

interface OperatorProcess {
  child: ChildProcess;
  lines: Array<Record<string, unknown>>;
  stderr: () => string;
  probeUrl: string;
  exited: Promise<number | string>;
  waitForLog(
    match: (l: Record<string, unknown>) => boolean,
    timeoutMs?: number,
  ): Promise<Record<string, unknown>>;
  metrics(): Promise<string>;
}

/**
 * cmd/operator.ts as `npm start` runs it, with the given flags; JSON log lines collected.
 * CHART_RBAC_OPERATOR_ENTRY names another entry point with the same flags, to try the RBAC
 * against a controller before it is registered in cmd/operator.ts.
 */
async function startOperator(args: string[]): Promise<OperatorProcess> {
  const probePort = await freePort();
  const child = spawn(
    process.execPath,
    [
      process.env.CHART_RBAC_OPERATOR_ENTRY ?? join(repoRoot, "cmd/operator.ts"),
      ...args,
      "--metrics-bind-address=127.0.0.1:0",
      `--health-probe-bind-address=127.0.0.1:${probePort}`,
    ],
    { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, KUBECONFIG: "" } },
  );
  const lines: Array<Record<string, unknown>> = [];
  let pending = "";
  let stderr = "";
  child.stdout?.setEncoding("utf8").on("data", (chunk: string) => {
    pending += chunk;
    for (let nl = pending.indexOf("\n"); nl >= 0; nl = pending.indexOf("\n")) {
      const text = pending.slice(0, nl);
      pending = pending.slice(nl + 1);
      if (process.env.OPERATOR_ECHO === "1") process.stderr.write(`[operator] ${text}\n`);
      try {
        lines.push(JSON.parse(text) as Record<string, unknown>);
      } catch {}
    }
  });
  child.stderr?.setEncoding("utf8").on("data", (chunk: string) => {
    stderr += chunk;
  });
  const exited = new Promise<number | string>((resolve) =>
    child.once("exit", (code, signal) => resolve(code ?? signal ?? "unknown")),
  );
  const waitForLog = (match: (l: Record<string, unknown>) => boolean, timeoutMs = 30_000) =>
    eventually(async () => lines.find(match), timeoutMs, "an operator log line").catch((e) => {
      throw new Error(
        `${String(e)}\nstderr: ${stderr}\nlog: ${lines.map((l) => JSON.stringify(l)).join("\n")}`,
      );
    });
  const started = await waitForLog((l) => l.msg === "manager starting");
  const metricsUrl = `http://${String(started.metrics)}`;
  return {
    child,
    lines,
    stderr: () => stderr,
    probeUrl: `http://127.0.0.1:${probePort}`,
    exited,
    waitForLog,
    metrics: async () => (await fetch(`${metricsUrl}/metrics`)).text(),
  };
}

/** Sum of the samples of `name` whose labels include every pair in `match`. */
function metricSum(text: string, name: string, match: (labels: Record<string, string>) => boolean): number {
  let sum = 0;
  for (const line of text.split("\n")) {
    const m = /^([a-z_]+)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const labels = Object.fromEntries(
      [...(m[2] ?? "").matchAll(/(\w+)="([^"]*)"/g)].map((l) => [l[1], l[2]]),
    );
    if (match(labels as Record<string, string>)) sum += Number(m[3]);
  }
  return sum;
}

/** The HTTP status the token gets for a request: 2xx, or the API error's status. */
async function statusOf(request: Promise<unknown>): Promise<number> {
  try {
    await request;
    return 200;
  } catch (error) {
    if (error instanceof ApiError) return error.status;
    throw error;
  }
}

const registered = (): string[] => {
  const started = operator.lines.find((l) => l.msg === "manager starting");
  return (started?.controllers as string[] | undefined) ?? [];
};

beforeAll(async () => {
  ops = await testNamespace("chart-rbac-ops", kc);
  work = await testNamespace("chart-rbac-work", kc);
  dir = await mkdtemp(join(tmpdir(), "chart-rbac-"));

  const installed = await helm([
    "install",
    release,
    chart,
    "-n",
    ops.name,
    "--set",
    "crds.install=false",
    "--set",
    "replicaCount=1",
    "--wait",
    "--timeout",
    "90s",
  ]);
  expect(installed.code, installed.stderr).toBe(0);

  const token = await core.createNamespacedServiceAccountToken({
    name: serviceAccount,
    namespace: ops.name,
    body: { spec: { audiences: [], expirationSeconds: 3600 } },
  });
  const cluster = kc.getCurrentCluster();
  if (!cluster?.caData || !token.status?.token) throw new Error("no cluster CA or no token");
  tokenKubeconfig = join(dir, "operator.kubeconfig");
  await writeFile(
    tokenKubeconfig,
    JSON.stringify({
      apiVersion: "v1",
      kind: "Config",
      clusters: [
        { name: "test", cluster: { server: cluster.server, "certificate-authority-data": cluster.caData } },
      ],
      users: [{ name: serviceAccount, user: { token: token.status.token } }],
      contexts: [{ name: "operator", context: { cluster: "test", user: serviceAccount } }],
      "current-context": "operator",
    }),
    { mode: 0o600 },
  );
  asOperator = new KubeClient({ kubeConfig: loadClusterConnection(tokenKubeconfig) });

  // This file's accelerators: nodes only its pool's pods tolerate, of a vendor nobody else uses.
  for (const body of simulatedNodes(simulated)) await core.createNode({ body });
  await admin.create(resourceTypes.acceleratorPool, {
    apiVersion: resourceTypes.acceleratorPool.apiVersion,
    kind: resourceTypes.acceleratorPool.kind,
    metadata: { name: poolName },
    spec: {
      vendor: "aws",
      model: "trn2",
      memoryGiB: 96,
      nodeSelector: { matchLabels: { "sovereign.dev/pool": poolName } },
      tolerations: [{ key: taintKey, operator: "Equal", value: poolName, effect: "NoSchedule" }],
    },
  });

  operator = await startOperator([
    `--kubeconfig=${tokenKubeconfig}`,
    "--leader-elect",
    `--leader-election-namespace=${ops.name}`,
    `--leader-election-id=${leaseId}`,
    `--namespace=${work.name}`,
  ]);
}, 180_000);

afterAll(async () => {
  if (operator && operator.child.exitCode === null) {
    operator.child.kill("SIGTERM");
    await operator.exited;
  }
  await asOperator?.close();
  await work?.[Symbol.asyncDispose]();
  await helm(["uninstall", release, "-n", ops.name, "--ignore-not-found", "--wait", "--timeout", "60s"]);
  await ops?.[Symbol.asyncDispose]();
  await admin.delete(resourceTypes.acceleratorPool, poolName).catch(() => {});
  await core.deletePersistentVolume({ name: volumeName }).catch(() => {});
  for (const name of nodeNames) await core.deleteNode({ name }).catch(() => {});
  await admin.close();
  if (dir) await rm(dir, { recursive: true, force: true });
}, 180_000);

describe("the operator with only the chart's ServiceAccount token", () => {
  it("authenticates as that ServiceAccount and nothing more", async () => {
    const whoami = await kubectl(["auth", "whoami", "-o", "json"], { kubeconfig: tokenKubeconfig });
    expect(whoami.code, whoami.stderr).toBe(0);
    const user = (
      JSON.parse(whoami.stdout) as { status: { userInfo: { username: string; groups: string[] } } }
    ).status.userInfo;
    expect(user.username).toBe(`system:serviceaccount:${ops.name}:${serviceAccount}`);
    expect(user.groups).not.toContain("system:masters");
  });

  it("becomes ready (/readyz 200) and takes the Lease in the release namespace", async () => {
    await eventually(
      async () => ((await fetch(`${operator.probeUrl}/readyz`)).status === 200 ? true : undefined),
      60_000,
      "/readyz 200",
    );
    expect((await fetch(`${operator.probeUrl}/healthz`)).status).toBe(200);
    await operator.waitForLog((l) => l.msg === "became leader", 60_000);
    const lease = await admin.get<KubeObject & { spec?: { holderIdentity?: string } }>(
      builtin.leases,
      leaseId,
      ops.name,
    );
    expect(lease.spec?.holderIdentity).toBe(
      String(operator.lines.find((l) => l.msg === "became leader")?.identity),
    );
  });

  it("runs every controller of cmd/operator.ts", () => {
    // Unless another entry point is under trial (CHART_RBAC_OPERATOR_ENTRY), the kinds below
    // are all there is, so each test that follows proves the RBAC of one of them.
    if (!process.env.CHART_RBAC_OPERATOR_ENTRY)
      expect([...registered()].sort()).toEqual([
        "acceleratorpool",
        "acceleratorqueue",
        "inferenceservice",
        "raycluster",
        "rayjob",
        "rayservice",
        "teamquota",
        "trainingjob",
      ]);
  });

  it("keeps an AcceleratorPool's status", async () => {
    const status = await eventually(
      async () => {
        const pool = await admin.get<KubeObject & { status?: Record<string, unknown> }>(
          resourceTypes.acceleratorPool,
          poolName,
        );
        return pool.status?.readyNodes === 2 ? pool.status : undefined;
      },
      60_000,
      `pool ${poolName} status`,
    );
    expect(status).toMatchObject({ nodes: 2, readyNodes: 2, capacity: 32 });
    expect(
      metricSum(
        await operator.metrics(),
        "controller_runtime_reconcile_total",
        (l) => l.controller === "acceleratorpool" && l.result === "success",
      ),
    ).toBeGreaterThan(0);
  });

  it("runs a TrainingJob to success, then deletes it after its TTL", async () => {
    expect(registered()).toContain("trainingjob");
    const rt = resourceTypes.trainingJob;
    const name = "train";
    await admin.create(rt, {
      apiVersion: rt.apiVersion,
      kind: rt.kind,
      metadata: { name, namespace: work.name },
      spec: {
        image: "ghcr.io/acme/train:1.0",
        command: ["python", "train.py"],
        nodes: 2,
        accelerators: { count: 4, pools: [poolName] },
        resources: { cpu: "4", memory: "16Gi" },
        ttlSecondsAfterFinished: 5,
        template: { metadata: { annotations: { [exitCodeAnnotation]: "0", [runForAnnotation]: "5s" } } },
      },
    });
    const phases: string[] = [];
    const get = () => admin.get<KubeObject & { status?: { phase?: string } }>(rt, name, work.name);
    await eventually(
      async () => {
        const phase = (await get()).status?.phase;
        if (phase && phases.at(-1) !== phase) phases.push(phase);
        return phase === "Succeeded" ? true : undefined;
      },
      90_000,
      "TrainingJob Succeeded",
    ).catch(async (e) => {
      throw new Error(`${String(e)}; phases ${phases}; status ${JSON.stringify((await get()).status)}`);
    });
    expect(phases).toContain("Running");
    // ttlSecondsAfterFinished: the operator deletes the job (delete on trainingjobs).
    await eventually(
      async () =>
        (await get().then(
          () => false,
          (e) => isNotFound(e),
        ))
          ? true
          : undefined,
      60_000,
      "the finished TrainingJob deleted after its TTL",
    );
  });

  it("runs a RayCluster to Ready", async () => {
    expect(registered()).toContain("raycluster");
    const rt = resourceTypes.rayCluster;
    await admin.create(rt, {
      apiVersion: rt.apiVersion,
      kind: rt.kind,
      metadata: { name: "ray", namespace: work.name },
      spec: {
        rayVersion: "2.52.0",
        image: "rayproject/ray:2.52.0",
        head: { resources: { cpu: "1", memory: "2Gi" }, rayStartParams: { "num-cpus": "0" } },
        workerGroups: [
          {
            name: "neuron",
            replicas: 2,
            accelerators: { count: 2, pools: [poolName] },
            resources: { cpu: "2", memory: "4Gi" },
          },
        ],
      },
    });
    const rc = await eventually(
      async () => {
        const obj = await admin.get<
          KubeObject & { status?: { phase?: string; endpoints?: Record<string, string> } }
        >(rt, "ray", work.name);
        return obj.status?.phase === "Ready" ? obj : undefined;
      },
      90_000,
      "RayCluster Ready",
    );
    expect(rc.status?.endpoints?.gcs).toContain("ray-head");
    const pods = await admin.list(resourceTypes.pod, {
      namespace: work.name,
      query: { labelSelector: `${labels.kind}=raycluster,${labels.name}=ray` },
    });
    expect(pods.items.map((p) => p.metadata.name).sort()).toEqual([
      "ray-head",
      "ray-neuron-0",
      "ray-neuron-1",
    ]);
  });

  it("runs a RayJob: creates its RayCluster, says the dashboard is unreachable, and deletes the cluster on suspend", async () => {
    expect(registered()).toContain("rayjob");
    const rt = resourceTypes.rayJob;
    await admin.create(rt, {
      apiVersion: rt.apiVersion,
      kind: rt.kind,
      metadata: { name: "rj", namespace: work.name },
      spec: {
        entrypoint: "python -c pass",
        rayClusterSpec: {
          rayVersion: "2.60.0",
          image: "rayproject/ray:2.60.0",
          head: { resources: { cpu: "1", memory: "2Gi" } },
        },
      },
    });
    type RJ = KubeObject & {
      status?: { conditions?: Array<{ type: string; status: string; message: string }> };
    };
    // No Ray runs here: the head pod's address answers nothing, which the job says.
    const job = await eventually(
      async () => {
        const obj = await admin.get<RJ>(rt, "rj", work.name);
        const c = obj.status?.conditions?.find((x) => x.type === "DashboardReachable");
        return c?.status === "False" ? obj : undefined;
      },
      90_000,
      "the RayJob reporting its dashboard unreachable",
    );
    expect(job.metadata.finalizers).toContain("stack.sovereign.dev/stop-ray-job");
    await admin.patch(rt, "rj", work.name, { spec: { suspend: true } }, "merge");
    await eventually(
      async () => {
        const list = await admin.list(resourceTypes.rayCluster, { namespace: work.name });
        return list.items.some((c) => c.metadata.name === "rj") ? undefined : true;
      },
      60_000,
      "the RayJob's cluster deleted on suspend",
    );
    await admin.delete(rt, "rj", work.name);
    await eventually(
      async () => ((await statusOf(admin.get(rt, "rj", work.name))) === 404 ? true : undefined),
      60_000,
      "the RayJob gone once its finalizer is removed",
    );
  });

  it("runs an InferenceService with a Secret and a model cache to Ready, and drops the cache claim", async () => {
    expect(registered()).toContain("inferenceservice");
    const rt = resourceTypes.inferenceService;
    // The Secret the service names: the operator may only GET it (rbac.secretGet).
    await core.createNamespacedSecret({
      namespace: work.name,
      body: { metadata: { name: "hf-token" }, stringData: { token: "hf_test" } },
    });
    // A volume the model cache claim binds to (no provisioner here), by a class of its own.
    await core.createPersistentVolume({
      body: {
        metadata: { name: volumeName },
        spec: {
          storageClassName: storageClass,
          capacity: { storage: "10Gi" },
          accessModes: ["ReadWriteMany"],
          persistentVolumeReclaimPolicy: "Retain",
          hostPath: { path: `/tmp/${volumeName}` },
        },
      },
    });
    await admin.create(rt, {
      apiVersion: rt.apiVersion,
      kind: rt.kind,
      metadata: { name: "llm", namespace: work.name },
      spec: {
        model: { uri: "hf://meta-llama/Llama-3.1-8B-Instruct", name: "llm", secretRef: { name: "hf-token" } },
        engine: { image: "vllm/vllm-openai:v0.11.0" },
        accelerators: { count: 1, pools: [poolName] },
        resources: { cpu: "2", memory: "8Gi" },
        replicas: 2,
        modelCache: { size: "10Gi", storageClassName: storageClass },
      },
    });
    type Isvc = KubeObject & { status?: { phase?: string; readyReplicas?: number; url?: string } };
    const svc = await eventually(
      async () => {
        const obj = await admin.get<Isvc>(rt, "llm", work.name);
        return obj.status?.phase === "Ready" && obj.status.readyReplicas === 2 ? obj : undefined;
      },
      90_000,
      "InferenceService Ready with 2 replicas",
    ).catch(async (e) => {
      throw new Error(
        `${String(e)}; status ${JSON.stringify((await admin.get<Isvc>(rt, "llm", work.name)).status)}`,
      );
    });
    expect(svc.status?.url).toContain(`llm.${work.name}.svc`);
    const claims = await admin.list(builtin.persistentVolumeClaims, { namespace: work.name });
    expect(claims.items).toHaveLength(1);
    const claimName = claims.items[0]?.metadata.name ?? "";

    // Without modelCache the operator deletes its claim (delete on persistentvolumeclaims); the
    // claim may linger with a deletionTimestamp while a pod still mounts it.
    await admin.patch(rt, "llm", work.name, { spec: { modelCache: null } }, "merge");
    await eventually(
      async () => {
        const claim = await admin.getOrUndefined(builtin.persistentVolumeClaims, claimName, work.name);
        return !claim || claim.metadata.deletionTimestamp ? true : undefined;
      },
      60_000,
      "the model cache claim deleted",
    );

    // The router: its ServiceAccount, a Role the API server lets the operator write only with
    // permissions it holds itself (no escalate or bind), the binding, Deployment and Service; and
    // all of it deleted again when the router is turned off.
    await admin.patch(
      rt,
      "llm",
      work.name,
      { spec: { router: { enabled: true, apiKeysSecret: "hf-token" } } },
      "merge",
    );
    const routed = await eventually(
      async () => {
        const obj = await admin.get<Isvc & { status?: { router?: { readyReplicas?: number } } }>(
          rt,
          "llm",
          work.name,
        );
        return (obj.status?.router?.readyReplicas ?? 0) > 0 ? obj : undefined;
      },
      60_000,
      "the router ready",
    );
    expect(routed.status?.url).toBe(`http://llm-router.${work.name}.svc:8000/v1`);
    const role = await admin.get<KubeObject & { rules: unknown[] }>(
      resourceTypes.role,
      "llm-router",
      work.name,
    );
    expect(role.rules).toContainEqual({
      apiGroups: [""],
      resources: ["secrets"],
      resourceNames: ["hf-token"],
      verbs: ["get"],
    });
    await admin.patch(rt, "llm", work.name, { spec: { router: { enabled: false } } }, "merge");
    await eventually(
      async () =>
        (await admin.getOrUndefined(resourceTypes.role, "llm-router", work.name)) ? undefined : true,
      60_000,
      "the router's Role deleted",
    );
  });

  it("got no 401 or 403 from the API server, and no reconcile failed", async () => {
    const text = await operator.metrics();
    expect(metricSum(text, "rest_client_requests_total", (l) => l.code === "403" || l.code === "401")).toBe(
      0,
    );
    expect(metricSum(text, "rest_client_requests_total", (l) => /^2/.test(l.code ?? ""))).toBeGreaterThan(0);
    // AcceleratorPools are cluster-scoped: the pool controller also sees the other files' pools,
    // which they create and delete under it. A reconcile that fails on one of those says nothing
    // about this chart's RBAC (a refusal would still show below as a 403); every other
    // controller reconciles this file's namespace only.
    const foreignPool = (l: Record<string, unknown>) =>
      l.controller === "acceleratorpool" && l.key !== poolName;
    const failures = operator.lines.filter(
      (l) => (l.level === "error" || /reconcile failed/i.test(String(l.msg))) && !foreignPool(l),
    );
    expect(failures).toEqual([]);
    expect(
      metricSum(text, "controller_runtime_reconcile_errors_total", (l) => l.controller !== "acceleratorpool"),
      JSON.stringify(failures),
    ).toBe(0);
    // The API server's refusals say "forbidden" (403) or "Unauthorized" (401) in the message.
    const forbidden = operator.lines.filter((l) => /forbidden|unauthorized/i.test(JSON.stringify(l)));
    expect(forbidden).toEqual([]);
    console.log(`RBAC proof ran the controllers: ${registered().join(", ")}`);
  });
});

describe("the same token is refused what the operator must not do", () => {
  const secretsEverywhere = builtin.secrets;
  const clusterRoles: ResourceType = {
    apiVersion: "rbac.authorization.k8s.io/v1",
    kind: "ClusterRole",
    plural: "clusterroles",
    namespaced: false,
  };
  const clusterRoleBindings: ResourceType = {
    ...clusterRoles,
    kind: "ClusterRoleBinding",
    plural: "clusterrolebindings",
  };

  it("refuses, with 403, every request outside the chart's rules", async () => {
    const refused: Array<[string, () => Promise<unknown>]> = [
      ["list Secrets cluster-wide", () => asOperator.list(secretsEverywhere)],
      [
        "list Secrets in its own namespace",
        () => asOperator.list(secretsEverywhere, { namespace: ops.name }),
      ],
      ["watch Secrets", () => asOperator.request("GET", "/api/v1/secrets?watch=true&timeoutSeconds=1")],
      [
        "create a Secret",
        () => asOperator.create(secretsEverywhere, { metadata: { name: "x", namespace: work.name } }),
      ],
      [
        "create a ClusterRole",
        () =>
          asOperator.create(clusterRoles, {
            apiVersion: clusterRoles.apiVersion,
            kind: "ClusterRole",
            metadata: { name: `escalate-${suffix}` },
            rules: [{ apiGroups: ["*"], resources: ["*"], verbs: ["*"] }],
          }),
      ],
      [
        "bind itself to cluster-admin",
        () =>
          asOperator.create(clusterRoleBindings, {
            apiVersion: clusterRoles.apiVersion,
            kind: "ClusterRoleBinding",
            metadata: { name: `escalate-${suffix}` },
            roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: "cluster-admin" },
            subjects: [{ kind: "ServiceAccount", name: serviceAccount, namespace: ops.name }],
          }),
      ],
      ["delete a Node", () => asOperator.delete(builtin.nodes, nodeNames[0] ?? "")],
      [
        "patch a Node",
        () =>
          asOperator.patch(
            builtin.nodes,
            nodeNames[0] ?? "",
            undefined,
            { spec: { unschedulable: true } },
            "merge",
          ),
      ],
      ["delete a Namespace", () => asOperator.delete(builtin.namespaces, work.name)],
      [
        "exec into a pod",
        () => asOperator.request("POST", `/api/v1/namespaces/${work.name}/pods/ray-head/exec?command=sh`),
      ],
      ["read a Lease that is not its own", () => asOperator.get(builtin.leases, "someone-else", ops.name)],
      ["get a ConfigMap", () => asOperator.get(builtin.configMaps, "kube-root-ca.crt", ops.name)],
      [
        "mint a token for another ServiceAccount",
        () =>
          asOperator.request("POST", `/api/v1/namespaces/${ops.name}/serviceaccounts/default/token`, {
            body: { spec: {} },
          }),
      ],
      [
        "delete a CustomResourceDefinition",
        () => asOperator.delete(builtin.customResourceDefinitions, "trainingjobs.stack.sovereign.dev"),
      ],
      ["delete an AcceleratorPool", () => asOperator.delete(resourceTypes.acceleratorPool, poolName)],
      ["delete a RayJob", () => asOperator.delete(resourceTypes.rayJob, "none", work.name)],
      [
        "update a TrainingJob's spec",
        () => asOperator.patch(resourceTypes.trainingJob, "none", work.name, { spec: {} }, "merge"),
      ],
    ];
    const wrong: string[] = [];
    for (const [what, request] of refused) {
      const status = await statusOf(request());
      if (status !== 403) wrong.push(`${what}: HTTP ${status}`);
    }
    expect(wrong).toEqual([]);
  });

  it("allows what the operator does: list pods and nodes cluster-wide, get a named Secret", async () => {
    expect(await statusOf(asOperator.list(resourceTypes.pod, { query: { limit: 1 } }))).toBe(200);
    expect(await statusOf(asOperator.list(resourceTypes.node, { query: { limit: 1 } }))).toBe(200);
    expect(await statusOf(asOperator.list(resourceTypes.trainingJob, { query: { limit: 1 } }))).toBe(200);
    // rbac.secretGet (default true): one Secret by name; 404 is an answer, not a refusal.
    expect(await statusOf(asOperator.get(builtin.secrets, "absent", "kube-system"))).toBe(404);
  });

  it("with rbac.secretGet=false reads no Secret at all, and a service naming one is not admitted", async () => {
    const upgraded = await helm([
      "upgrade",
      release,
      chart,
      "-n",
      ops.name,
      "--reuse-values",
      "--set",
      "rbac.secretGet=false",
      "--wait",
      "--timeout",
      "90s",
    ]);
    expect(upgraded.code, upgraded.stderr).toBe(0);
    await core.createNamespacedSecret({
      namespace: "kube-system",
      body: { metadata: { name: `chart-rbac-${suffix}` }, stringData: { a: "b" } },
    });
    try {
      await eventually(
        async () =>
          (await statusOf(asOperator.get(builtin.secrets, `chart-rbac-${suffix}`, "kube-system"))) === 403
            ? true
            : undefined,
        30_000,
        "Secret get refused after the upgrade",
      );
      expect(await statusOf(asOperator.get(builtin.secrets, "hf-token", work.name))).toBe(403);
    } finally {
      await core
        .deleteNamespacedSecret({ name: `chart-rbac-${suffix}`, namespace: "kube-system" })
        .catch(() => {});
    }

    expect(registered()).toContain("inferenceservice");
    const rt = resourceTypes.inferenceService;
    const before = metricSum(await operator.metrics(), "rest_client_requests_total", (l) => l.code === "403");
    await admin.create(rt, {
      apiVersion: rt.apiVersion,
      kind: rt.kind,
      metadata: { name: "needs-secret", namespace: work.name },
      spec: {
        // Not hf-token: the operator remembers for a minute that that one exists.
        model: {
          uri: "hf://meta-llama/Llama-3.1-8B-Instruct",
          name: "m",
          secretRef: { name: "other-token" },
        },
        engine: { image: "vllm/vllm-openai:v0.11.0" },
        accelerators: { count: 1, pools: [poolName] },
        resources: { cpu: "1", memory: "2Gi" },
        replicas: 1,
      },
    });
    // The Secret check is refused (the operator's request count of 403 grows)...
    await eventually(
      async () =>
        metricSum(await operator.metrics(), "rest_client_requests_total", (l) => l.code === "403") > before
          ? true
          : undefined,
      30_000,
      "the refused Secret check",
    );
    // ...and nothing is admitted or created for that service.
    const svc = await admin.get<KubeObject & { status?: { phase?: string; admission?: unknown } }>(
      rt,
      "needs-secret",
      work.name,
    );
    expect(svc.status?.phase).not.toBe("Ready");
    const deployments = await admin.list(builtin.deployments, {
      namespace: work.name,
      query: { labelSelector: `${labels.name}=needs-secret` },
    });
    expect(deployments.items).toEqual([]);
  });
});
