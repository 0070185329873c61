// Quota preemption of serving replicas, on the real control plane: team A's autoscaled
// InferenceService (minReplicas 1) runs 3 replicas of 4 H100s on a pool of two 8-device nodes,
// borrowing 4 of team B's idle devices. B submits a one-node training job: exactly the one
// replica whose node B can use goes (its pod marked, the Deployment scaled down, the admission
// trimmed, a Preempted event and condition naming B's job), A keeps serving on the others, B
// runs. When B is done, A's lost replica is admitted again like a scale-up.
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { SimulatedPool } from "../../cli/dev/simulated-nodes.ts";
import { acceleratorPoolController } from "../../controllers/acceleratorpool/index.ts";
import { Admitter } from "../../controllers/admission/index.ts";
import { inferenceServiceControllerWith } from "../../controllers/inferenceservice/index.ts";
import { queueingControllers } from "../../controllers/queueing/index.ts";
import { resourceTypes } from "../../controllers/resources.ts";
import { trainingJobController } from "../../controllers/trainingjob/index.ts";
import type { AdmissionStatus, Condition } from "../../crds/index.ts";
import { builtin, KubeClient, type KubeObject, type Manager } from "../../operator/index.ts";
import { clearNamespace, perAttempt } from "../support/attempts.ts";
import { eventually, loadKubeConfig, type TestNamespace, testNamespace } from "../support/cluster.ts";
import {
  createDedicatedPools,
  dedicatedTaintKey,
  deleteDedicatedPools,
  namespaceManager,
} from "../support/workloads.ts";

const kc = loadKubeConfig();
const client = new KubeClient({ kubeConfig: kc });
const suffix = randomBytes(3).toString("hex");
const pool = `qserve-${suffix}`;
const teamA = `qa-${suffix}`;
const teamB = `qb-${suffix}`;
const ownPools: SimulatedPool[] = [
  {
    name: pool,
    nodes: 2,
    accelerator: { vendor: "nvidia", model: "NVIDIA-H100-80GB-HBM3", devicesPerNode: 8, memoryGiB: 80 },
    cpu: "64",
    memory: "512Gi",
  },
];
const isvcRt = resourceTypes.inferenceService;
const jobRt = resourceTypes.trainingJob;
let ns: TestNamespace;
let manager: Manager;
// Objects of their own per attempt: a retry meets neither the names nor the devices of the first.
const attempt = perAttempt();
let chat = "";

type Service = KubeObject & {
  status?: { admission?: AdmissionStatus; conditions?: Condition[]; readyReplicas?: number };
};
type Pod = KubeObject & {
  spec: { nodeName?: string };
  status?: { conditions?: { type: string; status: string }[] };
};
type Job = KubeObject & { status?: { phase?: string } };

beforeAll(async () => {
  ns = await testNamespace("qserve", kc);
  await createDedicatedPools(client, ownPools);
  manager = namespaceManager(kc, ns.name, { logEnv: "QSERVE_TEST_LOG" });
  manager.add(acceleratorPoolController);
  const admitter = new Admitter(manager);
  manager.add(trainingJobController(admitter, { backoff: { baseMs: 500, maxMs: 2000 } }));
  for (const controller of queueingControllers(admitter)) manager.add(controller);
  manager.add(inferenceServiceControllerWith(admitter, { secretRecheckMs: 1000 }));
  await manager.start();
  await manager.waitForCacheSync();
  for (const name of [teamA, teamB])
    await client.create(resourceTypes.teamQuota, {
      apiVersion: resourceTypes.teamQuota.apiVersion,
      kind: "TeamQuota",
      metadata: { name },
      spec: { cohort: `qc-${suffix}`, devices: [{ name: "h100", pools: [pool], nominal: 8 }] },
    });
  for (const [name, team] of [
    ["a", teamA],
    ["b", teamB],
  ] as const)
    await client.create(resourceTypes.acceleratorQueue, {
      apiVersion: resourceTypes.acceleratorQueue.apiVersion,
      kind: "AcceleratorQueue",
      metadata: { name, namespace: ns.name },
      spec: { teamQuota: team },
    });
});

afterAll(async () => {
  if (ns) await clearNamespace(client, ns.name, [isvcRt, jobRt]).catch(() => {});
  await manager?.stop();
  for (const name of [teamA, teamB]) await client.delete(resourceTypes.teamQuota, name).catch(() => {});
  await ns?.[Symbol.asyncDispose]();
  await deleteDedicatedPools(client, ownPools);
  await client.close();
});

const servers = async (): Promise<Pod[]> =>
  (
    await client.list<Pod>(builtin.pods, {
      namespace: ns.name,
      query: { labelSelector: `stack.sovereign.dev/name=${chat},stack.sovereign.dev/group=server` },
    })
  ).items.filter((p) => !p.metadata.deletionTimestamp);

const isReady = (p: Pod) => p.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True");

/** The service's live server pods once there are `n`, all bound and ready. */
const serversBecome = (n: number, what: string): Promise<Pod[]> =>
  eventually(
    async () => {
      const pods = await servers();
      return pods.length === n && pods.every((p) => p.spec.nodeName && isReady(p)) ? pods : undefined;
    },
    90_000,
    what,
  );

const admittedOf = (s: Service): number =>
  (s.status?.admission?.placements ?? []).reduce((n, p) => n + (p.replicas ?? 0), 0);
const admitted = async (): Promise<number> => admittedOf(await client.get<Service>(isvcRt, chat, ns.name));

const toleration = { key: dedicatedTaintKey, operator: "Equal", value: pool, effect: "NoSchedule" };

describe("quota preemption of serving replicas above the minimum", () => {
  it("team B reclaims its quota: exactly the replica it needs goes, A keeps serving, B runs, and the replica comes back", async () => {
    if (attempt.next() > 1) await clearNamespace(client, ns.name, [isvcRt, jobRt]);
    chat = attempt.name("chat");
    const bJob = attempt.name("b-job");
    await client.create(isvcRt, {
      apiVersion: isvcRt.apiVersion,
      kind: isvcRt.kind,
      metadata: { name: chat, namespace: ns.name },
      spec: {
        queueName: "a",
        model: { uri: "hf://meta-llama/Llama-3.1-8B-Instruct", name: "llama-8b" },
        engine: { image: "vllm/vllm-openai:v0.11.0" },
        accelerators: { count: 4, pools: [pool] },
        resources: { cpu: "4", memory: "16Gi" },
        replicas: 3,
        autoscaling: { minReplicas: 1, maxReplicas: 3 },
      },
    });
    // 3 replicas × 4 H100 on two nodes of 8: 2 on one node, 1 on the other; A uses 12 of its 8.
    const before = await serversBecome(3, "the service's 3 replicas ready");
    expect(await admitted()).toBe(3);
    const byNode = new Map<string, string[]>();
    for (const p of before)
      byNode.set(p.spec.nodeName ?? "", [
        ...(byNode.get(p.spec.nodeName ?? "") ?? []),
        p.metadata.name ?? "",
      ]);
    const lone = [...byNode.values()].find((names) => names.length === 1)?.[0];
    expect(lone, `one node runs a single replica: ${JSON.stringify([...byNode])}`).toBeDefined();

    await client.create(jobRt, {
      apiVersion: jobRt.apiVersion,
      kind: jobRt.kind,
      metadata: { name: bJob, namespace: ns.name },
      spec: {
        queueName: "b",
        image: "ghcr.io/acme/train:1.0",
        command: ["python", "train.py"],
        nodes: 1,
        accelerators: { count: 8, minMemoryGiB: 80, pools: [pool] },
        template: { spec: { tolerations: [toleration] } },
      },
    });

    // Exactly one replica goes, the one alone on its node (the other node's two could not make
    // room for a node of 8 without both going); the other two keep serving.
    const after = await serversBecome(2, "one replica taken back");
    expect(after.map((p) => p.metadata.name)).not.toContain(lone);
    expect(after.every((p) => before.some((b) => b.metadata.name === p.metadata.name))).toBe(true);
    await eventually(
      async () => {
        const job = await client.get<Job>(jobRt, bJob, ns.name);
        return job.status?.phase === "Running" ? job : undefined;
      },
      60_000,
      "B's job running",
    );
    // The admission keeps 2; the service says who took the third, in a condition and an event.
    // Read until the trimmed admission is stored (the pods may go before the record is written).
    const svc = await eventually(
      async () => {
        const s = await client.get<Service>(isvcRt, chat, ns.name);
        return admittedOf(s) === 2 ? s : undefined;
      },
      30_000,
      "the admission trimmed to 2",
    ).catch(async (e) => {
      const s = await client.get<Service>(isvcRt, chat, ns.name);
      throw new Error(`${String(e)}; last status ${JSON.stringify(s.status)}`);
    });
    expect(admittedOf(svc)).toBe(2);
    const preempted = svc.status?.conditions?.find((c) => c.type === "Preempted");
    expect(preempted).toMatchObject({ status: "True", reason: "QuotaPreemption" });
    expect(preempted?.message).toContain(`TrainingJob/${ns.name}/${bJob}`);
    const events = await eventually(
      async () => {
        const list = (
          await client.list<KubeObject & { reason?: string; note?: string; regarding?: { name?: string } }>(
            builtin.events,
            { namespace: ns.name },
          )
        ).items.filter((e) => e.regarding?.name === chat && e.reason === "Preempted");
        return list.length > 0 ? list : undefined;
      },
      30_000,
      "the service's Preempted event",
    );
    expect(events[0]?.note).toContain(`reclaims the quota team ${teamA} borrowed`);
    // Never below the minimum, and no more than needed while B runs.
    expect((await servers()).length).toBe(2);

    // B done: the missing replica is asked for again and admitted once there is room.
    await client.patch(jobRt, bJob, ns.name, { spec: { suspend: true } }, "merge");
    await client.delete(jobRt, bJob, ns.name);
    await serversBecome(3, "the third replica back once B is gone");
    await eventually(
      async () => {
        const s = await client.get<Service>(isvcRt, chat, ns.name);
        const c = s.status?.conditions?.find((x) => x.type === "Preempted");
        return c?.status === "False" ? c : undefined;
      },
      30_000,
      "Preempted=False once the replica is admitted again",
    );
    expect(await admitted()).toBe(3);
  });
});
