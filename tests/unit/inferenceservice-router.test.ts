// The router's children (spec.router): least-privilege RBAC, a restricted pod that fronts the
// service's engine pods with the spec's limits, a Service, the InferencePool; and status.url.
import { describe, expect, it } from "vitest";
import type { InferenceServiceObject } from "../../controllers/inferenceservice/adapter.ts";
import {
  desiredInferencePool,
  desiredRouterDeployment,
  desiredRouterRole,
  desiredRouterRoleBinding,
  desiredRouterService,
  routerArgs,
} from "../../controllers/inferenceservice/router.ts";
import { computeStatus } from "../../controllers/inferenceservice/status.ts";
import { inferenceServiceResource } from "../../crds/index.ts";
import { validateObject } from "../../crds/validate.ts";

function svc(router: Record<string, unknown> | undefined, model: Record<string, unknown> = {}) {
  return inferenceServiceResource.schema.parse({
    apiVersion: "stack.sovereign.dev/v1alpha1",
    kind: "InferenceService",
    metadata: { name: "llama", namespace: "ml", uid: "u1", generation: 2 },
    spec: {
      model: { uri: "hf://meta-llama/Llama-3.1-8B-Instruct", ...model },
      engine: { image: "vllm/vllm-openai:v0.11.0" },
      ...(router ? { router } : {}),
    },
  }) as InferenceServiceObject;
}

interface PodSpec {
  serviceAccountName: string;
  securityContext: Record<string, unknown>;
  containers: {
    image: string;
    command: string[];
    args: string[];
    securityContext: Record<string, unknown>;
    readinessProbe: { httpGet: { path: string } };
  }[];
}
const podSpec = (d: ReturnType<typeof desiredRouterDeployment>): PodSpec =>
  (d as unknown as { spec: { template: { spec: PodSpec } } }).spec.template.spec;

describe("router children", () => {
  it("fronts the engine pods under the served model name with the spec's limits", () => {
    const args = routerArgs(
      svc(
        { enabled: true, apiKeysSecret: "keys", limits: { requestsPerSecond: 5, maxQueue: 10 } },
        { name: "llama-8b" },
      ),
    );
    expect(args).toContain(
      "--pods=llama-8b=stack.sovereign.dev/kind=inferenceservice,stack.sovereign.dev/name=llama,stack.sovereign.dev/group=server",
    );
    expect(args).toContain("--namespace=ml");
    expect(args).toContain("--api-keys-secret=keys");
    expect(args).toContain("--rate=5");
    expect(args).toContain("--max-queue=10");
    // Defaults the CRD fills in still reach the router.
    expect(args).toContain("--burst=200");
    expect(args).toContain("--cold-start-wait-seconds=60");
  });

  it("grants list/watch on pods and get on the one key Secret, nothing else", () => {
    const role = desiredRouterRole(svc({ enabled: true, apiKeysSecret: "keys" })) as unknown as {
      rules: unknown[];
    };
    expect(role.rules).toEqual([
      { apiGroups: [""], resources: ["pods"], verbs: ["list", "watch"] },
      { apiGroups: [""], resources: ["secrets"], resourceNames: ["keys"], verbs: ["get"] },
    ]);
    const open = desiredRouterRole(svc({ enabled: true })) as unknown as { rules: unknown[] };
    expect(open.rules).toHaveLength(1);
    const binding = desiredRouterRoleBinding(svc({ enabled: true })) as unknown as {
      roleRef: { name: string };
      subjects: { name: string; namespace: string }[];
    };
    expect(binding.roleRef.name).toBe("llama-router");
    expect(binding.subjects).toEqual([{ kind: "ServiceAccount", name: "llama-router", namespace: "ml" }]);
  });

  it("runs restricted, as its own ServiceAccount, from the operator's image unless told", () => {
    const spec = podSpec(desiredRouterDeployment(svc({ enabled: true }), "ghcr.io/x/operator:1"));
    expect(spec.serviceAccountName).toBe("llama-router");
    expect(spec.securityContext).toMatchObject({
      runAsNonRoot: true,
      seccompProfile: { type: "RuntimeDefault" },
    });
    const [router] = spec.containers;
    expect(router?.image).toBe("ghcr.io/x/operator:1");
    expect(router?.command).toEqual(["node", "dist/router/main.js"]);
    expect(router?.securityContext).toEqual({
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ["ALL"] },
    });
    expect(router?.readinessProbe.httpGet.path).toBe("/readyz");
    const own = podSpec(
      desiredRouterDeployment(svc({ enabled: true, image: "r:2" }), "ghcr.io/x/operator:1"),
    );
    expect(own.containers[0]?.image).toBe("r:2");
  });

  it("selects only router pods in its Service, and publishes an InferencePool over the engines", () => {
    const s = svc({ enabled: true });
    const service = desiredRouterService(s) as unknown as {
      metadata: { name: string };
      spec: { selector: unknown };
    };
    expect(service.metadata.name).toBe("llama-router");
    expect(service.spec.selector).toEqual({
      "stack.sovereign.dev/kind": "inferenceservice",
      "stack.sovereign.dev/name": "llama",
      "stack.sovereign.dev/group": "router",
    });
    const pool = desiredInferencePool(s, 8000) as unknown as { spec: Record<string, unknown> };
    expect(pool.spec).toEqual({
      selector: {
        matchLabels: {
          "stack.sovereign.dev/kind": "inferenceservice",
          "stack.sovereign.dev/name": "llama",
          "stack.sovereign.dev/group": "server",
        },
      },
      targetPorts: [{ number: 8000 }],
      endpointPickerRef: {
        kind: "Service",
        name: "llama-router",
        port: { number: 8000 },
        failureMode: "FailOpen",
      },
    });
  });
});

describe("status with a router", () => {
  const status = (s: InferenceServiceObject, routerReady?: number) =>
    computeStatus({
      svc: s,
      admission: undefined,
      deployments: new Map(),
      routerDeployment:
        routerReady === undefined
          ? undefined
          : { metadata: {}, status: { replicas: 1, readyReplicas: routerReady } },
      problems: [],
      waiting: undefined,
      missingSecret: undefined,
      now: new Date("2026-12-03T10:00:00Z"),
    });

  it("points status.url at the router and reports its pods", () => {
    const st = status(svc({ enabled: true }), 1);
    expect(st.url).toBe("http://llama-router.ml.svc:8000/v1");
    expect(st.router).toEqual({ replicas: 1, readyReplicas: 1 });
    expect(st.conditions?.find((c) => c.type === "RouterReady")).toMatchObject({ status: "True" });
    const starting = status(svc({ enabled: true }), 0);
    expect(starting.conditions?.find((c) => c.type === "RouterReady")).toMatchObject({
      status: "False",
      reason: "RouterStarting",
    });
  });

  it("keeps the engines' Service URL without one", () => {
    const st = status(svc(undefined));
    expect(st.url).toBe("http://llama.ml.svc:8000/v1");
    expect(st.router).toBeUndefined();
    expect(st.conditions?.some((c) => c.type === "RouterReady")).toBe(false);
  });
});

describe("spec.router validation", () => {
  const errors = (router: unknown): string[] =>
    validateObject({
      apiVersion: "stack.sovereign.dev/v1alpha1",
      kind: "InferenceService",
      metadata: { name: "llama", namespace: "ml" },
      spec: { model: { uri: "hf://a/b" }, engine: { image: "vllm/vllm-openai:v0.11.0" }, router },
    }).errors.map((e) => `${e.path}: ${e.message}`);

  it("names the field that is wrong", () => {
    expect(errors({ enabled: true, replicas: 0 }).join("\n")).toMatch(/spec\.router\.replicas/);
    expect(errors({ enabled: true, limits: { requestsPerSecond: -1 } }).join("\n")).toMatch(
      /spec\.router\.limits\.requestsPerSecond/,
    );
    expect(errors({ enabled: true, apiKeysSecret: "Not_A_Name" }).join("\n")).toMatch(
      /spec\.router\.apiKeysSecret/,
    );
    expect(errors({ enabled: true, bogus: 1 }).join("\n")).toMatch(/spec\.router/);
    expect(errors({ enabled: true, apiKeysSecret: "keys" })).toEqual([]);
  });
});
