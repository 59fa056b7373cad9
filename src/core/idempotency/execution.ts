import { sleep } from '../clock.js';
import { toError } from '../errors.js';
import { LeaseKeeper } from '../lease/keeper.js';
import {
  monotonicNow,
  type Lease,
  type LeaseRecorder,
  type TransactionRecordOptions,
} from '../lease/lease.js';
import {
  cancelRenewal,
  renewalPeriod,
  scheduleRenewal,
  type Renewable,
} from '../lease/renewals.js';
import { observedCall, type StoreCallObserver, type StoreOperation } from '../report.js';
import type { IdempotencyStore, StoredResponse, UnstorableReason } from '../store.js';
import type { IdempotencyEvent, IdempotencyEventSite } from './events.js';
import type { IdempotencyPolicy } from './options.js';
import type { ResultCache } from './result-cache.js';
import { TransactionRecorder } from './transaction.js';

/** How the handler's response ended, as the adapter captured it. */
export type CapturedResponse =
  | {
      status: number;
      /** Response headers as sent; the engine keeps only the allow-listed ones. */
      headers: Readonly<Record<string, string | number | readonly string[] | undefined>>;
      body: Uint8Array;
    }
  | { status: number; unstorable: UnstorableReason };

/** Where an execution reports to: its request's route, and the engine's reporters. */
export interface ExecutionReporting {
  site: IdempotencyEventSite;
  onEvent: (event: IdempotencyEvent) => void;
  /** Times each store call; `undefined` when nobody listens to them. */
  observe: StoreCallObserver | undefined;
}

const UNREPORTED: ExecutionReporting = {
  site: { area: 'idempotency', route: '', method: '' },
  onEvent: () => undefined,
  observe: undefined,
};

/**
 * One run of a handler under an in-progress lease. The lease is renewed while the handler runs
 * and until its result is recorded, so a long handler keeps its key, a store that blips while the
 * result is written does not let a duplicate in, and a crashed process blocks retries only until
 * the lease ends.
 */
export class Execution implements Renewable, LeaseRecorder {
  private finishing = false;
  /** Made at the first renewal: most executions finish before it, and never need one. */
  private keeper: LeaseKeeper | undefined;
  private readonly periodMs: number;
  /**
   * The status of the handler's response as the adapter will send it, for a result recorded in a
   * transaction without a `status` of its own (unless the lease reads it from the response, see
   * `Lease.statusSource`). The adapter sets it; 200 until then. A number, not a function reading
   * the response: nothing the lease reaches may lead back to the response (see `recorder`).
   */
  resultStatus = 200;
  /** Made when the handler first records in a transaction: most never do. */
  private transactions: TransactionRecorder | undefined;

  constructor(
    private readonly store: IdempotencyStore | undefined,
    readonly key: string,
    private readonly owner: string,
    private readonly retentionMs: number,
    private readonly policy: IdempotencyPolicy | undefined,
    private readonly reporting: ExecutionReporting,
    /** What the handler may act on: the fencing token, and a signal that aborts if the lease is lost. */
    readonly lease: Lease,
    /** Where a confirmed result is kept in the process, when the engine caches results. */
    private readonly caching?: { cache: ResultCache; fingerprint: string } | undefined,
  ) {
    this.periodMs = policy ? renewalPeriod(policy.leaseMs) : 0;
    if (store && policy) {
      scheduleRenewal(this, this.periodMs);
      lease.recorder = this;
    }
  }

  /**
   * The lease's way to record in a transaction (`LeaseRecorder`). The adapters keep each lease
   * where its handler finds it, in a WeakMap by request, and V8's young-generation GC keeps every
   * WeakMap value alive whatever its key: a lease that led back to its response would keep the
   * whole request (sockets, buffers, the parsed body) alive through every scavenge until a full
   * GC. So the recorder is this execution, which holds no response, and the rest is made on use.
   */
  transaction<T, Client>(
    work: (client: Client) => Promise<T>,
    options: TransactionRecordOptions | undefined,
  ): Promise<T> {
    return this.transactionRecorder().transaction(work, options);
  }

  recordIn<T>(tx: unknown, result: T, options: TransactionRecordOptions | undefined): Promise<T> {
    return this.transactionRecorder().recordIn(tx, result, options);
  }

  private transactionRecorder(): TransactionRecorder {
    if (this.transactions) return this.transactions;
    const { store, policy, key, owner, retentionMs, lease } = this;
    return (this.transactions = new TransactionRecorder({
      store: store as IdempotencyStore,
      key,
      owner,
      retentionMs,
      storeTimeoutMs: (policy as IdempotencyPolicy).storeTimeoutMs,
      lease,
      defaultStatus: () => lease.statusSource?.statusCode ?? this.resultStatus,
      finished: () => this.finishing,
    }));
  }

  /** Called by the renewal schedule while the execution runs (see `LeaseKeeper`). */
  renew(): void {
    if (this.keeper === undefined) {
      const { store, policy, key, owner, reporting } = this;
      if (!store || !policy) return;
      this.keeper = new LeaseKeeper(
        {
          store,
          key,
          owner,
          leaseMs: policy.leaseMs,
          periodMs: this.periodMs,
          storeTimeoutMs: policy.storeTimeoutMs,
          observe: reporting.observe,
        },
        this.lease,
        // While finishing, the result's own write decides (it may have landed just before).
        () => this.finishing || reporting.onEvent({ ...reporting.site, type: 'lease-lost' }),
      );
      // This execution stays on the schedule and hands each tick on.
      this.keeper.start(false);
    }
    // A keeper that stopped (the store said the key is someone else's) renews no more.
    if (this.keeper.running) this.keeper.renew();
  }

  /** An execution with nothing to record afterwards (the `lock` strategy): only its lease. */
  static untracked(lease: Lease): Execution {
    return new Execution(undefined, '', '', 0, undefined, UNREPORTED, lease);
  }

  /** Tells the app that a job's value is recorded without its value (see `result-not-kept`). */
  resultNotKept(reason: 'not-json' | 'too-large'): void {
    this.reporting.onEvent({ ...this.reporting.site, type: 'result-not-kept', reason });
  }

  /** The largest body worth capturing; anything larger is passed through and not stored. */
  get maxResponseBytes(): number {
    return this.policy?.maxResponseBytes ?? 0;
  }

  /** Whether the adapter needs to capture the response at all. */
  get tracked(): boolean {
    return this.store !== undefined;
  }

  /**
   * Records how the handler ended: the response is stored for replay, or the key released so a
   * retry runs again, as the outcome policy says. Never rejects: the response is already sent.
   *
   * The first client has its response already; what follows makes it the only one. The write is
   * owner-checked, so it is safe to send again: it is retried with backoff, the lease renewed
   * meanwhile, until the store answers, or until the lease has certainly run out on the store.
   */
  async finish(response: CapturedResponse): Promise<void> {
    if (!this.startFinishing() || !this.store || !this.policy) return;
    const { store, policy, key, owner } = this;
    if (policy.outcome(response.status) === 'release') {
      await this.settle('release', () => store.release(key, owner));
    } else if ('unstorable' in response) {
      await this.settle('markUnstorable', () =>
        store.markUnstorable(key, owner, response.unstorable, this.retentionMs),
      );
    } else {
      const stored: StoredResponse = {
        status: response.status,
        headers: replayableHeaders(response.headers, policy.replayHeaders),
        body: response.body,
      };
      const ticket = this.caching?.cache.ticket() ?? 0;
      const sentAt = monotonicNow();
      let rolledBack = false;
      const recorded = this.transactions?.wrote === true ? store.transactions : undefined;
      const kept = await this.settle('complete', async () => {
        if (!recorded) return store.complete(key, owner, stored, this.retentionMs);
        // Recorded in the application's transaction: the response goes over the committed
        // record only. A record still in progress was rolled back with the handler's writes, so
        // the key is released and a retry runs again rather than replay what did not happen.
        const outcome = await recorded.completeCommitted(key, owner, stored, this.retentionMs);
        if (outcome !== 'not-committed') return outcome;
        rolledBack = true;
        await store.release(key, owner);
        return true;
      });
      if (rolledBack) {
        this.reporting.onEvent({ ...this.reporting.site, type: 'record-rolled-back' });
        return;
      }
      if (kept === false) this.reporting.onEvent({ ...this.reporting.site, type: 'lease-lost' });
      // Confirmed by the store (by a majority on a quorum): kept there for the retention at least
      // from when it was first sent.
      if (kept === true && this.caching) {
        const { cache, fingerprint } = this.caching;
        // Kept as a copy (see `remember`): the handler's buffer may be reused after the response
        // went out, and a replay must send the bytes the store holds.
        cache.remember(key, fingerprint, stored, this.retentionMs, sentAt, ticket);
      }
    }
  }

  /** The handler failed with no response at all: release the key so a retry runs again. */
  async abandon(): Promise<void> {
    if (!this.startFinishing() || !this.store) return;
    const { store, key, owner } = this;
    await this.settle('release', () => store.release(key, owner));
  }

  /**
   * Sends an owner-checked write until the store answers it: its answer, or `undefined` when it
   * never did before the lease had certainly run out (a later answer could only be "not held").
   */
  private async settle(
    what: StoreOperation,
    write: () => Promise<boolean>,
  ): Promise<boolean | undefined> {
    const { site, onEvent, observe } = this.reporting;
    const policy = this.policy as IdempotencyPolicy;
    // A store that answers renewals but keeps refusing the write (out of memory, say) would keep
    // the lease renewed, and the key blocked, for ever: two leases of trying is the most it gets.
    const givesUpAt = monotonicNow() + 2 * policy.leaseMs;
    try {
      // Often enough that a short blip costs little more than itself, and several times a lease.
      const maxPause = Math.max(25, Math.min(1_000, Math.floor(policy.leaseMs / 8)));
      for (let attempt = 0, pause = 25; ; attempt++, pause = Math.min(pause * 2, maxPause)) {
        try {
          return await observedCall(what, policy.storeTimeoutMs, write, observe);
        } catch (thrown) {
          const error = toError(thrown);
          const now = monotonicNow();
          const left = Math.min(this.lease.expiresBy + policy.leaseMs, givesUpAt) - now;
          if (left <= 0) {
            onEvent({ ...site, type: 'finish-failed', error });
            return undefined;
          }
          if (attempt === 0) onEvent({ ...site, type: 'finish-retrying', error });
          await sleep(Math.min(pause, left));
        }
      }
    } catch {
      // Nothing above throws but a reporter, which the engine already guards: never reject.
      return undefined;
    } finally {
      cancelRenewal(this, this.periodMs);
      this.keeper?.stop();
      this.lease.end();
    }
  }

  private startFinishing(): boolean {
    if (this.finishing) return false;
    this.finishing = true;
    return true;
  }
}

/** Keeps the allow-listed headers, in the order sent, with multiple values joined as HTTP allows. */
export function replayableHeaders(
  headers: Readonly<Record<string, string | number | readonly string[] | undefined>>,
  allowed: ReadonlySet<string>,
): Array<readonly [string, string]> {
  const kept: Array<readonly [string, string]> = [];
  // for...in rather than Object.entries: no array of pairs per response.
  for (const name in headers) {
    if (!Object.prototype.hasOwnProperty.call(headers, name)) continue;
    const value = headers[name];
    if (value === undefined || !allowed.has(name.toLowerCase())) continue;
    kept.push([name, typeof value === 'object' ? value.join(', ') : String(value)]);
  }
  return kept;
}
