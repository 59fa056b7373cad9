import type { ExclusiveLease } from './exclusive-lease.js';
import type { ExclusiveLeaseOptions, ExclusiveLeases } from './exclusive.js';

/**
 * Exclusive leases held across calls, for work that comes in calls rather than in one long term
 * (`ExclusiveLeases.lead`): a scheduled job's ticks. Each call asks for its lease's claim; the
 * process that holds the lease keeps it between calls (renewed in the background), takes it again
 * at the next call when it was lost, and a call that finds it held elsewhere, or the store down,
 * is skipped.
 */
export class LeaseClaims {
  private readonly claims = new Map<string, LeaseClaim>();

  constructor(
    private readonly leases: ExclusiveLeases,
    /** Hears of a call skipped because the store could not be reached. */
    private readonly onUnavailable: (name: string, error: Error) => void,
  ) {}

  /**
   * The lease `name` if this process holds it, after one attempt to take it if not; `undefined`
   * when another process holds it or the store cannot be reached: skip the call. The options of
   * the first call for a name hold for every later one.
   */
  current(name: string, options: ExclusiveLeaseOptions): Promise<ExclusiveLease | undefined> {
    let claim = this.claims.get(name);
    if (!claim) {
      claim = new LeaseClaim(this.leases, name, options, this.onUnavailable);
      this.claims.set(name, claim);
    }
    return claim.current();
  }

  /** Releases every lease held (a clean shutdown); a later call takes its lease afresh. */
  async releaseAll(): Promise<void> {
    const claims = [...this.claims.values()];
    this.claims.clear();
    await Promise.all(claims.map((claim) => claim.release()));
  }
}

/** This process's claim to one lease: held across calls, taken again when lost. */
class LeaseClaim {
  private lease: ExclusiveLease | undefined;
  private taking: Promise<ExclusiveLease | undefined> | undefined;
  /** Released (`releaseAll`): no call takes the lease again through this claim. */
  private released = false;

  constructor(
    private readonly leases: ExclusiveLeases,
    private readonly name: string,
    private readonly options: ExclusiveLeaseOptions,
    private readonly onUnavailable: (name: string, error: Error) => void,
  ) {}

  async current(): Promise<ExclusiveLease | undefined> {
    if (this.released) return undefined;
    if (this.lease?.held) return this.lease;
    // Calls that overlap share one attempt.
    this.taking ??= this.take().finally(() => (this.taking = undefined));
    return this.taking;
  }

  async release(): Promise<void> {
    this.released = true;
    // A take on its way would otherwise win after this, and its lease stay held and renewed with
    // nobody to release it (and the store closed behind it): it is waited for, and given back.
    await this.taking?.catch(() => undefined);
    await this.lease?.release();
    this.lease = undefined;
  }

  private async take(): Promise<ExclusiveLease | undefined> {
    let lease: ExclusiveLease | undefined;
    try {
      lease = await this.leases.tryAcquire(this.name, this.options);
    } catch (error) {
      this.onUnavailable(this.name, error as Error);
    }
    if (this.released) {
      // Released while the take was on its way: the call is skipped, the lease goes back.
      await lease?.release();
      lease = undefined;
    }
    this.lease = lease;
    return lease;
  }
}
