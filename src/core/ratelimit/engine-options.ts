import type { Clock } from '../clock.js';
import type { BlockCacheOption } from './block-cache.js';
import type { RateLimitEvent } from './events.js';

/** How a rate-limit engine is made: its key prefix, its reporting and its local caches. */
export interface RateLimitEngineOptions {
  /** Prefix of every storage key. Default `tollgate`. */
  namespace?: string;
  /**
   * Hears every event: each request's decision, each store call, and store failures. Default:
   * the failures alone, as warnings on the console, at most one every 10 s.
   */
  onEvent?: (event: RateLimitEvent) => void;
  /** Where the default reporter writes its warnings when no `onEvent` is given. Default the console. */
  warn?: (line: string) => void;
  /** Most counters the in-process fallback (`onStoreUnavailable: 'local'`) keeps. Default 10 000. */
  localMaxKeys?: number;
  /** Time source of the in-process fallback; tests pass a fake clock. */
  clock?: Clock;
  /**
   * Refuse a client the store refused, until the moment the store said it would admit it, without
   * asking the store again: `true`, or its bounds (`maxEntries`, default 10 000; `maxBytes`,
   * default 4 MiB). Needs a store that announces resets (RedisStore). Default off.
   */
  blockCache?: BlockCacheOption;
}
