// Seeded randomness for the simulations: the same figures on every machine for a given seed.

/** mulberry32: small, fast, and the same sequence on every machine for a given seed. */
export function prng(seed: number) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    next,
    int: (lo: number, hi: number) => lo + Math.floor(next() * (hi - lo + 1)),
    uniform: (lo: number, hi: number) => lo + next() * (hi - lo),
    pick: <T>(xs: readonly T[]): T => xs[Math.floor(next() * xs.length)] as T,
    chance: (p: number) => next() < p,
    /** A Poisson draw: arrivals in one interval at `mean` per interval (normal approximation from 50). */
    poisson: (mean: number): number => {
      if (mean <= 0) return 0;
      if (mean >= 50) {
        const u = Math.max(next(), 1e-12);
        const gauss = Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * next());
        return Math.max(0, Math.round(mean + Math.sqrt(mean) * gauss));
      }
      const limit = Math.exp(-mean);
      let k = 0;
      let p = next();
      while (p > limit) {
        k++;
        p *= next();
      }
      return k;
    },
  };
}
export type Random = ReturnType<typeof prng>;
