// Events per second over the last second and the last ten, from one-second buckets in a ring:
// constant memory and O(1) per event, so every request and token can be counted.

export class RateWindow {
  private readonly buckets = new Float64Array(11);
  private currentSecond = Number.NaN;
  private firstAt = Number.NaN;

  /** Adds `count` events at `nowMs`. */
  add(nowMs: number, count = 1): void {
    if (Number.isNaN(this.firstAt)) this.firstAt = nowMs;
    this.advance(nowMs);
    const i = this.currentSecond % this.buckets.length;
    this.buckets[i] = (this.buckets[i] as number) + count;
  }

  /**
   * Events per second over the last `seconds` complete seconds plus the current partial one.
   * While the first event is younger than the window, the time since it (at least a second)
   * is the divisor, so a rate seen for 2 s is not diluted by 10.
   */
  perSecond(nowMs: number, seconds: 1 | 10): number {
    if (Number.isNaN(this.firstAt)) return 0;
    this.advance(nowMs);
    const second = Math.floor(nowMs / 1000);
    let total = 0;
    for (let k = 0; k <= seconds; k++) {
      const s = second - k;
      if (s < 0) break;
      total += this.buckets[s % this.buckets.length] as number;
    }
    const covered = Math.min(seconds + (nowMs / 1000 - second), Math.max(1, (nowMs - this.firstAt) / 1000));
    return total / covered;
  }

  private advance(nowMs: number): void {
    const second = Math.floor(nowMs / 1000);
    if (Number.isNaN(this.currentSecond)) {
      this.currentSecond = second;
      return;
    }
    if (second <= this.currentSecond) return;
    const gap = Math.min(second - this.currentSecond, this.buckets.length);
    for (let k = 1; k <= gap; k++) this.buckets[(this.currentSecond + k) % this.buckets.length] = 0;
    this.currentSecond = second;
  }
}
