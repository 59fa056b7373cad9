import { TollgateConfigError } from '../errors.js';
import { safetyMarginMs, monotonicNow } from '../lease/lease.js';
import { cacheBounds, LocalCache, type LocalCacheOptions } from '../local-cache.js';
import type { RecordInvalidations, StoredResponse } from '../store.js';

/** Bounds of the cache of completed results: `true` for the defaults. */
export type ResultCacheOption = boolean | LocalCacheOptions;

const DEFAULTS = { maxEntries: 10_000, maxBytes: 16 * 1024 * 1024 };

/** What one cached result costs beyond its body and header characters: objects and map entry. */
const ENTRY_OVERHEAD_BYTES = 256;

/**
 * How long before the record's expiry on the store the cache stops replaying it: the clocks of the
 * app and the store may run at rates 1 % apart (as leases and the cache of refused clients allow),
 * and Redis expires keys by its wall clock. A lease's margin is over 1 % of it at every length.
 */
const marginMs = safetyMarginMs;

interface CachedResult {
  fingerprint: string;
  response: StoredResponse;
}

/**
 * Completed results kept in the process, so that a replay is answered without asking the store.
 * The rules, all here:
 *
 * - Only completed results, never a miss, a lease in progress or a result that could not be kept:
 *   only a completed record never changes on the store until it expires or is removed.
 * - Only results the store vouches for: this process's own completion once the store confirmed it
 *   (on `QuorumStore`, a majority), or a replay the store answered with how long it keeps it.
 * - Never past the record's expiry on the store: from the moment the call that learned of it was
 *   sent, plus the retention the store reported, less a margin for the two clocks' rates.
 * - Never after the store removed it (see `LocalCache`): trusted only while the store's feed of
 *   announcements is confirmed.
 * - The fingerprint is checked on every hit, as the store would: another request under the key is
 *   refused as it would be there.
 */
export class ResultCache {
  private readonly cache: LocalCache<CachedResult>;

  constructor(option: ResultCacheOption, feed: RecordInvalidations | undefined) {
    if (feed === undefined) {
      throw new TollgateConfigError(
        'TOLLGATE_STORE_CANNOT_INVALIDATE',
        'resultCache needs a store that announces removed records to every process (RedisStore or QuorumStore); this store does not, so a cached result could outlive its record: leave resultCache off',
      );
    }
    const bounds = cacheBounds('resultCache', option === true ? {} : option || {}, DEFAULTS);
    this.cache = new LocalCache(bounds, feed, monotonicNow);
  }

  /** Taken before the store call whose answer may be remembered. */
  ticket(): number {
    return this.cache.ticket();
  }

  get(key: string): CachedResult | undefined {
    return this.cache.get(key);
  }

  /** A completed result the store keeps for `keptForMs` at least from `sentAt` (monotonic ms). */
  remember(
    key: string,
    fingerprint: string,
    response: StoredResponse,
    keptForMs: number,
    sentAt: number,
    ticket: number,
  ): void {
    let bytes = ENTRY_OVERHEAD_BYTES + response.body.byteLength + key.length + fingerprint.length;
    for (const [name, value] of response.headers) bytes += name.length + value.length;
    const expiresAt = sentAt + keptForMs - marginMs(keptForMs);
    // A copy of exactly its bytes, which is what `maxBytes` counts: the body given may be a view
    // of the whole socket read its reply came in, or a buffer the handler reuses afterwards.
    const body = Buffer.allocUnsafeSlow(response.body.byteLength);
    body.set(response.body);
    this.cache.set(key, { fingerprint, response: { ...response, body } }, expiresAt, bytes, ticket);
  }

  get size(): number {
    return this.cache.size;
  }

  get bytes(): number {
    return this.cache.heldBytes;
  }
}
