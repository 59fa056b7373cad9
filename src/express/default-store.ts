import { MemoryStore } from '../stores/memory/memory-store.js';
import type { TollgateStore } from '../core/store.js';

let shared: MemoryStore | undefined;

/**
 * The store of every middleware created without one: a single in-memory store for the process,
 * created on first use, so routes share it as they would share a Redis.
 */
export function defaultStore(): TollgateStore {
  return (shared ??= new MemoryStore());
}
