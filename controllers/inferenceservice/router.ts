// The router's children, when spec.router.enabled: a ServiceAccount with a Role that lets it
// read only what it routes by (the service's engine pods and its API-key Secret), a Deployment
// of router pods, and a Service that status.url points at. Pure: the reconcile applies them.
//
// One router per InferenceService rather than one per cluster: a tenant's storm on one model
// cannot take another service's router down with it, its RBAC is confined to one namespace and
// one Secret, and it scales with the service it fronts. The router itself can front several
// services (repeat --service); the operator just never needs it to.
import { labels } from "../../crds/runtime/index.ts";
import { controllerReference, type KubeObject } from "../../operator/index.ts";
import type { InferenceServiceObject } from "./adapter.ts";
import { kindLabelValue, routerName, routerPort, selectorString, serverLabels } from "./names.ts";
import { containerResources } from "./pods.ts";

export const routerGroup = "router";
/**
 * The router ships in the operator's image (the same package); `RELATED_IMAGE_ROUTER` is how
 * the chart tells the operator which image that is, the convention operators use for the
 * images they deploy.
 */
export const defaultRouterImage = "ghcr.io/sovereign-stack/operator:0.1.0";
export const routerCommand = ["node", "dist/router/main.js"];

export const routerEnabled = (svc: InferenceServiceObject): boolean => svc.spec.router?.enabled === true;

export function routerLabels(service: string): Record<string, string> {
  return { [labels.kind]: kindLabelValue, [labels.name]: service, [labels.group]: routerGroup };
}

function meta(svc: InferenceServiceObject, extraLabels: Record<string, string> = {}) {
  const service = svc.metadata.name ?? "";
  return {
    name: routerName(service),
    namespace: svc.metadata.namespace,
    labels: { ...routerLabels(service), ...extraLabels },
    ownerReferences: [controllerReference(svc)],
  };
}

/** The router's command-line flags: which pods it fronts under which model name, and its limits. */
export function routerArgs(svc: InferenceServiceObject): string[] {
  const service = svc.metadata.name ?? "";
  const router = svc.spec.router;
  const limits = router?.limits;
  const args = [
    `--port=${routerPort}`,
    `--namespace=${svc.metadata.namespace ?? ""}`,
    // Pods, not EndpointSlices: endpoint addresses may not be loopback, which the dev cluster's
    // pods are, and a pod watch sees readiness flip without the EndpointSlice controller's lag.
    `--pods=${svc.spec.model.name ?? service}=${selectorString(service)}`,
  ];
  if (router?.apiKeysSecret) args.push(`--api-keys-secret=${router.apiKeysSecret}`);
  if (limits) {
    args.push(
      `--rate=${limits.requestsPerSecond}`,
      `--burst=${limits.burst}`,
      `--max-concurrency=${limits.maxConcurrency}`,
      `--max-queue=${limits.maxQueue}`,
      `--max-queue-wait-seconds=${limits.maxQueueWaitSeconds}`,
    );
  }
  if (router?.coldStartWaitSeconds !== undefined) {
    args.push(`--cold-start-wait-seconds=${router.coldStartWaitSeconds}`);
  }
  return args;
}

export function desiredRouterServiceAccount(svc: InferenceServiceObject): KubeObject {
  return { apiVersion: "v1", kind: "ServiceAccount", metadata: meta(svc) };
}

/**
 * Least privilege: the engine pods of its namespace (list and watch, for addresses, readiness
 * and pool) and, when keys are configured, `get` on that one Secret. The operator holds each of
 * these itself, which is what the API server's escalation check asks of whoever writes a Role.
 */
export function desiredRouterRole(svc: InferenceServiceObject): KubeObject {
  const secret = svc.spec.router?.apiKeysSecret;
  const rules: Record<string, unknown>[] = [
    { apiGroups: [""], resources: ["pods"], verbs: ["list", "watch"] },
  ];
  if (secret)
    rules.push({ apiGroups: [""], resources: ["secrets"], resourceNames: [secret], verbs: ["get"] });
  return { apiVersion: "rbac.authorization.k8s.io/v1", kind: "Role", metadata: meta(svc), rules };
}

export function desiredRouterRoleBinding(svc: InferenceServiceObject): KubeObject {
  const name = routerName(svc.metadata.name ?? "");
  return {
    apiVersion: "rbac.authorization.k8s.io/v1",
    kind: "RoleBinding",
    metadata: meta(svc),
    roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name },
    subjects: [{ kind: "ServiceAccount", name, namespace: svc.metadata.namespace }],
  };
}

/** The restricted Pod Security Standard, as the operator's own pod. */
const restricted = {
  pod: { runAsNonRoot: true, runAsUser: 1000, runAsGroup: 1000, seccompProfile: { type: "RuntimeDefault" } },
  container: {
    allowPrivilegeEscalation: false,
    readOnlyRootFilesystem: true,
    capabilities: { drop: ["ALL"] },
  },
};

export function desiredRouterDeployment(svc: InferenceServiceObject, image: string): KubeObject {
  const service = svc.metadata.name ?? "";
  const router = svc.spec.router;
  const resources = containerResources(router?.resources) ?? {
    requests: { cpu: "500m", memory: "256Mi" },
    limits: { memory: "1Gi" },
  };
  const probe = (path: string, periodSeconds: number) => ({
    httpGet: { path, port: "http" },
    periodSeconds,
    timeoutSeconds: 2,
    failureThreshold: 3,
  });
  return {
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: meta(svc),
    spec: {
      replicas: router?.replicas ?? 1,
      selector: { matchLabels: routerLabels(service) },
      // A router holds no state that a new pod could not rebuild in a second: surge, never
      // take the last one away first.
      strategy: { type: "RollingUpdate", rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } },
      template: {
        metadata: { labels: routerLabels(service) },
        spec: {
          serviceAccountName: routerName(service),
          enableServiceLinks: false,
          securityContext: restricted.pod,
          containers: [
            {
              name: "router",
              image: router?.image ?? image,
              command: routerCommand,
              args: routerArgs(svc),
              ports: [{ name: "http", containerPort: routerPort, protocol: "TCP" }],
              env: [{ name: "NODE_ENV", value: "production" }],
              resources,
              securityContext: restricted.container,
              readinessProbe: probe("/readyz", 2),
              livenessProbe: probe("/healthz", 10),
            },
          ],
        },
      },
    },
  };
}

export function desiredRouterService(svc: InferenceServiceObject): KubeObject {
  return {
    apiVersion: "v1",
    kind: "Service",
    metadata: meta(svc),
    spec: {
      type: "ClusterIP",
      selector: routerLabels(svc.metadata.name ?? ""),
      ports: [{ name: "http", port: routerPort, targetPort: "http", protocol: "TCP" }],
    },
  };
}

export const inferencePoolApiVersion = "inference.networking.k8s.io/v1";

/**
 * The Gateway API Inference Extension's InferencePool for the engine pods, published when that
 * CRD is installed, so a Gateway that speaks it (Envoy AI Gateway, Istio, kgateway) can route
 * to the service. The router does not serve the ext_proc picker protocol, so the pool points at
 * it with failureMode FailOpen: such a Gateway then picks among the pool's pods itself.
 */
export function desiredInferencePool(svc: InferenceServiceObject, enginePort: number): KubeObject {
  const service = svc.metadata.name ?? "";
  return {
    apiVersion: inferencePoolApiVersion,
    kind: "InferencePool",
    metadata: { ...meta(svc), name: service },
    spec: {
      selector: { matchLabels: serverLabels(service) },
      targetPorts: [{ number: enginePort }],
      endpointPickerRef: {
        kind: "Service",
        name: routerName(service),
        port: { number: routerPort },
        failureMode: "FailOpen",
      },
    },
  };
}
