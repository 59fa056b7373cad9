import { MemoryStore } from '../stores/memory/memory-store.js';
let shared;
/**
 * The store of every middleware created without one: a single in-memory store for the process,
 * created on first use, so routes share it as they would share a Redis.
 */
export function defaultStore() {
    return (shared ??= new MemoryStore());
}
//# sourceMappingURL=default-store.js.map