// resource.Quantity to numbers, for what Ray is told (`--num-cpus`, `--memory`) and what the
// placement engine reserves. The API has already validated the syntax.
import type { Quantity } from "../../crds/index.ts";

const SUFFIX: Record<string, number> = {
  n: 1e-9,
  u: 1e-6,
  m: 1e-3,
  "": 1,
  k: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  P: 1e15,
  E: 1e18,
  Ki: 2 ** 10,
  Mi: 2 ** 20,
  Gi: 2 ** 30,
  Ti: 2 ** 40,
  Pi: 2 ** 50,
  Ei: 2 ** 60,
};

/** The quantity as a plain number ("500m" -> 0.5, "16Gi" -> 17179869184); undefined if malformed. */
export function quantityValue(q: Quantity | undefined): number | undefined {
  if (q === undefined) return undefined;
  if (typeof q === "number") return q;
  const m =
    /^([0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:([eE][+-]?[0-9]+(?:\.[0-9]*)?)|([KMGTPE]i|[numkMGTPE]))?$/.exec(q);
  if (!m?.[1]) return undefined;
  const base = Number(m[1]);
  if (m[2]) return base * 10 ** Number(m[2].slice(1));
  const factor = SUFFIX[m[3] ?? ""];
  return factor === undefined ? undefined : base * factor;
}

/** CPU in millicores, rounded up as the API server rounds requests. */
export const cpuMillis = (q: Quantity | undefined): number => {
  const v = quantityValue(q);
  return v === undefined ? 0 : Math.ceil(Math.round(v * 1e6) / 1e3);
};

/** Memory in bytes, rounded up. */
export const memoryBytes = (q: Quantity | undefined): number => {
  const v = quantityValue(q);
  return v === undefined ? 0 : Math.ceil(v);
};
