import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Admitter } from "../../controllers/admission/index.ts";
import { inferenceServiceControllerWith } from "../../controllers/inferenceservice/index.ts";
import { resourceTypes } from "../../controllers/resources.ts";
import { type InferenceService, labels } from "../../crds/index.ts";
import { builtin, isNotFound, KubeClient, type KubeObject, type Manager } from "../../operator/index.ts";
import { eventually, loadKubeConfig, type TestNamespace, testNamespace } from "../support/cluster.ts";
import { ensureSamplePools, namespaceManager } from "../support/workloads.ts";

const kc = loadKubeConfig();
const client = new KubeClient({ kubeConfig: kc });
const rt = resourceTypes.inferenceService;
let ns: TestNamespace;
let manager: Manager;

type Isvc = InferenceService & KubeObject;

beforeAll(async () => {
  ns = await testNamespace("isvc-life", kc);
  await ensureSamplePools(client, ["tpu-v5e"]);
  manager = namespaceManager(kc, ns.name, { logEnv: "ISVC_TEST_LOG" });
  manager.add(inferenceServiceControllerWith(new Admitter(manager), { secretRecheckMs: 1000 }));
  await manager.start();
  await manager.waitForCacheSync();
});

afterAll(async () => {
  await manager?.stop();
  await ns?.[Symbol.asyncDispose]();
  await client.close();
});

const isvc = (
  name: string,
  spec: Record<string, unknown> = {},
  model: Record<string, unknown> = {},
): KubeObject => ({
  apiVersion: rt.apiVersion,
  kind: rt.kind,
  metadata: { name, namespace: ns.name },
  spec: {
    model: { uri: "hf://meta-llama/Llama-3.1-8B-Instruct", ...model },
    engine: { image: "vllm/vllm-openai:v0.11.0", images: { google: "vllm/vllm-tpu:v0.11.0" } },
    accelerators: { count: 1, pools: ["tpu-v5e"] },
    resources: { cpu: "1", memory: "2Gi" },
    replicas: 1,
    ...spec,
  },
});

const get = (name: string) => client.get<Isvc>(rt, name, ns.name);
const ready = (s: Isvc) => s.status?.conditions?.find((c) => c.type === "Ready");
const selectorOf = (name: string) => `${labels.kind}=inferenceservice,${labels.name}=${name}`;
const children = async (name: string) => {
  const query = { labelSelector: selectorOf(name) };
  const [deployments, services, claims, pods] = await Promise.all([
    client.list(builtin.deployments, { namespace: ns.name, query }),
    client.list(builtin.services, { namespace: ns.name, query }),
    client.list(builtin.persistentVolumeClaims, { namespace: ns.name, query }),
    client.list(builtin.pods, { namespace: ns.name, query }),
  ]);
  return {
    deployments: deployments.items.map((d) => d.metadata.name),
    services: services.items.map((d) => d.metadata.name),
    claims: claims.items.map((d) => d.metadata.name),
    pods: pods.items.length,
  };
};
const reconcileErrors = () =>
  manager.metrics
    .render()
    .split("\n")
    .find((l) => l.startsWith('controller_runtime_reconcile_errors_total{controller="inferenceservice"}'));

describe("InferenceService lifecycle", () => {
  it("a missing Secret is a clear condition, not a crash loop; the service starts when it appears", async () => {
    const name = "gated";
    await client.create(rt, isvc(name, {}, { secretRef: { name: "hf-token" } }));
    const waiting = await eventually(
      async () => {
        const s = await get(name);
        return ready(s)?.reason === "SecretNotFound" ? s : undefined;
      },
      30_000,
      "Ready=False SecretNotFound",
    );
    expect(waiting.status?.phase).toBe("Pending");
    expect(ready(waiting)).toMatchObject({ status: "False", reason: "SecretNotFound" });
    expect(ready(waiting)?.message).toContain(
      `Secret hf-token named in spec.model.secretRef does not exist in namespace ${ns.name}`,
    );
    expect(waiting.status?.conditions?.find((c) => c.type === "Admitted")).toMatchObject({
      status: "False",
      reason: "SecretNotFound",
    });
    // Nothing admitted, no Deployment, and it stays that way across several rechecks without
    // failing reconciles.
    const errorsBefore = reconcileErrors();
    await new Promise((r) => setTimeout(r, 3000));
    const still = await get(name);
    expect(still.status?.admission).toBeUndefined();
    expect(ready(still)?.lastTransitionTime).toBe(ready(waiting)?.lastTransitionTime);
    expect((await children(name)).deployments).toEqual([]);
    expect(reconcileErrors()).toBe(errorsBefore);
    const events = (await client.list(builtin.events, { namespace: ns.name })).items.filter(
      (e) => (e.regarding as { uid?: string }).uid === waiting.metadata.uid,
    );
    expect(events.map((e) => [e.type, e.reason])).toContainEqual(["Warning", "SecretNotFound"]);

    await client.create(builtin.secrets, {
      apiVersion: "v1",
      kind: "Secret",
      metadata: { name: "hf-token", namespace: ns.name },
      stringData: { HF_TOKEN: "hf_test" },
    });
    const running = await eventually(
      async () => {
        const s = await get(name);
        return s.status?.phase === "Ready" ? s : undefined;
      },
      30_000,
      "Ready after the Secret appeared",
    );
    expect(running.status?.placements).toEqual([
      { pool: "tpu-v5e", devicesPerReplica: 1, replicas: 1, readyReplicas: 1 },
    ]);
    // Settled: repeated reconciles (pod status churn, resyncs) write nothing.
    await new Promise((r) => setTimeout(r, 2000));
    const versions = async () =>
      Promise.all([
        get(name),
        client.get(builtin.deployments, `${name}-tpu-v5e`, ns.name),
        client.get(builtin.services, name, ns.name),
      ]).then((objs) => objs.map((o) => o.metadata.resourceVersion));
    const before = await versions();
    await new Promise((r) => setTimeout(r, 3000));
    expect(await versions()).toEqual(before);
    const deployment = await client.get<
      KubeObject & { spec: { template: { spec: { containers: unknown[] } } } }
    >(builtin.deployments, `${name}-tpu-v5e`, ns.name);
    expect(deployment.spec.template.spec.containers[0]).toMatchObject({
      image: "vllm/vllm-tpu:v0.11.0",
      envFrom: [{ secretRef: { name: "hf-token" } }],
    });
  });

  it("deleting the service removes every child through garbage collection", async () => {
    const name = "doomed";
    await client.create(rt, isvc(name, { modelCache: { size: "10Gi" } }));
    // The claim never binds here (no provisioner), so the pod stays Pending; the children exist.
    const all = await eventually(
      async () => {
        const c = await children(name);
        return c.deployments.length === 1 && c.services.length === 1 && c.claims.length === 1 && c.pods === 1
          ? c
          : undefined;
      },
      30_000,
      "deployment, service, cache claim and pod",
    );
    expect(all).toEqual({
      deployments: [`${name}-tpu-v5e`],
      services: [name],
      claims: [`${name}-model-cache`],
      pods: 1,
    });
    // Admitted, but the scheduler cannot place the pod: the status says why.
    const s = await eventually(
      async () => {
        const x = await get(name);
        return x.status?.phase === "Degraded" ? x : undefined;
      },
      30_000,
      "Degraded",
    );
    expect(ready(s)?.message).toMatch(/cannot be scheduled: .*PersistentVolumeClaim/);
    const claim = await client.get(builtin.persistentVolumeClaims, `${name}-model-cache`, ns.name);
    expect(claim.metadata.ownerReferences).toEqual([
      expect.objectContaining({ kind: "InferenceService", uid: s.metadata.uid, controller: true }),
    ]);
    expect(claim.spec).toMatchObject({
      accessModes: ["ReadWriteMany"],
      resources: { requests: { storage: "10Gi" } },
    });

    await client.delete(rt, name, ns.name);
    await eventually(
      async () => {
        const c = await children(name);
        return c.deployments.length + c.services.length + c.claims.length + c.pods === 0 ? true : undefined;
      },
      90_000,
      "every child garbage-collected",
    );
    await expect(client.get(rt, name, ns.name)).rejects.toSatisfy(isNotFound);
  }, 120_000);
});
