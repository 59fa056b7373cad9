import { StoreUnavailableError } from '../../core/errors.js';
import type { FencingToken, TollgateStore } from '../../core/store.js';
import { majorityVote } from './majority.js';
import { count, gather, UNDECIDED, type Tally } from './tally.js';

/**
 * Makes a granted take's token the token of a majority: each node that granted it with a lower
 * token (each reads its own clock, at its own moment) is told the largest (`raiseToken`).
 * True once a majority holds `fencingToken`, counting the nodes that issued it themselves; false
 * once it cannot, and the take must not be handed out.
 *
 * Why a majority: a node remembers its token beside the key after a release or a `forget`, and
 * issues a greater one next. Any later majority shares a node with this one, so the next holder's
 * token is greater than this holder's, even when the next take comes at once and the node whose
 * clock issued the largest token is not among those that grant it.
 *
 * When every node that granted the take issued the same token there is nothing to tell them, and
 * no node is called.
 */
export async function holdByMajority<T>(
  nodes: { stores: readonly TollgateStore[]; majority: number; timeoutMs: number },
  take: { key: string; owner: string; fencingToken: FencingToken },
  tally: Tally<T>,
  tokenOf: (found: T) => FencingToken | undefined,
): Promise<boolean> {
  const { stores, majority, timeoutMs } = nodes;
  const { key, owner, fencingToken } = take;
  const tokens = tally.answers.map((answer) => (answer?.ok ? tokenOf(answer.value) : undefined));
  if (!tokens.some((token) => token !== undefined && token < fencingToken)) return true;
  return gather(
    stores,
    (store, index) => {
      const token = tokens[index];
      // Nodes that did not grant the take are not asked: a grant arriving after the decision is
      // given back if the take is refused, and otherwise only adds a node beyond the majority.
      if (token === undefined || token >= fencingToken) {
        return Promise.resolve(token === fencingToken);
      }
      if (!store.raiseToken) {
        throw new StoreUnavailableError(`a ${store.kind} store cannot raise a fencing token`);
      }
      return store.raiseToken(key, owner, fencingToken);
    },
    (raised) => {
      const side = majorityVote(
        majority,
        raised.pending,
        count(raised, (holds) => holds),
      );
      return side === UNDECIDED ? UNDECIDED : side === 0;
    },
    {
      timeoutMs,
      unavailable: () => {
        throw new StoreUnavailableError('the fencing token reached no decision');
      },
    },
  );
}
