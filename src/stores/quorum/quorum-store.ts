import { performance } from 'node:perf_hooks';

import { StoreUnavailableError, TollgateConfigError, toError } from '../../core/errors.js';
import type {
  BeginResult,
  LockResult,
  RateLimitResult,
  RateLimitRule,
  RateLimitState,
  StoredResponse,
  TollgateStore,
  UnstorableReason,
} from '../../core/store.js';

export interface QuorumStoreOptions {
  /** Independent stores, typically `RedisStore`s on separate Redis deployments: 3 or 5. */
  stores: readonly TollgateStore[];
  /** Deadline for each node's answer; a slower node counts as unavailable. Default 500 ms. */
  nodeTimeoutMs?: number;
}

/** One node's answer: its value (and how long it took), or why there is none. */
type Answer<T> = { ok: true; value: T; ms: number } | { ok: false; error: Error };

/** What `decide` sees: every node's answer so far (`undefined`: none yet). */
interface Tally<T> {
  readonly answers: ReadonlyArray<Answer<T> | undefined>;
  /** Nodes that have not answered yet, and are not given up. */
  readonly pending: number;
}

/** `decide` cannot tell yet: wait for more answers. */
const UNDECIDED = Symbol('undecided');
type Verdict<V> = V | typeof UNDECIDED;

/**
 * After a split vote, each racer retries after a random pause of at least this long, and spread
 * over at least `SPLIT_RETRY_SPREAD_MS` (more when the nodes are far away: see `splitRetryMs`), so
 * that one of them retries alone and wins.
 */
const SPLIT_RETRY_MIN_MS = 50;
const SPLIT_RETRY_SPREAD_MS = 200;

/**
 * How long a grant waits at least for the nodes that have not answered yet (or as long as the
 * majority took, if longer). The grant is certain at once, but its fencing token is the largest of
 * the nodes that granted: waiting for the stragglers of a healthy cluster makes every node's count,
 * so a re-sent take reports the same token whichever nodes happened to answer first. A silent node
 * costs this, not the whole `nodeTimeoutMs`.
 */
const LINGER_MIN_MS = 20;

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
    await this.gather(
      (store) => store.ready?.() ?? Promise.resolve(),
      (tally) => {
        const ok = count(tally, () => true);
        if (ok >= this.majority) return undefined;
        return ok + tally.pending >= this.majority ? UNDECIDED : this.unavailable('connect', tally);
      },
      { timeoutMs: 30_000 },
    );
  }

  async begin(
    key: string,
    owner: string,
    fingerprint: string,
    leaseMs: number,
  ): Promise<BeginResult> {
    const takes = new Takes(key, owner);
    try {
      const result = await this.gather(
        (store) =>
          takes.watch(
            store,
            store.begin(key, owner, fingerprint, leaseMs),
            (found) => found.state === 'acquired',
          ),
        (tally) => this.decideBegin(tally),
        { linger: (found) => found.state === 'acquired' },
      );
      if (result.state !== 'acquired') takes.giveBack();
      return result;
    } catch (error) {
      takes.giveBack();
      throw error;
    }
  }

  private decideBegin(tally: Tally<BeginResult>): Verdict<BeginResult> {
    let acquired = 0;
    let fencingToken = 0;
    let held = 0;
    let heldForMs = 0;
    for (const answer of tally.answers) {
      if (!answer?.ok) continue;
      const found = answer.value;
      switch (found.state) {
        case 'completed':
        case 'unstorable':
        case 'mismatch':
          // A finished result on any node is the result of the one execution: replay it. A
          // different request under the key is refused without waiting for the others.
          return found;
        case 'acquired':
          acquired++;
          // Each node's token grows with its own takes and clock: the largest of a majority is the
          // holder's, which is greater than an earlier holder's as long as the nodes' clocks agree
          // to within a lease (every later take comes a lease after the earlier one ran out).
          fencingToken = Math.max(fencingToken, found.fencingToken);
          break;
        case 'in-progress':
          held++;
          heldForMs = Math.max(heldForMs, found.retryAfterMs);
      }
    }
    if (acquired >= this.majority) return { state: 'acquired', fencingToken };
    const refused = this.refusal(tally, acquired, held, heldForMs, 'begin');
    return refused === UNDECIDED ? UNDECIDED : { state: 'in-progress', retryAfterMs: refused };
  }

  /**
   * A take not granted (yet): `UNDECIDED` while a majority may still grant it or still has to
   * answer, else when to retry (see the class comment). Throws when a majority cannot answer.
   */
  private refusal(
    tally: Tally<unknown>,
    acquired: number,
    held: number,
    heldForMs: number,
    what: string,
  ): Verdict<number> {
    if (acquired + tally.pending >= this.majority) return UNDECIDED;
    const answered = count(tally, () => true);
    if (answered < this.majority) {
      return answered + tally.pending >= this.majority ? UNDECIDED : this.unavailable(what, tally);
    }
    return held >= this.majority ? heldForMs : splitRetryMs(tally);
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
    return this.gather(
      (store) => store.release(key, owner),
      (tally) => {
        const answered = count(tally, () => true);
        if (answered >= this.majority) return count(tally, (released) => released) > 0;
        return answered + tally.pending >= this.majority
          ? UNDECIDED
          : this.unavailable('release', tally);
      },
    );
  }

  async renew(key: string, owner: string, leaseMs: number): Promise<boolean> {
    return this.vote('renew', (store) => store.renew(key, owner, leaseMs));
  }

  async lock(key: string, owner: string, ttlMs: number): Promise<LockResult> {
    const takes = new Takes(key, owner);
    try {
      const result = await this.gather(
        (store) => takes.watch(store, store.lock(key, owner, ttlMs), (found) => found.acquired),
        (tally) => this.decideLock(tally),
        { linger: (found) => found.acquired },
      );
      if (!result.acquired) takes.giveBack();
      return result;
    } catch (error) {
      takes.giveBack();
      throw error;
    }
  }

  private decideLock(tally: Tally<LockResult>): Verdict<LockResult> {
    let acquired = 0;
    let fencingToken = 0;
    let held = 0;
    let heldForMs = 0;
    for (const answer of tally.answers) {
      if (!answer?.ok) continue;
      const found = answer.value;
      if (found.acquired) {
        acquired++;
        fencingToken = Math.max(fencingToken, found.fencingToken);
      } else {
        held++;
        heldForMs = Math.max(heldForMs, found.retryAfterMs);
      }
    }
    if (acquired >= this.majority) return { acquired: true, fencingToken };
    const refused = this.refusal(tally, acquired, held, heldForMs, 'lock');
    return refused === UNDECIDED ? UNDECIDED : { acquired: false, retryAfterMs: refused };
  }

  async consume(key: string, rules: readonly RateLimitRule[]): Promise<RateLimitResult> {
    return this.gather(
      (store) => {
        if (!store.consume) {
          throw new StoreUnavailableError(`a ${store.kind} store cannot rate limit`);
        }
        return store.consume(key, rules);
      },
      (tally) => {
        const allowed = count(tally, (result) => result.allowed);
        const refused = count(tally, (result) => !result.allowed);
        if (allowed >= this.majority) return agreed(tally, true);
        if (refused >= this.majority) return agreed(tally, false);
        return allowed + tally.pending >= this.majority || refused + tally.pending >= this.majority
          ? UNDECIDED
          : this.unavailable('consume', tally);
      },
    );
  }

  async close(): Promise<void> {
    await Promise.all(this.stores.map((store) => store.close?.()));
  }

  /**
   * An owner-checked write or renewal: `true` when a majority confirmed it, `false` only when a
   * majority said the key is not (or no longer) this owner's. Nodes that failed are neither: with
   * too few answers either way it throws, and the caller tries again.
   */
  private vote(what: string, call: (store: TollgateStore) => Promise<boolean>): Promise<boolean> {
    return this.gather(call, (tally) => {
      const yes = count(tally, (confirmed) => confirmed);
      const no = count(tally, (confirmed) => !confirmed);
      if (yes >= this.majority) return true;
      if (no >= this.majority) return false;
      return yes + tally.pending >= this.majority || no + tally.pending >= this.majority
        ? UNDECIDED
        : this.unavailable(what, tally);
    });
  }

  private unavailable(what: string, tally: Tally<unknown>): never {
    const answered = count(tally, () => true);
    const reasons = tally.answers.flatMap((answer) =>
      answer && !answer.ok ? [answer.error.message] : [],
    );
    throw new StoreUnavailableError(
      `the stores could not decide ${what}: ${answered} of ${this.stores.length} answered, ` +
        `and they did not agree on a majority of ${this.majority}` +
        (reasons.length > 0 ? ` (${reasons.join('; ')})` : ''),
    );
  }

  /**
   * Calls every node at once and resolves as soon as `decide` returns a verdict from the answers so
   * far (it may also throw). A node silent past `timeoutMs` counts as failed; `decide` must reach a
   * verdict once no node is pending. Answers after the verdict are ignored here (see `Takes`).
   *
   * `linger(verdict)`: a verdict that holds whatever the others say, but whose details depend on
   * which nodes answered (a grant's fencing token), waits a little longer for the nodes still
   * pending (see `LINGER_MIN_MS`), then is decided again from every answer in by then.
   */
  private gather<T, V>(
    call: (store: TollgateStore) => Promise<T>,
    decide: (tally: Tally<T>) => Verdict<V>,
    options: { timeoutMs?: number; linger?: (verdict: V) => boolean } = {},
  ): Promise<V> {
    const { timeoutMs = this.nodeTimeoutMs, linger } = options;
    return new Promise<V>((resolve, reject) => {
      const answers: Array<Answer<T> | undefined> = this.stores.map(() => undefined);
      const tally = { answers, pending: this.stores.length };
      const startedAt = performance.now();
      let decided = false;
      let lingering = false;
      let timer: NodeJS.Timeout | undefined;
      // Given up only after this turn's I/O has been read: after a stalled event loop, timers run
      // before the sockets are read, and answers that arrived in time must still count.
      const after = (ms: number, then: () => void): void => {
        clearTimeout(timer);
        timer = setTimeout(() => setImmediate(then), ms);
        timer.unref();
      };
      const settle = (final = false): void => {
        if (decided) return;
        let verdict: Verdict<V>;
        try {
          verdict = decide(tally);
          if (verdict === UNDECIDED && (final || tally.pending === 0)) {
            this.unavailable('the call', tally);
          }
        } catch (error) {
          decided = true;
          clearTimeout(timer);
          reject(toError(error));
          return;
        }
        if (verdict === UNDECIDED) return;
        if (!final && tally.pending > 0 && (lingering || linger?.(verdict))) {
          if (!lingering) {
            lingering = true;
            const elapsed = performance.now() - startedAt;
            after(Math.min(Math.max(LINGER_MIN_MS, elapsed), timeoutMs - elapsed), () =>
              settle(true),
            );
          }
          return;
        }
        decided = true;
        clearTimeout(timer);
        resolve(verdict);
      };
      const record = (index: number, answer: Answer<T>): void => {
        if (decided || answers[index] !== undefined) return;
        answers[index] = answer;
        tally.pending--;
        settle();
      };
      after(timeoutMs, () => {
        if (decided) return;
        this.stores.forEach((store, index) => {
          if (answers[index] !== undefined) return;
          answers[index] = {
            ok: false,
            error: new Error(`${store.kind} store ${index + 1} did not answer in ${timeoutMs} ms`),
          };
        });
        tally.pending = 0;
        settle(true);
      });
      this.stores.forEach((store, index) => {
        let answer: Promise<T>;
        try {
          answer = call(store);
        } catch (error) {
          answer = Promise.reject(toError(error));
        }
        answer.then(
          (value) => record(index, { ok: true, value, ms: performance.now() - startedAt }),
          (error: unknown) => record(index, { ok: false, error: toError(error) }),
        );
      });
    });
  }
}

/** Answers that are values (not failures) and pass `test`. */
function count<T>(tally: Tally<T>, test: (value: T) => boolean): number {
  let n = 0;
  for (const answer of tally.answers) if (answer?.ok && test(answer.value)) n++;
  return n;
}

/**
 * The pause before retrying a split vote: random, so racers do not collide again, and spread over
 * at least four times the slowest answer so far, since two racers collide whenever they send
 * within about one round trip of each other.
 */
function splitRetryMs(tally: Tally<unknown>): number {
  let slowest = 0;
  for (const answer of tally.answers) if (answer?.ok) slowest = Math.max(slowest, answer.ms);
  const spread = Math.max(SPLIT_RETRY_SPREAD_MS, 4 * slowest);
  return Math.round(SPLIT_RETRY_MIN_MS + Math.random() * spread);
}

/**
 * The rate-limit decision of the nodes that agreed on `allowed`, as the strictest of them sees it:
 * the fewest units left, the latest reset and retry, and a limit admits the request only if it did
 * on every one of them.
 */
function agreed(tally: Tally<RateLimitResult>, allowed: boolean): RateLimitResult {
  let retryAfterMs = 0;
  let limits: RateLimitState[] | undefined;
  for (const answer of tally.answers) {
    if (!answer?.ok || answer.value.allowed !== allowed) continue;
    const result = answer.value;
    retryAfterMs = Math.max(retryAfterMs, result.retryAfterMs);
    if (!limits) {
      limits = result.limits.map((state) => ({ ...state }));
      continue;
    }
    result.limits.forEach((state, index) => {
      const merged = limits?.[index];
      if (!merged) return;
      merged.allowed &&= state.allowed;
      merged.remaining = Math.min(merged.remaining, state.remaining);
      merged.resetMs = Math.max(merged.resetMs, state.resetMs);
      merged.retryAfterMs = Math.max(merged.retryAfterMs, state.retryAfterMs);
    });
  }
  return { allowed, retryAfterMs: allowed ? 0 : retryAfterMs, limits: limits ?? [] };
}

/**
 * Where one `begin` or `lock` may have taken the key, so that a take the quorum does not grant is
 * given back on every node that granted it: those that already answered, and stragglers whose
 * grant arrives after the decision (a silent node runs the queued take once it resumes). A node
 * whose call failed may still have run it, so it is asked too; releasing is owner-checked, so it
 * never touches anyone else's lease.
 */
class Takes {
  private givingBack = false;
  /** Nodes that granted, or may have (failed, or not answered yet). */
  private readonly mayHold = new Set<TollgateStore>();

  constructor(
    private readonly key: string,
    private readonly owner: string,
  ) {}

  watch<T>(store: TollgateStore, take: Promise<T>, granted: (found: T) => boolean): Promise<T> {
    this.mayHold.add(store);
    take.then(
      (found) => this.settled(store, granted(found)),
      () => this.settled(store, true),
    );
    return take;
  }

  /** Not granted: give back every take, now and as late grants arrive. */
  giveBack(): void {
    if (this.givingBack) return;
    this.givingBack = true;
    // A node that has not answered gets the release right behind its take, on the same connection.
    for (const store of this.mayHold) this.release(store);
  }

  private settled(store: TollgateStore, granted: boolean): void {
    if (!granted) {
      this.mayHold.delete(store);
      return;
    }
    if (this.givingBack) this.release(store);
  }

  private release(store: TollgateStore): void {
    // Best effort: a take that cannot be given back runs out with its lease.
    try {
      store.release(this.key, this.owner).catch(() => undefined);
    } catch {
      // A store that throws at once is no different from one that fails.
    }
  }
}
