import type { TollgateStore } from '../stores/store.js';
/**
 * The store of every middleware created without one: a single in-memory store for the process,
 * created on first use, so routes share it as they would share a Redis.
 */
export declare function defaultStore(): TollgateStore;
//# sourceMappingURL=default-store.d.ts.map