import { TollgateHttpError } from '../errors.js';
/** The rejections of the rate-limit engine. */
/** 429: one or more named limits are exhausted. `headers` already holds the rate-limit fields. */
export declare const rateLimited: (limits: readonly string[], retryAfterMs: number, headers: Record<string, string>) => TollgateHttpError;
/** 503: a limit whose policy is `reject` could not be checked because the store did not answer. */
export declare const rateLimitStoreUnavailable: (limits: readonly string[]) => TollgateHttpError;
//# sourceMappingURL=problems.d.ts.map