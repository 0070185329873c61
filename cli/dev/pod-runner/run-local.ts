// Which pods the dev cluster runs for real as themselves (`stackctl dev --run-local`, and the
// tests in tests/real/), and how: each container's own command, args and environment, as a
// kubelet would start it, on this machine. Only pods that the operator made (they carry its
// kind label) and that the scheduler bound to one of the dev cluster's own simulated nodes in a
// pool chosen for local runs qualify: a pod someone else created, or one on any other node,
// never gets a command run here. Pure, so the rules are easy to test.
import { labels } from "../../../crds/labels.ts";
import { simulatedNodeAnnotation } from "../kwok-stages.ts";
import { poolLabel } from "../simulated-nodes.ts";
import { ownNetworkFlags, substituteNames, unresolvedNames } from "./pod-network.ts";
import { type ContainerLike, containerEnv, type PodLike } from "./programs.ts";

export interface NodeLike {
  metadata: { name?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
}

export type Verdict = { run: true } | { run: false; reason: string };

/** Whether `pod` runs locally under a runner that runs the pools `pools`. */
export function runLocalVerdict(
  pod: PodLike,
  node: NodeLike | undefined,
  pools: ReadonlySet<string>,
): Verdict {
  if (!pod.metadata.labels?.[labels.kind]) return { run: false, reason: `no ${labels.kind} label` };
  const nodeName = pod.spec?.nodeName;
  if (!nodeName) return { run: false, reason: "not bound to a node" };
  if (!node) return { run: false, reason: `node ${nodeName} is unknown` };
  if (node.metadata.annotations?.[simulatedNodeAnnotation.key] !== simulatedNodeAnnotation.value)
    return { run: false, reason: `node ${nodeName} is not a simulated node of the dev cluster` };
  const pool = node.metadata.labels?.[poolLabel];
  if (!pool || !pools.has(pool))
    return { run: false, reason: `node ${nodeName} is in pool ${pool ?? "(none)"}, not one run locally` };
  return { run: true };
}

export interface LocalContainer {
  name: string;
  /** The program as the container names it; the runner finds it on its PATH. */
  command: string;
  args: string[];
  env: Record<string, string>;
}

/**
 * One container as a local process: its command and args (the image's entrypoint is not known
 * here, so a container without a command cannot run), its resolved environment, and the cluster
 * names in both replaced by pod addresses. Undefined while a name does not resolve yet, as a
 * program would fail its DNS lookup; `waitingFor` says which.
 */
export function localContainer(
  pod: PodLike,
  container: ContainerLike,
  addresses: ReadonlyMap<string, string>,
): { container: LocalContainer } | { waitingFor: string[] } | { error: string } {
  const podIP = pod.status?.podIP;
  if (!podIP) return { waitingFor: ["the pod's IP"] };
  const argv = [...(container.command ?? []), ...(container.args ?? [])];
  if (!container.command?.length)
    return { error: `container ${container.name} has no command: the image's entrypoint is unknown here` };
  const env = containerEnv(pod, container);
  const missing = unresolvedNames([...argv, ...Object.values(env)], addresses);
  if (missing.length > 0) return { waitingFor: missing };
  const sub = (s: string) => substituteNames(s, addresses);
  const [command = "", ...rest] = argv.map(sub);
  return {
    container: {
      name: container.name,
      command,
      args: [...rest, ...ownNetworkFlags(argv, podIP)],
      env: Object.fromEntries(Object.entries(env).map(([k, v]) => [k, sub(v)])),
    },
  };
}
