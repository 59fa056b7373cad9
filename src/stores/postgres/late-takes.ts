import { monotonicNow } from '../../core/lease/lease.js';

/**
 * Takes (`begin`, `lock`) that may land after their request gave up on them. A paused or slow
 * database runs a take queued on a connection once it resumes, even after the client stopped
 * waiting; the release the engine sends behind an abandoned take runs on another pooled
 * connection, possibly first. Such a take would then hold its key, unused, for a whole lease.
 *
 * So a release for an owner whose take is still on its way is remembered: a take that lands
 * afterwards is released at once, and one that failed (it may still land) is released again a few
 * times while it could. Every release is owner-checked, and the owner was never told it held the
 * key, so releasing is always right.
 */
export class LateTakes {
  private readonly pending = new Map<string, { abandoned: boolean }>();

  constructor(private readonly release: (key: string, owner: string) => Promise<boolean>) {}

  /** Runs a take for `owner`, releasing it if the caller has given it up meanwhile. */
  async track<T>(
    key: string,
    owner: string,
    holdsMs: number,
    take: () => Promise<T>,
    acquired: (result: T) => boolean,
  ): Promise<T> {
    const entry = this.pending.get(owner) ?? { abandoned: false };
    this.pending.set(owner, entry);
    let result: T;
    try {
      result = await take();
    } catch (error) {
      if (entry.abandoned) this.releaseWhileItMayLand(key, owner, holdsMs);
      throw error;
    } finally {
      this.pending.delete(owner);
    }
    if (entry.abandoned && acquired(result)) this.release(key, owner).catch(() => undefined);
    return result;
  }

  /** Called by the store's `release`: true when a take by `owner` is still on its way. */
  abandon(owner: string): void {
    const entry = this.pending.get(owner);
    if (entry) entry.abandoned = true;
  }

  /**
   * A take that failed on the client's side may still run on the server: released again, with
   * backoff, for as long as it would hold the key, until a release finds and frees it.
   */
  private releaseWhileItMayLand(key: string, owner: string, holdsMs: number): void {
    // The monotonic clock: a wall clock stepped back would keep this going for as long as the step.
    const until = monotonicNow() + 2 * holdsMs;
    const attempt = (pause: number): void => {
      const timer = setTimeout(() => {
        this.release(key, owner).then(
          (freed) => {
            if (!freed && monotonicNow() + pause < until) attempt(Math.min(pause * 2, 5_000));
          },
          () => {
            if (monotonicNow() + pause < until) attempt(Math.min(pause * 2, 5_000));
          },
        );
      }, pause);
      timer.unref();
    };
    attempt(250);
  }
}
