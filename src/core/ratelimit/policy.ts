import { toMilliseconds } from '../duration.js';
import { TollgateConfigError } from '../errors.js';
import type { RateLimitAlgorithm, RateLimitRule } from '../store.js';
import { AddressList } from './addresses.js';
import { policyHeaderValue } from './headers.js';
import type {
  PerRequestFields,
  RateLimitRequest,
  ResolvedLimit,
  ThrottleKey,
  ThrottleLayer,
  ThrottleLimit,
  ThrottlePolicy,
  ThrottleRouteLimits,
  ThrottleSettings,
  ThrottleSkip,
} from './options.js';

/** How a route's rate-limit options become its policy: merged, validated and defaulted once. */

export const DEFAULT_ALGORITHM: RateLimitAlgorithm = 'sliding-window';

const ALGORITHMS: ReadonlySet<string> = new Set(['fixed-window', 'sliding-window', 'token-bucket']);
const STORE_POLICIES: ReadonlySet<string> = new Set(['allow', 'reject', 'local']);
const HEADER_MODES: ReadonlySet<string> = new Set(['always', 'when-limited', 'never']);

/** Limit names become part of storage keys and of a structured header: keep them plain. */
const LIMIT_NAME = /^[A-Za-z0-9_.-]{1,64}$/;

/**
 * The default counter: one per route, so a client's traffic on one route does not use up another's.
 * HEAD counts as GET: both Express and Fastify answer it with the GET route's handler, so a separate
 * counter would let a client run that handler twice the limit.
 */
export const routeKey: ThrottleKey = (request) => {
  const method = request.method.toUpperCase();
  return `${method === 'HEAD' ? 'GET' : method} ${request.route}`;
};

/**
 * Merges the layers (module defaults, controller, handler) by limit name and validates the result,
 * so a misconfiguration names the option and the fix instead of surfacing on a request.
 */
export function resolveThrottlePolicy(
  layers: ReadonlyArray<ThrottleLayer | undefined>,
  skip: ThrottleSkip = () => false,
): ThrottlePolicy {
  const merged = new Map<string, Partial<ThrottleLimit>>();
  let settings: ThrottleSettings = {};
  for (const layer of layers) {
    if (!layer) continue;
    if (layer.limits !== undefined) {
      if (
        typeof layer.limits !== 'object' ||
        layer.limits === null ||
        Array.isArray(layer.limits)
      ) {
        throw new TollgateConfigError(
          'TOLLGATE_INVALID_LIMITS',
          'limits must be an object of named limits, e.g. { burst: { limit: 3, ttl: "1s" } }',
        );
      }
      for (const [name, limit] of Object.entries(layer.limits)) {
        checkLimitEntry(name, limit);
        merged.set(name, { ...merged.get(name), ...limit });
      }
    }
    if (layer.settings) settings = { ...settings, ...withoutUndefined(layer.settings) };
  }
  const limits: ResolvedLimit[] = [];
  for (const [name, limit] of merged) {
    if (!skip(name)) limits.push(resolveLimit(name, limit));
  }
  return {
    limits,
    rules: limits.map(toRule),
    dynamic: limits.some((limit) => limit.perRequest !== undefined),
    ...resolveSettings(settings),
    policyHeader: policyHeaderValue(limits),
  };
}

/** A limit as the store takes it: everything but the adapter's failure policy. */
export function toRule(limit: ResolvedLimit): RateLimitRule {
  return {
    name: limit.name,
    limit: limit.limit,
    windowMs: limit.windowMs,
    algorithm: limit.algorithm,
    cost: limit.cost,
    blockMs: limit.blockMs,
  };
}

/** Validates the module-wide defaults once at start-up. */
export function validateThrottleDefaults(
  defaults: (ThrottleSettings & { limits?: ThrottleRouteLimits }) | undefined,
): void {
  if (!defaults) return;
  resolveThrottlePolicy([{ limits: defaults.limits, settings: defaults }]);
}

/**
 * Checks the fields a decorator gives, on their own: a partial limit may rely on the module's
 * defaults for the rest, which are checked when the route's policy is built.
 */
export function validateThrottleLayer(layer: ThrottleLayer): void {
  resolveSettings(layer.settings ?? {});
  if (layer.limits === undefined) return;
  if (typeof layer.limits !== 'object' || layer.limits === null || Array.isArray(layer.limits)) {
    throw new TollgateConfigError(
      'TOLLGATE_INVALID_LIMITS',
      'limits must be an object of named limits, e.g. { burst: { limit: 3, ttl: "1s" } }',
    );
  }
  for (const [name, limit] of Object.entries(layer.limits)) {
    checkLimitEntry(name, limit);
    // Fill what is missing with harmless values, so only the fields given are judged.
    const limitValue = limit.limit ?? Math.max(1, typeof limit.cost === 'number' ? limit.cost : 1);
    resolveLimit(name, { ttl: 1_000, ...limit, limit: limitValue });
  }
}

/** The fields of one limit: given at the top level, they mean the limit was not named. */
const LIMIT_FIELDS: ReadonlySet<string> = new Set([
  'limit',
  'ttl',
  'cost',
  'algorithm',
  'blockDuration',
  'onStoreUnavailable',
]);

/** One entry of `limits`: a plain name and an object, so a mistake is named before it is read. */
function checkLimitEntry(name: string, limit: unknown): void {
  if (typeof limit === 'object' && limit !== null && !Array.isArray(limit)) {
    checkName(name);
    return;
  }
  throw new TollgateConfigError(
    'TOLLGATE_INVALID_LIMITS',
    LIMIT_FIELDS.has(name)
      ? `limits are named: write { default: { limit: 5, ttl: '10s' } }, not { limit: 5, ttl: '10s' } ("${name}" is a field of a limit, not a limit's name)`
      : `limit "${name}" must be an object such as { limit: 5, ttl: '10s' }`,
  );
}

function resolveLimit(name: string, limit: Partial<ThrottleLimit>): ResolvedLimit {
  checkName(name);
  if (typeof limit !== 'object' || limit === null) {
    throw new TollgateConfigError(
      'TOLLGATE_INVALID_LIMITS',
      `limit "${name}" must be an object such as { limit: 5, ttl: '10s' }`,
    );
  }
  if (limit.limit === undefined || limit.ttl === undefined) {
    throw new TollgateConfigError(
      'TOLLGATE_INCOMPLETE_LIMIT',
      `limit "${name}" needs both "limit" and "ttl" (e.g. { limit: 5, ttl: '10s' }); only a limit the module already defines may give some fields`,
    );
  }
  const algorithm = limit.algorithm ?? DEFAULT_ALGORITHM;
  if (!ALGORITHMS.has(algorithm)) {
    throw new TollgateConfigError(
      'TOLLGATE_INVALID_ALGORITHM',
      `limit "${name}" has algorithm "${String(algorithm)}": use 'fixed-window', 'sliding-window' or 'token-bucket'`,
    );
  }
  const onStoreUnavailable = limit.onStoreUnavailable ?? 'allow';
  if (!STORE_POLICIES.has(onStoreUnavailable)) {
    throw new TollgateConfigError(
      'TOLLGATE_INVALID_STORE_POLICY',
      `limit "${name}" has onStoreUnavailable "${String(onStoreUnavailable)}": use 'allow', 'reject' or 'local'`,
    );
  }
  const perRequest: PerRequestFields = {};
  if (typeof limit.limit === 'function') perRequest.limit = limit.limit;
  if (typeof limit.ttl === 'function') perRequest.ttl = limit.ttl;
  if (typeof limit.cost === 'function') perRequest.cost = limit.cost;
  const dynamic = Object.keys(perRequest).length > 0;
  // A field given as a function is checked on every request instead; the others are checked now.
  const limitValue =
    typeof limit.limit === 'function' ? 1 : checkLimitValue(name, limit.limit, 'has');
  const cost = typeof limit.cost === 'function' ? 1 : (limit.cost ?? 1);
  if (typeof limit.limit !== 'function' && typeof limit.cost !== 'function') {
    checkCost(name, cost, limitValue, 'has');
  } else if (typeof limit.cost !== 'function') {
    checkCost(name, cost, Number.MAX_SAFE_INTEGER, 'has');
  }
  return {
    name,
    limit: limitValue,
    windowMs:
      typeof limit.ttl === 'function' ? 1 : toMilliseconds(limit.ttl, `ttl of limit "${name}"`),
    algorithm,
    cost,
    blockMs:
      limit.blockDuration === undefined || limit.blockDuration === 0
        ? 0
        : toMilliseconds(limit.blockDuration, `blockDuration of limit "${name}"`),
    onStoreUnavailable,
    perRequest: dynamic ? perRequest : undefined,
  };
}

function checkLimitValue(name: string, value: unknown, verb: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1) {
    throw new TollgateConfigError(
      'TOLLGATE_INVALID_LIMIT',
      `limit "${name}" ${verb} limit ${String(value)}: use a whole number of at least 1`,
    );
  }
  return value;
}

function checkCost(name: string, cost: unknown, limit: number, verb: string): number {
  if (typeof cost !== 'number' || !Number.isSafeInteger(cost) || cost < 1 || cost > limit) {
    throw new TollgateConfigError(
      'TOLLGATE_INVALID_COST',
      `limit "${name}" ${verb} cost ${String(cost)}: use a whole number from 1 to its limit (${limit}), or the request could never pass`,
    );
  }
  return cost;
}

/**
 * The rules for this request: the policy's own when no limit depends on the request, else each
 * dynamic field asked of its function and checked as a fixed one is at start-up. A bad answer
 * names the limit and the field: it is the app's bug, so the request fails rather than passing
 * unchecked or being counted against a made-up limit.
 */
export function resolveRules(
  request: RateLimitRequest,
  policy: Pick<ThrottlePolicy, 'limits' | 'rules' | 'dynamic'>,
): readonly RateLimitRule[] | Promise<readonly RateLimitRule[]> {
  if (!policy.dynamic) return policy.rules;
  return Promise.all(policy.limits.map((limit) => resolveRule(request, limit)));
}

async function resolveRule(
  request: RateLimitRequest,
  limit: ResolvedLimit,
): Promise<RateLimitRule> {
  const rule = toRule(limit);
  const fields = limit.perRequest;
  if (!fields) return rule;
  const verb = 'got from its function';
  const [limitValue, ttl, cost] = await Promise.all([
    fields.limit?.(request),
    fields.ttl?.(request),
    fields.cost?.(request),
  ]);
  if (fields.limit) rule.limit = checkLimitValue(limit.name, limitValue, verb);
  if (fields.ttl) {
    if (typeof ttl !== 'number' && typeof ttl !== 'string') {
      throw new TollgateConfigError(
        'TOLLGATE_INVALID_DURATION',
        `ttl of limit "${limit.name}" got ${String(ttl)} from its function: return milliseconds or a string such as '10s'`,
      );
    }
    rule.windowMs = toMilliseconds(ttl, `ttl of limit "${limit.name}" (from its function)`);
  }
  rule.cost = checkCost(
    limit.name,
    fields.cost ? cost : rule.cost,
    rule.limit,
    fields.cost ? verb : 'has',
  );
  return rule;
}

function checkName(name: string): void {
  if (!LIMIT_NAME.test(name)) {
    throw new TollgateConfigError(
      'TOLLGATE_INVALID_LIMIT_NAME',
      `limit name "${name}" may only use letters, digits, '_', '.' and '-' (1 to 64 characters)`,
    );
  }
}

function resolveSettings(
  settings: ThrottleSettings,
): Omit<ThrottlePolicy, 'limits' | 'rules' | 'dynamic' | 'policyHeader'> {
  const trustProxy = resolveTrustProxy(settings.trustProxy ?? 0);
  const ipv6Prefix = settings.ipv6Prefix ?? 64;
  if (!Number.isInteger(ipv6Prefix) || ipv6Prefix < 1 || ipv6Prefix > 128) {
    throw new TollgateConfigError(
      'TOLLGATE_INVALID_IP_PREFIX',
      `ipv6Prefix is ${String(ipv6Prefix)}: use a prefix length from 1 to 128 (64 counts one typical host)`,
    );
  }
  const ipv4Prefix = settings.ipv4Prefix ?? 32;
  if (!Number.isInteger(ipv4Prefix) || ipv4Prefix < 1 || ipv4Prefix > 32) {
    throw new TollgateConfigError(
      'TOLLGATE_INVALID_IP_PREFIX',
      `ipv4Prefix is ${String(ipv4Prefix)}: use a prefix length from 1 to 32 (32 counts one address)`,
    );
  }
  const headers = settings.headers ?? 'always';
  if (!HEADER_MODES.has(headers)) {
    throw new TollgateConfigError(
      'TOLLGATE_INVALID_HEADERS_MODE',
      `headers is "${String(headers)}": use 'always', 'when-limited' or 'never'`,
    );
  }
  for (const [option, value] of [
    ['tracker', settings.tracker],
    ['key', settings.key],
    ['skip', settings.skip],
  ] as const) {
    if (value !== undefined && typeof value !== 'function') {
      throw new TollgateConfigError(
        'TOLLGATE_INVALID_THROTTLE_FUNCTION',
        `${option} must be a function of the request, got ${typeof value}`,
      );
    }
  }
  const ignoreUserAgents = settings.ignoreUserAgents ?? [];
  if (
    !Array.isArray(ignoreUserAgents) ||
    !ignoreUserAgents.every((pattern: unknown) => pattern instanceof RegExp)
  ) {
    throw new TollgateConfigError(
      'TOLLGATE_INVALID_IGNORE_USER_AGENTS',
      'ignoreUserAgents must be an array of regular expressions, e.g. [/googlebot/i]',
    );
  }
  for (const [option, value] of [
    ['skipSuccessfulRequests', settings.skipSuccessfulRequests],
    ['skipFailedRequests', settings.skipFailedRequests],
    ['legacyHeaders', settings.legacyHeaders],
  ] as const) {
    if (value !== undefined && typeof value !== 'boolean') {
      throw new TollgateConfigError(
        'TOLLGATE_INVALID_BOOLEAN_OPTION',
        `${option} is ${String(value)}: use true or false`,
      );
    }
  }
  return {
    tracker: settings.tracker,
    key: settings.key ?? routeKey,
    allowList:
      settings.allowList === undefined
        ? undefined
        : new AddressList(settings.allowList, 'allowList'),
    denyList:
      settings.denyList === undefined ? undefined : new AddressList(settings.denyList, 'denyList'),
    skip: settings.skip,
    ignoreUserAgents,
    skipSuccessfulRequests: settings.skipSuccessfulRequests ?? false,
    skipFailedRequests: settings.skipFailedRequests ?? false,
    trustProxy,
    ipv6Prefix,
    ipv4Prefix,
    headers,
    legacyHeaders: settings.legacyHeaders ?? false,
    storeTimeoutMs: toMilliseconds(settings.storeTimeout ?? '1s', 'storeTimeout'),
  };
}

function resolveTrustProxy(
  trustProxy: NonNullable<ThrottleSettings['trustProxy']>,
): ThrottlePolicy['trustProxy'] {
  if (trustProxy === 'framework') return trustProxy;
  if (Array.isArray(trustProxy)) return new AddressList(trustProxy, 'trustProxy');
  if (typeof trustProxy !== 'number' || !Number.isSafeInteger(trustProxy) || trustProxy < 0) {
    throw new TollgateConfigError(
      'TOLLGATE_INVALID_TRUST_PROXY',
      `trustProxy is ${String(trustProxy)}: give the number of proxies in front of the app (0 when clients connect directly), not a boolean; or their addresses (['10.0.0.0/8']); or 'framework' to use the address Express or Fastify computed`,
    );
  }
  return trustProxy;
}

/** An explicit `undefined` in a later layer must not erase an earlier layer's setting. */
function withoutUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(
    Object.entries(value).filter(([, entry]) => entry !== undefined),
  ) as Partial<T>;
}
