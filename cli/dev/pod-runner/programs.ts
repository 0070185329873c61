// Which containers of the simulated cluster run for real, and how. kwok only writes a pod's
// status; the pod runner plays the part of a kubelet for the containers it knows: a vLLM
// server becomes the engine simulator with the pod's own arguments (so a flag the controller
// gets wrong fails as vLLM would fail), and the router runs as itself. Each process binds its
// pod's IP, which kwok hands out from a loopback range: that is the one substitution, in place
// of a network namespace per pod. A Ray head (`ray start --head`) runs as real Ray from the
// project's Python venv when it is installed (../ray-head.ts says what changes for one
// machine); Ray workers stay simulated. Pure, so what runs for a pod is easy to test.
// The router pod runs the image's compiled entry point; here it runs from this package.
import { routerCommand } from "../../../controllers/inferenceservice/router.ts";
import { packageModule } from "../../package-paths.ts";
import { venvProgram } from "../python.ts";
import { isHeadStart } from "../ray-head.ts";

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
  /**
   * A Ray head: `args` are the pod's `ray start` arguments; the runner makes them local
   * (localHeadArgs: free ports, temp dir) when it starts it, and stops its process group.
   */
  rayHead?: boolean;
}

export interface ProgramOptions {
  /** The project's Python venv; without it Ray heads stay simulated. */
  pythonVenv?: string | undefined;
}

/** The entry points vLLM images run; the CUDA, ROCm and TPU builds share the first. */
const engineCommands = [
  ["python3", "-m", "vllm.entrypoints.openai.api_server"],
  ["python", "-m", "vllm.entrypoints.openai.api_server"],
];

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

/**
 * A shell whose script ends by handing over to a vLLM server with the container's arguments
 * (`exec python3 -m vllm.entrypoints.openai.api_server "$@"`), as the leader of a replica
 * spanning nodes runs after starting its Ray head: the command the server gets, as if written
 * directly. What the script does before (Ray) has no stand-in here; the simulator plays the
 * server once it would start.
 */
function engineBehindShell(command: readonly string[]): string[] | undefined {
  if (command.length < 3 || !/^(\/bin\/)?(ba)?sh$/.test(command[0] ?? "") || command[1] !== "-c")
    return undefined;
  const last = (command[2] ?? "").trim().split("\n").at(-1) ?? "";
  const words = last.trim().split(/\s+/);
  if (words[0] !== "exec" || words.at(-1) !== '"$@"') return undefined;
  const inner = words.slice(1, -1);
  return engineCommands.find((c) => c.length === inner.length && startsWith(inner, c));
}

/** The local process for one container of a running pod, or undefined when it stays simulated. */
export function localProgram(
  pod: PodLike,
  container: ContainerLike,
  options: ProgramOptions = {},
): LocalProgram | undefined {
  const ip = pod.status?.podIP;
  if (!ip) return undefined;
  const shelled = engineBehindShell(container.command ?? []);
  // The shell's own name ($0) and script are not the server's arguments.
  const command = shelled ?? container.command ?? [];
  if (options.pythonVenv && isHeadStart(command, container.args ?? [])) {
    return {
      container: container.name,
      command: venvProgram(options.pythonVenv, "ray"),
      args: ["start", ...(container.args ?? [])],
      env: containerEnv(pod, container),
      usesApi: false,
      readiness: readinessOf(container),
      rayHead: true,
    };
  }
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
export function localPrograms(pod: PodLike, options: ProgramOptions = {}): LocalProgram[] {
  if (pod.metadata.deletionTimestamp || pod.status?.phase !== "Running") return [];
  return (pod.spec?.containers ?? []).flatMap((c) => localProgram(pod, c, options) ?? []);
}
