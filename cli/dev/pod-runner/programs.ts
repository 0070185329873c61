// Which containers of the simulated cluster run for real, and how. kwok only writes a pod's
// status; the pod runner plays the part of a kubelet for the containers it knows: a vLLM
// server becomes the engine simulator with the pod's own arguments (so a flag the controller
// gets wrong fails as vLLM would fail), and the router runs as itself. Each process binds its
// pod's IP, which kwok hands out from a loopback range: that is the one substitution, in place
// of a network namespace per pod. Pure, so what runs for a pod is easy to test.
import { packageModule } from "../../package-paths.ts";

export interface ContainerLike {
  name: string;
  image?: string;
  command?: string[];
  args?: string[];
  env?: { name: string; value?: string; valueFrom?: { fieldRef?: { fieldPath: string } } }[];
  ports?: { name?: string; containerPort: number }[];
  readinessProbe?: {
    httpGet?: { path?: string; port: number | string };
    periodSeconds?: number;
    timeoutSeconds?: number;
    failureThreshold?: number;
  };
}

export interface PodLike {
  metadata: {
    name?: string;
    namespace?: string;
    uid?: string;
    deletionTimestamp?: string;
    labels?: Record<string, string>;
  };
  spec?: { containers?: ContainerLike[]; nodeName?: string; serviceAccountName?: string };
  status?: { phase?: string; podIP?: string };
}

export interface HttpProbe {
  path: string;
  port: number;
  periodSeconds: number;
  timeoutSeconds: number;
  failureThreshold: number;
}

export interface LocalProgram {
  container: string;
  command: string;
  args: string[];
  /** The container's environment as a kubelet would resolve it (values and downward API fields). */
  env: Record<string, string>;
  /** Whether it talks to the API server, as the pod's ServiceAccount. */
  usesApi: boolean;
  readiness: HttpProbe | undefined;
}

/** The entry points vLLM images run; the CUDA, ROCm and TPU builds share the first. */
const engineCommands = [
  ["python3", "-m", "vllm.entrypoints.openai.api_server"],
  ["python", "-m", "vllm.entrypoints.openai.api_server"],
];
const routerCommand = ["node", "router/main.ts"];

const startsWith = (have: readonly string[], prefix: readonly string[]): boolean =>
  prefix.every((word, i) => have[i] === word);

export const engineSimulatorMain = (): string => packageModule("cli/dev/engine-sim/main.ts");
export const routerMain = (): string => packageModule("router/main.ts");

function fieldValue(pod: PodLike, path: string): string | undefined {
  switch (path) {
    case "metadata.name":
      return pod.metadata.name;
    case "metadata.namespace":
      return pod.metadata.namespace;
    case "metadata.uid":
      return pod.metadata.uid;
    case "spec.nodeName":
      return pod.spec?.nodeName;
    case "spec.serviceAccountName":
      return pod.spec?.serviceAccountName ?? "default";
    case "status.podIP":
      return pod.status?.podIP;
    default:
      return undefined;
  }
}

export function containerEnv(pod: PodLike, container: ContainerLike): Record<string, string> {
  const env: Record<string, string> = {};
  for (const e of container.env ?? []) {
    const value = e.valueFrom?.fieldRef ? fieldValue(pod, e.valueFrom.fieldRef.fieldPath) : e.value;
    if (value !== undefined) env[e.name] = value;
  }
  return env;
}

export function readinessOf(container: ContainerLike): HttpProbe | undefined {
  const probe = container.readinessProbe;
  const get = probe?.httpGet;
  if (!probe || !get) return undefined;
  const port =
    typeof get.port === "number"
      ? get.port
      : container.ports?.find((p) => p.name === get.port)?.containerPort;
  if (port === undefined) return undefined;
  return {
    path: get.path ?? "/",
    port,
    periodSeconds: probe.periodSeconds ?? 10,
    timeoutSeconds: probe.timeoutSeconds ?? 1,
    failureThreshold: probe.failureThreshold ?? 3,
  };
}

/** The local process for one container of a running pod, or undefined when it stays simulated. */
export function localProgram(pod: PodLike, container: ContainerLike): LocalProgram | undefined {
  const ip = pod.status?.podIP;
  if (!ip) return undefined;
  const command = container.command ?? [];
  const engine = engineCommands.find((c) => startsWith(command, c));
  let entry: string | undefined;
  let usesApi = false;
  if (engine) entry = engineSimulatorMain();
  else if (startsWith(command, routerCommand)) {
    entry = routerMain();
    usesApi = true;
  }
  if (!entry) return undefined;
  const prefix = engine ?? routerCommand;
  return {
    container: container.name,
    command: process.execPath,
    // vLLM and the router both bind 0.0.0.0 unless told otherwise; the pod's address stands in
    // for the pod's own network namespace.
    args: [entry, ...command.slice(prefix.length), ...(container.args ?? []), "--host", ip],
    env: containerEnv(pod, container),
    usesApi,
    readiness: readinessOf(container),
  };
}

/** Whether a container of `pod` runs as a stand-in here (the simulator for vLLM, which cannot run here). */
export function hasStandIn(pod: PodLike): boolean {
  return (pod.spec?.containers ?? []).some((c) => {
    const command = c.command ?? [];
    return engineCommands.some((e) => startsWith(command, e)) || startsWith(command, routerCommand);
  });
}

/** Every container of `pod` that runs locally, or [] while it is not running. */
export function localPrograms(pod: PodLike): LocalProgram[] {
  if (pod.metadata.deletionTimestamp || pod.status?.phase !== "Running") return [];
  return (pod.spec?.containers ?? []).flatMap((c) => localProgram(pod, c) ?? []);
}
