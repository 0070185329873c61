// Pools: capacity, allocated and free per AcceleratorPool as bars, grouped by vendor, and each
// pool's nodes as a grid of devices coloured by the workload that holds them.
import { useLayoutEffect, useMemo, useState } from "preact/hooks";
import type { NodeRow, PoolRow } from "../../../server/protocol.ts";
import { byName, holderColour, markRendered, percent, workloadLabel } from "../format.ts";
import { useStore } from "../store.ts";

/** Grids of pools larger than this start closed: a thousand nodes are a lot to scroll past. */
const openGridUpTo = 64;

function Bar({ used, total, label }: { used: number; total: number; label: string }) {
  const p = percent(used, total);
  return (
    <div class="bar" role="img" aria-label={`${label}: ${used} of ${total} allocated (${p}%)`}>
      <span style={{ width: `${p}%` }} />
    </div>
  );
}

function NodeCell({ node }: { node: NodeRow }) {
  const cells: { holder?: string }[] = [];
  for (const h of node.holders) for (let i = 0; i < h.devices && cells.length < node.devices; i++) cells.push({ holder: h.holder });
  while (cells.length < node.devices) cells.push({});
  const used = node.holders.reduce((n, h) => n + h.devices, 0);
  const summary = node.holders.map((h) => `${h.devices} to ${workloadLabel(h.holder)}`).join(", ");
  return (
    <li
      class={`node${node.ready ? "" : " notready"}`}
      tabIndex={0}
      aria-label={`node ${node.name}${node.ready ? "" : " (not ready)"}: ${used} of ${node.devices} devices in use${summary ? `: ${summary}` : ""}`}
    >
      <span>{node.name}</span>
      <div class="cells" aria-hidden="true">
        {cells.map((c, i) => (
          <span
            key={i}
            class="cell"
            title={c.holder ? workloadLabel(c.holder) : "free"}
            style={c.holder ? { background: holderColour(c.holder) } : undefined}
          />
        ))}
      </div>
    </li>
  );
}

function PoolCard({ pool, nodes }: { pool: PoolRow; nodes: NodeRow[] }) {
  const [open, setOpen] = useState(nodes.length <= openGridUpTo);
  const holders = [...new Set(nodes.flatMap((n) => n.holders.map((h) => h.holder)))].sort();
  const headingId = `pool-${pool.name}`;
  return (
    <section class="pool" aria-labelledby={headingId} data-pool={pool.name}>
      <h4 id={headingId}>
        {pool.name}
        {pool.paused ? " (paused)" : ""}
      </h4>
      <div class="muted">
        {pool.model}
        {pool.memoryGiB !== undefined ? `, ${pool.memoryGiB} GiB per device` : ""} · nodes {pool.readyNodes ?? "-"}/
        {pool.nodes ?? "-"} ready
      </div>
      {pool.capacity === undefined ? (
        <p class="muted">No status yet: the operator has not reported this pool.</p>
      ) : (
        <>
          <dl>
            {(
              [
                ["Capacity", "capacity", pool.capacity],
                ["Allocated", "allocated", pool.allocated ?? 0],
                ["Free", "free", pool.free ?? 0],
                ["Largest free", "largest-free", pool.largestFreePerNode ?? 0],
              ] as const
            ).map(([label, field, value]) => (
              <div key={field}>
                <dt>{label}</dt>
                <dd data-field={field}>{value}</dd>
              </div>
            ))}
          </dl>
          <Bar used={pool.allocated ?? 0} total={pool.capacity} label={pool.name} />
        </>
      )}
      <details open={open} onToggle={(e) => setOpen((e.currentTarget as HTMLDetailsElement).open)}>
        <summary>
          {nodes.length} {nodes.length === 1 ? "node" : "nodes"}, {nodes.reduce((n, x) => n + x.devices, 0)} devices
        </summary>
        {/* Built only while open: a closed grid of a hundred nodes would still cost its DOM. */}
        {open && (
          <>
            <ul class="nodes" aria-label={`nodes of ${pool.name}`}>
              {nodes.map((n) => (
                <NodeCell key={n.id} node={n} />
              ))}
            </ul>
            {holders.length > 0 && (
              <ul class="legend" aria-label="who holds the devices">
                {holders.map((h) => (
                  <li key={h}>
                    <span class="cell" style={{ background: holderColour(h) }} aria-hidden="true" />
                    {workloadLabel(h)}
                  </li>
                ))}
              </ul>
            )}
          </>
        )}
      </details>
    </section>
  );
}

export function PoolsPage() {
  const s = useStore();
  const { byVendor, nodesByPool, total } = useMemo(() => {
    const nodesByPool = new Map<string, NodeRow[]>();
    for (const n of s.rows.nodes.values()) {
      if (!n.pool) continue;
      const list = nodesByPool.get(n.pool) ?? [];
      list.push(n);
      nodesByPool.set(n.pool, list);
    }
    for (const list of nodesByPool.values()) list.sort((a, b) => byName(a.name, b.name));
    const byVendor = new Map<string, PoolRow[]>();
    for (const p of [...s.rows.pools.values()].sort((a, b) => byName(a.name, b.name))) {
      const list = byVendor.get(p.vendor) ?? [];
      list.push(p);
      byVendor.set(p.vendor, list);
    }
    const total = [...s.rows.pools.values()].reduce(
      (t, p) => ({ capacity: t.capacity + (p.capacity ?? 0), allocated: t.allocated + (p.allocated ?? 0) }),
      { capacity: 0, allocated: 0 },
    );
    return { byVendor, nodesByPool, total };
  }, [s.version]);
  useLayoutEffect(() => markRendered("pools"));
  return (
    <>
      <h2>Pools</h2>
      <p>
        {s.rows.pools.size} pools, {total.allocated} of {total.capacity} devices allocated ({percent(total.allocated, total.capacity)}%).
      </p>
      {byVendor.size === 0 && <p>No AcceleratorPools yet: `stackctl pools discover` proposes some from the nodes.</p>}
      {[...byVendor].map(([vendor, pools]) => {
        const cap = pools.reduce((n, p) => n + (p.capacity ?? 0), 0);
        const alloc = pools.reduce((n, p) => n + (p.allocated ?? 0), 0);
        return (
          <section class="vendor" key={vendor} aria-labelledby={`vendor-${vendor}`}>
            <h3 id={`vendor-${vendor}`}>
              {vendor} <span class="muted">· {alloc} of {cap} devices allocated</span>
            </h3>
            <div class="pools">
              {pools.map((p) => (
                <PoolCard key={p.id} pool={p} nodes={nodesByPool.get(p.name) ?? []} />
              ))}
            </div>
          </section>
        );
      })}
    </>
  );
}
