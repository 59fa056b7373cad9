import { UNDECIDED } from './tally.js';

/**
 * The arithmetic of a quorum, in one place: how many answers make a majority, and when a vote is
 * decided, undecided or beyond deciding. Every reading of the nodes' answers goes through here.
 */

/** How many of `nodes` make a majority: more than half, so two majorities always share a node. */
export function majorityOf(nodes: number): number {
  return Math.floor(nodes / 2) + 1;
}

/** Whether `votes` make a majority of `majority` (as `majorityOf` gives it). */
export function hasMajority(votes: number, majority: number): boolean {
  return votes >= majority;
}

/** No side can reach a majority any more, whatever the nodes still to answer say. */
export const NO_MAJORITY = Symbol('no majority');

/** Which side a vote went to: the first (0) or the second (1). */
export type Side = 0 | 1;

/**
 * The one reading of a vote over up to two sides, taken in order: the first side a majority is
 * on; `UNDECIDED` while the nodes still to answer (`pending`) could give a majority to a side
 * before any that has one; `NO_MAJORITY` once no side can get one.
 *
 * Two disjoint sides (yes and no) never both reach a majority, so their order only matters for
 * sides that overlap: a take's grants (`first`) are part of its answers (`second`), and the take
 * is refused on a majority of answers only once the grants can no longer reach one.
 */
export function majorityVote(
  majority: number,
  pending: number,
  first: number,
  second?: number,
): Side | typeof UNDECIDED | typeof NO_MAJORITY {
  if (first >= majority) return 0;
  if (first + pending >= majority) return UNDECIDED;
  if (second === undefined) return NO_MAJORITY;
  if (second >= majority) return 1;
  if (second + pending >= majority) return UNDECIDED;
  return NO_MAJORITY;
}
