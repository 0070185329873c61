// spec.router on the real API server: the router's ServiceAccount, Role, RoleBinding, Deployment
// and Service appear with the service, status.url moves to the router, an InferencePool is
// published where that CRD is served, and turning the router off removes all of it.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Admitter } from "../../controllers/admission/index.ts";
import { inferenceServiceControllerWith } from "../../controllers/inferenceservice/index.ts";
import { inferencePoolType } from "../../controllers/inferenceservice/inference-pool.ts";
import { resourceTypes } from "../../controllers/resources.ts";
import type { InferenceService } from "../../crds/index.ts";
import { builtin, isNotFound, KubeClient, type KubeObject, type Manager } from "../../operator/index.ts";
import { eventually, loadKubeConfig, type TestNamespace, testNamespace } from "../support/cluster.ts";
import { namespaceManager } from "../support/workloads.ts";

const kc = loadKubeConfig();
const client = new KubeClient({ kubeConfig: kc });
const rt = resourceTypes.inferenceService;
let ns: TestNamespace;
let manager: Manager;

type Isvc = InferenceService & KubeObject;

// The Gateway API Inference Extension's CRD, reduced to what the API server needs to serve the
// kind: the operator only writes InferencePools, it never reads their schema.
const inferencePoolCrd = {
  apiVersion: "apiextensions.k8s.io/v1",
  kind: "CustomResourceDefinition",
  metadata: {
    name: "inferencepools.inference.networking.k8s.io",
    // *.k8s.io groups are protected; the real CRD carries its approval too.
    annotations: {
      "api-approved.kubernetes.io": "https://github.com/kubernetes-sigs/gateway-api-inference-extension",
    },
  },
  spec: {
    group: "inference.networking.k8s.io",
    scope: "Namespaced",
    names: {
      plural: "inferencepools",
      singular: "inferencepool",
      kind: "InferencePool",
      listKind: "InferencePoolList",
    },
    versions: [
      {
        name: "v1",
        served: true,
        storage: true,
        schema: { openAPIV3Schema: { type: "object", "x-kubernetes-preserve-unknown-fields": true } },
      },
    ],
  },
};

beforeAll(async () => {
  ns = await testNamespace("isvc-router", kc);
  await client.apply(builtin.customResourceDefinitions, inferencePoolCrd, { fieldManager: "test" });
  await eventually(
    async () =>
      (await client.request<{ resources?: unknown[] }>("GET", "/apis/inference.networking.k8s.io/v1"))
        .resources,
    30_000,
    "the InferencePool API served",
  );
  manager = namespaceManager(kc, ns.name, { logEnv: "ISVC_TEST_LOG" });
  manager.add(
    inferenceServiceControllerWith(new Admitter(manager), { routerImage: "ghcr.io/test/operator:1" }),
  );
  await manager.start();
  await manager.waitForCacheSync();
});

afterAll(async () => {
  await manager?.stop();
  await ns?.[Symbol.asyncDispose]();
  await client.close();
});

const get = (type: typeof builtin.serviceAccounts, name: string) =>
  client.getOrUndefined(type, name, ns.name);

describe("spec.router", () => {
  it("deploys the router with least-privilege RBAC, points status.url at it, and removes it when turned off", async () => {
    const name = "routed";
    await client.create(rt, {
      apiVersion: rt.apiVersion,
      kind: rt.kind,
      metadata: { name, namespace: ns.name },
      spec: {
        model: { uri: "hf://meta-llama/Llama-3.1-8B-Instruct", name: "llama-8b" },
        engine: { image: "vllm/vllm-openai:v0.11.0" },
        // No engine replicas: this test is about the router's objects, not devices.
        replicas: 0,
        router: { enabled: true, apiKeysSecret: "tenant-keys" },
      },
    });
    const role = await eventually(() => get(resourceTypes.role, `${name}-router`), 30_000, "the router Role");
    expect((role as KubeObject & { rules: unknown[] }).rules).toEqual([
      { apiGroups: [""], resources: ["pods"], verbs: ["list", "watch"] },
      { apiGroups: [""], resources: ["secrets"], resourceNames: ["tenant-keys"], verbs: ["get"] },
    ]);
    for (const type of [resourceTypes.serviceAccount, resourceTypes.roleBinding, resourceTypes.service]) {
      await eventually(() => get(type, `${name}-router`), 30_000, `the router ${type.kind}`);
    }
    const deployment = (await eventually(
      () => get(resourceTypes.deployment, `${name}-router`),
      30_000,
      "the router Deployment",
    )) as KubeObject & {
      spec: {
        template: { spec: { serviceAccountName: string; containers: { image: string; args: string[] }[] } };
      };
    };
    const pod = deployment.spec.template.spec;
    expect(pod.serviceAccountName).toBe(`${name}-router`);
    expect(pod.containers[0]?.image).toBe("ghcr.io/test/operator:1");
    expect(pod.containers[0]?.args).toContain("--api-keys-secret=tenant-keys");

    const pool = (await eventually(
      () => client.getOrUndefined(inferencePoolType, name, ns.name),
      30_000,
      "the InferencePool",
    )) as KubeObject & { spec: { endpointPickerRef: { name: string } } };
    expect(pool.spec.endpointPickerRef.name).toBe(`${name}-router`);

    // kwok runs the router pod: the status reports it and the URL is the router's.
    const routed = await eventually(
      async () => {
        const svc = await client.get<Isvc>(rt, name, ns.name);
        return (svc.status?.router?.readyReplicas ?? 0) > 0 ? svc : undefined;
      },
      60_000,
      "the router ready in status",
    );
    expect(routed.status?.url).toBe(`http://${name}-router.${ns.name}.svc:8000/v1`);
    expect(routed.status?.conditions?.find((c) => c.type === "RouterReady")?.status).toBe("True");

    await client.patch(rt, name, ns.name, { spec: { router: { enabled: false } } }, "merge");
    for (const type of [
      resourceTypes.deployment,
      resourceTypes.service,
      resourceTypes.roleBinding,
      resourceTypes.role,
      resourceTypes.serviceAccount,
    ]) {
      await eventually(
        async () => ((await get(type, `${name}-router`)) === undefined ? true : undefined),
        30_000,
        `the router ${type.kind} gone`,
      );
    }
    await eventually(
      async () => {
        try {
          await client.get(inferencePoolType, name, ns.name);
          return undefined;
        } catch (error) {
          return isNotFound(error) ? true : undefined;
        }
      },
      30_000,
      "the InferencePool gone",
    );
    const plain = await eventually(
      async () => {
        const svc = await client.get<Isvc>(rt, name, ns.name);
        return svc.status?.router === undefined ? svc : undefined;
      },
      30_000,
      "status without the router",
    );
    expect(plain.status?.url).toBe(`http://${name}.${ns.name}.svc:8000/v1`);
  });
});
