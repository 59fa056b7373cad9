import type { RateLimitResult } from '../../core/store.js';
import type { Tally } from './tally.js';

/**
 * A refundable request's charge on a quorum: each node's own, so a refund gives back on each node
 * exactly what that node charged. One JSON array per limit, by node: the node's charge, `''` when
 * it charged without saying what in (a store that reports no charges: its give-back goes
 * unchecked, as before charges existed), `null` when it did not charge (it refused, or had not
 * answered by the verdict): nothing is given back there.
 */
export function withQuorumCharges(
  result: RateLimitResult,
  tally: Tally<RateLimitResult>,
): RateLimitResult {
  result.limits.forEach((state, limit) => {
    const byNode = tally.answers.map((answer) =>
      answer?.ok && answer.value.allowed ? (answer.value.limits[limit]?.charge ?? '') : null,
    );
    state.charge = JSON.stringify(byNode);
  });
  return result;
}

/** What node `node` gives back of a refund named by quorum charges (see `withQuorumCharges`). */
export function nodeCharges(
  charges: readonly (string | undefined)[],
  units: readonly number[],
  node: number,
): { units: number[]; charges: Array<string | undefined> } {
  const own: Array<string | undefined> = [];
  const nodeUnits = units.map((unit, rule) => {
    const charge = charges[rule];
    if (unit >= 0 || charge === undefined) return unit;
    const byNode = JSON.parse(charge) as Array<string | null>;
    const mine = byNode[node];
    if (mine === null || mine === undefined) return 0;
    own[rule] = mine === '' ? undefined : mine;
    return unit;
  });
  return { units: nodeUnits, charges: own };
}
