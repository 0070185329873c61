// The command lines of the control-plane components, as a pure function of the ports and
// files chosen for one cluster, so what runs is easy to read and to test.

import { join } from "node:path";
import { packageModule } from "../package-paths.ts";
import type { ToolName } from "./tools.ts";

export const componentNames = [
  "etcd",
  "kube-apiserver",
  "kube-controller-manager",
  "kube-scheduler",
  "kwok",
  "pod-runner",
  "operator",
] as const;
/**
 * The control plane proper; the operator and the pod runner (which runs the containers that
 * can run here: engines and routers) are started on request (`npm run dev`, tests that serve).
 */
export const controlPlaneComponents = componentNames.filter((n) => n !== "operator" && n !== "pod-runner");
export type ComponentName = (typeof componentNames)[number];

export interface ClusterLayout {
  dir: string;
  binDir: string;
  /** Extra arguments for the pod runner. */
  podRunnerArgs?: string[];
  ports: {
    etcd: number;
    etcdPeer: number;
    apiserver: number;
    controllerManager: number;
    scheduler: number;
    kwok: number;
    operatorMetrics: number;
    operatorHealth: number;
  };
  /** Where kwok takes pod IPs from: a /16 of 127.0.0.0/8 this cluster holds (pod-range.ts). */
  podCidr: string;
}

export interface ComponentCommand {
  name: ComponentName;
  command: string;
  args: string[];
}

export const files = (dir: string) => ({
  etcdData: join(dir, "etcd"),
  certs: join(dir, "certs"),
  apiserverCert: join(dir, "certs", "apiserver.crt"),
  tokens: join(dir, "tokens.csv"),
  saKey: join(dir, "sa.key"),
  saPub: join(dir, "sa.pub"),
  kubeconfig: join(dir, "kubeconfig"),
  schedulerConfig: join(dir, "scheduler.yaml"),
  kwokConfig: join(dir, "kwok.yaml"),
  logs: join(dir, "logs"),
  pods: join(dir, "pods"),
  state: join(dir, "state.json"),
});

const bin = (l: ClusterLayout, tool: ToolName): string => join(l.binDir, tool);

export function componentCommands(l: ClusterLayout): ComponentCommand[] {
  const f = files(l.dir);
  const etcdUrl = `http://127.0.0.1:${l.ports.etcd}`;
  const peerUrl = `http://127.0.0.1:${l.ports.etcdPeer}`;
  // Controllers and the scheduler authenticate with the admin token: this is a throwaway
  // local cluster, and one credential keeps its setup small.
  const clientFlags = [
    `--kubeconfig=${f.kubeconfig}`,
    `--authentication-kubeconfig=${f.kubeconfig}`,
    `--authorization-kubeconfig=${f.kubeconfig}`,
  ];
  return [
    {
      name: "etcd",
      command: bin(l, "etcd"),
      args: [
        "--name=default",
        `--data-dir=${f.etcdData}`,
        `--listen-client-urls=${etcdUrl}`,
        `--advertise-client-urls=${etcdUrl}`,
        `--listen-peer-urls=${peerUrl}`,
        `--initial-advertise-peer-urls=${peerUrl}`,
        `--initial-cluster=default=${peerUrl}`,
        // A test cluster's data is disposable; fsync would make every write wait on the disk.
        "--unsafe-no-fsync=true",
        "--quota-backend-bytes=8589934592",
        "--log-level=warn",
      ],
    },
    {
      name: "kube-apiserver",
      command: bin(l, "kube-apiserver"),
      args: [
        `--etcd-servers=${etcdUrl}`,
        "--bind-address=127.0.0.1",
        "--advertise-address=127.0.0.1",
        `--secure-port=${l.ports.apiserver}`,
        `--cert-dir=${f.certs}`,
        `--token-auth-file=${f.tokens}`,
        "--authorization-mode=RBAC",
        `--service-account-key-file=${f.saPub}`,
        `--service-account-signing-key-file=${f.saKey}`,
        "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
        "--api-audiences=https://kubernetes.default.svc.cluster.local",
        "--service-cluster-ip-range=10.96.0.0/16",
        // Endpoints may not point at loopback, and nothing reaches the API through the
        // kubernetes Service here anyway.
        "--endpoint-reconciler-type=none",
        "--allow-privileged=true",
        "--profiling=false",
        "--v=0",
      ],
    },
    {
      name: "kube-controller-manager",
      command: bin(l, "kube-controller-manager"),
      args: [
        ...clientFlags,
        "--leader-elect=false",
        "--bind-address=127.0.0.1",
        `--secure-port=${l.ports.controllerManager}`,
        `--cert-dir=${join(f.certs, "kcm")}`,
        `--service-account-private-key-file=${f.saKey}`,
        `--root-ca-file=${f.apiserverCert}`,
        "--use-service-account-credentials=false",
        "--kube-api-qps=200",
        "--kube-api-burst=400",
        "--concurrent-gc-syncs=50",
        // Pod IPs are loopback addresses (see kwok below), which Endpoints and EndpointSlices
        // may not hold: those controllers would only fail and retry. The router watches pods.
        "--controllers=*,-endpoints-controller,-endpointslice-controller,-endpointslice-mirroring-controller",
        "--v=0",
      ],
    },
    {
      name: "kube-scheduler",
      command: bin(l, "kube-scheduler"),
      args: [
        `--config=${f.schedulerConfig}`,
        `--authentication-kubeconfig=${f.kubeconfig}`,
        `--authorization-kubeconfig=${f.kubeconfig}`,
        "--bind-address=127.0.0.1",
        `--secure-port=${l.ports.scheduler}`,
        `--cert-dir=${join(f.certs, "scheduler")}`,
        "--v=0",
      ],
    },
    {
      name: "kwok",
      command: bin(l, "kwok"),
      args: [
        `--kubeconfig=${f.kubeconfig}`,
        `--config=${f.kwokConfig}`,
        "--manage-all-nodes=false",
        "--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake",
        "--node-lease-duration-seconds=40",
        // Pod IPs from a loopback range, so the processes the pod runner starts for a pod bind
        // its own address and anything on this machine can reach them; nothing leaves it.
        `--cidr=${l.podCidr}`,
        "--node-ip=127.0.0.1",
        `--server-address=127.0.0.1:${l.ports.kwok}`,
        `--node-port=${l.ports.kwok}`,
      ],
    },
    {
      name: "pod-runner",
      command: process.execPath,
      args: [podRunnerMain, `--kubeconfig=${f.kubeconfig}`, `--dir=${f.pods}`, ...(l.podRunnerArgs ?? [])],
    },
    {
      name: "operator",
      // The same entry point as `npm start`, on the Node that runs this CLI.
      command: process.execPath,
      args: [
        operatorMain,
        `--kubeconfig=${f.kubeconfig}`,
        `--metrics-bind-address=127.0.0.1:${l.ports.operatorMetrics}`,
        `--health-probe-bind-address=127.0.0.1:${l.ports.operatorHealth}`,
      ],
    },
  ];
}

const operatorMain = packageModule("cmd/operator.ts");
const podRunnerMain = packageModule("cli/dev/pod-runner/main.ts");

export function schedulerConfigYaml(kubeconfig: string): string {
  return [
    "apiVersion: kubescheduler.config.k8s.io/v1",
    "kind: KubeSchedulerConfiguration",
    "clientConnection:",
    `  kubeconfig: ${JSON.stringify(kubeconfig)}`,
    "  qps: 500",
    "  burst: 1000",
    "leaderElection:",
    "  leaderElect: false",
    "",
  ].join("\n");
}
