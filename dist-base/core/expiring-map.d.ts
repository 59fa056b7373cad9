/** A value that knows when it expires (milliseconds since the epoch, as the owner's clock reads). */
export interface Expiring {
    expiresAt: number;
}
/**
 * A map bounded to `maxKeys` entries whose values expire, for the in-memory stores.
 *
 * Past the bound it evicts the entry written longest ago. Expired entries are dropped lazily (on
 * read, and a few per write from the front of the write order) and by `sweep()`: never one timer
 * per key. The write order is a queue beside the map, not the map's own order, so eviction and
 * the sweep on write cost O(1) amortised however many entries were deleted before them (walking
 * a `Map` from its start skips every deleted slot V8 has not compacted yet, which made a full
 * store quadratic).
 */
export declare class ExpiringMap<V extends Expiring> {
    private readonly maxKeys;
    private readonly entries;
    /** Every write, oldest first, from `head` on; an item is stale once its key was written again or deleted. */
    private order;
    private head;
    private writes;
    constructor(maxKeys: number);
    get size(): number;
    /** The live value under `key`; an expired one is dropped on the spot. */
    get(key: string, now: number): V | undefined;
    /** Writes `value` as the newest entry, then drops expired entries and evicts past the bound. */
    set(key: string, value: V, now: number): void;
    delete(key: string): void;
    /** Drops every expired entry. */
    sweep(now: number): void;
    /** The entry written longest ago that is still current, skipping stale queue items. */
    private oldest;
    private dropOldest;
    private compact;
}
//# sourceMappingURL=expiring-map.d.ts.map