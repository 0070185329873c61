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

  it("runs the router as itself, with the pod's ServiceAccount", () => {
    const [p] = localPrograms(
      pod([{ name: "router", command: ["node", "router/main.ts"], args: ["--port=8000"] }]),
    );
    expect(p?.args).toEqual([routerMain(), "--port=8000", "--host", "127.64.0.7"]);
    expect(p?.usesApi).toBe(true);
  });

  it("leaves other containers and pods that are not running to kwok", () => {
    expect(localPrograms(pod([{ name: "trainer", command: ["torchrun", "train.py"] }]))).toEqual([]);
    expect(localPrograms(pod([engine], "Pending"))).toEqual([]);
    expect(localPrograms({ ...pod([engine]), status: { phase: "Running" } })).toEqual([]);
  });

  it("knows the pods whose engine or router runs as a stand-in, whatever their phase", () => {
    expect(hasStandIn(pod([engine], "Pending"))).toBe(true);
    expect(hasStandIn(pod([{ name: "router", command: ["node", "router/main.ts"] }]))).toBe(true);
    expect(hasStandIn(pod([{ name: "trainer", command: ["torchrun", "train.py"] }]))).toBe(false);
  });
});
