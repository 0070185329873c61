// Property tests draw from one fixed seed, so a run of `npm test` (and CI's) is repeatable: a
// counterexample found once is found again. FC_SEED=<n> explores elsewhere; a counterexample a
// wider search finds is kept as a replay (fast-check's seed and path) beside its property.
import fc from "fast-check";

fc.configureGlobal({ seed: Number(process.env.FC_SEED ?? 20_261_203) });
