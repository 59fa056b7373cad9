import { performance } from 'node:perf_hooks';

import { StoreUnavailableError, TollgateConfigError } from '../../core/errors.js';
import { checkStoreHealth, elapsedSince } from '../../core/health.js';
import type {
  BeginResult,
  FencingToken,
  LockResult,
  RateLimitConsumeOptions,
  RateLimitResult,
  RateLimitRule,
  RecordInvalidations,
  StoreHealth,
  StoreHealthOptions,
  StoredResponse,
  TollgateStore,
  UnstorableReason,
} from '../../core/store.js';
import { nodeCharges, withQuorumCharges } from './charges.js';
import { agreed, decideBegin, decideLock, splitRetryMs } from './decisions.js';
import { holdByMajority } from './fencing.js';
import { QuorumInvalidations } from './invalidations.js';
import { hasMajority } from './majority.js';
import { QuorumNodes, type QuorumStoreOptions } from './nodes.js';
import { count, type Tally, type Verdict } from './tally.js';
import { Takes } from './takes.js';

/**
 * Idempotency that survives the loss of a minority of Redis nodes without running a request twice.
 *
 * One Redis master replicates asynchronously, so a failover can lose a key it just granted and let a
 * duplicate run. Here every call goes to every node at once, and each decision is made by a majority
 * of them, as soon as their answers settle it: one slow or silent node costs nothing as long as the
 * others agree (it is given up after `nodeTimeoutMs` only when its answer is still needed). A node
 * that restarts empty, or is replaced, is outvoted by the others. A duplicate is refused as long as a
 * majority of the nodes that took the first request keep their data.
 *
 * - `begin` and `lock`: granted when a majority granted. A finished result (or a different request
 *   under the key) on any node decides at once. Takes granted on a minority are given back at once,
 *   also those a straggler node answers after the decision, so they never block a retry.
 * - Fencing tokens: a grant's token is the largest the majority issued. When the nodes' tokens
 *   differ, the grant returns once a majority holds the largest (`raiseToken` on the nodes below
 *   it, one more round trip), so the next holder's is greater, right after a release too; a take
 *   whose token fewer than a majority could be made to hold is given back and refused as a split
 *   vote is. Every node must therefore have `raiseToken` (checked when the quorum is built).
 * - Refusals tell the truth about when to retry: when a majority reports the key held, the longest
 *   of their remaining leases (it is free by then at the latest). When no majority holds it (racers
 *   split the votes, and each gave its share back), a short random pause, so one racer wins the
 *   retry. Nodes do not say which owner holds the key, so when three or more racers split the votes
 *   (each took fewer than a majority), each may see a majority held by the others and be told to
 *   wait for the lease, although every one of those takes was given back at once.
 * - `renew`, `complete`, `markUnstorable`: `true` when a majority confirmed, `false` only when a
 *   majority answered "not held"; anything in between throws `StoreUnavailableError`, so the lease
 *   keeper retries the renewal and the engine re-sends the write (both are owner-checked and safe to
 *   repeat) rather than taking an unreachable node for a lost lease.
 * - `release`: once a majority answered; `true` if any of them held the key for this owner.
 * - `consume` is voted on too: every node counts every request, and a request is admitted only when
 *   a majority admitted it. Each node admits at most `limit` units per window of its own, and every
 *   admitted request was charged on a majority, so with one of three nodes restarted empty no more
 *   than `limit` requests pass per window as long as the two others have seen the same requests;
 *   in the worst case (the nodes' counts all differ) at most `limit × nodes / majority` pass
 *   (1.5 × `limit` on three nodes). A node that admitted a request the majority refused keeps the
 *   charge, which only makes it stricter. The state reported is the most conservative of the
 *   agreeing nodes' (least remaining, latest reset and retry).
 * - Fewer than a majority answering is a `StoreUnavailableError`: the route's policy decides.
 *
 * A node's deadline is given up only after the turn's I/O has been read (as `withDeadline` does):
 * after a stalled event loop, timers run before sockets are read, and answers that arrived in time
 * would otherwise be thrown away as late.
 */
export class QuorumStore extends QuorumNodes implements TollgateStore {
  readonly kind = 'quorum';
  readonly location: string;
  private feed: QuorumInvalidations | undefined;

  constructor(options: QuorumStoreOptions) {
    super(options);
    this.stores.forEach((store, index) => {
      if (typeof store.raiseToken === 'function') return;
      throw new TollgateConfigError(
        'TOLLGATE_STORE_CANNOT_RAISE_TOKEN',
        `QuorumStore needs stores with raiseToken(), which keeps its fencing tokens growing from one ` +
          `holder to the next: \`stores\`[${index}] (${store.location ?? store.kind}) has none. ` +
          `Use RedisStore nodes, or implement raiseToken() (see IdempotencyStore)`,
      );
    });
    this.location = this.stores.map((store) => store.location ?? store.kind).join(', ');
  }

  connectionProblem(): string | undefined {
    const problems = this.stores.flatMap((store) => {
      const problem = store.connectionProblem?.();
      return problem === undefined ? [] : [`${store.location ?? store.kind}: ${problem}`];
    });
    return problems.length === 0 ? undefined : problems.join('; ');
  }

  async ready(): Promise<void> {
    // Ready once a majority is: the others are outvoted until they connect.
    await this.gather(
      (store) => store.ready?.() ?? Promise.resolve(),
      (tally) => {
        const ok = count(tally, () => true);
        return this.byMajority(tally, [[ok, () => undefined]], 'connect');
      },
      { timeoutMs: 30_000 },
    );
  }

  async close(): Promise<void> {
    await Promise.all(this.stores.map((store) => store.close?.()));
  }

  /**
   * Up while a majority of the nodes is up, as every decision needs a majority; each node's own
   * health is in `nodes`, in the order the stores were given. Every node is asked at once, each
   * within `timeoutMs` (default: the node timeout), so a silent node costs that much at most.
   */
  async health(options: StoreHealthOptions = {}): Promise<StoreHealth> {
    const timeoutMs = options.timeoutMs ?? this.nodeTimeoutMs;
    const started = performance.now();
    const nodes = await Promise.all(
      this.stores.map((store) => checkStoreHealth(store, { timeoutMs })),
    );
    const up = nodes.filter((node) => node.status === 'up').length;
    return {
      status: hasMajority(up, this.majority) ? 'up' : 'down',
      latencyMs: elapsedSince(started),
      detail: `${up} of ${nodes.length} nodes up; a majority of ${this.majority} is needed`,
      nodes,
    };
  }

  async begin(
    key: string,
    owner: string,
    fingerprint: string,
    leaseMs: number,
  ): Promise<BeginResult> {
    return this.take(
      key,
      owner,
      (store) => store.begin(key, owner, fingerprint, leaseMs),
      (found) => (found.state === 'acquired' ? found.fencingToken : undefined),
      (tally) =>
        decideBegin(this.majority, tally, (undecided) => this.unavailable('begin', undecided)),
      (retryAfterMs) => ({ state: 'in-progress', retryAfterMs }),
    );
  }

  async complete(
    key: string,
    owner: string,
    response: StoredResponse,
    retentionMs: number,
  ): Promise<boolean> {
    // Safe to re-send: a node that already completed it answers true again.
    return this.vote('complete', (store) => store.complete(key, owner, response, retentionMs));
  }

  async markUnstorable(
    key: string,
    owner: string,
    reason: UnstorableReason,
    retentionMs: number,
  ): Promise<boolean> {
    return this.vote('markUnstorable', (store) =>
      store.markUnstorable(key, owner, reason, retentionMs),
    );
  }

  async release(key: string, owner: string): Promise<boolean> {
    return this.deleted('release', (store) => store.release(key, owner));
  }

  async forget(key: string): Promise<boolean> {
    return this.deleted('forget', (store) => store.forget?.(key) ?? Promise.resolve(false));
  }

  /** Every node's announcements; trusted while a majority of them are. */
  invalidations(): RecordInvalidations {
    return (this.feed ??= new QuorumInvalidations(this.stores, this.majority));
  }

  async renew(key: string, owner: string, leaseMs: number): Promise<boolean> {
    return this.vote('renew', (store) => store.renew(key, owner, leaseMs));
  }

  async lock(key: string, owner: string, ttlMs: number): Promise<LockResult> {
    return this.take(
      key,
      owner,
      (store) => store.lock(key, owner, ttlMs),
      (found) => (found.acquired ? found.fencingToken : undefined),
      (tally) =>
        decideLock(this.majority, tally, (undecided) => this.unavailable('lock', undecided)),
      (retryAfterMs) => ({ acquired: false, retryAfterMs }),
    );
  }

  /**
   * A take (`begin` or `lock`) on every node, granted by a majority, with the largest token among
   * them once a majority holds that token (`holdByMajority`). One the quorum does not grant, or
   * whose token a majority cannot be made to hold, is given back on every node that granted it,
   * late grants included (see `Takes`); the latter is refused as a split vote is, since it was
   * lost to nodes that failed rather than held by anyone.
   */
  private async take<T>(
    key: string,
    owner: string,
    call: (store: TollgateStore) => Promise<T>,
    tokenOf: (found: T) => FencingToken | undefined,
    decide: (tally: Tally<T>) => Verdict<T>,
    refused: (retryAfterMs: number) => T,
  ): Promise<T> {
    const takes = new Takes(key, owner);
    const granted = (found: T): boolean => tokenOf(found) !== undefined;
    // The answers the verdict was made from: `gather` changes them no more once it has decided.
    let decidedOn: Tally<T> | undefined;
    try {
      const result = await this.gather(
        (store) => takes.watch(store, call(store), granted),
        (tally) => decide((decidedOn = tally)),
        { linger: granted },
      );
      const fencingToken = tokenOf(result);
      if (fencingToken === undefined) {
        takes.giveBack();
        return result;
      }
      // A grant is only ever decided from answers.
      const answers = decidedOn as Tally<T>;
      const nodes = { stores: this.stores, majority: this.majority, timeoutMs: this.nodeTimeoutMs };
      if (await holdByMajority(nodes, { key, owner, fencingToken }, answers, tokenOf)) {
        return result;
      }
      takes.giveBack();
      return refused(splitRetryMs(answers));
    } catch (error) {
      takes.giveBack();
      throw error;
    }
  }

  /**
   * A refundable request's charge is each node's own (`withQuorumCharges`): an admitted one waits
   * a little for the nodes still answering, as a grant does, so that every node that charged it
   * can give it back.
   */
  async consume(
    key: string,
    rules: readonly RateLimitRule[],
    options?: RateLimitConsumeOptions,
  ): Promise<RateLimitResult> {
    const refundable = options?.refundable === true;
    return this.gather(
      (store) => {
        if (!store.consume) {
          throw new StoreUnavailableError(`a ${store.kind} store cannot rate limit`);
        }
        return store.consume(key, rules, options);
      },
      (tally) => this.decideRateLimit('consume', tally, refundable),
      { linger: (result) => refundable && result.allowed },
    );
  }

  /** Decided as `consume` is: the strictest view of the majority that agrees. */
  async peek(key: string, rules: readonly RateLimitRule[]): Promise<RateLimitResult> {
    return this.gather(
      (store) => {
        if (!store.peek) throw new StoreUnavailableError(`a ${store.kind} store cannot peek`);
        return store.peek(key, rules);
      },
      (tally) => this.decideRateLimit('peek', tally),
    );
  }

  /** A rate-limit answer once a majority agrees on it, allowed or refused: its strictest view. */
  private decideRateLimit(
    operation: 'consume' | 'peek',
    tally: Tally<RateLimitResult>,
    refundable = false,
  ): Verdict<RateLimitResult> {
    const allowed = count(tally, (result) => result.allowed);
    const refused = count(tally, (result) => !result.allowed);
    return this.byMajority(
      tally,
      [
        [
          allowed,
          () => (refundable ? withQuorumCharges(agreed(tally, true), tally) : agreed(tally, true)),
        ],
        [refused, () => agreed(tally, false)],
      ],
      operation,
    );
  }

  /**
   * Applied on every node, done once a majority applied it: as with `consume`, the admitted
   * requests' majority then sees it. A node that missed it differs as it would after a restart.
   * A refund gives back on each node only what that node charged (`nodeCharges`).
   */
  async adjust(
    key: string,
    rules: readonly RateLimitRule[],
    units: readonly number[],
    charges?: readonly (string | undefined)[],
  ): Promise<void> {
    await this.everywhere('adjust', (store, index) => {
      if (!store.adjust) throw new StoreUnavailableError(`a ${store.kind} store cannot adjust`);
      if (charges === undefined) return store.adjust(key, rules, units);
      const own = nodeCharges(charges, units, index);
      return store.adjust(key, rules, own.units, own.charges);
    });
  }

  async reset(key: string, rules: readonly RateLimitRule[]): Promise<void> {
    await this.everywhere('reset', (store) => {
      if (!store.reset) throw new StoreUnavailableError(`a ${store.kind} store cannot reset`);
      return store.reset(key, rules);
    });
  }
}
