/**
 * The quorum's arithmetic (`majorityVote`), checked against the readings it replaced on every
 * count of votes a cluster of 3 to 7 nodes can produce: one reading of a vote, the same answers.
 */
import { describe, expect, it } from 'vitest';

import { majorityOf, majorityVote, NO_MAJORITY } from '../../src/stores/quorum/majority.js';
import { UNDECIDED } from '../../src/stores/quorum/tally.js';

type Reading = 0 | 1 | typeof UNDECIDED | typeof NO_MAJORITY;

/** Disjoint sides (yes / no), as `byMajority` read them: any side that may still win waits. */
function disjoint(majority: number, pending: number, yes: number, no: number): Reading {
  if (yes >= majority) return 0;
  if (no >= majority) return 1;
  return yes + pending >= majority || no + pending >= majority ? UNDECIDED : NO_MAJORITY;
}

/** A take, as `refusalOf` read it: grants first, then every answer. */
function take(majority: number, pending: number, acquired: number, held: number): Reading {
  if (acquired >= majority) return 0;
  if (acquired + pending >= majority) return UNDECIDED;
  const answered = acquired + held;
  if (answered < majority) return answered + pending >= majority ? UNDECIDED : NO_MAJORITY;
  return 1;
}

describe('majorityVote', () => {
  it('is more than half the nodes', () => {
    expect([3, 4, 5, 6, 7].map(majorityOf)).toEqual([2, 3, 3, 4, 4]);
  });

  for (let nodes = 3; nodes <= 7; nodes++) {
    const majority = majorityOf(nodes);
    it(`reads every split of ${nodes} nodes as before`, () => {
      for (let a = 0; a <= nodes; a++) {
        for (let b = 0; a + b <= nodes; b++) {
          for (let pending = 0; a + b + pending <= nodes; pending++) {
            const where = { nodes, a, b, pending };
            expect({ ...where, got: majorityVote(majority, pending, a, b) }).toEqual({
              ...where,
              got: disjoint(majority, pending, a, b),
            });
            expect({ ...where, got: majorityVote(majority, pending, a, a + b) }).toEqual({
              ...where,
              got: take(majority, pending, a, b),
            });
            const single = a + pending >= majority ? UNDECIDED : NO_MAJORITY;
            expect(majorityVote(majority, pending, a)).toBe(a >= majority ? 0 : single);
          }
        }
      }
    });
  }
});
