// ttlSecondsAfterFinished: a finished job (and, through garbage collection, its pods and
// Service) is deleted this long after its completionTime.

export type TtlCheck = { expired: true } | { expired: false; afterMs?: number };

export function checkTtl(
  ttlSeconds: number | undefined,
  completionTime: string | undefined,
  now: number,
): TtlCheck {
  if (ttlSeconds === undefined || !completionTime) return { expired: false };
  const finished = Date.parse(completionTime);
  if (!Number.isFinite(finished)) return { expired: false };
  const left = finished + ttlSeconds * 1000 - now;
  return left > 0 ? { expired: false, afterMs: left } : { expired: true };
}
