// A real Ray head where a head pod is: the pod's own `ray start --head ...` argv, changed only
// where one machine differs from a pod network. The dashboard binds the pod's IP (on the dev
// cluster a loopback address), so the operator reaches it at podIP:8265 as in a real cluster.
// Ray binds its other servers (GCS, client server, agents, raylet) on every interface, where
// two heads would collide on 6379 and 52365: those get free ports, which only Ray's own
// processes use (the operator talks to the dashboard only; workers stay simulated). Pure.

/** Flags of `ray start` whose servers listen on every interface: each gets a free port. */
export const allInterfacesPortFlags = [
  "port",
  "ray-client-server-port",
  "metrics-export-port",
  "dashboard-agent-listen-port",
  "dashboard-agent-grpc-port",
  "runtime-env-agent-port",
  "node-manager-port",
  "object-manager-port",
] as const;
export type PortFlag = (typeof allInterfacesPortFlags)[number];

/** Small enough for several heads on a shared machine; Ray's default is 30% of its memory. */
export const localObjectStoreBytes = 80 * 1024 * 1024;

export interface LocalHead {
  ip: string;
  ports: Record<PortFlag, number>;
  /** Ray's session directory root; short, since Ray puts Unix sockets under it. */
  tempDir: string;
}

const flagName = (arg: string): string | undefined => /^--([a-z-]+)(=.*)?$/.exec(arg)?.[1];

/** Whether `args` (after `ray start`) start a head. */
export const isHeadStart = (command: readonly string[], args: readonly string[]): boolean =>
  command.at(-2) === "ray" && command.at(-1) === "start" && args.includes("--head");

/** The head's argv for one machine: the pod's flags, with addresses, ports and temp dir replaced. */
export function localHeadArgs(args: readonly string[], head: LocalHead): string[] {
  const replaced = new Set<string>([
    ...allInterfacesPortFlags,
    "node-ip-address",
    "dashboard-host",
    "temp-dir",
    "include-dashboard",
    "block",
  ]);
  const kept: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] as string;
    const name = flagName(arg);
    if (name === undefined || !replaced.has(name)) {
      kept.push(arg);
      continue;
    }
    // `--flag value` form: skip the value too.
    if (!arg.includes("=") && name !== "block" && i + 1 < args.length && !args[i + 1]?.startsWith("--")) i++;
  }
  const has = (flag: string) => kept.some((a) => flagName(a) === flag);
  return [
    ...kept,
    `--node-ip-address=${head.ip}`,
    `--dashboard-host=${head.ip}`,
    "--include-dashboard=true",
    `--temp-dir=${head.tempDir}`,
    ...allInterfacesPortFlags.map((f) => `--${f}=${head.ports[f]}`),
    ...(has("object-store-memory") ? [] : [`--object-store-memory=${localObjectStoreBytes}`]),
    ...(has("disable-usage-stats") ? [] : ["--disable-usage-stats"]),
    "--block",
  ];
}
