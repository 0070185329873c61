// The children of a TrainingJob: names, the headless Service, and each rank's pod with its
// rendezvous environment, torchrun command, checkpoint volume, template and vendor placement.
import { describe, expect, it } from "vitest";
import { hostnameOf, masterAddress, podName, serviceName } from "../../controllers/trainingjob/names.ts";
import { desiredPod, desiredService, torchrunCommand } from "../../controllers/trainingjob/pods.ts";
import { mergeTemplate } from "../../controllers/trainingjob/template.ts";
import { controllerReference } from "../../operator/index.ts";
import { job, pool } from "./trainingjob-fixtures.ts";

type Container = {
  name: string;
  image?: string;
  command?: string[];
  env?: { name: string; value?: string }[];
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
  volumeMounts?: { name: string; mountPath: string }[];
};
type PodSpec = {
  containers: Container[];
  hostname?: string;
  subdomain?: string;
  restartPolicy?: string;
  volumes?: { name: string }[];
  tolerations?: { key?: string }[];
  nodeSelector?: Record<string, string>;
  affinity?: {
    nodeAffinity?: {
      requiredDuringSchedulingIgnoredDuringExecution?: {
        nodeSelectorTerms: { matchExpressions?: { key: string; values?: string[] }[] }[];
      };
    };
  };
  securityContext?: unknown;
};

const render = (
  j = job(),
  rank = 1,
  opts: {
    nodes?: number;
    poolName?: "h100" | "mi300x";
    node?: string;
    resumeFrom?: string;
    checkpointRequestedAt?: string;
  } = {},
) => {
  const p = opts.poolName === "mi300x" ? pool("mi300x", "amd") : pool("h100");
  const obj = desiredPod({
    job: j,
    owner: controllerReference(j),
    attempt: 2,
    rank,
    nodes: opts.nodes ?? 2,
    pool: p,
    node: opts.node ?? `${p.metadata.name}-${rank}`,
    resumeFrom: opts.resumeFrom,
    checkpointRequestedAt: opts.checkpointRequestedAt,
  });
  const spec = obj.spec as PodSpec;
  const trainer = spec.containers.find((c) => c.name === "trainer") as Container;
  const env = Object.fromEntries((trainer.env ?? []).map((e) => [e.name, e.value]));
  return { obj, spec, trainer, env };
};

describe("names", () => {
  it("derives every child name from the job, the attempt and the rank", () => {
    const j = job();
    expect(serviceName(j)).toBe("llama");
    expect(podName(j, 0, 3)).toBe("llama-0-3");
    expect(podName(j, 2, 0)).toBe("llama-2-0");
    expect(hostnameOf(j, 3)).toBe("llama-3");
    expect(masterAddress(j)).toBe("llama-0.llama.ml.svc");
  });
});

describe("the headless Service", () => {
  it("publishes not-ready addresses, selects the job's pods and is owned by the job", () => {
    const j = job();
    const svc = desiredService(j, controllerReference(j));
    expect(svc.metadata.name).toBe("llama");
    expect(svc.spec).toMatchObject({
      clusterIP: "None",
      publishNotReadyAddresses: true,
      selector: { "stack.sovereign.dev/kind": "trainingjob", "stack.sovereign.dev/name": "llama" },
      ports: [{ port: 29500 }],
    });
    expect(svc.metadata.ownerReferences?.[0]).toMatchObject({
      kind: "TrainingJob",
      name: "llama",
      controller: true,
    });
  });
});

describe("a rank's pod", () => {
  it("has a deterministic name, labels, hostname under the service, and never restarts in place", () => {
    const { obj, spec } = render();
    expect(obj.metadata.name).toBe("llama-2-1");
    expect(obj.metadata.labels).toMatchObject({
      "stack.sovereign.dev/kind": "trainingjob",
      "stack.sovereign.dev/name": "llama",
      "stack.sovereign.dev/group": "workers",
      "stack.sovereign.dev/rank": "1",
      "stack.sovereign.dev/attempt": "2",
      "stack.sovereign.dev/pool": "h100",
    });
    expect(spec.hostname).toBe("llama-1");
    expect(spec.subdomain).toBe("llama");
    expect(spec.restartPolicy).toBe("Never");
    expect(obj.metadata.ownerReferences?.[0]).toMatchObject({ uid: "uid-1", controller: true });
  });

  it.each([
    { nodes: 2, rank: 0, procs: undefined, world: "16", perNode: "8" },
    { nodes: 2, rank: 1, procs: undefined, world: "16", perNode: "8" },
    { nodes: 4, rank: 3, procs: 4, world: "16", perNode: "4" },
  ])(
    "sets the rendezvous variables (nodes $nodes, rank $rank, procsPerNode $procs)",
    ({ nodes, rank, procs, world, perNode }) => {
      const { env } = render(job(procs ? { procsPerNode: procs } : {}), rank, { nodes });
      expect(env).toMatchObject({
        MASTER_ADDR: "llama-0.llama.ml.svc",
        MASTER_PORT: "29500",
        WORLD_SIZE: world,
        NODE_RANK: String(rank),
        PET_NNODES: String(nodes),
        PET_NPROC_PER_NODE: perNode,
        PET_NODE_RANK: String(rank),
        PET_MASTER_ADDR: "llama-0.llama.ml.svc",
        PET_MASTER_PORT: "29500",
      });
    },
  );

  it("runs the user's command under torchrun with this gang's rendezvous", () => {
    const { trainer } = render(job(), 1);
    expect(trainer.command).toEqual([
      "torchrun",
      "--nnodes=2",
      "--nproc-per-node=8",
      "--node-rank=1",
      "--master-addr=llama-0.llama.ml.svc",
      "--master-port=29500",
      "train.py",
      "--epochs",
      "3",
    ]);
  });

  it.each([
    {
      command: ["python3", "-m", "trainer.main", "--lr", "1e-4"],
      tail: ["-m", "trainer.main", "--lr", "1e-4"],
    },
    { command: ["/usr/bin/python3.11", "train.py"], tail: ["train.py"] },
    { command: ["python", "-u", "train.py"], tail: ["--no-python", "python", "-u", "train.py"] },
    { command: ["./run.sh", "a"], tail: ["--no-python", "./run.sh", "a"] },
  ])("translates $command for torchrun", ({ command, tail }) => {
    const cmd = torchrunCommand(job({ command }), 2, 0);
    expect(cmd.slice(0, 6)).toEqual([
      "torchrun",
      "--nnodes=2",
      "--nproc-per-node=8",
      "--node-rank=0",
      "--master-addr=llama-0.llama.ml.svc",
      "--master-port=29500",
    ]);
    expect(cmd.slice(6)).toEqual(tail);
  });

  it("asks for its log tail as termination message, where torchrun names a killed worker", () => {
    // Found by running the pods for real: torchrun exits 1 for an OOM-killed worker too.
    const { trainer } = render(job(), 0);
    expect((trainer as { terminationMessagePolicy?: string }).terminationMessagePolicy).toBe(
      "FallbackToLogsOnError",
    );
  });

  it("leaves a command that already calls torchrun alone (the PET_* variables configure it)", () => {
    const command = ["torchrun", "--standalone", "train.py"];
    expect(torchrunCommand(job({ command }), 2, 1)).toEqual(command);
  });

  it("uses one process per node on CPU", () => {
    const { env } = render(job({ accelerators: undefined }), 0);
    expect(env.PET_NPROC_PER_NODE).toBe("1");
    expect(env.WORLD_SIZE).toBe("2");
  });

  it("keeps the user's variables but not over the rendezvous ones", () => {
    const { trainer } = render(
      job({
        env: [
          { name: "WANDB_PROJECT", value: "x" },
          { name: "NODE_RANK", value: "9" },
        ],
      }),
      1,
    );
    const names = (trainer.env ?? []).map((e) => e.name);
    expect(names.filter((n) => n === "NODE_RANK")).toHaveLength(1);
    expect(trainer.env?.find((e) => e.name === "NODE_RANK")?.value).toBe("1");
    expect(trainer.env?.find((e) => e.name === "WANDB_PROJECT")?.value).toBe("x");
  });

  it("mounts the checkpoint claim and sets CHECKPOINT_DIR", () => {
    const { spec, trainer, env } = render(job({ checkpoint: { claimName: "ckpt", mountPath: "/ckpt" } }));
    expect(env.CHECKPOINT_DIR).toBe("/ckpt");
    expect(trainer.volumeMounts).toEqual([
      { name: "checkpoint", mountPath: "/ckpt" },
      { name: "stack-podinfo", mountPath: "/etc/stack", readOnly: true },
    ]);
    expect(spec.volumes).toEqual([
      { name: "checkpoint", persistentVolumeClaim: { claimName: "ckpt" } },
      {
        name: "stack-podinfo",
        downwardAPI: {
          items: [
            {
              path: "checkpoint-requested",
              fieldRef: { fieldPath: "metadata.annotations['stack.sovereign.dev/checkpoint-requested']" },
            },
          ],
        },
      },
    ]);
  });

  it("after a preemption: RESUME_FROM and resumeArgs; when preempted: the checkpoint request annotation", () => {
    const ckpt = { claimName: "ckpt", mountPath: "/ckpt", resumeArgs: ["--resume", "$(RESUME_FROM)"] };
    const fresh = render(job({ checkpoint: ckpt }));
    expect(fresh.env.RESUME_FROM).toBeUndefined();
    expect(fresh.trainer.command).not.toContain("--resume");
    const resumed = render(job({ checkpoint: ckpt }), 1, { resumeFrom: "/ckpt/step-1200" });
    expect(resumed.env.RESUME_FROM).toBe("/ckpt/step-1200");
    expect(resumed.trainer.command?.slice(-2)).toEqual(["--resume", "$(RESUME_FROM)"]);
    const told = desiredPod({
      job: job({ checkpoint: ckpt }),
      owner: controllerReference(job()),
      attempt: 0,
      rank: 0,
      nodes: 1,
      pool: pool("h100"),
      node: "h100-0",
      checkpointRequestedAt: "2026-12-03T12:00:00Z",
    });
    expect(told.metadata.annotations?.["stack.sovereign.dev/checkpoint-requested"]).toBe(
      "2026-12-03T12:00:00Z",
    );
  });

  it("asks for the pool's vendor resource and is pinned to the pool and its reserved node", () => {
    const { spec, trainer } = render(job({ resources: { cpu: "32", memory: "256Gi" } }), 1);
    expect(trainer.resources?.limits).toEqual({ cpu: "32", memory: "256Gi", "nvidia.com/gpu": "8" });
    expect(trainer.resources?.requests).toEqual({ cpu: "32", memory: "256Gi", "nvidia.com/gpu": "8" });
    expect(spec.nodeSelector).toEqual({ "sovereign.dev/pool": "h100" });
    const terms =
      spec.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms;
    expect(terms?.[0]?.matchExpressions).toContainEqual({
      key: "kubernetes.io/hostname",
      operator: "In",
      values: ["h100-1"],
    });
    expect(spec.tolerations).toContainEqual({
      key: "nvidia.com/gpu",
      operator: "Exists",
      effect: "NoSchedule",
    });
  });

  it("takes the image of the pool's vendor when one is given", () => {
    const j = job({ images: { amd: "ghcr.io/acme/train:1.0-rocm" } });
    expect(render(j, 0, { poolName: "mi300x" }).trainer.image).toBe("ghcr.io/acme/train:1.0-rocm");
    expect(render(j, 0, { poolName: "mi300x" }).trainer.resources?.limits?.["amd.com/gpu"]).toBe("8");
    expect(render(j, 0).trainer.image).toBe("ghcr.io/acme/train:1.0");
  });

  it("merges the template last: volumes, mounts, sidecars, annotations, but not the gang's own fields", () => {
    const { obj, spec, trainer } = render(
      job({
        template: {
          metadata: {
            annotations: { "sim.sovereign.dev/exit-code": "0" },
            labels: { team: "nlp", "stack.sovereign.dev/rank": "7" },
          },
          spec: {
            restartPolicy: "OnFailure",
            hostname: "mine",
            securityContext: { runAsNonRoot: true },
            volumes: [{ name: "dshm", emptyDir: { medium: "Memory" } }],
            tolerations: [{ key: "dedicated", operator: "Exists" }],
            containers: [
              { name: "trainer", volumeMounts: [{ name: "dshm", mountPath: "/dev/shm" }] },
              { name: "sidecar", image: "busybox" },
            ],
          },
        },
      }),
    );
    expect(obj.metadata.annotations).toEqual({ "sim.sovereign.dev/exit-code": "0" });
    expect(obj.metadata.labels).toMatchObject({ team: "nlp", "stack.sovereign.dev/rank": "1" });
    expect(spec.restartPolicy).toBe("Never");
    expect(spec.hostname).toBe("llama-1");
    expect(spec.securityContext).toEqual({ runAsNonRoot: true });
    expect(spec.volumes).toEqual([{ name: "dshm", emptyDir: { medium: "Memory" } }]);
    expect(trainer.volumeMounts).toEqual([{ name: "dshm", mountPath: "/dev/shm" }]);
    expect(trainer.command?.[0]).toBe("torchrun");
    expect(spec.containers.map((c) => c.name)).toEqual(["trainer", "sidecar"]);
    expect(spec.tolerations?.map((t) => t.key)).toEqual(["dedicated", "nvidia.com/gpu"]);
  });
});

describe("mergeTemplate", () => {
  const base = () => ({
    metadata: { labels: { a: "1" } },
    spec: {
      restartPolicy: "Never",
      containers: [{ name: "trainer", image: "x", env: [{ name: "A", value: "1" }] }],
      volumes: [{ name: "v", emptyDir: {} }],
    },
  });
  it.each([
    {
      what: "env entries replace by name, new ones are appended",
      fragment: {
        spec: {
          containers: [
            {
              name: "trainer",
              env: [
                { name: "A", value: "2" },
                { name: "B", value: "3" },
              ],
            },
          ],
        },
      },
      check: (out: ReturnType<typeof base>) =>
        expect(out.spec.containers[0]?.env).toEqual([
          { name: "A", value: "2" },
          { name: "B", value: "3" },
        ]),
    },
    {
      what: "a volume of the same name is replaced whole",
      fragment: { spec: { volumes: [{ name: "v", persistentVolumeClaim: { claimName: "c" } }] } },
      check: (out: ReturnType<typeof base>) =>
        expect(out.spec.volumes).toEqual([{ name: "v", persistentVolumeClaim: { claimName: "c" } }]),
    },
    {
      what: "nothing but an object is merged",
      fragment: "nonsense",
      check: (out: ReturnType<typeof base>) => expect(out).toEqual(base()),
    },
  ])("$what", ({ fragment, check }) => {
    const input = base();
    check(mergeTemplate(input, fragment));
    expect(input).toEqual(base());
  });
});
