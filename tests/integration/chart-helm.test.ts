import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { loadAll } from "js-yaml";
import { describe, expect, it } from "vitest";
import { resourceTypes } from "../../controllers/resources.ts";
import { repoRoot } from "../../crds/generate.ts";
import { resources } from "../../crds/index.ts";
import { builtin, isNotFound, KubeClient, type KubeObject } from "../../operator/index.ts";
import { eventually, helm, kubectl, loadKubeConfig, testNamespace } from "../support/cluster.ts";

const chart = join(repoRoot, "charts/sovereign-stack");
const client = new KubeClient({ kubeConfig: loadKubeConfig() });

interface Rendered extends KubeObject {
  kind: string;
  spec?: Record<string, unknown>;
  rules?: Array<{ apiGroups: string[]; resources: string[]; verbs: string[]; resourceNames?: string[] }>;
}

async function render(namespace: string, set: string[] = []): Promise<{ text: string; objects: Rendered[] }> {
  const result = await helm(["template", "rel", chart, "-n", namespace, ...set.flatMap((s) => ["--set", s])]);
  expect(result.code, result.stderr).toBe(0);
  const objects = (loadAll(result.stdout) as (Rendered | null)[]).filter((o): o is Rendered => o !== null);
  return { text: result.stdout, objects };
}

const ofKind = (objects: Rendered[], kind: string): Rendered[] => objects.filter((o) => o.kind === kind);

type Container = {
  name: string;
  command?: string[];
  args?: string[];
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
  securityContext?: Record<string, unknown>;
  livenessProbe?: { httpGet?: { path: string; port: string } };
  readinessProbe?: { httpGet?: { path: string; port: string } };
  volumeMounts?: Array<{ name: string; mountPath: string }>;
};
type PodSpec = {
  serviceAccountName?: string;
  securityContext?: Record<string, unknown>;
  containers: Container[];
  volumes?: Array<{ name: string; emptyDir?: unknown }>;
};
type DeploymentSpec = { replicas: number; template: { spec: PodSpec } };

const deploymentOf = (objects: Rendered[]): DeploymentSpec => {
  const [deployment] = ofKind(objects, "Deployment");
  expect(deployment).toBeDefined();
  return deployment?.spec as unknown as DeploymentSpec;
};

describe("helm lint and template", () => {
  it("passes helm lint --strict with the defaults and with every optional part switched", async () => {
    for (const set of [
      [],
      ["crds.install=false", "rbac.secretGet=false"],
      ["serviceMonitor.enabled=true", "replicaCount=1", "operator.leaderElection.enabled=false"],
      ["console.enabled=true", "console.allowedHosts={console.example.org}"],
    ]) {
      const result = await helm(["lint", "--strict", chart, ...set.flatMap((s) => ["--set", s])]);
      expect(result.code, `${set.join(",")}\n${result.stdout}${result.stderr}`).toBe(0);
      expect(result.stdout).toContain("0 chart(s) failed");
    }
  });

  it("renders objects the API server accepts (kubectl apply --dry-run=server)", async () => {
    await using ns = await testNamespace("chart-dry");
    const { text, objects } = await render(ns.name);
    const applied = await kubectl(["apply", "--dry-run=server", "-n", ns.name, "-f", "-"], { input: text });
    expect(applied.code, applied.stderr).toBe(0);
    // One line per object, each accepted by the server.
    const lines = applied.stdout.trim().split("\n");
    expect(lines).toHaveLength(objects.length);
    for (const line of lines) expect(line).toMatch(/\((server dry run)\)$/);
    expect(
      ofKind(objects, "CustomResourceDefinition")
        .map((o) => o.metadata.name)
        .sort(),
    ).toEqual(resources.map((r) => r.crdName).sort());
  });

  it("renders the operator Deployment: 2 replicas, leader election, probes, resources, restricted security", async () => {
    const { objects } = await render("ops");
    expect(objects.map((o) => o.kind).sort()).toEqual(
      [
        ...resources.map(() => "CustomResourceDefinition"),
        "ClusterRole",
        "ClusterRoleBinding",
        "Deployment",
        "PodDisruptionBudget",
        "Role",
        "RoleBinding",
        "Service",
        "ServiceAccount",
      ].sort(),
    );
    const spec = deploymentOf(objects);
    expect(spec.replicas).toBe(2);
    const pod = spec.template.spec;
    const [operator] = pod.containers;
    expect(operator?.command).toEqual(["node", "dist/cmd/operator.js"]);
    expect(operator?.args).toEqual(
      expect.arrayContaining([
        "--leader-elect",
        "--leader-election-namespace=ops",
        "--leader-election-id=sovereign-stack-operator",
        "--metrics-bind-address=:8080",
        "--health-probe-bind-address=:8081",
      ]),
    );
    expect(operator?.livenessProbe?.httpGet).toEqual({ path: "/healthz", port: "health" });
    expect(operator?.readinessProbe?.httpGet).toEqual({ path: "/readyz", port: "health" });
    expect(operator?.resources?.requests).toEqual({ cpu: "100m", memory: "256Mi" });
    expect(operator?.resources?.limits).toEqual({ cpu: "1", memory: "1Gi" });
    expect(operator?.securityContext).toEqual({
      runAsNonRoot: true,
      readOnlyRootFilesystem: true,
      allowPrivilegeEscalation: false,
      capabilities: { drop: ["ALL"] },
      seccompProfile: { type: "RuntimeDefault" },
    });
    expect(pod.securityContext).toMatchObject({
      runAsNonRoot: true,
      seccompProfile: { type: "RuntimeDefault" },
    });
    expect(operator?.volumeMounts).toEqual([{ name: "tmp", mountPath: "/tmp" }]);
    expect(pod.volumes?.find((v) => v.name === "tmp")?.emptyDir).toBeDefined();
    expect(pod.serviceAccountName).toBe("rel-sovereign-stack");
  });

  it("renders RBAC without wildcards, escalation verbs, cluster-wide RBAC writes or Secret reads beyond get", async () => {
    const { objects } = await render("ops");
    const rules = [...ofKind(objects, "ClusterRole"), ...ofKind(objects, "Role")].flatMap(
      (r) => r.rules ?? [],
    );
    expect(rules.length).toBeGreaterThan(5);
    for (const rule of rules) {
      for (const field of [rule.apiGroups, rule.resources, rule.verbs]) expect(field).not.toContain("*");
      for (const verb of ["escalate", "bind", "impersonate", "deletecollection"])
        expect(rule.verbs).not.toContain(verb);
      // The router's Role and RoleBinding, namespaced only: without escalate or bind the API
      // server lets the operator grant nothing it does not hold itself.
      if (rule.apiGroups.includes("rbac.authorization.k8s.io"))
        expect([...rule.resources].sort()).toEqual(["rolebindings", "roles"]);
      if (rule.resources.includes("secrets")) expect(rule.verbs).toEqual(["get"]);
    }
    for (const binding of ofKind(objects, "ClusterRoleBinding")) {
      expect((binding as { roleRef?: { name: string } }).roleRef?.name).not.toMatch(
        /^(cluster-admin|admin|edit)$/,
      );
    }
    // Leases only in the release namespace, read and renewed by name.
    const [role] = ofKind(objects, "Role");
    expect(role?.metadata.namespace).toBe("ops");
    expect(role?.rules).toEqual([
      {
        apiGroups: ["coordination.k8s.io"],
        resources: ["leases"],
        resourceNames: ["sovereign-stack-operator"],
        verbs: ["get", "update"],
      },
      { apiGroups: ["coordination.k8s.io"], resources: ["leases"], verbs: ["create"] },
    ]);

    const without = await render("ops", ["rbac.secretGet=false"]);
    const secretRules = ofKind(without.objects, "ClusterRole")
      .flatMap((r) => r.rules ?? [])
      .filter((r) => r.resources.includes("secrets"));
    expect(secretRules).toEqual([]);
  });

  it("renders the ServiceMonitor only when enabled, and the CRDs only with crds.install", async () => {
    expect(ofKind((await render("ops")).objects, "ServiceMonitor")).toEqual([]);
    const monitored = await render("ops", ["serviceMonitor.enabled=true"]);
    const [monitor] = ofKind(monitored.objects, "ServiceMonitor");
    expect(monitor?.spec).toMatchObject({ endpoints: [{ port: "metrics", path: "/metrics" }] });
    const noCrds = await render("ops", ["crds.install=false"]);
    expect(ofKind(noCrds.objects, "CustomResourceDefinition")).toEqual([]);
    expect(ofKind(noCrds.objects, "Deployment")).toHaveLength(1);
  });
});

describe("values.schema.json", () => {
  it("fails helm install on a wrong value, naming it, and installs nothing", async () => {
    await using ns = await testNamespace("chart-schema");
    const cases: Array<[string[], RegExp]> = [
      [["replicaCount=two"], /at '\/replicaCount': got string, want integer/],
      [
        ["operator.logLevel=verbose"],
        /at '\/operator\/logLevel': value must be one of 'debug', 'info', 'warn', 'error'/,
      ],
      [["resources.limits.memory=lots"], /at '\/resources\/limits\/memory': 'lots' does not match pattern/],
      [["crds.instal=false"], /at '\/crds': additional properties 'instal' not allowed/],
      [["metrics.port=70000"], /at '\/metrics\/port': maximum: got 70,000, want 65,535/],
      [
        ["replicaCount=2", "operator.leaderElection.enabled=false"],
        /replicaCount > 1 needs operator.leaderElection.enabled=true/,
      ],
    ];
    for (const [set, message] of cases) {
      const result = await helm([
        "install",
        "bad",
        chart,
        "-n",
        ns.name,
        ...set.flatMap((s) => ["--set", s]),
      ]);
      expect(result.code, set.join(",")).not.toBe(0);
      expect(result.stderr).toMatch(message);
    }
    // No release record (the ConfigMap driver keeps one per revision, labelled owner=helm).
    const records = await kubectl(["get", "configmaps", "-n", ns.name, "-l", "owner=helm", "-o", "name"]);
    expect(records.code, records.stderr).toBe(0);
    expect(records.stdout.trim()).toBe("");
  });
});

describe("a release on the cluster", () => {
  it("installs, upgrades with changed values, and uninstalls, each checked on the cluster", async () => {
    await using ns = await testNamespace("chart-life");
    // The restricted Pod Security Standard, enforced: the operator's pods must pass it to exist.
    const labelled = await kubectl([
      "label",
      "namespace",
      ns.name,
      "pod-security.kubernetes.io/enforce=restricted",
    ]);
    expect(labelled.code, labelled.stderr).toBe(0);
    const release = `life-${randomBytes(2).toString("hex")}`;
    const fullname = `${release}-sovereign-stack`;
    const clusterName = `${ns.name}-${fullname}`;
    const get = async (
      kind: string,
      name: string,
      namespaced = true,
    ): Promise<Record<string, unknown> | undefined> => {
      const r = await kubectl(["get", kind, name, ...(namespaced ? ["-n", ns.name] : []), "-o", "json"]);
      if (r.code !== 0) {
        expect(r.stderr).toMatch(/NotFound/);
        return undefined;
      }
      return JSON.parse(r.stdout) as Record<string, unknown>;
    };
    const deployment = async () =>
      (await get("deployment", fullname)) as
        | { spec: DeploymentSpec; status?: { readyReplicas?: number; availableReplicas?: number } }
        | undefined;

    try {
      const installed = await helm([
        "install",
        release,
        chart,
        "-n",
        ns.name,
        "--set",
        "crds.install=false",
        "--wait",
        "--timeout",
        "90s",
      ]);
      expect(installed.code, installed.stderr).toBe(0);
      // NOTES.txt: what to do next.
      expect(installed.stdout).toContain(`kubectl -n ${ns.name} rollout status deployment/${fullname}`);
      expect(installed.stdout).toContain("stackctl get");
      expect(installed.stdout).toContain("kubectl apply -f samples/trainingjob.yaml");
      const records = await kubectl([
        "get",
        "configmaps",
        "-n",
        ns.name,
        "-l",
        `owner=helm,name=${release}`,
        "-o",
        "name",
      ]);
      expect(records.stdout.trim().split("\n"), "the release record").toHaveLength(1);

      const d = await eventually(
        async () => {
          const dep = await deployment();
          return dep?.status?.readyReplicas === 2 ? dep : undefined;
        },
        60_000,
        "2 ready operator replicas",
      );
      expect(d.spec.replicas).toBe(2);
      for (const [kind, name, namespaced] of [
        ["serviceaccount", fullname, true],
        ["service", `${fullname}-metrics`, true],
        ["role", `${fullname}-leader-election`, true],
        ["rolebinding", `${fullname}-leader-election`, true],
        ["poddisruptionbudget", fullname, true],
        ["clusterrole", clusterName, false],
        ["clusterrolebinding", clusterName, false],
      ] as const) {
        expect(await get(kind, name, namespaced), `${kind}/${name}`).toBeDefined();
      }
      const svc = (await get("service", `${fullname}-metrics`)) as {
        spec: { ports: Array<{ port: number }> };
      };
      expect(svc.spec.ports[0]?.port).toBe(8080);

      const upgraded = await helm([
        "upgrade",
        release,
        chart,
        "-n",
        ns.name,
        "--reuse-values",
        "--set",
        "replicaCount=3",
        "--set",
        "resources.limits.memory=2Gi",
        "--set",
        "resources.requests.cpu=200m",
        "--wait",
        "--timeout",
        "90s",
      ]);
      expect(upgraded.code, upgraded.stderr).toBe(0);
      const after = await eventually(
        async () => {
          const dep = await deployment();
          return dep?.status?.readyReplicas === 3 ? dep : undefined;
        },
        60_000,
        "3 ready operator replicas after the upgrade",
      );
      expect(after.spec.replicas).toBe(3);
      const container = after.spec.template.spec.containers[0];
      expect(container?.resources?.limits).toEqual({ cpu: "1", memory: "2Gi" });
      expect(container?.resources?.requests).toEqual({ cpu: "200m", memory: "256Mi" });
      const history = await helm(["history", release, "-n", ns.name, "-o", "json"]);
      expect((JSON.parse(history.stdout) as Array<{ revision: number }>).map((h) => h.revision)).toEqual([
        1, 2,
      ]);

      const uninstalled = await helm(["uninstall", release, "-n", ns.name, "--wait", "--timeout", "60s"]);
      expect(uninstalled.code, uninstalled.stderr).toBe(0);
      for (const [kind, name, namespaced] of [
        ["deployment", fullname, true],
        ["serviceaccount", fullname, true],
        ["service", `${fullname}-metrics`, true],
        ["role", `${fullname}-leader-election`, true],
        ["rolebinding", `${fullname}-leader-election`, true],
        ["poddisruptionbudget", fullname, true],
        ["clusterrole", clusterName, false],
        ["clusterrolebinding", clusterName, false],
      ] as const) {
        expect(await get(kind, name, namespaced), `${kind}/${name} after uninstall`).toBeUndefined();
      }
      // crds.install=false: the release never touched the CRDs, which other tests use.
      for (const r of resources) expect(await get("crd", r.crdName, false), r.crdName).toBeDefined();
    } finally {
      await helm(["uninstall", release, "-n", ns.name, "--ignore-not-found"]);
    }
  });

  it("installs the CRDs as templates and keeps them, and the objects in them, on uninstall", async () => {
    // Guard first: a CRD without `keep` would be deleted by the uninstall below, and with it
    // every object of that kind in the shared cluster.
    const { objects } = await render("crds");
    const crds = ofKind(objects, "CustomResourceDefinition");
    expect(crds).toHaveLength(resources.length);
    for (const crd of crds)
      expect(crd.metadata.annotations?.["helm.sh/resource-policy"], crd.metadata.name).toBe("keep");

    await using ns = await testNamespace("chart-crds");
    const release = `crds-${randomBytes(2).toString("hex")}`;
    const sentinel = `chart-keep-${randomBytes(3).toString("hex")}`;
    const rt = resourceTypes.acceleratorPool;
    await client.create(rt, {
      apiVersion: rt.apiVersion,
      kind: rt.kind,
      metadata: { name: sentinel },
      spec: {
        vendor: "aws",
        model: "trn2",
        memoryGiB: 96,
        nodeSelector: { matchLabels: { "sovereign.dev/pool": sentinel } },
      },
    });
    try {
      // The CRDs exist (global-setup applied them): the release takes them over, as an upgrade
      // from `kubectl apply -f crds/` to the chart would.
      const installed = await helm([
        "install",
        release,
        chart,
        "-n",
        ns.name,
        "--take-ownership",
        "--set",
        "replicaCount=1",
        "--wait",
        "--timeout",
        "90s",
      ]);
      expect(installed.code, installed.stderr).toBe(0);
      expect(installed.stdout).toContain("helm.sh/resource-policy: keep");
      for (const r of resources) {
        const crd = await client.get(builtin.customResourceDefinitions, r.crdName);
        expect(crd.metadata.annotations, r.crdName).toMatchObject({
          "meta.helm.sh/release-name": release,
          "helm.sh/resource-policy": "keep",
        });
      }
      const uninstalled = await helm(["uninstall", release, "-n", ns.name, "--wait", "--timeout", "60s"]);
      expect(uninstalled.code, uninstalled.stderr).toBe(0);
      // Helm says what it kept.
      expect(`${uninstalled.stdout}${uninstalled.stderr}`).toMatch(/kept due to the resource policy/);
      for (const r of resources) {
        const crd = await client.get<
          KubeObject & { status?: { conditions?: Array<{ type: string; status: string }> } }
        >(builtin.customResourceDefinitions, r.crdName);
        expect(crd.metadata.deletionTimestamp, r.crdName).toBeUndefined();
        expect(crd.status?.conditions?.find((c) => c.type === "Established")?.status).toBe("True");
      }
      expect((await client.get(rt, sentinel)).metadata.deletionTimestamp).toBeUndefined();
    } finally {
      await helm(["uninstall", release, "-n", ns.name, "--ignore-not-found"]);
      await client.delete(rt, sentinel).catch((e) => {
        if (!isNotFound(e)) throw e;
      });
      // Leave the shared CRDs as global-setup made them: owned by no release.
      const names = resources.map((r) => `crd/${r.crdName}`);
      await kubectl([
        "annotate",
        ...names,
        "meta.helm.sh/release-name-",
        "meta.helm.sh/release-namespace-",
        "helm.sh/resource-policy-",
      ]);
      await kubectl(["label", ...names, "app.kubernetes.io/managed-by-"]);
    }
  });
});
