import type { FencedLease } from './lease.js';

/** A lease held by this process alone, until it is released or lost. */
export interface ExclusiveLease extends FencedLease {
  /** The lease's name. */
  readonly name: string;
  /**
   * Gives the lease up now, so a standby can take it at its next try rather than after the ttl (a
   * clean shutdown). Its signal aborts. Safe to call more than once, and after the lease was lost.
   */
  release(): Promise<void>;
}
