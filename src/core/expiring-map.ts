/** A value that knows when it expires (milliseconds since the epoch, as the owner's clock reads). */
export interface Expiring {
  expiresAt: number;
}

/** Expired entries examined at the front of the write order on every write. */
const SWEEP_ON_WRITE = 4;

export interface ExpiringMapOptions<V> {
  /** Most bytes held, as `sizeOf` counts them. Default: no bound on bytes. */
  maxBytes?: number;
  /** Approximate bytes one entry holds. Default 0: only the count bounds the map. */
  sizeOf?: (key: string, value: V) => number;
  /**
   * Whether an entry may be evicted to make room. Judged once, when the entry is written: a value
   * whose answer changes must be written again. Default: every entry may be evicted.
   */
  evictable?: (value: V) => boolean;
}

interface Entry<V> {
  value: V;
  /** The write that stored this value: a queue item for an older write of the key is stale. */
  write: number;
  bytes: number;
  evictable: boolean;
}

/**
 * A map bounded to `maxKeys` entries (and optionally `maxBytes`) whose values expire, for the
 * in-memory stores.
 *
 * Past a bound it evicts the evictable entry written longest ago; an entry that is not evictable
 * stays until it expires or is deleted, so the map may stay over its bounds (`set`), or refuse a
 * write (`trySet`). Expired entries are dropped lazily (on read, and a few per write from the
 * front of the write order) and by `sweep()`: never one timer per key.
 *
 * The write order is a queue beside the map, not the map's own order, so eviction and the sweep on
 * write cost O(1) amortised however many entries were deleted before them (walking a `Map` from
 * its start skips every deleted slot V8 has not compacted yet, which made a full store quadratic).
 * Two cursors walk the one queue: `head` for expiry, `evictHead` for eviction. Each only moves
 * forward: an item `evictHead` passes over is stale or not evictable, and stays so, because a key
 * written again gets a new item.
 */
export class ExpiringMap<V extends Expiring> {
  private readonly entries = new Map<string, Entry<V>>();
  /** Every write, oldest first, from `head` on; an item is stale once its key was written again or deleted. */
  private order: Array<{ key: string; write: number }> = [];
  private head = 0;
  /** Where the search for the oldest evictable entry resumes; every item before it is stale or not evictable. */
  private evictHead = 0;
  private writes = 0;
  private heldBytes = 0;
  private evictableCount = 0;
  private evictableBytes = 0;
  private readonly maxBytes: number;
  private readonly sizeOf: (key: string, value: V) => number;
  private readonly isEvictable: (value: V) => boolean;

  constructor(
    private readonly maxKeys: number,
    options: ExpiringMapOptions<V> = {},
  ) {
    this.maxBytes = options.maxBytes ?? Number.POSITIVE_INFINITY;
    this.sizeOf = options.sizeOf ?? (() => 0);
    this.isEvictable = options.evictable ?? (() => true);
  }

  /** Entries held, expired ones included until they are dropped. */
  get size(): number {
    return this.entries.size;
  }

  /** Bytes held as `sizeOf` counted them when each entry was written. */
  get bytes(): number {
    return this.heldBytes;
  }

  /** The live value under `key`; an expired one is dropped on the spot. */
  get(key: string, now: number): V | undefined {
    const entry = this.entries.get(key);
    if (!entry) return undefined;
    if (entry.value.expiresAt <= now) {
      this.remove(key, entry);
      return undefined;
    }
    return entry.value;
  }

  /**
   * Writes `value` as the newest entry, then drops expired entries and evicts evictable ones,
   * oldest first, while past a bound. Never evicts the entry just written, and evicts nothing that
   * is not evictable: with only such entries left, the map stays past its bound.
   */
  set(key: string, value: V, now: number): void {
    // Overwritten in place, not deleted first: a delete leaves a slot V8 must later compact.
    const existing = this.entries.get(key);
    if (existing) this.account(existing, -1);
    const write = ++this.writes;
    const entry: Entry<V> = {
      value,
      write,
      bytes: this.sizeOf(key, value),
      evictable: this.isEvictable(value),
    };
    this.entries.set(key, entry);
    this.account(entry, 1);
    this.order.push({ key, write });
    this.dropExpired(now, SWEEP_ON_WRITE);
    while (this.overBound()) {
      const victim = this.oldestEvictable(write);
      if (!victim) break;
      this.remove(victim.key, victim.entry);
    }
    // Stale queue items behind a long-lived entry would otherwise pile up: keep the queue O(size).
    const queued = this.order.length - this.head;
    if (queued > 2 * this.entries.size + 1_024 || (this.head > 1_024 && this.head > queued))
      this.compact();
  }

  /**
   * Writes like `set` if evicting evictable entries can keep the map within both bounds with
   * `value` under `key`; otherwise changes nothing and returns false. Whether it fits is known
   * before anything is evicted, so a refused write evicts nothing.
   */
  trySet(key: string, value: V, now: number): boolean {
    if (!this.fits(key, value)) {
      // Expired entries are no loss: drop every one at the front of the write order, then look
      // again. Each entry is dropped once, so this stays O(1) amortised.
      this.dropExpired(now, Number.POSITIVE_INFINITY);
      if (!this.fits(key, value)) return false;
    }
    this.set(key, value, now);
    return true;
  }

  delete(key: string): void {
    const entry = this.entries.get(key);
    if (entry) this.remove(key, entry);
  }

  /** Drops every expired entry. */
  sweep(now: number): void {
    for (const [key, entry] of this.entries) {
      if (entry.value.expiresAt <= now) this.remove(key, entry);
    }
    this.compact();
  }

  /** Whether `value` under `key` would fit once every evictable entry (but `key`'s own) is evicted. */
  private fits(key: string, value: V): boolean {
    const existing = this.entries.get(key);
    const keys = this.entries.size + (existing ? 0 : 1);
    const bytes = this.heldBytes - (existing?.bytes ?? 0) + this.sizeOf(key, value);
    const freeableKeys = this.evictableCount - (existing?.evictable ? 1 : 0);
    const freeableBytes = this.evictableBytes - (existing?.evictable ? existing.bytes : 0);
    return keys - freeableKeys <= this.maxKeys && bytes - freeableBytes <= this.maxBytes;
  }

  private overBound(): boolean {
    return this.entries.size > this.maxKeys || this.heldBytes > this.maxBytes;
  }

  /** Drops up to `limit` expired entries from the front of the write order, stopping at a live one. */
  private dropExpired(now: number, limit: number): void {
    for (let dropped = 0; dropped < limit; dropped++) {
      const oldest = this.oldest();
      if (!oldest || oldest.entry.value.expiresAt > now) break;
      this.remove(oldest.key, oldest.entry);
      this.head++;
    }
  }

  /** The entry written longest ago that is still current, skipping stale queue items. */
  private oldest(): { key: string; entry: Entry<V> } | undefined {
    while (this.head < this.order.length) {
      const item = this.order[this.head]!;
      const entry = this.entries.get(item.key);
      if (entry && entry.write === item.write) return { key: item.key, entry };
      this.head++;
    }
    return undefined;
  }

  /** The evictable entry written longest ago, other than the write `spared`. */
  private oldestEvictable(spared: number): { key: string; entry: Entry<V> } | undefined {
    this.evictHead = Math.max(this.evictHead, this.head);
    while (this.evictHead < this.order.length) {
      const item = this.order[this.evictHead]!;
      if (item.write === spared) return undefined;
      const entry = this.entries.get(item.key);
      if (entry && entry.write === item.write && entry.evictable) return { key: item.key, entry };
      this.evictHead++;
    }
    return undefined;
  }

  private remove(key: string, entry: Entry<V>): void {
    this.entries.delete(key);
    this.account(entry, -1);
  }

  private account(entry: Entry<V>, sign: 1 | -1): void {
    this.heldBytes += sign * entry.bytes;
    if (!entry.evictable) return;
    this.evictableCount += sign;
    this.evictableBytes += sign * entry.bytes;
  }

  private compact(): void {
    const current = (item: { key: string; write: number }): boolean =>
      this.entries.get(item.key)?.write === item.write;
    const passed = this.order
      .slice(this.head, Math.max(this.head, this.evictHead))
      .filter(current).length;
    this.order = this.order.slice(this.head).filter(current);
    this.head = 0;
    this.evictHead = passed;
  }
}
