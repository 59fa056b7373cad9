import { toMilliseconds } from '../duration.js';
import { TollgateConfigError } from '../errors.js';
export const DEFAULT_REPLAY_HEADERS = [
    'content-type',
    'content-language',
    'location',
    'etag',
    'last-modified',
    'cache-control',
];
/** Never replayed, even if a route lists them: they belong to one client or one moment. */
export const NEVER_REPLAYED_HEADERS = new Set([
    'set-cookie',
    'authorization',
    'www-authenticate',
    'proxy-authenticate',
    'proxy-authorization',
    'ratelimit',
    'ratelimit-policy',
    'ratelimit-limit',
    'ratelimit-remaining',
    'ratelimit-reset',
    'x-ratelimit-limit',
    'x-ratelimit-remaining',
    'x-ratelimit-reset',
    'retry-after',
    'idempotent-replayed',
    'content-length',
    'transfer-encoding',
    'connection',
    'date',
]);
/**
 * The methods protected where no route asked for protection (a global interceptor, app-wide
 * middleware): the unsafe ones, as Stripe protects them. Safe methods change nothing
 * (RFC 9110, section 9.2.1).
 */
export const UNSAFE_METHODS = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);
/** Statuses that say "try again" rather than "here is the result": never stored. */
const RETRYABLE_CLIENT_ERRORS = new Set([408, 409, 425, 429]);
/**
 * 2xx, 3xx and 4xx results are stored and replayed, except 408, 409, 425 and 429; 5xx results
 * release the key so a retry runs again.
 */
export function defaultOutcome(status) {
    if (status >= 500 || RETRYABLE_CLIENT_ERRORS.has(status))
        return 'release';
    return 'store';
}
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
/**
 * Merges route options over module defaults and validates them, once, at start-up. Errors name the
 * option and the fix, so a misconfiguration never waits for the first request to surface.
 */
export function resolveIdempotencyPolicy(route, defaults, context) {
    const o = { ...defaults, ...route };
    const strategy = o.strategy ?? 'key';
    if (strategy !== 'key' && strategy !== 'fingerprint' && strategy !== 'lock') {
        throw new TollgateConfigError('TOLLGATE_INVALID_STRATEGY', `strategy is "${String(strategy)}": use 'key', 'fingerprint' or 'lock'`);
    }
    const headerName = o.headerName ?? 'Idempotency-Key';
    if (!HEADER_NAME.test(headerName)) {
        throw new TollgateConfigError('TOLLGATE_INVALID_HEADER_NAME', `headerName "${headerName}" is not a valid HTTP header name`);
    }
    const maxResponseBytes = o.maxResponseBytes ?? 1024 * 1024;
    if (!Number.isInteger(maxResponseBytes) || maxResponseBytes < 0) {
        throw new TollgateConfigError('TOLLGATE_INVALID_MAX_RESPONSE_BYTES', `maxResponseBytes must be a whole number of bytes, got ${String(maxResponseBytes)}`);
    }
    const onStoreUnavailable = o.onStoreUnavailable ?? 'reject';
    if (onStoreUnavailable !== 'reject' && onStoreUnavailable !== 'allow') {
        throw new TollgateConfigError('TOLLGATE_INVALID_STORE_POLICY', `onStoreUnavailable is "${String(onStoreUnavailable)}": use 'reject' or 'allow'`);
    }
    const lockKey = o.lockKey ?? 'auto';
    if (lockKey !== 'auto' && lockKey !== 'header' && lockKey !== 'fingerprint') {
        throw new TollgateConfigError('TOLLGATE_INVALID_LOCK_KEY', `lockKey is "${String(lockKey)}": use 'auto', 'header' or 'fingerprint'`);
    }
    const replayHeaders = new Set(DEFAULT_REPLAY_HEADERS);
    for (const name of o.replayHeaders ?? []) {
        const lower = name.toLowerCase();
        if (NEVER_REPLAYED_HEADERS.has(lower)) {
            throw new TollgateConfigError('TOLLGATE_UNSAFE_REPLAY_HEADER', `replayHeaders lists "${name}", which is never replayed: it belongs to one client or one moment. Remove it.`);
        }
        replayHeaders.add(lower);
    }
    return {
        strategy,
        required: o.required ?? context.decorated,
        headerName,
        retentionMs: toMilliseconds(o.retention ?? '24h', 'retention'),
        windowMs: toMilliseconds(o.window ?? '5s', 'window'),
        leaseMs: toMilliseconds(o.lease ?? '30s', 'lease'),
        lockKey,
        waitForInFlightMs: o.waitForInFlight ? toMilliseconds(o.waitForInFlight, 'waitForInFlight') : 0,
        maxResponseBytes,
        replayHeaders,
        fingerprintHeaders: (o.fingerprintHeaders ?? []).map((name) => name.toLowerCase()),
        fingerprintQuery: [...(o.fingerprintQuery ?? [])],
        onStoreUnavailable,
        storeTimeoutMs: toMilliseconds(o.storeTimeout ?? '1s', 'storeTimeout'),
        outcome: o.outcome ?? defaultOutcome,
    };
}
//# sourceMappingURL=options.js.map