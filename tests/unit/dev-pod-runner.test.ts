// What the dev cluster's pod runner starts for a pod: the engine simulator with the pod's own
// vLLM arguments at the pod's IP, the router as itself with API access, nothing for the rest.
import { describe, expect, it } from "vitest";
import {
  engineSimulatorMain,
  hasStandIn,
  localPrograms,
  type PodLike,
  routerMain,
} from "../../cli/dev/pod-runner/programs.ts";
import { allInterfacesPortFlags, localHeadArgs, type PortFlag } from "../../cli/dev/ray-head.ts";
import { leaderScript, workerScript } from "../../controllers/inferenceservice/group-pods.ts";
import { headPod } from "../../controllers/raycluster/pods.ts";

const pod = (containers: NonNullable<PodLike["spec"]>["containers"], phase = "Running"): PodLike => ({
  metadata: { name: "llama-h100-abc", namespace: "ml", uid: "u1" },
  spec: { containers, nodeName: "h100-0", serviceAccountName: "llama-router" },
  status: { phase, podIP: "127.64.0.7" },
});

describe("pod runner programs", () => {
  const engine = {
    name: "server",
    command: ["python3", "-m", "vllm.entrypoints.openai.api_server"],
    args: ["--model", "meta-llama/Llama-3.1-8B-Instruct", "--port", "8000"],
    env: [
      { name: "SIM_ITL_MS", value: "5" },
      { name: "POD_IP", valueFrom: { fieldRef: { fieldPath: "status.podIP" } } },
    ],
    ports: [{ name: "http", containerPort: 8000 }],
    readinessProbe: { httpGet: { path: "/v1/models", port: "http" }, periodSeconds: 5 },
  };

  it("runs a vLLM server as the simulator with the pod's arguments, bound to the pod's IP", () => {
    const [p] = localPrograms(pod([engine]));
    expect(p?.command).toBe(process.execPath);
    expect(p?.args).toEqual([
      engineSimulatorMain(),
      "--model",
      "meta-llama/Llama-3.1-8B-Instruct",
      "--port",
      "8000",
      "--host",
      "127.64.0.7",
    ]);
    expect(p?.env).toEqual({ SIM_ITL_MS: "5", POD_IP: "127.64.0.7" });
    expect(p?.usesApi).toBe(false);
    expect(p?.readiness).toEqual({
      path: "/v1/models",
      port: 8000,
      periodSeconds: 5,
      timeoutSeconds: 1,
      failureThreshold: 3,
    });
  });

  it("runs the leader of a replica spanning nodes (Ray head, then the server by exec) as the simulator", () => {
    const leader = { ...engine, command: ["/bin/sh", "-c", leaderScript, "vllm-leader"] };
    expect(localPrograms(pod([leader]))[0]?.args).toEqual(localPrograms(pod([engine]))[0]?.args);
    // A worker only runs a Ray node: it stays simulated, as does a script that execs something else.
    expect(localPrograms(pod([{ name: "server", command: ["/bin/sh", "-c", workerScript] }]))).toEqual([]);
    const other = { ...engine, command: ["/bin/sh", "-c", 'exec python3 train.py "$@"', "x"] };
    expect(localPrograms(pod([other]))).toEqual([]);
  });

  it("runs the router as itself, with the pod's ServiceAccount", () => {
    const [p] = localPrograms(
      pod([{ name: "router", command: ["node", "dist/router/main.js"], args: ["--port=8000"] }]),
    );
    expect(p?.args).toEqual([routerMain(), "--port=8000", "--host", "127.64.0.7"]);
    expect(p?.usesApi).toBe(true);
  });

  it("leaves other containers and pods that are not running to kwok", () => {
    expect(localPrograms(pod([{ name: "trainer", command: ["torchrun", "train.py"] }]))).toEqual([]);
    expect(localPrograms(pod([engine], "Pending"))).toEqual([]);
    expect(localPrograms({ ...pod([engine]), status: { phase: "Running" } })).toEqual([]);
  });

  const rayHeadPod = (): PodLike => {
    const p = headPod({
      apiVersion: "stack.sovereign.dev/v1alpha1",
      kind: "RayCluster",
      metadata: { name: "demo", namespace: "ml", uid: "u2" },
      spec: {
        rayVersion: "2.60.0",
        image: "rayproject/ray:2.60.0",
        head: { serviceType: "ClusterIP", rayStartParams: { "num-cpus": "0" } },
        suspend: false,
      },
    }) as unknown as PodLike;
    return { ...p, status: { phase: "Running", podIP: "127.64.0.9" } };
  };

  it("runs a RayCluster's head as real Ray from the venv, with the pod's probe, once a venv exists", () => {
    expect(localPrograms(rayHeadPod())).toEqual([]);
    const [p] = localPrograms(rayHeadPod(), { pythonVenv: "/venv" });
    expect(p?.command).toBe("/venv/bin/ray");
    expect(p?.rayHead).toBe(true);
    expect(p?.args.slice(0, 2)).toEqual(["start", "--head"]);
    expect(p?.args).toContain("--num-cpus=0");
    expect(p?.readiness).toMatchObject({ path: "/api/gcs_healthz", port: 8265 });
    expect(p?.env.RAY_CLUSTER_NAME).toBe("demo");
  });

  it("makes a head's argv local: its IP for node and dashboard, free ports for what binds every interface", () => {
    const ports = Object.fromEntries(allInterfacesPortFlags.map((f, i) => [f, 40000 + i])) as Record<
      PortFlag,
      number
    >;
    const args = localHeadArgs(
      [
        "--head",
        "--port=6379",
        "--dashboard-host=0.0.0.0",
        "--dashboard-port=8265",
        "--temp-dir",
        "/x",
        "--num-cpus=0",
        "--block",
      ],
      { ip: "127.64.0.9", ports, tempDir: "/tmp/rayp-1" },
    );
    expect(args).toEqual([
      "--head",
      "--dashboard-port=8265",
      "--num-cpus=0",
      "--node-ip-address=127.64.0.9",
      "--dashboard-host=127.64.0.9",
      "--include-dashboard=true",
      "--temp-dir=/tmp/rayp-1",
      ...allInterfacesPortFlags.map((f) => `--${f}=${ports[f]}`),
      "--object-store-memory=83886080",
      "--disable-usage-stats",
      "--block",
    ]);
    expect(
      localHeadArgs(["--head", "--object-store-memory=1000"], { ip: "127.64.0.9", ports, tempDir: "/t" }),
    ).toContain("--object-store-memory=1000");
  });

  it("knows the pods whose engine or router runs as a stand-in, whatever their phase", () => {
    expect(hasStandIn(pod([engine], "Pending"))).toBe(true);
    expect(hasStandIn(pod([{ name: "router", command: ["node", "dist/router/main.js"] }]))).toBe(true);
    expect(hasStandIn(pod([{ name: "trainer", command: ["torchrun", "train.py"] }]))).toBe(false);
  });
});
