// Ours against Kubeflow's training operator (v1, built from its Go module,
// hack/peers/training-operator) on the same work: N jobs of P one-GPU pods, as PyTorchJobs
// (a Master and P-1 Workers) and as TrainingJobs (nodes: P), applied at once onto the same
// kwok nodes, one fresh control plane per operator, the same client QPS and burst (its
// --kube-api-qps/--kube-api-burst and ours) and as many concurrent reconciles
// (--controller-threads, --workers). Ours also admits every job as a gang (all its devices
// reserved node by node before one pod exists); the training operator does not. A third
// fresh control plane measures the ceiling: a bare client creating the same pods.
//
//   npm run bench -- vs-trainer [--jobs 1000] [--pods 4] [--nodes 128]
//                               [--qps 100] [--burst 200] [--concurrency 16] [--timeout-seconds 900]
//
// API requests are counted by the API server, per operator identity (bench/support/api-identity.ts).
// Prints a human summary, then as its last line one JSON object with `ratio` fields (ours / theirs).
import { mkdir, rm, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { freePort } from "../cli/dev/loopback.ts";
import { resourceTypes } from "../controllers/resources.ts";
import { labels } from "../crds/index.ts";
import { builtin, type KubeClient, type KubeObject, type ResourceType } from "../operator/index.ts";
import { ensurePeer } from "./support/peers.ts";
import * as sbs from "./support/side-by-side.ts";
import * as bench from "./support/workload-bench.ts";

const flags = bench.numberFlags({ jobs: 1000, pods: 4, nodes: 128, timeoutSeconds: 900 });
const { jobs, pods: podsPerJob, nodes } = flags;
const budget = sbs.budgetFromFlags();
const timeoutMs = flags.timeoutSeconds * 1000;
const namespaces = bench.workloadNamespaces("train-vs");
const pools = [
  bench.nvlinkH100Pool({ name: "bench-h100", nodes, devicesPerNode: 32, cpu: "512", memory: "4Ti" }),
];
const totalPods = jobs * podsPerJob;
const image = "ghcr.io/acme/train:1.0";
const command = ["python", "train.py", "--epochs", "1"];
const resources = { cpu: "4", memory: "16Gi" };

const pytorchJobs: ResourceType = {
  apiVersion: "kubeflow.org/v1",
  kind: "PyTorchJob",
  plural: "pytorchjobs",
  namespaced: true,
};

const ours = (i: number): KubeObject =>
  bench.numberedObject(resourceTypes.trainingJob, "job", i, namespaces, {
    image,
    command,
    nodes: podsPerJob,
    resources,
    accelerators: { count: 1, minMemoryGiB: 80 },
  });

const replica = (replicas: number) => ({
  replicas,
  restartPolicy: "OnFailure",
  template: {
    spec: {
      containers: [
        {
          name: "pytorch",
          image,
          command,
          resources: {
            requests: { ...resources, "nvidia.com/gpu": "1" },
            limits: { ...resources, "nvidia.com/gpu": "1" },
          },
        },
      ],
    },
  },
});

/** The same job as a training-operator user writes it. */
const theirs = (i: number): KubeObject =>
  bench.numberedObject(pytorchJobs, "job", i, namespaces, {
    pytorchReplicaSpecs: { Master: replica(1), Worker: replica(podsPerJob - 1) },
  });

const conditionTrue = (o: KubeObject, type: string): boolean =>
  ((o.status as { conditions?: Array<{ type: string; status: string }> } | undefined)?.conditions ?? []).some(
    (c) => c.type === type && c.status === "True",
  );

const ceilingPods = (): KubeObject[] =>
  Array.from({ length: jobs }, (_, i) =>
    Array.from(
      { length: podsPerJob },
      (_, k): KubeObject => ({
        apiVersion: "v1",
        kind: "Pod",
        metadata: {
          name: `job-${String(i).padStart(4, "0")}-${k}`,
          namespace: namespaces[i % namespaces.length],
          labels: { "bench/ceiling": "true" },
        },
        spec: {
          restartPolicy: "OnFailure",
          containers: [
            {
              name: "pytorch",
              image,
              command,
              resources: {
                requests: { ...resources, "nvidia.com/gpu": "1" },
                limits: { ...resources, "nvidia.com/gpu": "1" },
              },
            },
          ],
        },
      }),
    ),
  ).flat();

const trainer = await ensurePeer("training-operator", (l) => process.stderr.write(`${l}\n`));

const ceiling = await sbs.measureCeiling({
  dirPrefix: "sovereign-bench-vstrain-ceiling-",
  pools,
  namespaces,
  pods: ceilingPods(),
  budget,
  timeoutMs,
});

/**
 * In its pod the Secret is a volume at this fixed path, and the operator waits for the files
 * before it turns ready; here the benchmark plays the kubelet's part and writes them there.
 */
const webhookCertDir = "/tmp/k8s-webhook-server/serving-certs";
async function mountWebhookCertificates(client: KubeClient, deadline: number): Promise<void> {
  await bench.waitUntil(
    "the training operator's webhook certificates",
    async () => {
      const secret = await client.getOrUndefined(
        builtin.secrets,
        "training-operator-webhook-cert",
        operatorNamespace,
      );
      const data = (secret as { data?: Record<string, string> } | undefined)?.data ?? {};
      if (!data["tls.crt"] || !data["tls.key"]) return false;
      await mkdir(webhookCertDir, { recursive: true });
      for (const [file, value] of Object.entries(data))
        await writeFile(join(webhookCertDir, file), Buffer.from(value, "base64"));
      return true;
    },
    deadline,
    200,
  );
}

// The training operator serves validating webhooks with certificates it rotates into this
// Secret, which its manifests create empty; without it, it never turns ready. No webhook
// configuration is installed: the API server here could not reach the webhook anyway.
const operatorNamespace = "kubeflow";
const common = { pools, namespaces, totalPods, timeoutMs };
const theirsRun = await sbs.measureRun({
  ...common,
  label: "training-operator",
  version: trainer.version,
  dirPrefix: "sovereign-bench-vstrain-theirs-",
  async prepare(cluster) {
    await sbs.applyCrdFiles(cluster.kubeconfigPath, trainer.crdFiles);
    await cluster.client.create(builtin.namespaces, { metadata: { name: operatorNamespace } });
    await cluster.client.create(builtin.secrets, {
      metadata: { name: "training-operator-webhook-cert", namespace: operatorNamespace },
    });
  },
  start: async (cluster, kubeconfigPath, deadline) => {
    const webhookPort = await freePort();
    const mounted = mountWebhookCertificates(cluster.client, deadline);
    const operator = await cluster.startProcess({
      command: trainer.binary,
      args: (ports) => [
        `--kubeconfig=${kubeconfigPath}`,
        `--metrics-bind-address=127.0.0.1:${ports.metrics}`,
        `--health-probe-bind-address=127.0.0.1:${ports.health}`,
        `--webhook-server-port=${webhookPort}`,
        `--controller-threads=${budget.concurrency}`,
        `--kube-api-qps=${budget.qps}`,
        `--kube-api-burst=${budget.burst}`,
        "--zap-log-level=error",
        "--zap-devel=false",
      ],
      env: { MY_POD_NAMESPACE: operatorNamespace },
      deadline,
      logFile: process.env.BENCH_PEER_LOG,
    });
    await mounted;
    return operator;
  },
  resource: pytorchJobs,
  bodies: Array.from({ length: jobs }, (_, i) => theirs(i)),
  podSelector: "training.kubeflow.org/job-name",
  isReady: (o) => conditionTrue(o, "Running"),
});

await rm(dirname(webhookCertDir), { recursive: true, force: true });

const oursRun = await sbs.measureOurs(
  {
    ...common,
    dirPrefix: "sovereign-bench-vstrain-ours-",
    resource: resourceTypes.trainingJob,
    bodies: Array.from({ length: jobs }, (_, i) => ours(i)),
    podSelector: `${labels.kind}=trainingjob`,
    isReady: (o) => (o.status as { phase?: string } | undefined)?.phase === "Running",
  },
  budget,
);

sbs.printSideBySide(
  {
    work: `jobs x ${podsPerJob} one-GPU pods`,
    workloads: jobs,
    workloadKey: "jobs",
    nodes,
    peerName: "training operator",
    budget,
    ceiling,
    theirs: theirsRun,
    // Its pods, one headless Service and one status write; ours records the admission in the
    // status before the first pod (crash safety), which is a second write.
    floor: { perWorkload: podsPerJob + 2, what: `${podsPerJob} pods, a Service, two status writes` },
  },
  oursRun,
);
