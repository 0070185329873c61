// A kind of the API: its names, scope, printer columns and subresources, and the zod schema of a
// whole object. The CRD, the types and the offline validator are all derived from this.
import { z } from "zod";
import { API_VERSION, CATEGORY, GROUP, VERSION } from "./common.ts";

export interface PrinterColumn {
  name: string;
  type: "string" | "integer" | "number" | "boolean" | "date";
  jsonPath: string;
  description: string;
  /** 1: shown only with -o wide. */
  priority?: number;
}

export interface ScaleSubresource {
  specReplicasPath: string;
  statusReplicasPath: string;
  labelSelectorPath: string;
}

export interface NameRule {
  maxLength: number;
  pattern: RegExp;
  /** Why this kind's names are narrower than Kubernetes requires, for messages and docs. */
  why: string;
}

export interface KindOptions<Spec extends z.ZodType, Status extends z.ZodType> {
  kind: string;
  plural: string;
  singular: string;
  shortNames: string[];
  scope: "Namespaced" | "Cluster";
  description: string;
  name: NameRule;
  spec: Spec;
  status: Status;
  printerColumns: PrinterColumn[];
  scale?: ScaleSubresource;
}

const objectMeta = z.looseObject({
  name: z.string().optional(),
  generateName: z.string().optional(),
  namespace: z.string().optional(),
  uid: z.string().optional(),
  resourceVersion: z.string().optional(),
  generation: z.number().optional(),
  creationTimestamp: z.string().optional(),
  deletionTimestamp: z.string().optional(),
  labels: z.record(z.string(), z.string()).optional(),
  annotations: z.record(z.string(), z.string()).optional(),
  finalizers: z.array(z.string()).optional(),
  ownerReferences: z
    .array(
      z.looseObject({
        apiVersion: z.string(),
        kind: z.string(),
        name: z.string(),
        uid: z.string(),
        controller: z.boolean().optional(),
        blockOwnerDeletion: z.boolean().optional(),
      }),
    )
    .optional(),
});
export type ObjectMeta = z.output<typeof objectMeta>;

/** The messages match the API server's for the same violations of the CRD's metadata.name schema. */
function metadataFor(rule: NameRule) {
  return objectMeta.superRefine((meta, ctx) => {
    const name = meta.name;
    if (name === undefined || name === "") {
      if (!meta.generateName)
        ctx.addIssue({
          code: "custom",
          message: "Required value: name or generateName is required",
          path: ["name"],
        });
      return;
    }
    if (name.length > rule.maxLength) {
      ctx.addIssue({
        code: "custom",
        message: `Too long: may not be more than ${rule.maxLength} bytes (${rule.why})`,
        path: ["name"],
      });
    }
    if (!rule.pattern.test(name)) {
      ctx.addIssue({
        code: "custom",
        message: `Invalid value: "${name}": should match '${rule.pattern.source}'`,
        path: ["name"],
      });
    }
  });
}

export function defineKind<Spec extends z.ZodType, Status extends z.ZodType>(
  options: KindOptions<Spec, Status>,
) {
  const schema = z.strictObject({
    apiVersion: z.literal(API_VERSION),
    kind: z.literal(options.kind),
    metadata: metadataFor(options.name),
    spec: options.spec,
    status: options.status.optional(),
  });
  return {
    ...options,
    group: GROUP,
    version: VERSION,
    apiVersion: API_VERSION,
    listKind: `${options.kind}List`,
    categories: [CATEGORY],
    /** The name of the CustomResourceDefinition. */
    crdName: `${options.plural}.${GROUP}`,
    /** A whole object; parsing fills in the same defaults the API server does. */
    schema,
  };
}

export type KindDefinition = ReturnType<typeof defineKind<z.ZodType, z.ZodType>>;
