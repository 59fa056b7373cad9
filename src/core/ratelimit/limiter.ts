import { TollgateConfigError } from '../errors.js';
import type { RateLimitResult, RateLimitRule } from '../store.js';
import type { RateLimitCounted, RateLimitDecision, RateLimitResponse } from './decision.js';
import type { RateLimitEngine } from './engine.js';
import type { RateLimitRequest, ThrottleLayer, ThrottlePolicy, ThrottleSkip } from './options.js';
import { resolveRules, resolveThrottlePolicy } from './policy.js';
import { groupAddress } from '../addresses.js';

/**
 * A client named directly, for admin work outside a request (a support tool unblocking a user):
 * the counter (`key`'s answer for the route: by default `METHOD /route/template`, e.g.
 * `POST /login`) and exactly one of who is counted.
 */
export interface RateLimitClientRef {
  counter: string;
  /** A custom tracker's answer (`tracker` option). */
  tracker?: string;
  /** The authenticated principal as the scope resolver serializes it. */
  principal?: string;
  /** The client address (grouped by the route's IPv4/IPv6 prefix, as requests are). */
  address?: string;
}

/** Who an admin call acts on: a request as the adapter describes it, or a client named directly. */
export type RateLimitClient = RateLimitRequest | RateLimitClientRef;

/**
 * The admin API over one set of limits: read a client's state, reset it, penalise or reward it.
 * Each call is one atomic store call over every limit.
 */
export interface RateLimiter {
  /**
   * The client's state on every limit, as a request would see it now, charging nothing:
   * `allowed` says whether one more request would pass, each limit's `remaining`, `resetMs` and
   * `retryAfterMs` say how it stands.
   */
  get(client: RateLimitClient): Promise<RateLimitResult>;
  /** Forgets the client's counters and blocks on every limit: it starts afresh. */
  reset(client: RateLimitClient): Promise<void>;
  /** Takes `units` (default 1) from every limit of the client, whatever the limits say (at most emptying each). */
  penalty(client: RateLimitClient, units?: number): Promise<void>;
  /** Gives `units` (default 1) back to every limit of the client (never beyond a whole quota). */
  reward(client: RateLimitClient, units?: number): Promise<void>;
}

/**
 * The one way the adapters get a limiter: the layers (module defaults, controller, handler, or a
 * middleware's options) resolved into a policy, validated, and checked against what the store can
 * do, so a misconfiguration fails at start-up rather than on a request.
 */
export function rateLimiter(
  engine: RateLimitEngine,
  layers: ReadonlyArray<ThrottleLayer | undefined>,
  skip?: ThrottleSkip,
): RouteLimiter {
  const policy = resolveThrottlePolicy(layers, skip);
  engine.requireStoreFor(policy);
  return new RouteLimiter(engine, policy);
}

/**
 * One route's limits and settings, and everything that can be done with them: decide for a
 * request and apply the decision to its response (`admit`, what the adapters call), and the admin
 * API (`RateLimiter`).
 */
export class RouteLimiter implements RateLimiter {
  /** Requests this limiter counted (by the framework's request object): key and rules used. */
  private readonly counted = new WeakMap<object, RateLimitCounted>();

  constructor(
    private readonly engine: RateLimitEngine,
    readonly policy: ThrottlePolicy,
  ) {}

  /**
   * Decides for this request and applies the decision to its response: the rate-limit headers of
   * an allowed request, and the give-back of its units once the response is known when a skip rule
   * says so. A refused request's headers go with its problem, which the adapter sends (or `apply`).
   */
  async admit(request: RateLimitRequest, response: RateLimitResponse): Promise<RateLimitDecision> {
    const decision = await this.check(request);
    if (decision.action === 'allow') this.apply(decision, response);
    return decision;
  }

  /**
   * Applies a decision to its response: an allowed request's headers, and the give-back of its
   * charge once the response is known, when a skip rule may give it back; a refused request's
   * headers (`Retry-After`, `RateLimit`), for an app that answers it itself.
   */
  apply(decision: RateLimitDecision, response: RateLimitResponse): void {
    const headers = decision.action === 'allow' ? decision.headers : decision.error.headers;
    for (const name in headers) response.setHeader(name, headers[name] as string);
    const charge = decision.action === 'allow' ? decision.charge : undefined;
    if (charge) response.whenDone((statusCode) => void this.engine.settle(charge, statusCode));
  }

  /** Decides for this request and remembers where it was counted (see `RateLimitEngine.check`). */
  async check(request: RateLimitRequest): Promise<RateLimitDecision> {
    const decision = await this.engine.check(request, this.policy);
    const raw = request.raw;
    if (decision.counted && typeof raw === 'object' && raw !== null) {
      this.counted.set(raw, decision.counted);
    }
    return decision;
  }

  /**
   * The client's state on every limit, as a request would see it now, charging nothing:
   * `allowed` says whether one more request would pass, each limit's `remaining`, `resetMs` and
   * `retryAfterMs` say how it stands.
   */
  async get(client: RateLimitClient): Promise<RateLimitResult> {
    const { key, rules } = await this.locate(client);
    return this.engine.peek(key, rules);
  }

  /** Forgets the client's counters and blocks on every limit: it starts afresh. */
  async reset(client: RateLimitClient): Promise<void> {
    const { key, rules } = await this.locate(client, { anyValues: true });
    await this.engine.reset(key, rules);
  }

  /** Takes `units` from every limit of the client, whatever the limits say (at most emptying each). */
  async penalty(client: RateLimitClient, units = 1): Promise<void> {
    const { key, rules } = await this.locate(client);
    await this.engine.adjust(key, rules, perRule(rules, checkUnits('penalty', units)));
  }

  /** Gives `units` back to every limit of the client (never beyond a whole quota). */
  async reward(client: RateLimitClient, units = 1): Promise<void> {
    const { key, rules } = await this.locate(client);
    await this.engine.adjust(key, rules, perRule(rules, -checkUnits('reward', units)));
  }

  /**
   * The key and rules of a client: those a request was counted with, if this limiter counted it;
   * else derived as a request would be. Limits that depend on the request need one, except to
   * reset (which needs only their names).
   */
  private async locate(
    client: RateLimitClient,
    options: { anyValues?: boolean } = {},
  ): Promise<RateLimitCounted> {
    if (isRequest(client)) {
      const raw = client.raw;
      const counted = typeof raw === 'object' && raw !== null ? this.counted.get(raw) : undefined;
      if (counted) return counted;
      return {
        key: await this.engine.clientKey(client, this.policy),
        rules: await resolveRules(client, this.policy),
      };
    }
    if (this.policy.dynamic && !options.anyValues) {
      throw new TollgateConfigError(
        'TOLLGATE_ADMIN_NEEDS_REQUEST',
        `the limits ${this.policy.limits.map((limit) => `"${limit.name}"`).join(', ')} depend on the request (a function for limit, ttl or cost): pass the request to get, penalty and reward, not a client reference`,
      );
    }
    return {
      key: this.engine.keyOf(checkCounter(client), trackerOf(client, this.policy)),
      rules: this.policy.rules,
    };
  }
}

/**
 * Whether the admin API was given a client by name (`{ counter, tracker | principal | address }`)
 * rather than an HTTP request: a request always has headers. A malformed reference is refused by
 * the limiter with TOLLGATE_INVALID_CLIENT, never read as a request.
 */
export function isClientRef(given: unknown): given is RateLimitClientRef {
  return (
    typeof given === 'object' &&
    given !== null &&
    (given as { headers?: unknown }).headers === undefined
  );
}

function isRequest(client: RateLimitClient): client is RateLimitRequest {
  return typeof (client as RateLimitRequest).header === 'function';
}

function checkCounter(client: RateLimitClientRef): string {
  if (typeof client.counter !== 'string' || client.counter === '') {
    throw new TollgateConfigError(
      'TOLLGATE_INVALID_CLIENT',
      'a client reference needs its counter: the route key, by default "METHOD /route", e.g. { counter: "POST /login", tracker: "alice" }',
    );
  }
  return client.counter;
}

/** The tracker string a request of this client would get (see tracker.ts). */
function trackerOf(client: RateLimitClientRef, policy: ThrottlePolicy): string {
  const given = [
    client.tracker === undefined ? undefined : `custom:${client.tracker}`,
    client.principal === undefined ? undefined : `principal:${client.principal}`,
    client.address === undefined
      ? undefined
      : `address:${groupAddress(client.address, policy.ipv4Prefix, policy.ipv6Prefix)}`,
  ].filter((value): value is string => value !== undefined);
  if (given.length !== 1) {
    throw new TollgateConfigError(
      'TOLLGATE_INVALID_CLIENT',
      'a client reference names exactly one of tracker, principal or address, e.g. { counter: "POST /login", tracker: "alice" }',
    );
  }
  return given[0] as string;
}

function checkUnits(what: string, units: number): number {
  if (!Number.isSafeInteger(units) || units < 1) {
    throw new TollgateConfigError(
      'TOLLGATE_INVALID_UNITS',
      `${what}(client, units): units is ${String(units)}, use a whole number of at least 1`,
    );
  }
  return units;
}

function perRule(rules: readonly RateLimitRule[], units: number): number[] {
  return rules.map(() => units);
}
