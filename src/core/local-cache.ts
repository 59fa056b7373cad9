import { TollgateConfigError } from './errors.js';
import type { RecordInvalidations } from './store.js';

/** The bounds of a cache kept in the process. */
export interface LocalCacheOptions {
  /** Most entries kept at once; past it the least recently used is dropped. */
  maxEntries?: number;
  /** Most bytes kept at once, approximately (see each cache); past it the least recently used go. */
  maxBytes?: number;
}

/** A cache's bounds as given, or its defaults, checked once at start-up. */
export function cacheBounds(
  what: string,
  options: LocalCacheOptions,
  defaults: Required<LocalCacheOptions>,
): Required<LocalCacheOptions> {
  const bounds = { ...defaults, ...options };
  for (const name of ['maxEntries', 'maxBytes'] as const) {
    const value = bounds[name];
    if (!Number.isSafeInteger(value) || value < 1) {
      throw new TollgateConfigError(
        'TOLLGATE_INVALID_MEMORY_BOUND',
        `${what} ${name} is ${String(value)}: give a positive whole number`,
      );
    }
  }
  return bounds;
}

interface Entry<V> {
  value: V;
  /** Monotonic ms after which the entry is never used. */
  expiresAt: number;
  /** The stretch of the invalidation feed it was made in; 0 for a cache without a feed. */
  epoch: number;
  bytes: number;
}

/**
 * Entries that may be used only while the store could have told us they are stale: each is kept
 * with the `epoch` of the store's invalidation feed it was made in, and is used only while the
 * feed is in that same unbroken stretch. A feed that lost its subscription, or has not confirmed
 * it lately, reports epoch 0, and nothing is used until it is back, in a new stretch: every entry
 * made before is then dropped, as a message announcing its removal may have been missed.
 *
 * An entry may also be refused when an announcement came between asking the store and storing
 * the answer (`ticket`/`set`): the store may have removed it after answering, and the message can
 * reach this process before or after the answer itself.
 */
export class LocalCache<V> {
  private readonly entries = new Map<string, Entry<V>>();
  private bytes = 0;
  /**
   * Announcements heard so far, and changes of the feed's stretch seen: a ticket taken before a
   * store call compares it afterwards.
   */
  private heard = 0;
  /** The feed's stretch when `heard` was last read: a ticket is worth nothing in another one. */
  private stretch = 0;
  private readonly maxEntries: number;
  private readonly maxBytes: number;

  constructor(
    bounds: Required<LocalCacheOptions>,
    private readonly feed: RecordInvalidations | undefined,
    private readonly now: () => number,
  ) {
    this.maxEntries = bounds.maxEntries;
    this.maxBytes = bounds.maxBytes;
    feed?.listen((key) => {
      this.heard++;
      this.delete(key);
    });
  }

  get size(): number {
    return this.entries.size;
  }

  /** Approximate bytes held, as `maxBytes` counts them. */
  get heldBytes(): number {
    return this.bytes;
  }

  /** Taken before the store call whose answer may be `set`: see the class comment. */
  ticket(): number {
    return this.heardNow();
  }

  /** The entry's value while it can be trusted; it is dropped once it cannot. */
  get(key: string): V | undefined {
    const entry = this.entries.get(key);
    if (entry === undefined) return undefined;
    if (entry.epoch !== this.epoch() || this.now() >= entry.expiresAt) {
      this.delete(key);
      return undefined;
    }
    // Most recently used last: eviction takes the first.
    this.entries.delete(key);
    this.entries.set(key, entry);
    return entry.value;
  }

  /**
   * Keeps `value` until `expiresAt` (monotonic ms), unless it cannot be trusted: the feed is not
   * confirmed, or an announcement came since `ticket`. An entry larger than a tenth of `maxBytes`
   * is not worth the room.
   */
  set(key: string, value: V, expiresAt: number, bytes: number, ticket: number): void {
    const epoch = this.epoch();
    if (epoch === 0 && this.feed) return;
    if (ticket !== this.heardNow() || expiresAt <= this.now() || bytes > this.maxBytes / 10) return;
    this.delete(key);
    this.entries.set(key, { value, expiresAt, epoch, bytes });
    this.bytes += bytes;
    // Only when over a bound: walking the map from its start first skips every slot that reads
    // (moved to the end) and deletes left behind until V8 compacts it.
    if (this.entries.size <= this.maxEntries && this.bytes <= this.maxBytes) return;
    for (const [oldest] of this.entries) {
      if (this.entries.size <= this.maxEntries && this.bytes <= this.maxBytes) break;
      this.delete(oldest);
    }
  }

  /**
   * Removed by this process: dropped now, and an answer in flight is not cached, as if the
   * announcement had arrived (it will, too, a little later).
   */
  forget(key: string): void {
    this.heard++;
    this.delete(key);
  }

  delete(key: string): void {
    const entry = this.entries.get(key);
    if (entry === undefined) return;
    this.entries.delete(key);
    this.bytes -= entry.bytes;
  }

  /**
   * `heard`, counting a change of the feed's stretch as an announcement: announcements made while
   * the feed was broken were missed, so an answer asked for in one stretch is never kept in the
   * next, however quickly the feed came back.
   */
  private heardNow(): number {
    const epoch = this.epoch();
    if (epoch !== this.stretch) {
      this.stretch = epoch;
      this.heard++;
    }
    return this.heard;
  }

  private epoch(): number {
    return this.feed === undefined ? 0 : this.feed.epoch;
  }
}
