import type { Duration } from '../duration.js';
import type { AddressList } from '../addresses.js';
import type { RateLimitAlgorithm, RateLimitRule } from '../store.js';

/** What a limit may do when the store cannot be reached in time: one list for the type and the check. */
export const THROTTLE_STORE_POLICIES = ['allow', 'reject', 'local'] as const;

/** What a limit does when the store cannot be reached in time. */
export type ThrottleStoreUnavailablePolicy = (typeof THROTTLE_STORE_POLICIES)[number];

/** The header modes, one list for the type and the check. */
export const RATE_LIMIT_HEADERS_MODES = ['always', 'when-limited', 'never'] as const;

/** Which rate-limit headers a response carries. `Retry-After` is always sent with a 429. */
export type RateLimitHeadersMode = (typeof RATE_LIMIT_HEADERS_MODES)[number];

/**
 * A value, or a function of the request that returns it (possibly async): a limit per plan, a cost
 * per endpoint size. A function's answer is checked on every request like a fixed value is at
 * start-up; a bad answer is the app's bug and fails the request with a TollgateConfigError.
 */
export type PerRequest<T> = T | ((request: RateLimitRequest) => T | Promise<T>);

/** One named limit: `{ limit: 3, ttl: '1s' }`. */
export interface ThrottleLimit {
  /** Requests (units of `cost`) allowed per `ttl`. A positive whole number, or a function of the request. */
  limit: PerRequest<number>;
  /** The window: milliseconds or `'10s'`, `'1m'`, `'1d'` (or a function of the request). For `token-bucket`, the time an empty bucket takes to refill. */
  ttl: PerRequest<Duration>;
  /** `fixed-window`, `sliding-window` (default: exact at window edges) or `token-bucket` (GCRA). */
  algorithm?: RateLimitAlgorithm;
  /** Units each request takes (or a function of the request). Default 1. */
  cost?: PerRequest<number>;
  /** Once exceeded, reject every request of this client for this long. Default: no block. */
  blockDuration?: Duration | 0;
  /** `allow` (default: pass and report), `reject` (503) or `local` (in-process limiter) while the store is unreachable. */
  onStoreUnavailable?: ThrottleStoreUnavailablePolicy;
}

/**
 * The fields of one limit, for the check that tells a field given at the top level (a limit that
 * was not named) from a limit's name. Complete: a field added to `ThrottleLimit` must be listed.
 */
export const THROTTLE_LIMIT_FIELDS = [
  'limit',
  'ttl',
  'cost',
  'algorithm',
  'blockDuration',
  'onStoreUnavailable',
] as const satisfies ReadonlyArray<keyof ThrottleLimit>;
// Fails to compile when a field of ThrottleLimit is missing from the list above.
type UnlistedLimitField = Exclude<keyof ThrottleLimit, (typeof THROTTLE_LIMIT_FIELDS)[number]>;
const _everyLimitFieldListed: [UnlistedLimitField] extends [never] ? true : never = true;

/** Named limits: `{ burst: { limit: 3, ttl: '1s' }, daily: { limit: 1000, ttl: '1d' } }`. */
export type ThrottleLimits = Record<string, ThrottleLimit>;

/**
 * Limits as a route or controller gives them. A name the module already defines may change only
 * some fields (`{ default: { limit: 10 } }`); a new name needs `limit` and `ttl`.
 */
export type ThrottleRouteLimits = Record<string, Partial<ThrottleLimit>>;

/** A request as the adapters describe it to the rate-limit engine: nothing framework-specific. */
export interface RateLimitRequest {
  method: string;
  /** The route template (`/quotes/:id`), or another stable name of the handler. */
  route: string;
  /**
   * The route names every handler below a mount, whatever the method (a limiter mounted before
   * routing, `app.use('/api', throttle(...))`): the default counter is then one for all methods.
   */
  anyMethod?: boolean;
  /** The authenticated principal (and tenant), serialized; `undefined` for an anonymous request. */
  principal: string | undefined;
  /** The address of the TCP peer, before any proxy header is considered. */
  remoteAddress: string | undefined;
  /** A request header by lower-case name. */
  header(name: string): string | readonly string[] | undefined;
  /** The client address as the framework computed it under its own proxy trust (`req.ip`). */
  frameworkAddress?: () => string | undefined;
  /** The framework's own request object, for custom trackers. */
  raw: unknown;
}

/** Who is counted: return an API key, a tenant id, ...; `undefined` falls back to principal, then address. */
export type ThrottleTracker = (
  request: RateLimitRequest,
) => string | undefined | Promise<string | undefined>;

/** Which counter a request counts against, besides who sent it. */
export type ThrottleKey = (request: RateLimitRequest) => string;

/**
 * The settings a route (`@Throttle(limits, settings)`) may give: what a decorator's settings are
 * checked against. Complete: a field added to `ThrottleSettings` must be listed.
 */
export const THROTTLE_SETTING_FIELDS = [
  'tracker',
  'key',
  'trustProxy',
  'allowList',
  'denyList',
  'ipv6Prefix',
  'ipv4Prefix',
  'headers',
  'legacyHeaders',
  'storeTimeout',
  'skip',
  'ignoreUserAgents',
  'skipSuccessfulRequests',
  'skipFailedRequests',
] as const satisfies ReadonlyArray<keyof ThrottleSettings>;
// Fails to compile when a field of ThrottleSettings is missing from the list above.
type UnlistedSettingField = Exclude<
  keyof ThrottleSettings,
  (typeof THROTTLE_SETTING_FIELDS)[number]
>;
const _everySettingFieldListed: [UnlistedSettingField] extends [never] ? true : never = true;

/** Settings that apply to all limits of a route; module-wide defaults, overridable per route. */
export interface ThrottleSettings {
  /** Who is counted. Default: the authenticated principal, else the client address. */
  tracker?: ThrottleTracker;
  /** Which counter: default one per route (method and route template); return a constant to share one counter across routes. */
  key?: ThrottleKey;
  /**
   * Who may set the client address through `X-Forwarded-For`: the number of proxies in front of
   * the app (not a boolean), or their addresses and CIDR ranges (`['10.0.0.0/8']`), or
   * `'framework'`: the address Express (`app.set('trust proxy', ...)`) or Fastify (`trustProxy`)
   * already computed. Default 0: the socket address.
   */
  trustProxy?: number | readonly string[] | 'framework';
  /** Addresses and CIDR ranges that are never counted nor limited (health checks, your own services). */
  allowList?: readonly string[];
  /** Addresses and CIDR ranges refused with `403 address-denied` before anything is counted. */
  denyList?: readonly string[];
  /** IPv6 clients are counted per prefix of this many bits, since one host usually holds a whole /64. Default 64. */
  ipv6Prefix?: number;
  /** IPv4 clients are counted per prefix of this many bits. Default 32 (one address). */
  ipv4Prefix?: number;
  /** `always` (default): `RateLimit-Policy` and `RateLimit` on every response; `when-limited`: on 429s only; `never`. */
  headers?: RateLimitHeadersMode;
  /** Also send `X-RateLimit-Limit`, `-Remaining` and `-Reset` (epoch seconds) wherever `RateLimit` goes, for old clients. Default false. */
  legacyHeaders?: boolean;
  /** Hard deadline for the store call on the request path. Default `'1s'`. */
  storeTimeout?: Duration;
  /** Requests for which this returns true (or resolves to true) are not counted, nor limited. */
  skip?: (request: RateLimitRequest) => boolean | Promise<boolean>;
  /** Requests whose `User-Agent` matches one of these are not counted, nor limited (crawlers you allow). */
  ignoreUserAgents?: readonly RegExp[];
  /** Give a request's units back once its response is a success (status below 400): count failures only, as a login form does. */
  skipSuccessfulRequests?: boolean;
  /** Give a request's units back once its response is a failure (status 400 or above). A request whose client went away before its answer stays counted. */
  skipFailedRequests?: boolean;
}

/** A validated limit: the rule the store applies, and what to do when the store is down. */
export interface ResolvedLimit extends RateLimitRule {
  onStoreUnavailable: ThrottleStoreUnavailablePolicy;
  /**
   * The fields given as functions of the request, resolved and checked on every request; the
   * rule's own value of such a field is a placeholder then.
   */
  perRequest: PerRequestFields | undefined;
}

/** The fields of a limit that may be functions of the request. */
export interface PerRequestFields {
  limit?: (request: RateLimitRequest) => number | Promise<number>;
  ttl?: (request: RateLimitRequest) => Duration | Promise<Duration>;
  cost?: (request: RateLimitRequest) => number | Promise<number>;
}

/** The validated, defaulted form of a route's limits and settings, built once per route. */
export interface ThrottlePolicy {
  limits: readonly ResolvedLimit[];
  /** The limits as the store takes them, built once rather than per request (unless `dynamic`). */
  rules: readonly RateLimitRule[];
  /** Whether a limit has a field that is a function of the request (see `resolveRules`). */
  dynamic: boolean;
  tracker: ThrottleTracker | undefined;
  key: ThrottleKey;
  trustProxy: number | AddressList | 'framework';
  allowList: AddressList | undefined;
  denyList: AddressList | undefined;
  ipv6Prefix: number;
  ipv4Prefix: number;
  headers: RateLimitHeadersMode;
  legacyHeaders: boolean;
  storeTimeoutMs: number;
  skip: ThrottleSettings['skip'];
  ignoreUserAgents: readonly RegExp[];
  skipSuccessfulRequests: boolean;
  skipFailedRequests: boolean;
  /** The `RateLimit-Policy` header value, computed once. */
  policyHeader: string;
}

/** One layer of configuration: the module, a controller, a handler. Later layers win. */
export interface ThrottleLayer {
  limits?: ThrottleRouteLimits | undefined;
  settings?: ThrottleSettings | undefined;
}

/** Which named limits a route skips: all, or some by name. */
export type ThrottleSkip = (name: string) => boolean;
