import { performance } from 'node:perf_hooks';

import { TollgateConfigError, TollgateHttpError } from '../errors.js';
import type { FencingToken } from '../store.js';

/**
 * A lease held while work runs: proof that no other process does the same work, for as long as
 * `held` says so. What request leases (`IdempotencyLease`) and exclusive leases share.
 *
 * A lease can be lost without the handler doing anything wrong: the store stops answering
 * renewals for longer than the lease, or the process stalls (a long GC, a frozen VM, `SIGSTOP`)
 * past it, and another process takes the key. `signal` aborts before that can happen, and the
 * fencing token lets a downstream write refuse a holder that acted anyway.
 */
export interface FencedLease {
  /**
   * Greater than every token issued for this key before: pass it to writes that remember the
   * highest token they have seen per key and refuse a lower one (a stale holder).
   */
  readonly fencingToken: FencingToken;
  /**
   * Aborts, with a `TOLLGATE_LEASE_LOST` error as its reason, once the lease can no longer be
   * guaranteed: the store said another request holds the key, or renewals failed until shortly
   * before the lease could run out. Pass it to `fetch`, database drivers and your own loops.
   */
  readonly signal: AbortSignal;
  /** Whether the lease is still guaranteed, checked against a monotonic clock at this moment. */
  readonly held: boolean;
  /** Throws the `TOLLGATE_LEASE_LOST` error (a 409 problem) unless the lease is still held. */
  throwIfLost(): void;
}

/** What a handler may say about the result it records in a transaction. */
export interface TransactionRecordOptions {
  /**
   * The status the response has. Default: the route's (Nest: `@HttpCode`, else 201 for POST and 200
   * otherwise; Express: `res.statusCode` when the record is written).
   */
  status?: number;
  /** Headers to send with a result answered from the record (e.g. `Location`). */
  headers?: Readonly<Record<string, string>>;
}

/**
 * What a protected request's handler holds while it runs (`@Lease()` in Nest, `req.idempotency`
 * in Express): its lease, and, on a store in the application's own database (`PostgresStore`),
 * the way to commit Tollgate's record in the same transaction as the handler's writes.
 */
export interface IdempotencyLease extends FencedLease {
  /**
   * Opens a transaction on the store's database (`PostgresStore`: on its pool), runs `work` with
   * its client (a `pg` `PoolClient`), records `work`'s result (as JSON) in the same transaction,
   * owner-checked, and commits; returns that result. After the commit no retry runs the handler
   * again: it is answered from the record. If `work` throws, or the lease was lost, everything
   * rolls back (a lost lease throws the `TOLLGATE_LEASE_LOST` problem). A store without
   * transactions throws `TOLLGATE_TRANSACTION_UNAVAILABLE`.
   */
  transaction<T, Client = unknown>(
    work: (client: Client) => Promise<T>,
    options?: TransactionRecordOptions,
  ): Promise<T>;
  /**
   * Records `result` in a transaction the application opened itself: a `pg` client after its
   * `BEGIN`, a Knex `trx`, a Kysely `Transaction`. Call it last, just before the commit: until the
   * transaction ends, duplicates of this request wait for it. Returns `result`.
   */
  recordIn<T>(tx: unknown, result: T, options?: TransactionRecordOptions): Promise<T>;
}

/** How a lease records its request's result in a transaction: set by the request's execution. */
export interface LeaseRecorder {
  transaction<T, Client>(
    work: (client: Client) => Promise<T>,
    options: TransactionRecordOptions | undefined,
  ): Promise<T>;
  recordIn<T>(tx: unknown, result: T, options: TransactionRecordOptions | undefined): Promise<T>;
}

/** The error a lost lease aborts its signal with; thrown from a handler, clients get a 409. */
export const leaseLost = (detail: string): TollgateHttpError =>
  new TollgateHttpError({
    code: 'TOLLGATE_LEASE_LOST',
    status: 409,
    slug: 'lease-lost',
    title: 'The request lost its lease',
    detail: `This request can no longer be sure it is the only one running: ${detail}. Retry after Retry-After to get the result.`,
    headers: { 'Retry-After': '1' },
  });

/**
 * How long before the store could let the lease expire the handler is told it is lost: long
 * enough for the clock rates of app and store to differ (1 %), and for the abort to reach code
 * that is about to write. A tenth of the lease, at least 5 ms and at most 2 s or 2 % of the lease,
 * whichever is more: a fixed cap would let a 1 % rate difference eat a long lease's margin whole
 * (36 s over an hour) and the holder outlive its lease on the store. Always over 1 % of the lease.
 */
export function safetyMarginMs(leaseMs: number): number {
  return Math.min(Math.max(Math.ceil(leaseMs / 10), 5), Math.max(2_000, Math.ceil(leaseMs / 50)));
}

/** Monotonic milliseconds: deadlines must not move when the wall clock is stepped. */
export const monotonicNow = (): number => performance.now();

/**
 * The lease as the engine keeps it. The key cannot be taken by anyone else before
 * `confirmedUntil`: the moment the last confirmed take or renewal was *sent*, plus the lease
 * (the store started counting no earlier than that).
 */
export class Lease implements IdempotencyLease {
  private controller: AbortController | undefined;
  private lost: TollgateHttpError | undefined;
  private timer: NodeJS.Timeout | undefined;
  private ended = false;
  /** The latest moment (monotonic) the store may still let the lease run out, as far as we know. */
  private confirmedUntil: number;
  private readonly marginMs: number;
  /** How the result is recorded in a transaction; none for a lease that records nothing. */
  recorder: LeaseRecorder | undefined;
  /**
   * Where a result recorded in a transaction reads its default status when the adapter can only
   * know it from the response as the record is written (Express). Set when the handler reads its
   * lease, never before: see `Execution.transaction` for why a lease must not lead back to its
   * response otherwise.
   */
  statusSource: { readonly statusCode: number } | undefined;

  constructor(
    readonly fencingToken: FencingToken,
    /** When the take that granted the lease was sent (monotonic ms). */
    sentAt: number,
    private readonly leaseMs: number,
  ) {
    this.confirmedUntil = sentAt + leaseMs;
    this.marginMs = safetyMarginMs(leaseMs);
  }

  get signal(): AbortSignal {
    // Made on first use: most handlers never read it, and a controller costs an allocation.
    if (!this.controller) {
      this.controller = new AbortController();
      if (!this.held) this.controller.abort(this.lost);
    }
    return this.controller.signal;
  }

  get held(): boolean {
    this.checkDeadline();
    return this.lost === undefined;
  }

  throwIfLost(): void {
    if (!this.held) throw this.lost;
  }

  async transaction<T, Client = unknown>(
    work: (client: Client) => Promise<T>,
    options?: TransactionRecordOptions,
  ): Promise<T> {
    return this.recording().transaction(work, options);
  }

  async recordIn<T>(tx: unknown, result: T, options?: TransactionRecordOptions): Promise<T> {
    return this.recording().recordIn(tx, result, options);
  }

  private recording(): LeaseRecorder {
    if (this.recorder) return this.recorder;
    throw new TollgateConfigError(
      'TOLLGATE_TRANSACTION_UNAVAILABLE',
      "This lease records no result (the 'lock' strategy, or an exclusive lease): use the 'key' or 'fingerprint' strategy to record a result in a transaction",
    );
  }

  /** The monotonic moment after which the store has certainly let an unrenewed lease run out. */
  get expiresBy(): number {
    return this.confirmedUntil;
  }

  /** A renewal sent at `sentAt` was confirmed by the store. */
  confirm(sentAt: number): void {
    this.confirmedUntil = Math.max(this.confirmedUntil, sentAt + this.leaseMs);
  }

  /**
   * A renewal is on its way (or failed): from now until the lease ends, a timer watches the
   * deadline, so the holder hears of a lost lease on time even when the store stays silent for
   * longer than the lease (a renewal's own failure only comes after its store timeout). Only
   * executions that outlive their first renewal ever get one.
   */
  watch(): void {
    this.checkDeadline();
    if (this.timer || this.lost || this.ended) return;
    // Timers may fire a fraction of a millisecond early against the monotonic clock: `onDeadline`
    // sets it again for what is left.
    this.timer = setTimeout(
      this.onDeadline,
      Math.max(1, Math.ceil(this.deadline() - monotonicNow())),
    );
    this.timer.unref();
  }

  /** The store says the key is no longer ours. */
  lose(why: string): void {
    if (this.lost) return;
    this.lost = leaseLost(why);
    this.clearTimer();
    this.controller?.abort(this.lost);
  }

  /** Checks the deadline now; called before every renewal too, so a stalled process learns first. */
  checkDeadline(): void {
    if (this.lost === undefined && monotonicNow() >= this.deadline()) {
      this.lose(
        'the store has not confirmed the lease in time (unreachable, or this process was stalled)',
      );
    }
  }

  /** The execution has finished with the store: no more aborts. */
  end(): void {
    this.ended = true;
    this.clearTimer();
  }

  private deadline(): number {
    return this.confirmedUntil - this.marginMs;
  }

  private readonly onDeadline = (): void => {
    this.timer = undefined;
    if (this.ended) return;
    // Not passed yet (confirmed again meanwhile, or the timer fired early): watch what is left.
    this.watch();
  };

  private clearTimer(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }
}
