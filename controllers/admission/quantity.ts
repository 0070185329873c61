// Kubernetes quantities as numbers: CPU in millicores, memory and devices in plain units.
const suffixes: Record<string, number> = {
  "": 1,
  m: 1e-3,
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

/** The quantity's value in base units; NaN for anything that is not a quantity. */
export function parseQuantity(q: string | number | undefined): number {
  if (q === undefined) return 0;
  if (typeof q === "number") return q;
  const m = /^([+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)([a-zA-Z]*)$/.exec(q.trim());
  if (!m?.[1]) return Number.NaN;
  const scale = suffixes[m[2] ?? ""];
  return scale === undefined ? Number.NaN : Number(m[1]) * scale;
}

export const cpuMillis = (q: string | number | undefined): number => Math.round(parseQuantity(q) * 1000) || 0;
export const bytes = (q: string | number | undefined): number => Math.round(parseQuantity(q)) || 0;
