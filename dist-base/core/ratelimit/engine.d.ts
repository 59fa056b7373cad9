import type { Clock } from '../clock.js';
import { TollgateConfigError, type TollgateHttpError } from '../errors.js';
import type { RateLimitResult, RateLimitStore } from '../../stores/store.js';
import { type RateLimitRequest, type RateLimitStoreFailurePolicy, type ThrottlePolicy } from './options.js';
export type RateLimitDecision = 
/** Run the handler; set `headers` on the response (empty when the route sends none). */
{
    action: 'allow';
    headers: Record<string, string>;
    result: RateLimitResult | undefined;
}
/** Do not run the handler: answer with this problem (429, or 503 when the store is down and a limit says `reject`). */
 | {
    action: 'reject';
    error: TollgateHttpError;
    result: RateLimitResult | undefined;
};
/** What the engine reports besides its decisions, for logs and metrics. */
export type RateLimitEvent = {
    type: 'store-unavailable';
    /** What the request got: passed unchecked, 503, or the in-process limiter's decision. */
    outcome: 'allowed' | 'rejected' | 'local';
    /** Each limit of the route and its store-failure policy. */
    limits: Record<string, RateLimitStoreFailurePolicy>;
    error: Error;
};
export interface RateLimitEngineOptions {
    /** Prefix of every storage key. Default `tollgate`. */
    namespace?: string;
    /** Called for events worth logging. Default: warnings on the console. */
    onEvent?: (event: RateLimitEvent) => void;
    /** Most counters the in-process fallback (`onStoreUnavailable: 'local'`) keeps. Default 10 000. */
    localMaxKeys?: number;
    /** Time source of the in-process fallback; tests pass a fake clock. */
    clock?: Clock;
}
/**
 * Decides whether a request may run: one atomic store call checks and charges every named limit of
 * the route, all or none. It holds no framework knowledge: adapters describe the request and send
 * the headers and rejections it returns.
 */
export declare class RateLimitEngine {
    private readonly store;
    private readonly namespace;
    private readonly onEvent;
    private readonly local;
    constructor(store: Partial<RateLimitStore>, options?: RateLimitEngineOptions);
    /** Whether the store can rate limit at all; the adapters check this at start-up. */
    get storeSupportsRateLimiting(): boolean;
    /**
     * Decides for this request. Store failures become the limits' policies; only a broken custom
     * tracker or key function (a bug in the app) rejects the promise.
     */
    check(request: RateLimitRequest, policy: ThrottlePolicy): Promise<RateLimitDecision>;
    /**
     * Each limit follows its own policy: `reject` refuses the request (503), `local` counts it in
     * this process, `allow` lets it pass unchecked. Nothing is charged in the store.
     */
    private whileStoreUnavailable;
    private decide;
}
export declare function storeCannotRateLimit(): TollgateConfigError;
/** One line for an event, for whichever logger the adapter uses. */
export declare function describeRateLimitEvent(event: RateLimitEvent): string;
//# sourceMappingURL=engine.d.ts.map