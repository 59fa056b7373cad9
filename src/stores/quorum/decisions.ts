import type { BeginResult, LockResult, RateLimitResult, RateLimitState } from '../../core/store.js';
import { hasMajority, majorityVote, NO_MAJORITY } from './majority.js';
import { UNDECIDED, type Tally, type Verdict } from './tally.js';

/**
 * After a split vote, each racer retries after a random pause of at least this long, and spread
 * over at least `SPLIT_RETRY_SPREAD_MS` (more when the nodes are far away: see `splitRetryMs`), so
 * that one of them retries alone and wins.
 */
const SPLIT_RETRY_MIN_MS = 50;
const SPLIT_RETRY_SPREAD_MS = 200;

/**
 * The pause before retrying a split vote: random, so racers do not collide again, and spread over
 * at least four times the slowest answer so far, since two racers collide whenever they send
 * within about one round trip of each other.
 */
export function splitRetryMs(tally: Tally<unknown>): number {
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
export function agreed(tally: Tally<RateLimitResult>, allowed: boolean): RateLimitResult {
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
 * The verdict on a take (`begin` or `lock`) from the answers so far: granted by a majority, with
 * the largest token among them; decided at once by a final answer from any node; refused once a
 * majority answered and the grants can no longer make one: when a majority holds the key, until the
 * longest of their leases ends, else after a split vote's pause (`splitRetryMs`). `UNDECIDED` and
 * unavailable as `majorityVote` reads the grants, then the answers.
 */
export function decideTake<T>(
  majority: number,
  tally: Tally<T>,
  unavailable: (tally: Tally<T>) => never,
  read: (found: T) => { granted: number } | { heldForMs: number } | { final: T },
  granted: (fencingToken: number) => T,
  refused: (retryAfterMs: number) => T,
): Verdict<T> {
  let acquired = 0;
  let fencingToken = 0;
  let held = 0;
  let heldForMs = 0;
  for (const answer of tally.answers) {
    if (!answer?.ok) continue;
    const found = read(answer.value);
    if ('final' in found) return found.final;
    if ('granted' in found) {
      acquired++;
      // Each node's token grows with its own takes and clock: the largest of a majority is the
      // holder's. It is greater than an earlier holder's because a majority held that one
      // (`holdByMajority`) and shares a node with this majority, or, once it expired there, as
      // long as the nodes' clocks agree to within a lease.
      fencingToken = Math.max(fencingToken, found.granted);
    } else {
      held++;
      heldForMs = Math.max(heldForMs, found.heldForMs);
    }
  }
  // Every answer is a grant or a hold (a final one decided above).
  switch (majorityVote(majority, tally.pending, acquired, acquired + held)) {
    case 0:
      return granted(fencingToken);
    case 1:
      return refused(hasMajority(held, majority) ? heldForMs : splitRetryMs(tally));
    case UNDECIDED:
      return UNDECIDED;
    case NO_MAJORITY:
      return unavailable(tally);
  }
}

/** `decideTake` for `begin`: a finished result or another request on any node decides at once. */
export function decideBegin(
  majority: number,
  tally: Tally<BeginResult>,
  unavailable: (tally: Tally<BeginResult>) => never,
): Verdict<BeginResult> {
  return decideTake(
    majority,
    tally,
    unavailable,
    (found) => {
      switch (found.state) {
        case 'acquired':
          return { granted: found.fencingToken };
        case 'in-progress':
          return { heldForMs: found.retryAfterMs };
        case 'completed':
          // A finished result on any node is the result of the one execution: replay it, but
          // without a retention, as one node cannot vouch for a majority (no process caches it).
          return { final: { state: 'completed', response: found.response } };
        default:
          // A different request under the key is refused without waiting for the others.
          return { final: found };
      }
    },
    (fencingToken) => ({ state: 'acquired', fencingToken }),
    (retryAfterMs) => ({ state: 'in-progress', retryAfterMs }),
  );
}

/** `decideTake` for `lock`. */
export function decideLock(
  majority: number,
  tally: Tally<LockResult>,
  unavailable: (tally: Tally<LockResult>) => never,
): Verdict<LockResult> {
  return decideTake(
    majority,
    tally,
    unavailable,
    (found) =>
      found.acquired ? { granted: found.fencingToken } : { heldForMs: found.retryAfterMs },
    (fencingToken) => ({ acquired: true, fencingToken }),
    (retryAfterMs) => ({ acquired: false, retryAfterMs }),
  );
}
