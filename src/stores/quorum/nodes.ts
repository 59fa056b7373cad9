import { StoreUnavailableError, TollgateConfigError } from '../../core/errors.js';
import type { TollgateStore } from '../../core/store.js';
import { majorityOf, majorityVote, NO_MAJORITY } from './majority.js';
import { count, gather, UNDECIDED, type Tally, type Verdict } from './tally.js';

export interface QuorumStoreOptions {
  /** Independent stores, typically `RedisStore`s on separate Redis deployments: 3 or 5. */
  stores: readonly TollgateStore[];
  /** Deadline for each node's answer; a slower node counts as unavailable. Default 500 ms. */
  nodeTimeoutMs?: number;
}

/**
 * The nodes of a quorum and how they vote: every call goes to every node at once (`gather`), and
 * a majority decides (`byMajority`). `QuorumStore` gives each operation its meaning on top.
 */
export abstract class QuorumNodes {
  protected readonly stores: readonly TollgateStore[];
  protected readonly majority: number;
  protected readonly nodeTimeoutMs: number;

  constructor(options: QuorumStoreOptions) {
    const stores: unknown = options?.stores;
    if (!Array.isArray(stores) || stores.length < 3) {
      throw new TollgateConfigError(
        'TOLLGATE_QUORUM_TOO_SMALL',
        `QuorumStore needs at least 3 independent stores to outvote a lost one; got ${Array.isArray(stores) ? stores.length : String(stores)} in \`stores\``,
      );
    }
    // One deployment given twice holds the votes of two: its loss (or a restart empty) would be a
    // lost majority, and a quorum of it and one other node would decide alone.
    const seen = new Map<unknown, number>();
    (stores as TollgateStore[]).forEach((store, index) => {
      for (const identity of [store, store.location]) {
        if (identity === undefined) continue;
        const first = seen.get(identity);
        if (first !== undefined) {
          throw new TollgateConfigError(
            'TOLLGATE_QUORUM_TOO_SMALL',
            `QuorumStore needs independent stores: \`stores\`[${first}] and [${index}] are ` +
              (identity === store ? 'the same store' : `both at ${store.location}`),
          );
        }
        seen.set(identity, index);
      }
    });
    const nodeTimeoutMs: unknown = options.nodeTimeoutMs ?? 500;
    if (
      typeof nodeTimeoutMs !== 'number' ||
      !Number.isFinite(nodeTimeoutMs) ||
      nodeTimeoutMs <= 0 ||
      nodeTimeoutMs > 2_147_483_647
    ) {
      throw new TollgateConfigError(
        'TOLLGATE_INVALID_OPTION',
        `QuorumStore \`nodeTimeoutMs\` must be a positive number of milliseconds; got ${String(nodeTimeoutMs)}`,
      );
    }
    this.stores = [...(stores as TollgateStore[])];
    this.majority = majorityOf(this.stores.length);
    this.nodeTimeoutMs = nodeTimeoutMs;
  }

  /** A write every node applies: done once a majority confirmed, unavailable once it cannot be. */
  protected everywhere(
    what: string,
    call: (store: TollgateStore, index: number) => Promise<void>,
  ): Promise<true> {
    return this.gather(call, (tally) => {
      const done = count(tally, () => true);
      return this.byMajority(tally, [[done, () => true as const]], what);
    });
  }

  /** A deletion on every node: done once a majority answered, `true` if any of them had it. */
  protected deleted(
    what: string,
    call: (store: TollgateStore) => Promise<boolean>,
  ): Promise<boolean> {
    return this.gather(call, (tally) => {
      const answered = count(tally, () => true);
      return this.byMajority(tally, [[answered, () => count(tally, (found) => found) > 0]], what);
    });
  }

  /**
   * An owner-checked write or renewal: `true` when a majority confirmed it, `false` only when a
   * majority said the key is not (or no longer) this owner's. Nodes that failed are neither: with
   * too few answers either way it throws, and the caller tries again.
   */
  protected vote(what: string, call: (store: TollgateStore) => Promise<boolean>): Promise<boolean> {
    return this.gather(call, (tally) => {
      const yes = count(tally, (confirmed) => confirmed);
      const no = count(tally, (confirmed) => !confirmed);
      return this.byMajority(
        tally,
        [
          [yes, () => true],
          [no, () => false],
        ],
        what,
      );
    });
  }

  protected unavailable(what: string, tally: Tally<unknown>): never {
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

  /** Every node at once, decided as soon as the answers settle it (see `gather`). */
  protected gather<T, V>(
    call: (store: TollgateStore, index: number) => Promise<T>,
    decide: (tally: Tally<T>) => Verdict<V>,
    options: { timeoutMs?: number; linger?: (verdict: V) => boolean } = {},
  ): Promise<V> {
    return gather(this.stores, call, decide, {
      timeoutMs: options.timeoutMs ?? this.nodeTimeoutMs,
      linger: options.linger,
      unavailable: (tally) => this.unavailable('the call', tally),
    });
  }

  /**
   * A vote read as `majorityVote` reads it: the verdict of the first side a majority of the nodes
   * is on; `UNDECIDED` while the nodes still to answer could give a side a majority; else no
   * majority is possible any more, and the store is unavailable for `what`.
   */
  protected byMajority<V>(tally: Tally<unknown>, sides: Sides<V>, what: string): Verdict<V> {
    const side = majorityVote(this.majority, tally.pending, sides[0][0], sides[1]?.[0]);
    if (side === UNDECIDED) return UNDECIDED;
    if (side === NO_MAJORITY) return this.unavailable(what, tally);
    return (sides[side] as Side<V>)[1]();
  }
}

/** One side of a vote: how many nodes are on it, and the verdict when they are a majority. */
type Side<V> = readonly [votes: number, verdict: () => V];
type Sides<V> = readonly [Side<V>] | readonly [Side<V>, Side<V>];
