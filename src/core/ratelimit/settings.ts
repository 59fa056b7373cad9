import { toMilliseconds } from '../duration.js';
import { TollgateConfigError } from '../errors.js';
import { AddressList } from '../addresses.js';
import {
  RATE_LIMIT_HEADERS_MODES,
  type ThrottleKey,
  type ThrottlePolicy,
  type ThrottleSettings,
} from './options.js';

/** How a route's settings (everything but its limits) are validated and defaulted, once. */

const HEADER_MODES: ReadonlySet<string> = new Set(RATE_LIMIT_HEADERS_MODES);

/**
 * The default counter: one per route, so a client's traffic on one route does not use up another's.
 * HEAD counts as GET: both Express and Fastify answer it with the GET route's handler, so a separate
 * counter would let a client run that handler twice the limit. Below a mount (`anyMethod`) one
 * counter serves every method: per method, a client would get a fresh quota with each of the some
 * thirty methods Node accepts.
 */
export const routeKey: ThrottleKey = (request) => {
  if (request.anyMethod === true) return `* ${request.route}`;
  const method = request.method.toUpperCase();
  return `${method === 'HEAD' ? 'GET' : method} ${request.route}`;
};

/** The settings of a policy: what `resolveSettings` gives. */
export type ResolvedSettings = Omit<
  ThrottlePolicy,
  'limits' | 'rules' | 'dynamic' | 'policyHeader'
>;

/** `'a', 'b' or 'c'`: the allowed values of an option, for its error message. */
export function oneOf(values: readonly string[]): string {
  const quoted = values.map((value) => `'${value}'`);
  return quoted.length < 2
    ? quoted.join('')
    : `${quoted.slice(0, -1).join(', ')} or ${quoted[quoted.length - 1]}`;
}

/** Validates and defaults the settings, with errors that name the option and the fix. */
export function resolveSettings(settings: ThrottleSettings): ResolvedSettings {
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
      `headers is "${String(headers)}": use ${oneOf(RATE_LIMIT_HEADERS_MODES)}`,
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
