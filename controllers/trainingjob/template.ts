// spec.template is a PodTemplateSpec fragment merged last into every pod, for what the API does
// not model (volumes, sidecars, securityContext, affinity). The merge follows the API server's
// strategic merge for the lists that matter: containers, volumes and env by name, mounts by
// path, tolerations appended. Everything else in the fragment replaces the operator's value.
// A few fields stay the operator's whatever the fragment says, because the gang depends on
// them: see pinnedSpecFields.

type Json = Record<string, unknown>;

const isObject = (v: unknown): v is Json => typeof v === "object" && v !== null && !Array.isArray(v);

/** Fields the operator owns: torchrun ranks, DNS names and gang restarts rely on them. */
export const pinnedSpecFields = ["restartPolicy", "hostname", "subdomain"] as const;

/** Lists merged by a key field; an entry of the fragment replaces (deep-merged) ours with the same key. */
const keyedLists: Record<string, string> = {
  containers: "name",
  initContainers: "name",
  volumes: "name",
  env: "name",
  volumeMounts: "mountPath",
  ports: "containerPort",
  imagePullSecrets: "name",
};

/** Lists whose entries have no identity: the fragment's are appended. */
const appendedLists = new Set(["tolerations", "envFrom"]);

/** Containers are merged field by field; an entry of any other keyed list is replaced whole
 * (a volume has exactly one source, an env var one value). */
const deepMergedLists = new Set(["containers", "initContainers"]);

function mergeKeyed(ours: unknown[], theirs: unknown[], field: string, key: string): unknown[] {
  const out = [...ours];
  for (const entry of theirs) {
    if (!isObject(entry) || entry[key] === undefined) {
      out.push(entry);
      continue;
    }
    const i = out.findIndex((o) => isObject(o) && o[key] === entry[key]);
    if (i < 0) out.push(entry);
    else out[i] = deepMergedLists.has(field) ? mergeValue(out[i], entry, "") : structuredClone(entry);
  }
  return out;
}

function mergeValue(ours: unknown, theirs: unknown, field: string): unknown {
  if (Array.isArray(theirs)) {
    const ourList = Array.isArray(ours) ? ours : [];
    const key = keyedLists[field];
    if (key) return mergeKeyed(ourList, theirs, field, key);
    if (appendedLists.has(field)) return [...ourList, ...theirs];
    return structuredClone(theirs);
  }
  if (isObject(theirs)) {
    const base: Json = isObject(ours) ? { ...ours } : {};
    for (const [k, v] of Object.entries(theirs)) base[k] = mergeValue(base[k], v, k);
    return base;
  }
  return theirs;
}

export interface PodTemplate {
  metadata: { labels?: Record<string, string>; annotations?: Record<string, string> };
  spec: Json & { containers: Json[] };
}

/**
 * Merges `fragment` (spec.template) into `pod`. Labels and annotations of the fragment are added
 * but never replace the operator's own labels, which selection depends on.
 */
export function mergeTemplate<T extends PodTemplate>(pod: T, fragment: unknown): T {
  if (!isObject(fragment)) return pod;
  const out = structuredClone(pod);
  const meta = isObject(fragment.metadata) ? fragment.metadata : {};
  if (isObject(meta.labels))
    out.metadata.labels = { ...(meta.labels as Record<string, string>), ...out.metadata.labels };
  if (isObject(meta.annotations))
    out.metadata.annotations = {
      ...out.metadata.annotations,
      ...(meta.annotations as Record<string, string>),
    };
  if (isObject(fragment.spec)) {
    const spec = out.spec as Json;
    const pinned = new Map(pinnedSpecFields.map((f) => [f, spec[f]]));
    for (const [k, v] of Object.entries(fragment.spec)) spec[k] = mergeValue(spec[k], v, k);
    for (const [f, v] of pinned) {
      if (v === undefined) delete spec[f];
      else spec[f] = v;
    }
  }
  return out;
}

/** Tolerations the fragment adds to every pod: the admitter must know them to place the gang. */
export function templateTolerations(fragment: unknown): unknown[] {
  if (!isObject(fragment) || !isObject(fragment.spec)) return [];
  const t = fragment.spec.tolerations;
  return Array.isArray(t) ? t : [];
}
