// activeDeadlineSeconds: a job that has run this long since it was admitted fails with reason
// DeadlineExceeded. The clock starts at status.startTime, which suspending clears (as the Job
// API does: a resumed job gets its full deadline again). Timers, not polling: the reconcile
// asks to run again exactly when the deadline passes.

export type DeadlineCheck = { exceeded: true; message: string } | { exceeded: false; afterMs?: number };

export function checkDeadline(
  activeDeadlineSeconds: number | undefined,
  startTime: string | undefined,
  now: number,
): DeadlineCheck {
  if (activeDeadlineSeconds === undefined || !startTime) return { exceeded: false };
  const started = Date.parse(startTime);
  if (!Number.isFinite(started)) return { exceeded: false };
  const left = started + activeDeadlineSeconds * 1000 - now;
  if (left > 0) return { exceeded: false, afterMs: left };
  return {
    exceeded: true,
    message: `the job ran longer than its activeDeadlineSeconds (${activeDeadlineSeconds} s since ${startTime})`,
  };
}
