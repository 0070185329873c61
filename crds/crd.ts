// The CustomResourceDefinition of a kind, as a plain object ready for YAML.
import type { KindDefinition } from "./kind.ts";
import { type JSONSchemaProps, toOpenAPI } from "./openapi.ts";

export function openAPISchemaOf(kind: KindDefinition): JSONSchemaProps {
  return {
    description: kind.description,
    type: "object",
    properties: {
      apiVersion: {
        description: "Versioned schema of this object; stack.sovereign.dev/v1alpha1.",
        type: "string",
      },
      kind: { description: `${kind.kind}.`, type: "string" },
      // The API server accepts restrictions on metadata.name and nothing else under metadata.
      metadata: {
        type: "object",
        properties: {
          name: { type: "string", maxLength: kind.name.maxLength, pattern: kind.name.pattern.source },
        },
      },
      spec: toOpenAPI(kind.spec, "spec"),
      status: toOpenAPI(kind.status, "status"),
    },
    required: ["spec"],
  };
}

export function customResourceDefinition(kind: KindDefinition): Record<string, unknown> {
  return {
    apiVersion: "apiextensions.k8s.io/v1",
    kind: "CustomResourceDefinition",
    metadata: {
      name: kind.crdName,
      labels: { "app.kubernetes.io/part-of": "sovereign-stack" },
    },
    spec: {
      group: kind.group,
      names: {
        kind: kind.kind,
        listKind: kind.listKind,
        plural: kind.plural,
        singular: kind.singular,
        shortNames: kind.shortNames,
        categories: kind.categories,
      },
      scope: kind.scope,
      versions: [
        {
          name: kind.version,
          served: true,
          storage: true,
          subresources: kind.scale ? { status: {}, scale: kind.scale } : { status: {} },
          additionalPrinterColumns: kind.printerColumns,
          schema: { openAPIV3Schema: openAPISchemaOf(kind) },
        },
      ],
    },
  };
}
