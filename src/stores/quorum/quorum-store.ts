import { StoreUnavailableError, TollgateConfigError, toError } from '../../core/errors.js';
import type {
  BeginResult,
  LockResult,
  RateLimitResult,
  RateLimitRule,
  StoredResponse,
  TollgateStore,
  UnstorableReason,
} from '../store.js';

export interface QuorumStoreOptions {
  /** Independent stores, typically `RedisStore`s on separate Redis deployments: 3 or 5. */
  stores: readonly TollgateStore[];
  /** Deadline for each node's answer; a slower node counts as unavailable. Default 500 ms. */
  nodeTimeoutMs?: number;
}

type Answer<T> = { ok: true; value: T } | { ok: false; error: Error };

/**
 * Idempotency that survives the loss of a minority of Redis nodes without running a request twice.
 *
 * One Redis master replicates asynchronously, so a failover can lose a key it just granted and let a
 * duplicate run. Here every key is taken on independent stores and granted only when a majority
 * granted it; a node that restarts empty, or is replaced, is outvoted by the others. A duplicate is
 * refused as long as a majority of the nodes that took the first request keep their data.
 *
 * Rate limiting is not voted on: it is counted on the first node that answers (a failover may then
 * reset counters), which keeps it one round trip.
 */
export class QuorumStore implements TollgateStore {
  readonly kind = 'quorum';
  private readonly stores: readonly TollgateStore[];
  private readonly majority: number;
  private readonly nodeTimeoutMs: number;

  constructor(options: QuorumStoreOptions) {
    if (options.stores.length < 3) {
      throw new TollgateConfigError(
        'TOLLGATE_QUORUM_TOO_SMALL',
        `QuorumStore needs at least 3 independent stores to outvote a lost one; got ${options.stores.length}`,
      );
    }
    this.stores = [...options.stores];
    this.majority = Math.floor(this.stores.length / 2) + 1;
    this.nodeTimeoutMs = options.nodeTimeoutMs ?? 500;
  }

  async ready(): Promise<void> {
    // Ready once a majority is: the others are outvoted until they connect.
    const answers = await this.onEach((store) => store.ready?.() ?? Promise.resolve(), 30_000);
    this.requireMajority(answers, 'connect');
  }

  async begin(
    key: string,
    owner: string,
    fingerprint: string,
    leaseMs: number,
  ): Promise<BeginResult> {
    const answers = await this.onEach((store) => store.begin(key, owner, fingerprint, leaseMs));
    const found = answers.flatMap((answer) => (answer.ok ? [answer.value] : []));
    let acquired = 0;
    let fencingToken = 0;
    for (const result of found) {
      if (result.state !== 'acquired') continue;
      acquired++;
      fencingToken = Math.max(fencingToken, result.fencingToken);
    }
    // A finished result on any node is the result of the one execution: replay it.
    const decided = found.find(
      (result) => result.state === 'completed' || result.state === 'unstorable',
    );
    const mismatch = found.find((result) => result.state === 'mismatch');
    // Each node's token grows with its own takes and clock: the largest of a majority is the
    // holder's, which is greater than an earlier holder's as long as the nodes' clocks agree to
    // within a lease (every later take comes a lease after the earlier one ran out).
    if (!decided && !mismatch && acquired >= this.majority)
      return { state: 'acquired', fencingToken };
    // Not granted: give back the leases taken on a minority, so they do not block a retry.
    if (acquired > 0) await this.onEach((store) => store.release(key, owner));
    if (decided) return decided;
    if (mismatch) return mismatch;
    this.requireMajority(answers, 'begin');
    // Held elsewhere, or several first requests split the votes: none runs, each retries later.
    const waits = found.map((result) => (result.state === 'in-progress' ? result.retryAfterMs : 0));
    return { state: 'in-progress', retryAfterMs: Math.max(0, ...waits) };
  }

  async complete(
    key: string,
    owner: string,
    response: StoredResponse,
    retentionMs: number,
  ): Promise<boolean> {
    return this.agreed(
      await this.onEach((store) => store.complete(key, owner, response, retentionMs)),
    );
  }

  async markUnstorable(
    key: string,
    owner: string,
    reason: UnstorableReason,
    retentionMs: number,
  ): Promise<boolean> {
    return this.agreed(
      await this.onEach((store) => store.markUnstorable(key, owner, reason, retentionMs)),
    );
  }

  async release(key: string, owner: string): Promise<boolean> {
    const answers = await this.onEach((store) => store.release(key, owner));
    return answers.some((answer) => answer.ok && answer.value);
  }

  async renew(key: string, owner: string, leaseMs: number): Promise<boolean> {
    return this.agreed(await this.onEach((store) => store.renew(key, owner, leaseMs)));
  }

  async lock(key: string, owner: string, ttlMs: number): Promise<LockResult> {
    const answers = await this.onEach((store) => store.lock(key, owner, ttlMs));
    const found = answers.flatMap((answer) => (answer.ok ? [answer.value] : []));
    let acquired = 0;
    let fencingToken = 0;
    for (const result of found) {
      if (!result.acquired) continue;
      acquired++;
      fencingToken = Math.max(fencingToken, result.fencingToken);
    }
    if (acquired >= this.majority) return { acquired: true, fencingToken };
    // Not granted: give back the locks taken on a minority, so they do not refuse a retry.
    if (acquired > 0) await this.onEach((store) => store.release(key, owner));
    this.requireMajority(answers, 'lock');
    const waits = found.map((result) => (result.acquired ? 0 : result.retryAfterMs));
    return { acquired: false, retryAfterMs: Math.max(0, ...waits) };
  }

  async consume(key: string, rules: readonly RateLimitRule[]): Promise<RateLimitResult> {
    let lastError: Error = new StoreUnavailableError('no store can rate limit');
    for (const store of this.stores) {
      if (!store.consume) continue;
      const consume = store.consume.bind(store);
      const [answer] = await this.onEach(() => consume(key, rules), this.nodeTimeoutMs, [store]);
      if (answer?.ok) return answer.value;
      if (answer) lastError = answer.error;
    }
    throw lastError;
  }

  async close(): Promise<void> {
    await Promise.all(this.stores.map((store) => store.close?.()));
  }

  /** True when a majority confirmed; nodes that failed count as no. */
  private agreed(answers: Answer<boolean>[]): boolean {
    return answers.filter((answer) => answer.ok && answer.value).length >= this.majority;
  }

  private requireMajority(answers: Answer<unknown>[], what: string): void {
    const answered = answers.filter((answer) => answer.ok).length;
    if (answered < this.majority) {
      const reasons = answers.flatMap((answer) => (answer.ok ? [] : [answer.error.message]));
      throw new StoreUnavailableError(
        `only ${answered} of ${this.stores.length} stores answered ${what}; ${this.majority} are needed (${reasons.join('; ')})`,
      );
    }
  }

  /** Calls every node at once, each under its own deadline; a failure is an answer, not a throw. */
  private onEach<T>(
    call: (store: TollgateStore) => Promise<T>,
    timeoutMs = this.nodeTimeoutMs,
    stores: readonly TollgateStore[] = this.stores,
  ): Promise<Answer<T>[]> {
    return Promise.all(
      stores.map(async (store): Promise<Answer<T>> => {
        let timer: NodeJS.Timeout | undefined;
        try {
          const deadline = new Promise<never>((_, reject) => {
            timer = setTimeout(
              () => reject(new Error(`${store.kind} store did not answer in ${timeoutMs} ms`)),
              timeoutMs,
            );
          });
          return { ok: true, value: await Promise.race([call(store), deadline]) };
        } catch (error) {
          return { ok: false, error: toError(error) };
        } finally {
          clearTimeout(timer);
        }
      }),
    );
  }
}
