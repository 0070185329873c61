// A client identity of its own for each measured operator, so the API server itself counts
// that operator's requests: a ServiceAccount (bound to cluster-admin, as an operator's chart
// would bind its own role), a kubeconfig with its token, and a FlowSchema that matches exactly
// that ServiceAccount. The API server's priority-and-fairness filter counts every request it
// dispatches per flow schema (apiserver_flowcontrol_dispatched_requests_total), watches and
// lists included, whatever client library made them: the same counter for ours and theirs.
// The schema maps to the built-in `exempt` level, so the count never throttles what it counts.
import { readFile, writeFile } from "node:fs/promises";
import { request } from "node:https";
import { dump, load } from "js-yaml";
import type { KubeClient, KubeObject, ResourceType } from "../../operator/index.ts";
import { builtin } from "../../operator/index.ts";

const clusterRoleBindings: ResourceType = {
  apiVersion: "rbac.authorization.k8s.io/v1",
  kind: "ClusterRoleBinding",
  plural: "clusterrolebindings",
  namespaced: false,
};
const flowSchemas: ResourceType = {
  apiVersion: "flowcontrol.apiserver.k8s.io/v1",
  kind: "FlowSchema",
  plural: "flowschemas",
  namespaced: false,
};

export interface BenchIdentity {
  name: string;
  namespace: string;
  /** A kubeconfig that authenticates as the ServiceAccount. */
  kubeconfigPath: string;
}

const writeVerbs = ["create", "update", "patch", "delete", "deletecollection"];

/**
 * The FlowSchemas of one ServiceAccount, one per kind of request it makes, tried in this
 * order: its Lease (leader election, renewals included), its writes, its lists, the rest
 * (gets, watches, discovery). The API server counts requests per schema.
 */
export function flowSchemasFor(name: string, namespace: string): KubeObject[] {
  const subjects = [{ kind: "ServiceAccount", serviceAccount: { name, namespace } }];
  const everywhere = { clusterScope: true, namespaces: ["*"] };
  const schema = (suffix: string, precedence: number, rule: Record<string, unknown>): KubeObject => ({
    apiVersion: flowSchemas.apiVersion,
    kind: flowSchemas.kind,
    metadata: { name: `${name}${suffix}` },
    spec: {
      // Ahead of every suggested schema (the lowest of them is 1000), behind the mandatory ones.
      matchingPrecedence: precedence,
      priorityLevelConfiguration: { name: "exempt" },
      rules: [{ subjects, ...rule }],
    },
  });
  return [
    schema("-lease", 500, {
      resourceRules: [
        { verbs: ["*"], apiGroups: ["coordination.k8s.io"], resources: ["leases"], ...everywhere },
      ],
    }),
    schema("-writes", 501, {
      resourceRules: [{ verbs: writeVerbs, apiGroups: ["*"], resources: ["*"], ...everywhere }],
    }),
    schema("-lists", 502, {
      resourceRules: [{ verbs: ["list"], apiGroups: ["*"], resources: ["*"], ...everywhere }],
    }),
    schema("", 503, {
      resourceRules: [{ verbs: ["*"], apiGroups: ["*"], resources: ["*"], ...everywhere }],
      nonResourceRules: [{ verbs: ["*"], nonResourceURLs: ["*"] }],
    }),
  ];
}

/** Creates the identity and writes its kubeconfig beside the admin one (adminKubeconfig). */
export async function createBenchIdentity(
  client: KubeClient,
  adminKubeconfig: string,
  name: string,
  namespace = "default",
): Promise<BenchIdentity> {
  await client.create(builtin.serviceAccounts, { metadata: { name, namespace } });
  await client.create(clusterRoleBindings, {
    apiVersion: clusterRoleBindings.apiVersion,
    kind: clusterRoleBindings.kind,
    metadata: { name },
    roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: "cluster-admin" },
    subjects: [{ kind: "ServiceAccount", name, namespace }],
  });
  for (const schema of flowSchemasFor(name, namespace)) await client.create(flowSchemas, schema);
  const review = await client.request<{ status: { token: string } }>(
    "POST",
    `/api/v1/namespaces/${namespace}/serviceaccounts/${name}/token`,
    {
      body: {
        apiVersion: "authentication.k8s.io/v1",
        kind: "TokenRequest",
        spec: { expirationSeconds: 24 * 3600 },
      },
    },
  );
  const kubeconfig = load(await readFile(adminKubeconfig, "utf8")) as {
    users: Array<{ name: string; user: Record<string, unknown> }>;
  };
  for (const u of kubeconfig.users) u.user = { token: review.status.token };
  const kubeconfigPath = `${adminKubeconfig}.${name}`;
  await writeFile(kubeconfigPath, dump(kubeconfig), { mode: 0o600 });
  return { name, namespace, kubeconfigPath };
}

/** The API server's /metrics text, read with the admin client's TLS settings and token. */
export async function apiServerMetrics(client: KubeClient): Promise<string> {
  const tls = await client.connection.tlsOptions();
  const headers = await client.connection.authHeaders();
  return new Promise((resolve, reject) => {
    const req = request(new URL("/metrics", client.server), { ...tls, headers, timeout: 30_000 }, (res) => {
      res.setEncoding("utf8");
      let text = "";
      res.on("data", (c: string) => {
        text += c;
      });
      res.on("end", () =>
        res.statusCode === 200 ? resolve(text) : reject(new Error(`GET /metrics: HTTP ${res.statusCode}`)),
      );
      res.on("error", reject);
    });
    req.on("timeout", () => req.destroy(new Error("GET /metrics timed out")));
    req.on("error", reject);
    req.end();
  });
}

/** What the API server dispatched for one identity, by kind of request. */
export interface RequestCounts {
  total: number;
  writes: number;
  lists: number;
  lease: number;
}

/** The identity's counts from the API server's /metrics text. */
export function dispatchedRequests(metricsText: string, identity: string): RequestCounts {
  const by = new Map<string, number>();
  for (const line of metricsText.split("\n")) {
    if (!line.startsWith("apiserver_flowcontrol_dispatched_requests_total{")) continue;
    const schema = /flow_schema="([^"]*)"/.exec(line)?.[1];
    if (schema === undefined) continue;
    by.set(schema, (by.get(schema) ?? 0) + Number(line.slice(line.lastIndexOf(" ") + 1)));
  }
  const of = (suffix: string) => by.get(`${identity}${suffix}`) ?? 0;
  return {
    total: of("") + of("-lease") + of("-writes") + of("-lists"),
    writes: of("-writes"),
    lists: of("-lists"),
    lease: of("-lease"),
  };
}

/** b - a, field by field. */
export const countsSince = (a: RequestCounts, b: RequestCounts): RequestCounts => ({
  total: b.total - a.total,
  writes: b.writes - a.writes,
  lists: b.lists - a.lists,
  lease: b.lease - a.lease,
});
