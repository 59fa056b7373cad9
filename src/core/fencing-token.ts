import type { FencingToken } from './store.js';

/**
 * Throws unless `token` is a fencing token (a positive whole number below 2^53): a store writes it
 * over the token it issued, so anything else would corrupt every later take of the key.
 */
export function assertFencingToken(token: unknown): asserts token is FencingToken {
  if (typeof token !== 'number' || !Number.isSafeInteger(token) || token < 1) {
    throw new RangeError(
      `a fencing token is a positive whole number below 2^53, not ${String(token)}`,
    );
  }
}
