import { sleep } from '../clock.js';
import { toMilliseconds, type Duration } from '../duration.js';
import { TollgateConfigError, toError } from '../errors.js';
import { storageKey, validateNamespace } from '../keys.js';
import { neverThrows, type StoreCallObserver } from '../report.js';
import type { IdempotencyStore } from '../store.js';
import { exclusiveLeaseWarnings, type ExclusiveLeaseEvent } from './events.js';
import type { ExclusiveLease } from './exclusive-lease.js';
import { HeldLease } from './held-lease.js';
import { Lease, monotonicNow, safetyMarginMs } from './lease.js';
import { nextOwnerToken, takeOrGiveBack } from './take.js';

/** How an exclusive lease is held. */
export interface ExclusiveLeaseOptions {
  /**
   * How long the lease holds without a renewal: a holder that dies blocks its successor at most
   * this long (plus `retryEvery`). Default `'30s'`.
   */
  ttl?: Duration;
  /** How often the holder renews it. Default a third of `ttl` (`'10s'`). */
  renewEvery?: Duration;
  /** How often a standby tries to take it. Default `renewEvery`. */
  retryEvery?: Duration;
  /** Hard deadline of each store call. Default `'1s'`. */
  storeTimeout?: Duration;
}

export interface ExclusiveLeasesOptions {
  /** Prefix of every storage key. Default `tollgate`. */
  namespace?: string;
  /** Hears every lease event, store calls included. Default: none. */
  onEvent?: (event: ExclusiveLeaseEvent) => void;
  /** Without `onEvent`: where a lost lease is written as a warning, at most every 10 s. Default: nowhere. */
  warn?: (line: string) => void;
}

/** Work run while holding a lease; it should stop when `lease.signal` aborts. */
export type ExclusiveWork<T> = (lease: ExclusiveLease) => Promise<T> | T;

interface ResolvedOptions {
  ttlMs: number;
  renewEveryMs: number;
  retryEveryMs: number;
  storeTimeoutMs: number;
}

/**
 * Leases that one process holds at a time among many: one active worker, one instance that runs a
 * scheduled job. Held on any store (memory, Redis, a quorum), renewed in the background, with a
 * signal that aborts before another holder can exist and a fencing token that grows with every
 * take, so a write from a holder that stalled past its lease can be refused.
 *
 * @example
 * ```ts
 * const leases = new ExclusiveLeases(store);
 * // Only one instance consumes; the others stand by and take over within ttl + retryEvery.
 * await leases.lead('orders-consumer', async (lease) => {
 *   while (!lease.signal.aborted) await consumeOne({ signal: lease.signal, fencingToken: lease.fencingToken });
 * }, { signal: shutdown.signal });
 * ```
 */
export class ExclusiveLeases {
  private readonly namespace: string;
  private readonly onEvent: (event: ExclusiveLeaseEvent) => void;
  private readonly listening: boolean;

  constructor(
    private readonly store: IdempotencyStore,
    options: ExclusiveLeasesOptions = {},
  ) {
    this.namespace = validateNamespace(options.namespace ?? 'tollgate');
    this.listening = options.onEvent !== undefined;
    this.onEvent = neverThrows(
      options.onEvent ?? (options.warn ? exclusiveLeaseWarnings(options.warn) : () => undefined),
    );
  }

  /** Times the store calls of the lease `name`; `undefined` when nobody listens. */
  private observer(name: string): StoreCallObserver | undefined {
    if (!this.listening) return undefined;
    return (operation, durationMs, error) =>
      this.onEvent({
        area: 'lease',
        name,
        type: 'store-call',
        operation,
        durationMs,
        ok: error === undefined,
        error,
      });
  }

  /**
   * One attempt to take `name`: the lease, renewed in the background until it is released or lost,
   * or `undefined` when another process holds it. A store that cannot be reached throws
   * `StoreUnavailableError`.
   */
  async tryAcquire(
    name: string,
    options: ExclusiveLeaseOptions = {},
  ): Promise<ExclusiveLease | undefined> {
    return (await this.attempt(name, resolveOptions(options))).lease;
  }

  /**
   * Waits until this process holds `name` (trying every `retryEvery`), runs `work` while holding
   * it, and releases it when `work` ends. Rejects if `signal` aborts while waiting. `work` should
   * stop when `lease.signal` aborts: the lease was lost, and another process may run it now.
   */
  async runExclusive<T>(
    name: string,
    work: ExclusiveWork<T>,
    options: ExclusiveLeaseOptions & { signal?: AbortSignal } = {},
  ): Promise<T> {
    const resolved = resolveOptions(options);
    const lease = await this.waitFor(name, resolved, options.signal);
    // Aborted while the take that won was on its way: the caller gave up waiting, so the work
    // never starts and the lease goes back at once.
    if (options.signal?.aborted) {
      await lease.release();
      options.signal.throwIfAborted();
    }
    try {
      return await work(lease);
    } finally {
      await lease.release();
    }
  }

  /**
   * Leadership: holds `name` whenever it can and runs `work` each time it becomes the holder, until
   * `signal` aborts (then the lease is released, and this resolves). A standby takes over within
   * `ttl` + `retryEvery` after the holder dies, or at its next try (`retryEvery`) after the holder
   * released it. `work` should run until `lease.signal` aborts; when it ends or fails
   * (`lease-work-failed`), the lease is released and contended for again.
   */
  async lead(
    name: string,
    work: ExclusiveWork<void>,
    options: ExclusiveLeaseOptions & { signal: AbortSignal },
  ): Promise<void> {
    const resolved = resolveOptions(options);
    const { signal } = options;
    while (!signal.aborted) {
      let lease: ExclusiveLease;
      try {
        lease = await this.waitFor(name, resolved, signal);
      } catch (error) {
        if (signal.aborted) return;
        throw error;
      }
      // Stopped while the take was on its way: a listener added after the abort would never run,
      // and the lease would be renewed, its work running, with nobody left to release it.
      if (signal.aborted) {
        await lease.release();
        return;
      }
      const stop = (): void => void lease.release();
      signal.addEventListener('abort', stop, { once: true });
      try {
        await work(lease);
      } catch (error) {
        // The work's own failure, or its reaction to a lost lease: stand by and contend again.
        this.onEvent({ area: 'lease', type: 'lease-work-failed', name, error: toError(error) });
      } finally {
        signal.removeEventListener('abort', stop);
        await lease.release();
      }
      if (!signal.aborted) await sleep(jittered(resolved.retryEveryMs), signal);
    }
  }

  private async waitFor(
    name: string,
    options: ResolvedOptions,
    signal: AbortSignal | undefined,
  ): Promise<ExclusiveLease> {
    for (;;) {
      signal?.throwIfAborted();
      let wait = options.retryEveryMs;
      try {
        const { lease, retryAfterMs } = await this.attempt(name, options);
        if (lease) return lease;
        // Not before the holder's lease could have run out, and no later than the next retry.
        wait = Math.min(options.retryEveryMs, Math.max(retryAfterMs ?? 0, 10));
      } catch (error) {
        this.onEvent({
          area: 'lease',
          type: 'lease-store-unavailable',
          name,
          error: toError(error),
        });
      }
      await sleep(jittered(wait), signal);
    }
  }

  private async attempt(
    name: string,
    options: ResolvedOptions,
  ): Promise<{ lease?: ExclusiveLease; retryAfterMs?: number }> {
    const key = storageKey(this.namespace, 'lease', [name]);
    const owner = nextOwnerToken();
    const sentAt = monotonicNow();
    const observe = this.observer(name);
    const taken = await takeOrGiveBack(
      this.store,
      'lock',
      key,
      owner,
      options.storeTimeoutMs,
      () => this.store.lock(key, owner, options.ttlMs),
      observe,
    );
    if (!taken.acquired) return { retryAfterMs: taken.retryAfterMs };
    const lease = new HeldLease(name, new Lease(taken.fencingToken, sentAt, options.ttlMs), {
      store: this.store,
      key,
      owner,
      leaseMs: options.ttlMs,
      periodMs: options.renewEveryMs,
      storeTimeoutMs: options.storeTimeoutMs,
      observe,
      onEvent: this.onEvent,
    });
    this.onEvent({ area: 'lease', type: 'lease-acquired', name, fencingToken: taken.fencingToken });
    return { lease };
  }
}

/** Validates the options now (at start-up), as `ExclusiveLeases` will read them. */
export function validateExclusiveLeaseOptions(options: ExclusiveLeaseOptions): void {
  resolveOptions(options);
}

function resolveOptions(options: ExclusiveLeaseOptions): ResolvedOptions {
  const ttlMs = toMilliseconds(options.ttl ?? '30s', 'ttl');
  const renewEveryMs =
    options.renewEvery === undefined
      ? Math.max(1, Math.floor(ttlMs / 3))
      : toMilliseconds(options.renewEvery, 'renewEvery');
  // The holder is told the lease is lost a safety margin before it could run out: a renewal due
  // later than that always comes too late, and the lease would be lost on a healthy store.
  const renewBeforeMs = ttlMs - safetyMarginMs(ttlMs);
  if (renewEveryMs >= renewBeforeMs) {
    throw new TollgateConfigError(
      'TOLLGATE_INVALID_RENEW_EVERY',
      `renewEvery (${renewEveryMs} ms) must be shorter than ttl (${ttlMs} ms) less its safety margin ` +
        `(${ttlMs - renewBeforeMs} ms), so under ${renewBeforeMs} ms; a third of ttl lets two renewals fail`,
    );
  }
  return {
    ttlMs,
    renewEveryMs,
    retryEveryMs:
      options.retryEvery === undefined
        ? renewEveryMs
        : toMilliseconds(options.retryEvery, 'retryEvery'),
    storeTimeoutMs: toMilliseconds(options.storeTimeout ?? '1s', 'storeTimeout'),
  };
}

/** A wait of about `ms`, spread by ±20 % so standbys do not all try at the same instant. */
function jittered(ms: number): number {
  return Math.max(1, Math.round(ms * (0.8 + Math.random() * 0.4)));
}
