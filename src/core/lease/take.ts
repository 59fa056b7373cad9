import { randomBytes } from 'node:crypto';

import { observedCall, type StoreCallObserver } from '../report.js';
import type { BeginResult, IdempotencyStore, LockResult } from '../store.js';

/**
 * A token unique across every app server (a random per-process prefix and a counter), cheaper
 * than a UUID per call. Base64url, a dot and base-36 digits: never a newline or a colon.
 */
const TOKEN_PREFIX = randomBytes(12).toString('base64url');
let tokenCounter = 0;
export function uniqueToken(): string {
  tokenCounter = (tokenCounter + 1) % Number.MAX_SAFE_INTEGER;
  return `${TOKEN_PREFIX}.${tokenCounter.toString(36)}`;
}

/** Who holds a lease. Clients never see it. */
export function nextOwnerToken(): string {
  return uniqueToken();
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
  what: 'begin' | 'lock',
  key: string,
  owner: string,
  timeoutMs: number,
  take: () => Promise<T>,
  observe?: StoreCallObserver,
): Promise<T> {
  let pending: Promise<T> | undefined;
  try {
    return await observedCall(what, timeoutMs, () => (pending = take()), observe);
  } catch (error) {
    pending?.catch(() => undefined);
    store.release(key, owner).catch(() => undefined);
    throw error;
  }
}
