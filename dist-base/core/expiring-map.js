/** Expired entries examined at the front of the write order on every write. */
const SWEEP_ON_WRITE = 4;
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
export class ExpiringMap {
    maxKeys;
    entries = new Map();
    /** Every write, oldest first, from `head` on; an item is stale once its key was written again or deleted. */
    order = [];
    head = 0;
    writes = 0;
    constructor(maxKeys) {
        this.maxKeys = maxKeys;
    }
    get size() {
        return this.entries.size;
    }
    /** The live value under `key`; an expired one is dropped on the spot. */
    get(key, now) {
        const entry = this.entries.get(key);
        if (!entry)
            return undefined;
        if (entry.value.expiresAt <= now) {
            this.entries.delete(key);
            return undefined;
        }
        return entry.value;
    }
    /** Writes `value` as the newest entry, then drops expired entries and evicts past the bound. */
    set(key, value, now) {
        const write = ++this.writes;
        this.entries.set(key, { value, write });
        this.order.push({ key, write });
        for (let examined = 0; examined < SWEEP_ON_WRITE; examined++) {
            const oldest = this.oldest();
            if (!oldest || oldest.value.expiresAt > now)
                break;
            this.dropOldest();
        }
        while (this.entries.size > this.maxKeys && this.oldest())
            this.dropOldest();
        // Stale queue items behind a long-lived entry would otherwise pile up: keep the queue O(size).
        const queued = this.order.length - this.head;
        if (queued > 2 * this.entries.size + 1_024 || (this.head > 1_024 && this.head > queued))
            this.compact();
    }
    delete(key) {
        this.entries.delete(key);
    }
    /** Drops every expired entry. */
    sweep(now) {
        for (const [key, entry] of this.entries) {
            if (entry.value.expiresAt <= now)
                this.entries.delete(key);
        }
        this.compact();
    }
    /** The entry written longest ago that is still current, skipping stale queue items. */
    oldest() {
        while (this.head < this.order.length) {
            const item = this.order[this.head];
            const entry = this.entries.get(item.key);
            if (entry && entry.write === item.write)
                return { key: item.key, value: entry.value };
            this.head++;
        }
        return undefined;
    }
    dropOldest() {
        const item = this.order[this.head++];
        this.entries.delete(item.key);
    }
    compact() {
        this.order = this.order
            .slice(this.head)
            .filter((item) => this.entries.get(item.key)?.write === item.write);
        this.head = 0;
    }
}
//# sourceMappingURL=expiring-map.js.map