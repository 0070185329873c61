// The local runs of the dev cluster: which pods run as themselves (only the operator's, only on
// the dev cluster's own nodes of the chosen pools), what each container becomes (its own
// command with cluster names replaced by pod addresses), and the stand-in for cluster DNS.
import { describe, expect, it } from "vitest";
import { exitCodeOf, logTailMessage } from "../../cli/dev/pod-runner/local-pods.ts";
import {
  clusterAddresses,
  type NetworkPod,
  podPorts,
  substituteNames,
  unresolvedNames,
} from "../../cli/dev/pod-runner/pod-network.ts";
import type { PodLike } from "../../cli/dev/pod-runner/programs.ts";
import { localContainer, type NodeLike, runLocalVerdict } from "../../cli/dev/pod-runner/run-local.ts";

const node = (pool: string | undefined, simulated = true): NodeLike => ({
  metadata: {
    name: "cpu-0",
    labels: pool ? { "sovereign.dev/pool": pool } : {},
    annotations: simulated ? { "kwok.x-k8s.io/node": "fake" } : {},
  },
});

const pod = (over: Partial<PodLike["metadata"]> = {}): PodLike => ({
  metadata: {
    name: "ddp-0-1",
    namespace: "ml",
    labels: { "stack.sovereign.dev/kind": "trainingjob" },
    ...over,
  },
  spec: { nodeName: "cpu-0", containers: [] },
  status: { phase: "Running", podIP: "127.64.0.9" },
});

describe("which pods run locally", () => {
  const pools = new Set(["cpu"]);
  it("runs the operator's pods on a simulated node of a chosen pool", () => {
    expect(runLocalVerdict(pod(), node("cpu"), pools)).toEqual({ run: true });
  });
  it("never runs a pod without the operator's kind label", () => {
    expect(runLocalVerdict(pod({ labels: { app: "x" } }), node("cpu"), pools)).toMatchObject({ run: false });
  });
  it("never runs a pod on a node that is not the dev cluster's own", () => {
    const verdict = runLocalVerdict(pod(), node("cpu", false), pools);
    expect(verdict).toMatchObject({ run: false, reason: expect.stringContaining("not a simulated node") });
    expect(runLocalVerdict(pod(), undefined, pools)).toMatchObject({ run: false });
  });
  it("never runs a pod of another pool, or of none", () => {
    expect(runLocalVerdict(pod(), node("h100"), pools)).toMatchObject({
      run: false,
      reason: expect.stringContaining("pool h100"),
    });
    expect(runLocalVerdict(pod(), node(undefined), pools)).toMatchObject({ run: false });
  });
});

describe("the pod network's names", () => {
  const trainer = (rank: number, ip: string | undefined, phase = "Running"): NetworkPod => ({
    metadata: { name: `ddp-0-${rank}`, namespace: "ml", labels: { job: "ddp" } },
    spec: { hostname: `ddp-${rank}`, subdomain: "ddp" },
    status: { phase, ...(ip ? { podIP: ip } : {}) },
  });
  const headless = {
    metadata: { name: "ddp", namespace: "ml" },
    spec: { clusterIP: "None", selector: { job: "ddp" }, publishNotReadyAddresses: true },
  };

  it("resolves each pod's hostname under its headless Service, and the Service to its first pod", () => {
    const names = clusterAddresses([trainer(1, "127.64.0.3"), trainer(0, "127.64.0.2")], [headless]);
    expect(names.get("ddp-0.ddp.ml.svc")).toBe("127.64.0.2");
    expect(names.get("ddp-1.ddp.ml.svc.cluster.local")).toBe("127.64.0.3");
    expect(names.get("ddp.ml.svc")).toBe("127.64.0.2");
  });

  it("leaves out pods without an address, not running, or not ready behind a Service that wants ready ones", () => {
    const ready = { type: "Ready", status: "True" };
    const head = (name: string, ip: string, isReady: boolean): NetworkPod => ({
      metadata: { name, namespace: "ml", labels: { ray: "head" } },
      status: { phase: "Running", podIP: ip, conditions: isReady ? [ready] : [] },
    });
    const svc = { metadata: { name: "rc-head", namespace: "ml" }, spec: { selector: { ray: "head" } } };
    expect(clusterAddresses([head("a", "127.64.0.5", false), head("b", "127.64.0.6", true)], [svc])).toEqual(
      new Map([
        ["rc-head.ml.svc", "127.64.0.6"],
        ["rc-head.ml.svc.cluster.local", "127.64.0.6"],
      ]),
    );
    expect(
      clusterAddresses([trainer(0, undefined), trainer(1, "127.64.0.3", "Pending")], [headless]).size,
    ).toBe(0);
  });

  it("replaces whole cluster names only, and reports the ones it cannot resolve", () => {
    const names = new Map([["ddp-0.ddp.ml.svc", "127.64.0.2"]]);
    expect(substituteNames("--master-addr=ddp-0.ddp.ml.svc", names)).toBe("--master-addr=127.64.0.2");
    expect(substituteNames("ddp-0.ddp.ml.svc:29500 ddp", names)).toBe("127.64.0.2:29500 ddp");
    // A longer name that merely contains a known one is another host.
    expect(substituteNames("x.ddp-0.ddp.ml.svc", names)).toBe("x.ddp-0.ddp.ml.svc");
    expect(unresolvedNames(["until ray health-check --address=rc-head.ml.svc:6379"], names)).toEqual([
      "rc-head.ml.svc",
    ]);
    expect(unresolvedNames(["python train.py", "ddp-0.ddp.ml.svc"], names)).toEqual([]);
  });
});

describe("a container as a local process", () => {
  const names = new Map([["rc-head.ml.svc", "127.64.0.2"]]);
  const worker = {
    name: "ray-worker",
    command: ["ray", "start"],
    args: ["--address=rc-head.ml.svc:6379", "--num-cpus=1", "--block"],
    env: [
      { name: "RAY_ADDRESS", value: "rc-head.ml.svc:6379" },
      { name: "POD", valueFrom: { fieldRef: { fieldPath: "metadata.name" } } },
    ],
  };

  it("is the container's own command with cluster names resolved, told which address is its own", () => {
    expect(localContainer(pod(), worker, names)).toEqual({
      container: {
        name: "ray-worker",
        command: "ray",
        args: [
          "start",
          "--address=127.64.0.2:6379",
          "--num-cpus=1",
          "--block",
          "--node-ip-address=127.64.0.9",
          "--metrics-export-port=40018",
          "--dashboard-agent-listen-port=40019",
        ],
        env: { RAY_ADDRESS: "127.64.0.2:6379", POD: "ddp-0-1" },
      },
    });
  });

  it("keeps an address the container chose itself, and adds none to other programs", () => {
    const own = { ...worker, args: [...worker.args, "--node-ip-address=127.64.0.9"] };
    const made = localContainer(pod(), own, names);
    expect("container" in made && made.container.args.filter((a) => a.startsWith("--node-ip"))).toHaveLength(
      1,
    );
    const torchrun = { name: "trainer", command: ["torchrun", "--nnodes=1", "train.py"] };
    expect(localContainer(pod(), torchrun, names)).toMatchObject({
      container: { command: "torchrun", args: ["--nnodes=1", "train.py"] },
    });
  });

  it("waits while a name does not resolve, and refuses a container with no command", () => {
    expect(localContainer(pod(), worker, new Map())).toEqual({ waitingFor: ["rc-head.ml.svc"] });
    expect(localContainer(pod(), { name: "x", args: ["--a"] }, names)).toMatchObject({
      error: expect.stringContaining("no command"),
    });
  });

  it("gives each pod ports of its own, from its address", () => {
    expect(podPorts("127.64.0.9")).toEqual([40018, 40019]);
    expect(podPorts("127.64.1.0")).toEqual([40512, 40513]);
  });

  it("keeps a failed container's log tail as its message as a kubelet does: 80 lines, 2048 bytes", () => {
    const lines = Array.from({ length: 100 }, (_, i) => `line ${i}`).join("\n");
    expect(logTailMessage(`${lines}\n`).split("\n")).toEqual(
      Array.from({ length: 80 }, (_, i) => `line ${i + 20}`),
    );
    const long = logTailMessage("x".repeat(5000));
    expect(long).toHaveLength(2048);
  });

  it("reports a signal as a kubelet does: 128 + its number", () => {
    expect(exitCodeOf(null, "SIGKILL")).toBe(137);
    expect(exitCodeOf(3, null)).toBe(3);
  });
});
