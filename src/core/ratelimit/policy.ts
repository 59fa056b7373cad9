import { toMilliseconds } from '../duration.js';
import { TollgateConfigError } from '../errors.js';
import { RATE_LIMIT_ALGORITHMS, type RateLimitAlgorithm, type RateLimitRule } from '../store.js';
import { policyHeaderValue } from './headers.js';
import {
  THROTTLE_LIMIT_FIELDS,
  THROTTLE_STORE_POLICIES,
  type PerRequestFields,
  type RateLimitRequest,
  type ResolvedLimit,
  type ThrottleLayer,
  type ThrottleLimit,
  type ThrottlePolicy,
  type ThrottleRouteLimits,
  type ThrottleSettings,
  type ThrottleSkip,
} from './options.js';
import {
  checkLimitFieldNames,
  checkSettingNames,
  validateThrottleOptions,
  type ThrottleOptionsSource,
} from './option-names.js';
import { oneOf, resolveSettings } from './settings.js';

/** How a route's rate-limit options become its policy: merged, validated and defaulted once. */

export { routeKey } from './settings.js';

export const DEFAULT_ALGORITHM: RateLimitAlgorithm = 'sliding-window';

const ALGORITHMS: ReadonlySet<string> = new Set(RATE_LIMIT_ALGORITHMS);
const STORE_POLICIES: ReadonlySet<string> = new Set(THROTTLE_STORE_POLICIES);
const LIMIT_FIELDS: ReadonlySet<string> = new Set(THROTTLE_LIMIT_FIELDS);

/** Limit names become part of storage keys and of a structured header: keep them plain. */
const LIMIT_NAME = /^[A-Za-z0-9_.-]{1,64}$/;

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
    for (const [name, limit] of limitEntries(layer.limits)) {
      // As for settings: a field given as `undefined` keeps an earlier layer's value.
      merged.set(name, { ...merged.get(name), ...withoutUndefined(limit) });
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

/**
 * The module-wide defaults, once at start-up: their names (`validateThrottleOptions`), then the
 * policy they make, which is returned.
 */
export function validateThrottleDefaults(
  defaults: (ThrottleSettings & { limits?: ThrottleRouteLimits }) | undefined,
  source: ThrottleOptionsSource,
): ThrottlePolicy | undefined {
  if (defaults === undefined) return undefined;
  validateThrottleOptions(defaults, source);
  return resolveThrottlePolicy([{ limits: defaults.limits, settings: defaults }]);
}

/**
 * Checks the fields a decorator gives, on their own: a partial limit may rely on the module's
 * defaults for the rest, which are checked when the route's policy is built.
 */
export function validateThrottleLayer(layer: ThrottleLayer): void {
  checkSettingNames(layer.settings ?? {});
  resolveSettings(layer.settings ?? {});
  for (const [name, limit] of limitEntries(layer.limits)) checkLimitFields(name, limit);
}

/**
 * The entries of a layer's `limits`: an object of named limits, each a plain name and an object,
 * so a mistake is named before anything is read.
 */
function limitEntries(
  limits: ThrottleRouteLimits | undefined,
): Array<[string, Partial<ThrottleLimit>]> {
  if (limits === undefined) return [];
  if (typeof limits !== 'object' || limits === null || Array.isArray(limits)) {
    throw new TollgateConfigError(
      'TOLLGATE_INVALID_LIMITS',
      'limits must be an object of named limits, e.g. { burst: { limit: 3, ttl: "1s" } }',
    );
  }
  const entries = Object.entries(limits);
  for (const [name, limit] of entries) {
    if (typeof limit !== 'object' || limit === null || Array.isArray(limit)) {
      throw new TollgateConfigError(
        'TOLLGATE_INVALID_LIMITS',
        LIMIT_FIELDS.has(name)
          ? `limits are named: write { default: { limit: 5, ttl: '10s' } }, not { limit: 5, ttl: '10s' } ("${name}" is a field of a limit, not a limit's name)`
          : `limit "${name}" must be an object such as { limit: 5, ttl: '10s' }`,
      );
    }
    checkName(name);
  }
  return entries;
}

/**
 * Each field of a limit that is given, checked on its own. A field given as a function of the
 * request is checked on every request instead (`resolveRules`).
 */
function checkLimitFields(name: string, limit: Partial<ThrottleLimit>): void {
  checkLimitFieldNames(name, limit);
  if (limit.algorithm !== undefined && !ALGORITHMS.has(limit.algorithm)) {
    throw new TollgateConfigError(
      'TOLLGATE_INVALID_ALGORITHM',
      `limit "${name}" has algorithm "${String(limit.algorithm)}": use ${oneOf(RATE_LIMIT_ALGORITHMS)}`,
    );
  }
  if (limit.onStoreUnavailable !== undefined && !STORE_POLICIES.has(limit.onStoreUnavailable)) {
    throw new TollgateConfigError(
      'TOLLGATE_INVALID_STORE_POLICY',
      `limit "${name}" has onStoreUnavailable "${String(limit.onStoreUnavailable)}": use ${oneOf(THROTTLE_STORE_POLICIES)}`,
    );
  }
  const fixedLimit = limit.limit !== undefined && typeof limit.limit !== 'function';
  if (fixedLimit) checkLimitValue(name, limit.limit, 'has');
  if (limit.cost !== undefined && typeof limit.cost !== 'function') {
    // Against the limit when it is known now; a limit that depends on the request is checked later.
    checkCost(
      name,
      limit.cost,
      fixedLimit ? (limit.limit as number) : Number.MAX_SAFE_INTEGER,
      'has',
    );
  }
  if (limit.ttl !== undefined && typeof limit.ttl !== 'function') {
    toMilliseconds(limit.ttl, `ttl of limit "${name}"`);
  }
  if (limit.blockDuration !== undefined && limit.blockDuration !== 0) {
    toMilliseconds(limit.blockDuration, `blockDuration of limit "${name}"`);
  }
}

function resolveLimit(name: string, limit: Partial<ThrottleLimit>): ResolvedLimit {
  // The fields first: a misspelled `ttl` is the mistake to name, not the `ttl` it leaves missing.
  checkLimitFields(name, limit);
  if (limit.limit === undefined || limit.ttl === undefined) {
    throw new TollgateConfigError(
      'TOLLGATE_INCOMPLETE_LIMIT',
      `limit "${name}" needs both "limit" and "ttl" (e.g. { limit: 5, ttl: '10s' }); only a limit the module already defines may give some fields`,
    );
  }
  const perRequest: PerRequestFields = {};
  if (typeof limit.limit === 'function') perRequest.limit = limit.limit;
  if (typeof limit.ttl === 'function') perRequest.ttl = limit.ttl;
  if (typeof limit.cost === 'function') perRequest.cost = limit.cost;
  const dynamic = Object.keys(perRequest).length > 0;
  // A field given as a function has a placeholder here: the rule is built per request then.
  return {
    name,
    limit: typeof limit.limit === 'function' ? 1 : limit.limit,
    windowMs:
      typeof limit.ttl === 'function' ? 1 : toMilliseconds(limit.ttl, `ttl of limit "${name}"`),
    algorithm: limit.algorithm ?? DEFAULT_ALGORITHM,
    cost: typeof limit.cost === 'function' ? 1 : (limit.cost ?? 1),
    blockMs:
      limit.blockDuration === undefined || limit.blockDuration === 0
        ? 0
        : toMilliseconds(limit.blockDuration, `blockDuration of limit "${name}"`),
    onStoreUnavailable: limit.onStoreUnavailable ?? 'allow',
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

/** An explicit `undefined` in a later layer must not erase an earlier layer's setting. */
function withoutUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(
    Object.entries(value).filter(([, entry]) => entry !== undefined),
  ) as Partial<T>;
}
