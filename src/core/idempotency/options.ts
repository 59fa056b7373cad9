import { toMilliseconds, type Duration } from '../duration.js';
import { TollgateConfigError } from '../errors.js';

export type IdempotencyStrategy = 'key' | 'fingerprint' | 'lock';

/** What a request does when the store cannot be reached in time. */
export type IdempotencyStoreUnavailablePolicy = 'reject' | 'allow';

/** What happens to the key once the handler finished with this status. */
export type IdempotencyOutcome = 'store' | 'release';

/** Options of `@Idempotent()` / `idempotent()`, also accepted as module-wide defaults. */
export interface IdempotencyOptions {
  /** `key` (client's Idempotency-Key, default), `fingerprint` (hash of the request) or `lock` (409 until expiry). */
  strategy?: IdempotencyStrategy;
  /** A `key` route answers 400 without the header. Default: true on decorated routes, false for global protection. */
  required?: boolean;
  /** The header the client sends its key in. Default `Idempotency-Key`. */
  headerName?: string;
  /** How long a `key` result is kept and replayed. Default `'24h'`. */
  retention?: Duration;
  /** How long a `fingerprint` result is replayed, or a `lock` holds. Default `'5s'`. */
  window?: Duration;
  /** The in-progress lease: how long a crashed request blocks retries at most. Renewed while the handler runs. Default `'30s'`. */
  lease?: Duration;
  /** Where `lock` takes its key from: the header when sent (`auto`, default), always the `header`, or always the `fingerprint`. */
  lockKey?: 'auto' | 'header' | 'fingerprint';
  /** Instead of a 409, a duplicate of a running request waits up to this long and replays its result. Default off. */
  waitForInFlight?: Duration | false;
  /** Responses larger than this pass through but are not stored; duplicates then get a 409. Default 1 MiB. */
  maxResponseBytes?: number;
  /** Response headers replayed besides the default allow-list (Content-Type, Location, ETag, ...). */
  replayHeaders?: readonly string[];
  /** Request headers that are part of the request's identity (its fingerprint). Default none. */
  fingerprintHeaders?: readonly string[];
  /** Query fields that are part of the request's identity (its fingerprint). Default none. */
  fingerprintQuery?: readonly string[];
  /** `reject` (503 with Retry-After, default) or `allow` (run unprotected and report it). */
  onStoreUnavailable?: IdempotencyStoreUnavailablePolicy;
  /** Hard deadline for each store call on the request path. Default `'1s'`. */
  storeTimeout?: Duration;
  /** Decides per status whether a result is kept for replay or the key released. Default: see `defaultOutcome`. */
  outcome?: (status: number) => IdempotencyOutcome;
  /**
   * What an anonymous request on a `fingerprint` or `lock` route is scoped by: its client's
   * `address` (default), so two anonymous clients sending the same body are two requests, or
   * `shared`, one scope for every anonymous client. `key` routes scope anonymous requests by the
   * key alone, as a client's address may change between its retries.
   */
  anonymousScope?: 'address' | 'shared';
  /** Proxies in front of the app, for the client address of `anonymousScope: 'address'`. Default 0. */
  trustProxy?: number;
}

/** The validated, defaulted form of `IdempotencyOptions`, built once per route at start-up. */
export interface IdempotencyPolicy {
  strategy: IdempotencyStrategy;
  required: boolean;
  headerName: string;
  retentionMs: number;
  windowMs: number;
  leaseMs: number;
  lockKey: 'auto' | 'header' | 'fingerprint';
  waitForInFlightMs: number;
  maxResponseBytes: number;
  /** Lower-case names of the headers a replay carries. */
  replayHeaders: ReadonlySet<string>;
  fingerprintHeaders: readonly string[];
  fingerprintQuery: readonly string[];
  onStoreUnavailable: IdempotencyStoreUnavailablePolicy;
  storeTimeoutMs: number;
  outcome: (status: number) => IdempotencyOutcome;
  anonymousScope: 'address' | 'shared';
  trustProxy: number;
}

export const DEFAULT_REPLAY_HEADERS = [
  'content-type',
  'content-language',
  'location',
  'etag',
  'last-modified',
  'cache-control',
] as const;

/** Never replayed, even if a route lists them: they belong to one client or one moment. */
export const NEVER_REPLAYED_HEADERS: ReadonlySet<string> = new Set([
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
export const UNSAFE_METHODS: ReadonlySet<string> = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/** Statuses that say "try again" rather than "here is the result": never stored. */
const RETRYABLE_CLIENT_ERRORS: ReadonlySet<number> = new Set([408, 409, 425, 429]);

/**
 * 2xx, 3xx and 4xx results are stored and replayed, except 408, 409, 425 and 429; 5xx results
 * release the key so a retry runs again.
 */
export function defaultOutcome(status: number): IdempotencyOutcome {
  if (status >= 500 || RETRYABLE_CLIENT_ERRORS.has(status)) return 'release';
  return 'store';
}

const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/**
 * Merges route options over module defaults and validates them, once, at start-up. Errors name the
 * option and the fix, so a misconfiguration never waits for the first request to surface.
 */
export function resolveIdempotencyPolicy(
  route: IdempotencyOptions | undefined,
  defaults: IdempotencyOptions | undefined,
  context: { decorated: boolean },
): IdempotencyPolicy {
  const o: IdempotencyOptions = { ...defaults, ...route };
  const strategy = o.strategy ?? 'key';
  if (strategy !== 'key' && strategy !== 'fingerprint' && strategy !== 'lock') {
    throw new TollgateConfigError(
      'TOLLGATE_INVALID_STRATEGY',
      `strategy is "${String(strategy)}": use 'key', 'fingerprint' or 'lock'`,
    );
  }
  const headerName = o.headerName ?? 'Idempotency-Key';
  if (!HEADER_NAME.test(headerName)) {
    throw new TollgateConfigError(
      'TOLLGATE_INVALID_HEADER_NAME',
      `headerName "${headerName}" is not a valid HTTP header name`,
    );
  }
  const maxResponseBytes = o.maxResponseBytes ?? 1024 * 1024;
  if (!Number.isInteger(maxResponseBytes) || maxResponseBytes < 0) {
    throw new TollgateConfigError(
      'TOLLGATE_INVALID_MAX_RESPONSE_BYTES',
      `maxResponseBytes must be a whole number of bytes, got ${String(maxResponseBytes)}`,
    );
  }
  const onStoreUnavailable = o.onStoreUnavailable ?? 'reject';
  if (onStoreUnavailable !== 'reject' && onStoreUnavailable !== 'allow') {
    throw new TollgateConfigError(
      'TOLLGATE_INVALID_STORE_POLICY',
      `onStoreUnavailable is "${String(onStoreUnavailable)}": use 'reject' or 'allow'`,
    );
  }
  const lockKey = o.lockKey ?? 'auto';
  if (lockKey !== 'auto' && lockKey !== 'header' && lockKey !== 'fingerprint') {
    throw new TollgateConfigError(
      'TOLLGATE_INVALID_LOCK_KEY',
      `lockKey is "${String(lockKey)}": use 'auto', 'header' or 'fingerprint'`,
    );
  }
  const anonymousScope = o.anonymousScope ?? 'address';
  if (anonymousScope !== 'address' && anonymousScope !== 'shared') {
    throw new TollgateConfigError(
      'TOLLGATE_INVALID_ANONYMOUS_SCOPE',
      `anonymousScope is "${String(anonymousScope)}": use 'address' or 'shared'`,
    );
  }
  const trustProxy = o.trustProxy ?? 0;
  if (!Number.isSafeInteger(trustProxy) || trustProxy < 0) {
    throw new TollgateConfigError(
      'TOLLGATE_INVALID_TRUST_PROXY',
      `trustProxy is ${String(trustProxy)}: give the number of proxies in front of the app (0 when clients connect directly)`,
    );
  }
  if (o.required !== undefined && typeof o.required !== 'boolean') {
    throw invalidOption('required', o.required, 'true or false');
  }
  for (const list of ['replayHeaders', 'fingerprintHeaders', 'fingerprintQuery'] as const) {
    const value = o[list];
    if (
      value !== undefined &&
      !(Array.isArray(value) && value.every((v) => typeof v === 'string'))
    ) {
      throw invalidOption(list, value, "an array of names, such as ['x-tenant']");
    }
  }
  if (o.outcome !== undefined && typeof o.outcome !== 'function') {
    throw invalidOption(
      'outcome',
      o.outcome,
      "a function of the status that returns 'store' or 'release'",
    );
  }
  const replayHeaders = new Set<string>(DEFAULT_REPLAY_HEADERS);
  for (const name of o.replayHeaders ?? []) {
    const lower = name.toLowerCase();
    if (NEVER_REPLAYED_HEADERS.has(lower)) {
      throw new TollgateConfigError(
        'TOLLGATE_UNSAFE_REPLAY_HEADER',
        `replayHeaders lists "${name}", which is never replayed: it belongs to one client or one moment. Remove it.`,
      );
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
    anonymousScope,
    trustProxy,
  };
}

function invalidOption(name: string, value: unknown, expected: string): TollgateConfigError {
  const shown =
    typeof value === 'function' ? 'a function' : (JSON.stringify(value) ?? String(value));
  return new TollgateConfigError(
    'TOLLGATE_INVALID_OPTION',
    `${name} is ${shown}: it must be ${expected}`,
  );
}
