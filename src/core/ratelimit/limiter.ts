import { TollgateConfigError } from '../errors.js';
import type { RateLimitResult, RateLimitRule } from '../store.js';
import type { RateLimitCounted, RateLimitDecision, RateLimitEngine } from './engine.js';
import { resolveRules, type RateLimitRequest, type ThrottlePolicy } from './options.js';
import { groupAddress } from './tracker.js';

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
 * One route's limits and settings, and everything that can be done with them: decide for a
 * request (`check`, what the adapters call), and the admin API: read a client's state, reset it,
 * penalise or reward it. Each call is one atomic store call over every limit of the route.
 */
export class RateLimiter {
  /** Requests this limiter counted (by the framework's request object): key and rules used. */
  private readonly counted = new WeakMap<object, RateLimitCounted>();

  constructor(
    private readonly engine: RateLimitEngine,
    readonly policy: ThrottlePolicy,
  ) {}

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
