// Serving: per InferenceService, its replicas per vendor and pool and, where its router
// answers, requests per second, router queue and requests in flight over the last two minutes.
import { useLayoutEffect, useMemo } from "preact/hooks";
import type { RouterPoint, RouterRow, ServiceRow } from "../../../server/protocol.ts";
import { byName, markRendered } from "../format.ts";
import { useStore } from "../store.ts";
import { Pager, usePage } from "./paged.tsx";

/** A card is a table and four charts: fewer per page than table rows. */
const servicesPerPage = 24;

/** `pick` gives undefined where a sample has no figure (no request in that interval). */
function Spark({
  points,
  pick,
  label,
}: {
  points: RouterPoint[];
  pick: (p: RouterPoint) => number | undefined;
  label: string;
}) {
  const picked = points.map(pick);
  const values = picked.map((v) => v ?? 0);
  const peak = Math.max(0, ...values);
  // The scale never shrinks below 1, so a quiet service draws a flat line, not noise.
  const max = Math.max(1, peak);
  const last = picked.at(-1);
  const show = (v: number) => (Number.isInteger(v) ? String(v) : v.toFixed(2));
  const line = values
    .map((v, i) => `${(i / Math.max(1, values.length - 1)) * 100},${38 - (v / max) * 34}`)
    .join(" ");
  return (
    <figure>
      <figcaption>
        {label}: <strong>{last === undefined ? "—" : show(last)}</strong> <span class="muted">(max {show(peak)})</span>
      </figcaption>
      <svg
        class="chart"
        viewBox="0 0 100 40"
        preserveAspectRatio="none"
        role="img"
        aria-label={`${label} over the last ${values.length} samples, now ${last === undefined ? "none" : show(last)}`}
      >
        <polyline points={line} vectorEffect="non-scaling-stroke" />
      </svg>
    </figure>
  );
}

function ServiceCard({ svc, router }: { svc: ServiceRow; router: RouterRow | undefined }) {
  const vendors = new Map<string, { replicas: number; ready: number }>();
  for (const p of svc.perVendor) {
    const v = vendors.get(p.vendor) ?? { replicas: 0, ready: 0 };
    v.replicas += p.replicas;
    v.ready += p.ready;
    vendors.set(p.vendor, v);
  }
  return (
    <section class="pool" aria-labelledby={`svc-${svc.id}`} data-service={svc.id}>
      <h4 id={`svc-${svc.id}`}>
        {svc.namespace}/{svc.name} <span class={`phase-${svc.phase}`}>{svc.phase}</span>
      </h4>
      <p>
        {svc.ready}/{svc.replicas} replicas ready{svc.desired !== undefined ? `, autoscaler wants ${svc.desired}` : ""}
      </p>
      <table>
        <caption>Replicas per vendor and pool</caption>
        <thead>
          <tr>
            <th scope="col">Vendor</th>
            <th scope="col">Pool</th>
            <th scope="col" class="num">Ready</th>
            <th scope="col" class="num">Replicas</th>
            <th scope="col" class="num">Devices each</th>
          </tr>
        </thead>
        <tbody>
          {svc.perVendor.map((p) => (
            <tr key={p.pool}>
              <td>{p.vendor}</td>
              <td>{p.pool}</td>
              <td class="num">{p.ready}</td>
              <td class="num">{p.replicas}</td>
              <td class="num">{p.devicesPerReplica ?? ""}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <p class="muted">
        {[...vendors].map(([v, n]) => `${v}: ${n.ready}/${n.replicas}`).join(" · ") || "no replicas placed"}
      </p>
      {!svc.routed ? (
        <p class="muted">No router (spec.router.enabled is off): no request figures.</p>
      ) : !router ? (
        <p class="muted">Asking the router…</p>
      ) : !router.reachable && router.points.length === 0 ? (
        <p class="muted">{router.error}</p>
      ) : (
        <>
          {!router.reachable && <p class="muted">{router.error}</p>}
          <Spark points={router.points} pick={(p) => p.requestsPerSecond} label="requests/s" />
          <Spark points={router.points} pick={(p) => p.queued} label="queued at the router" />
          <Spark points={router.points} pick={(p) => p.inFlight} label="in flight" />
          <Spark points={router.points} pick={(p) => p.tokensPerSecond} label="tokens/s" />
          <Spark points={router.points} pick={(p) => (p.ttftP50 === undefined ? undefined : p.ttftP50 * 1000)} label="time to first token p50 (ms)" />
          <Spark points={router.points} pick={(p) => (p.ttftP99 === undefined ? undefined : p.ttftP99 * 1000)} label="time to first token p99 (ms)" />
          <Spark points={router.points} pick={(p) => p.rejectedPerSecond} label="429s/s" />
        </>
      )}
    </section>
  );
}

export function ServingPage() {
  const s = useStore();
  const services = useMemo(
    () => [...s.rows.services.values()].sort((a, b) => byName(a.namespace, b.namespace) || byName(a.name, b.name)),
    [s.version],
  );
  const [page, setPage] = usePage(services.length, "", servicesPerPage);
  useLayoutEffect(() => markRendered("serving"));
  return (
    <>
      <h2>Serving</h2>
      {services.length === 0 ? (
        <p>No InferenceServices.</p>
      ) : (
        <div class="services">
          {services.slice(page * servicesPerPage, (page + 1) * servicesPerPage).map((svc) => (
            <ServiceCard key={svc.id} svc={svc} router={s.rows.routers.get(svc.id)} />
          ))}
        </div>
      )}
      <Pager page={page} total={services.length} setPage={setPage} label="Services" size={servicesPerPage} />
    </>
  );
}
