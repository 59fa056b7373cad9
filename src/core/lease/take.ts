import { randomBytes } from 'node:crypto';

import { withDeadline } from '../deadline.js';
import type { BeginResult, IdempotencyStore, LockResult } from '../store.js';

/**
 * Who holds a lease. Unique across every app server (a random per-process prefix and a counter),
 * and cheaper than a UUID per request. Clients never see it.
 */
const OWNER_PREFIX = randomBytes(12).toString('base64url');
let ownerCounter = 0;
export function nextOwnerToken(): string {
  ownerCounter = (ownerCounter + 1) % Number.MAX_SAFE_INTEGER;
  return `${OWNER_PREFIX}.${ownerCounter.toString(36)}`;
}

/**
 * A take (`begin` or `lock`) under a deadline. A store that answers late may still take the key
 * after the caller gave up (a silent Redis runs the queued command once it resumes). A release for
 * the same owner, sent right behind it on the same connection, then gives the key back at once
 * rather than leaving it blocked for the whole lease, or refusing the client's retry as a
 * duplicate of a request that never ran; it only ever touches this owner's take.
 */
export async function takeOrGiveBack<T extends BeginResult | LockResult>(
  store: IdempotencyStore,
  what: string,
  key: string,
  owner: string,
  timeoutMs: number,
  pending: Promise<T>,
): Promise<T> {
  try {
    return await withDeadline(what, timeoutMs, () => pending);
  } catch (error) {
    pending.catch(() => undefined);
    store.release(key, owner).catch(() => undefined);
    throw error;
  }
}
