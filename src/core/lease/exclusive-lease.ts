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

/**
 * Calls `stop` once when the lease ends (lost or released), and at once if it has already: a
 * listener added after the abort would never run. Returns what takes the listener off again, for
 * work that ends first. The one way an adapter stops its work with its lease.
 */
export function whenLeaseEnds(lease: FencedLease, stop: () => void): () => void {
  lease.signal.addEventListener('abort', stop, { once: true });
  if (!lease.held) stop();
  return () => lease.signal.removeEventListener('abort', stop);
}
