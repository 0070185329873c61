// A tiny controller of our own for exercising the operator runtime before the real
// controllers exist: a Widget (test.sovereign.dev/v1alpha1) gets a ConfigMap child
// "<name>-config" holding spec.message, and a Ready condition in status.
import { controllerReference } from "../../operator/apply.ts";
import type { Condition } from "../../operator/conditions.ts";
import { setCondition } from "../../operator/conditions.ts";
import type { ControllerSpec } from "../../operator/controller.ts";
import type { KubeClient } from "../../operator/kube-client.ts";
import { builtin, type KubeObject, type ResourceType } from "../../operator/resource.ts";
import { statusEquals, withObservedGeneration } from "../../operator/status.ts";

export const widgets: ResourceType = {
  apiVersion: "test.sovereign.dev/v1alpha1",
  kind: "Widget",
  plural: "widgets",
  namespaced: true,
};

export interface Widget extends KubeObject {
  spec?: {
    message?: string;
    /** Makes every reconcile fail, to exercise retries and error metrics. */
    fail?: boolean;
    /** Makes every reconcile fail after its status write, as a late child write would. */
    failAfterStatus?: boolean;
    /** Asks to be reconciled again after this many milliseconds. */
    requeueAfterMs?: number;
  };
  status?: {
    observedGeneration?: number;
    configMap?: string;
    conditions?: Condition[];
  };
}

export const widgetLabel = "test.sovereign.dev/widget";

export const widgetCrd = {
  apiVersion: "apiextensions.k8s.io/v1",
  kind: "CustomResourceDefinition",
  metadata: { name: "widgets.test.sovereign.dev" },
  spec: {
    group: "test.sovereign.dev",
    scope: "Namespaced",
    names: { kind: "Widget", plural: "widgets", singular: "widget", listKind: "WidgetList" },
    versions: [
      {
        name: "v1alpha1",
        served: true,
        storage: true,
        subresources: { status: {} },
        schema: {
          openAPIV3Schema: {
            type: "object",
            properties: {
              spec: {
                type: "object",
                properties: {
                  message: { type: "string" },
                  fail: { type: "boolean" },
                  failAfterStatus: { type: "boolean" },
                  requeueAfterMs: { type: "integer" },
                },
              },
              status: {
                type: "object",
                properties: {
                  observedGeneration: { type: "integer", format: "int64" },
                  configMap: { type: "string" },
                  conditions: {
                    type: "array",
                    "x-kubernetes-list-type": "map",
                    "x-kubernetes-list-map-keys": ["type"],
                    items: {
                      type: "object",
                      required: ["type", "status", "lastTransitionTime", "reason", "message"],
                      properties: {
                        type: { type: "string" },
                        status: { type: "string", enum: ["True", "False", "Unknown"] },
                        reason: { type: "string" },
                        message: { type: "string" },
                        lastTransitionTime: { type: "string", format: "date-time" },
                        observedGeneration: { type: "integer", format: "int64" },
                      },
                    },
                  },
                },
              },
            },
          },
        },
      },
    ],
  },
};

/** Installs the Widget CRD (idempotent) and waits until it is served. */
export async function installWidgetCrd(client: KubeClient): Promise<void> {
  await client.apply(builtin.customResourceDefinitions, widgetCrd, {
    fieldManager: "runtime-tests",
    force: true,
  });
  const deadline = Date.now() + 30_000;
  for (;;) {
    const crd = await client.get(builtin.customResourceDefinitions, widgetCrd.metadata.name);
    const conditions = (crd.status as { conditions?: Condition[] } | undefined)?.conditions;
    if (conditions?.some((c) => c.type === "Established" && c.status === "True")) {
      // Established can precede the first successful list by a moment.
      try {
        await client.list(widgets, { query: { limit: 1 } });
        return;
      } catch {}
    }
    if (Date.now() > deadline) throw new Error("the Widget CRD was not established within 30 s");
    await new Promise((r) => setTimeout(r, 100));
  }
}

export const configMapName = (widgetName: string): string => `${widgetName}-config`;

export interface WidgetControllerOptions {
  /** Observes each reconcile start (in-process tests measure latency and count with it). */
  onReconcile?: (key: string) => void;
  workers?: number;
  /** Write the closing status as a report (the request lane behind work; see ReconcileContext). */
  reportStatus?: boolean;
}

export function widgetController(options: WidgetControllerOptions = {}): ControllerSpec {
  return {
    name: "widget",
    for: widgets,
    owns: [builtin.configMaps],
    workers: options.workers,
    async reconcile(key, ctx) {
      options.onReconcile?.(key);
      const widget = ctx.object<Widget>();
      // Gone: the ConfigMap goes with it through its owner reference.
      if (!widget || widget.metadata.deletionTimestamp) return;
      if (widget.spec?.fail) throw new Error("spec.fail is set");
      const name = configMapName(widget.metadata.name as string);
      await ctx.apply(builtin.configMaps, {
        apiVersion: "v1",
        kind: "ConfigMap",
        metadata: {
          name,
          namespace: widget.metadata.namespace,
          labels: { [widgetLabel]: widget.metadata.name as string },
          ownerReferences: [controllerReference(widget)],
        },
        data: { message: widget.spec?.message ?? "" },
      });
      const status = withObservedGeneration(widget, {
        configMap: name,
        conditions: setCondition(widget.status?.conditions, {
          type: "Ready",
          status: "True",
          reason: "Configured",
          message: `ConfigMap ${name} holds the message`,
          observedGeneration: widget.metadata.generation,
        }),
      });
      // The event goes with the status it reports: recorded first, sent once the write succeeded.
      if (!statusEquals(widget.status, status)) {
        ctx.recordEvent(widget, {
          type: "Normal",
          reason: "Configured",
          action: "Apply",
          note: `ConfigMap ${name} written for generation ${widget.metadata.generation}`,
        });
      }
      await ctx.writeStatus(widgets, widget, status, { report: options.reportStatus === true });
      if (widget.spec?.failAfterStatus) throw new Error("spec.failAfterStatus is set");
      const after = widget.spec?.requeueAfterMs;
      return after ? { requeueAfter: after } : undefined;
    },
  };
}
