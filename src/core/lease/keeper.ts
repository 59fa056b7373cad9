import { observedCall, type StoreCallObserver } from '../report.js';
import type { IdempotencyStore } from '../store.js';
import { monotonicNow, type Lease } from './lease.js';
import { cancelRenewal, scheduleRenewal, type Renewable } from './renewals.js';

/** How a keeper reaches the store: the key, who holds it, and for how long each renewal holds. */
export interface KeptLease {
  store: IdempotencyStore;
  key: string;
  owner: string;
  leaseMs: number;
  /** How often it is renewed (see `renewalPeriod`). */
  periodMs: number;
  /** Hard deadline of each renewal. */
  storeTimeoutMs: number;
  /** Times each renewal; `undefined` when nobody listens. */
  observe?: StoreCallObserver | undefined;
}

/**
 * Keeps a lease renewed on the store and its `Lease` told what the store says: every rule of
 * renewal in one place, for an idempotent request's lease and an exclusive lease alike.
 *
 * A renewal the store confirms extends the guarantee from the moment it was sent; one that fails
 * (unreachable, too slow) changes nothing, and the lease makes sure its holder hears of it before
 * the lease could run out; only the store saying "not yours" ends the lease at once.
 */
export class LeaseKeeper implements Renewable {
  private renewing = false;

  constructor(
    private readonly kept: KeptLease,
    readonly lease: Lease,
    /** The store says another holder has the key now (not called once stopped). */
    private readonly onTaken: () => void,
  ) {}

  /**
   * Starts renewing: on its own schedule, or (`scheduled` false) whenever its owner, already on
   * the schedule, calls `renew`.
   */
  start(scheduled = true): void {
    if (this.renewing) return;
    this.renewing = true;
    if (scheduled) scheduleRenewal(this, this.kept.periodMs);
  }

  stop(): void {
    if (!this.renewing) return;
    this.renewing = false;
    cancelRenewal(this, this.kept.periodMs);
  }

  get running(): boolean {
    return this.renewing;
  }

  /** Called by the renewal schedule. */
  renew(): void {
    // A process that stalled past its deadline learns it before anything else runs.
    this.lease.checkDeadline();
    void this.renewOnce();
  }

  private async renewOnce(): Promise<void> {
    const { store, key, owner, leaseMs, storeTimeoutMs, observe } = this.kept;
    const sentAt = monotonicNow();
    // Whatever the store does with this renewal, the holder is told on time.
    this.lease.watch();
    try {
      const held = await observedCall(
        'renew',
        storeTimeoutMs,
        () => store.renew(key, owner, leaseMs),
        observe,
      );
      if (!this.renewing) return;
      if (held) {
        this.lease.confirm(sentAt);
        return;
      }
      this.stop();
      this.lease.lose('another holder has its key now');
      this.onTaken();
    } catch {
      // Retried at the next tick; the lease's own timer tells the holder before it could run out.
      if (this.renewing) this.lease.checkDeadline();
    }
  }
}
