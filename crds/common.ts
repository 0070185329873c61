// Types shared by several kinds: names, quantities, container settings, scheduling fragments
// and status conditions. Bounds on every string and list are there for two readers: users get
// an early, precise error, and the API server can bound the cost of the CEL rules.
import { z } from "zod";
import { boundedMap, listMap, listSet, withRules } from "./kit.ts";
import { vendors } from "./vendors.ts";

export { API_VERSION, CATEGORY, GROUP, VERSION } from "./runtime/kinds.ts";

export const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
// Names that become Service names must start with a letter (RFC 1035).
export const DNS_1035_LABEL = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;
export const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;
const QUALIFIED_NAME =
  /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;
// The unsigned decimal-SI / binary-SI forms of resource.Quantity; negative quantities make no
// sense anywhere in this API.
const QUANTITY =
  /^(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE](\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?$/;
const IMAGE = /^[^\s]+$/;

export const dnsLabel = (maxLength = 63) => z.string().min(1).max(maxLength).regex(DNS_LABEL);
export const dns1035Label = (maxLength = 63) => z.string().min(1).max(maxLength).regex(DNS_1035_LABEL);
export const dnsSubdomain = () => z.string().min(1).max(253).regex(DNS_SUBDOMAIN);

/** A resource.Quantity: an integer or a string such as "500m", "4", "16Gi". */
export const quantity = () => z.union([z.int().min(0), z.string().max(64).regex(QUANTITY)]);
export type Quantity = z.output<ReturnType<typeof quantity>>;

export const imageRef = () => z.string().min(1).max(512).regex(IMAGE);

/**
 * A per-vendor image map. A map (not an object with fixed keys) so that a misspelled vendor is an
 * error the user sees, rather than a field the API server silently prunes.
 */
export const vendorImages = () =>
  withRules(boundedMap(imageRef(), vendors.length), [
    {
      rule: `self.all(k, k in [${vendors.map((v) => `'${v}'`).join(", ")}])`,
      message: `keys must be vendors: ${vendors.join(", ")}`,
      holds: (images) => Object.keys(images).every((k) => (vendors as readonly string[]).includes(k)),
    },
  ]) as unknown as z.ZodType<Partial<Record<(typeof vendors)[number], string>>>;

export const vendorImagesField = (what: string) =>
  vendorImages()
    .describe(
      `Per-vendor images for ${what}, keyed by vendor (nvidia, amd, intel, google, aws, other); the entry for the vendor of the chosen pool wins over image, so CUDA, ROCm and TPU builds can live side by side.`,
    )
    .optional();

const computeResourceNames = ["cpu", "memory", "ephemeral-storage"];

/** CPU, memory and storage per pod. Devices are never asked for here but through `accelerators`. */
export const resourceList = () =>
  withRules(boundedMap(quantity(), 8), [
    {
      rule: `self.all(k, k in [${computeResourceNames.map((n) => `'${n}'`).join(", ")}] || k.startsWith('hugepages-'))`,
      message:
        "only cpu, memory, ephemeral-storage and hugepages-* may be set; ask for devices with accelerators",
      holds: (list) =>
        Object.keys(list).every((k) => computeResourceNames.includes(k) || k.startsWith("hugepages-")),
    },
  ]);

export const resourcesField = (what: string) =>
  resourceList()
    .describe(
      `CPU, memory, ephemeral-storage and hugepages per ${what}, as quantities ({cpu: "8", memory: 64Gi}); used as both request and limit. Accelerator devices are added by the operator from accelerators.`,
    )
    .optional();

const keyRef = (what: string) =>
  z
    .strictObject({
      name: dnsSubdomain().describe(`Name of the ${what} in the object's namespace.`),
      key: z
        .string()
        .min(1)
        .max(253)
        .regex(/^[-._a-zA-Z0-9]+$/)
        .describe(`Key within the ${what}.`),
      optional: z.boolean().describe(`Whether the ${what} or its key may be missing.`).optional(),
    })
    .describe(`Selects a key of a ${what}.`);

const envVarSource = withRules(
  z
    .strictObject({
      secretKeyRef: keyRef("Secret").optional(),
      configMapKeyRef: keyRef("ConfigMap").optional(),
      fieldRef: z
        .strictObject({
          fieldPath: z
            .string()
            .min(1)
            .max(256)
            .describe("Path of the pod field, such as metadata.name or status.podIP."),
          apiVersion: z
            .string()
            .max(64)
            .describe("Version of the schema fieldPath is written in; default v1.")
            .optional(),
        })
        .describe("Selects a field of the pod.")
        .optional(),
    })
    .describe("Where the value comes from: exactly one of secretKeyRef, configMapKeyRef, fieldRef."),
  [
    {
      rule: "[has(self.secretKeyRef), has(self.configMapKeyRef), has(self.fieldRef)].filter(x, x).size() == 1",
      message: "exactly one of secretKeyRef, configMapKeyRef or fieldRef must be set",
      holds: (s) =>
        [s.secretKeyRef, s.configMapKeyRef, s.fieldRef].filter((x) => x !== undefined).length === 1,
    },
  ],
);

export const envVar = withRules(
  z.strictObject({
    name: z
      .string()
      .min(1)
      .max(256)
      .regex(/^[-._a-zA-Z][-._a-zA-Z0-9]*$/)
      .describe("Name of the environment variable."),
    value: z.string().max(32768).describe("Literal value.").optional(),
    valueFrom: envVarSource.optional(),
  }),
  [
    {
      rule: "!(has(self.value) && has(self.valueFrom))",
      message: "value and valueFrom are mutually exclusive",
      fieldPath: ".valueFrom",
      holds: (e) => !(e.value !== undefined && e.valueFrom !== undefined),
    },
  ],
);
export type EnvVar = z.output<typeof envVar>;

export const envField = (what: string) =>
  listMap(envVar, "name", 128)
    .describe(`Environment variables for ${what}, in the shape of a container's env; names are unique.`)
    .optional();

export const secretReference = () =>
  z
    .strictObject({
      name: dnsSubdomain().describe("Name of the Secret, in the namespace of the object."),
    })
    .describe("A Secret in the object's namespace.");

const labelSelectorRequirement = withRules(
  z
    .strictObject({
      key: z
        .string()
        .min(1)
        .max(317)
        .regex(QUALIFIED_NAME)
        .describe("The label key the requirement applies to."),
      operator: z.enum(["In", "NotIn", "Exists", "DoesNotExist"]).describe("How the key relates to values."),
      values: listSet(z.string().max(63).regex(LABEL_VALUE), 64)
        .describe("Label values; non-empty for In and NotIn, empty for Exists and DoesNotExist.")
        .optional(),
    })
    .describe("A label requirement: key, operator and values."),
  [
    {
      rule: "self.operator in ['In', 'NotIn'] ? (has(self.values) && self.values.size() > 0) : (!has(self.values) || self.values.size() == 0)",
      message: "values must be non-empty for In and NotIn, and empty for Exists and DoesNotExist",
      fieldPath: ".values",
      holds: (r) => {
        const n = r.values?.length ?? 0;
        return r.operator === "In" || r.operator === "NotIn" ? n > 0 : n === 0;
      },
    },
  ],
);

export const labelSelector = () =>
  z.strictObject({
    matchLabels: boundedMap(z.string().max(63).regex(LABEL_VALUE), 32)
      .describe("Labels a node must carry, all of them, with these values.")
      .optional(),
    matchExpressions: z
      .array(labelSelectorRequirement)
      .max(16)
      .describe("Label requirements a node must meet, all of them.")
      .optional(),
  });
export type LabelSelector = z.output<ReturnType<typeof labelSelector>>;

export const toleration = withRules(
  z
    .strictObject({
      key: z
        .string()
        .max(317)
        .regex(QUALIFIED_NAME)
        .describe("Taint key the toleration applies to; empty with operator Exists tolerates every taint.")
        .optional(),
      operator: z
        .enum(["Exists", "Equal"])
        .default("Equal")
        .describe("Exists matches any value of the key; Equal matches value."),
      value: z
        .string()
        .max(63)
        .regex(LABEL_VALUE)
        .describe("Taint value to match when operator is Equal.")
        .optional(),
      effect: z
        .enum(["NoSchedule", "PreferNoSchedule", "NoExecute"])
        .describe("Taint effect to match; empty matches every effect.")
        .optional(),
      tolerationSeconds: z
        .int()
        .min(0)
        .max(31536000)
        .describe("For NoExecute: how long a pod stays bound after the taint appears.")
        .optional(),
    })
    .describe("A pod toleration, as in a PodSpec."),
  [
    {
      rule: "self.operator != 'Exists' || !has(self.value) || self.value == ''",
      message: "value must be empty when operator is Exists",
      fieldPath: ".value",
      holds: (t) => t.operator !== "Exists" || !t.value,
    },
    {
      rule: "(has(self.key) && self.key != '') || self.operator == 'Exists'",
      message: "operator must be Exists when key is empty",
      fieldPath: ".operator",
      holds: (t) => !!t.key || t.operator === "Exists",
    },
  ],
);
export type Toleration = z.output<typeof toleration>;

const CONDITION_TYPE = QUALIFIED_NAME;
const CONDITION_REASON = /^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$/;

/** metav1.Condition, field for field, so generic tooling (kubectl wait, kstatus) understands it. */
export const condition = z
  .strictObject({
    type: z
      .string()
      .min(1)
      .max(316)
      .regex(CONDITION_TYPE)
      .describe("Type of condition in CamelCase, such as Ready."),
    status: z.enum(["True", "False", "Unknown"]).describe("Status of the condition: True, False or Unknown."),
    observedGeneration: z
      .int()
      .min(0)
      .describe("The metadata.generation the condition was set from.")
      .optional(),
    lastTransitionTime: z.iso
      .datetime({ offset: true })
      .describe("When the condition last changed status (RFC 3339)."),
    reason: z
      .string()
      .min(1)
      .max(1024)
      .regex(CONDITION_REASON)
      .describe("A CamelCase, machine-readable reason for the last transition."),
    message: z
      .string()
      .max(32768)
      .describe("A human-readable explanation, with what to do about it; may be empty."),
  })
  .describe("One aspect of the object's state, as a metav1.Condition.");
export type Condition = z.output<typeof condition>;

export const conditionsField = (types: string[]) =>
  listMap(condition, "type", 16)
    .describe(`Latest observations of the object's state, one per type (${types.join(", ")}).`)
    .optional();

export const observedGenerationField = () =>
  z.int().min(0).describe("The metadata.generation this status was computed from.").optional();

export const timestampField = (what: string) => z.iso.datetime({ offset: true }).describe(what).optional();
