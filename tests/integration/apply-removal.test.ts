// Server-side apply forgets nothing: when a controller stops setting a field of a child (here a
// label and an annotation that an earlier intent of the same field manager carried), the next
// reconcile removes it from the live child, for every workload kind. The workloads pin a pool
// that does not exist, so they are never admitted and hold no capacity: each controller writes
// the Service it always writes first and nothing else.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Admitter } from "../../controllers/admission/index.ts";
import { desiredService as inferenceService } from "../../controllers/inferenceservice/children.ts";
import { inferenceServiceController } from "../../controllers/inferenceservice/index.ts";
import { rayClusterController } from "../../controllers/raycluster/index.ts";
import { headService } from "../../controllers/raycluster/pods.ts";
import { resourceTypes } from "../../controllers/resources.ts";
import { trainingJobController } from "../../controllers/trainingjob/index.ts";
import { desiredService as trainingService } from "../../controllers/trainingjob/pods.ts";
import {
  applyObject,
  builtin,
  controllerReference,
  fieldManagerFor,
  KubeClient,
  type KubeObject,
  type Manager,
  type ResourceType,
} from "../../operator/index.ts";
import { eventually, loadKubeConfig, type TestNamespace, testNamespace } from "../support/cluster.ts";
import { namespaceManager } from "../support/workloads.ts";

const kc = loadKubeConfig();
const client = new KubeClient({ kubeConfig: kc });
const nowhere = { count: 1, pools: ["apply-removal-no-such-pool"] };
/** The namespace, and the manager running every workload controller for it with one admitter. */
let testbed: { ns: TestNamespace; manager: Manager } | undefined;
const namespace = (): string => testbed?.ns.name ?? "";

beforeAll(async () => {
  const ns = await testNamespace("apply-removal", kc);
  const manager = namespaceManager(kc, ns.name, { logEnv: "APPLY_TEST_LOG" });
  testbed = { ns, manager };
  const admitter = new Admitter(manager);
  for (const controller of [trainingJobController, rayClusterController, inferenceServiceController])
    manager.add(controller(admitter));
  await manager.start();
  await manager.waitForCacheSync();
});

afterAll(async () => {
  await testbed?.manager.stop();
  await testbed?.ns[Symbol.asyncDispose]();
  await client.close();
});

interface Case {
  kind: string;
  rt: ResourceType;
  spec: Record<string, unknown>;
  controller: string;
  /** The Service the controller wants for the workload as created. */
  desired(owner: KubeObject): KubeObject;
}

const cases: Case[] = [
  {
    kind: "TrainingJob",
    rt: resourceTypes.trainingJob,
    spec: {
      image: "ghcr.io/acme/train:1.0",
      command: ["python", "train.py"],
      nodes: 1,
      accelerators: nowhere,
    },
    controller: "trainingjob",
    desired: (owner) => trainingService(owner as never, controllerReference(owner)),
  },
  {
    kind: "RayCluster",
    rt: resourceTypes.rayCluster,
    spec: {
      rayVersion: "2.52.0",
      image: "rayproject/ray:2.52.0",
      head: { resources: { cpu: "1", memory: "2Gi" } },
      workerGroups: [
        { name: "gpu", replicas: 1, accelerators: nowhere, resources: { cpu: "1", memory: "1Gi" } },
      ],
    },
    controller: "raycluster",
    desired: (owner) => headService(owner as never),
  },
  {
    kind: "InferenceService",
    rt: resourceTypes.inferenceService,
    spec: {
      model: { uri: "hf://meta-llama/Llama-3.1-8B-Instruct" },
      engine: { image: "vllm/vllm-openai:v0.11.0" },
      accelerators: nowhere,
      resources: { cpu: "1", memory: "2Gi" },
      replicas: 1,
    },
    controller: "inferenceservice",
    desired: (owner) => inferenceService(owner as never),
  },
];

describe("a field the controller no longer sets is removed from the live child", () => {
  for (const c of cases) {
    it(c.kind, async () => {
      const name = `${c.controller}-removal`;
      const owner = await client.create(c.rt, {
        apiVersion: c.rt.apiVersion,
        kind: c.rt.kind,
        metadata: { name, namespace: namespace() },
        spec: c.spec,
      });
      const desired = c.desired(owner);
      const serviceName = desired.metadata.name ?? "";
      await eventually(
        () => client.get(builtin.services, serviceName, namespace()),
        30_000,
        `${c.kind} Service`,
      );

      // What an earlier intent of the same field manager set: the desired Service and two more fields.
      const earlier: KubeObject = {
        ...desired,
        metadata: {
          ...desired.metadata,
          labels: { ...desired.metadata.labels, "test.sovereign.dev/stale": "yes" },
          annotations: { ...desired.metadata.annotations, "test.sovereign.dev/stale": "yes" },
        },
      };
      await applyObject(client, builtin.services, earlier, { fieldManager: fieldManagerFor(c.controller) });

      // The update wakes the owner; its intent lacks both fields, so the apply removes them.
      const live = await eventually(
        async () => {
          const svc = await client.get(builtin.services, serviceName, namespace());
          const stale =
            svc.metadata.labels?.["test.sovereign.dev/stale"] ??
            svc.metadata.annotations?.["test.sovereign.dev/stale"];
          return stale === undefined ? svc : undefined;
        },
        30_000,
        `the stale fields gone from the ${c.kind} Service`,
      );
      // What the controller still sets is there.
      expect(live.metadata.labels).toMatchObject(desired.metadata.labels ?? {});
    });
  }
});
