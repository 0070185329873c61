// The live view of `npm run dev`: pools with a capacity bar, then every workload with its phase,
// where it runs and why it waits. Rendering is a pure function of what was read.
import * as k8s from "@kubernetes/client-node";
import {
  acceleratorPoolResource,
  inferenceServiceResource,
  rayClusterResource,
  trainingJobResource,
} from "../../crds/index.ts";

interface Obj {
  metadata: { name: string; namespace?: string };
  spec?: Record<string, unknown>;
  status?: Record<string, unknown> & {
    conditions?: { type: string; status: string; reason?: string; message?: string }[];
  };
}

export interface ClusterSnapshot {
  pools: Obj[];
  workloads: { kind: string; obj: Obj }[];
}

const workloadKinds = [trainingJobResource, rayClusterResource, inferenceServiceResource];

export async function snapshot(kc: k8s.KubeConfig): Promise<ClusterSnapshot> {
  const api = kc.makeApiClient(k8s.CustomObjectsApi);
  const list = async (plural: string): Promise<Obj[]> =>
    (
      (await api.listClusterCustomObject({
        group: acceleratorPoolResource.group,
        version: acceleratorPoolResource.version,
        plural,
      })) as { items: Obj[] }
    ).items;
  const [pools, ...lists] = await Promise.all([
    list(acceleratorPoolResource.plural),
    ...workloadKinds.map((k) => list(k.plural)),
  ]);
  return {
    pools: pools ?? [],
    workloads: workloadKinds.flatMap((k, i) => (lists[i] ?? []).map((obj) => ({ kind: k.kind, obj }))),
  };
}

/** Ready for the demo: training running or done, Ray and inference Ready. */
export function isWorkloadReady(kind: string, obj: Obj): boolean {
  const phase = obj.status?.phase;
  if (kind === "TrainingJob") return phase === "Running" || phase === "Succeeded";
  return phase === "Ready";
}

const bar = (used: number, total: number, width = 20): string => {
  if (total <= 0) return `[${" ".repeat(width)}]`;
  const filled = Math.round((used / total) * width);
  return `[${"#".repeat(filled)}${".".repeat(width - filled)}]`;
};

function table(rows: string[][]): string[] {
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => r[i]?.length ?? 0))) ?? [];
  return rows.map((r) =>
    r
      .map((c, i) => c.padEnd(widths[i] ?? 0))
      .join("  ")
      .trimEnd(),
  );
}

export function renderSnapshot(s: ClusterSnapshot): string[] {
  const poolRows = [["POOL", "VENDOR", "MODEL", "NODES", "USED/DEVICES", ""]];
  for (const p of [...s.pools].sort((a, b) => a.metadata.name.localeCompare(b.metadata.name))) {
    const st = p.status ?? {};
    const capacity = Number(st.capacity ?? 0);
    const allocated = Number(st.allocated ?? 0);
    poolRows.push([
      p.metadata.name,
      String(p.spec?.vendor ?? ""),
      String(p.spec?.model ?? ""),
      `${st.readyNodes ?? 0}/${st.nodes ?? 0}`,
      `${allocated}/${capacity}`,
      bar(allocated, capacity),
    ]);
  }
  const workloadRows = [["KIND", "NAMESPACE/NAME", "PHASE", "WHERE", "WHY"]];
  for (const { kind, obj } of s.workloads) {
    const st = obj.status ?? {};
    const placements = (st.admission as { placements?: { pool: string }[] } | undefined)?.placements ?? [];
    const where = [...new Set(placements.map((p) => p.pool))].join(",") || String(st.pool ?? "-");
    const waiting =
      st.conditions?.find((c) => c.status === "False" && c.message) ??
      st.conditions?.find((c) => c.type === "Unschedulable" && c.status === "True");
    const why = isWorkloadReady(kind, obj) ? "" : (waiting?.message ?? "");
    workloadRows.push([
      kind,
      `${obj.metadata.namespace}/${obj.metadata.name}`,
      String(st.phase ?? "Pending"),
      where,
      why.slice(0, 90),
    ]);
  }
  return [...table(poolRows), "", ...(s.workloads.length ? table(workloadRows) : ["no workloads yet"])];
}
