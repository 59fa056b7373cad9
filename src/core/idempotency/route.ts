import type { TollgateHttpError } from '../errors.js';
import type { IdempotencyDecision, IdempotencyRequest } from './decision.js';
import type { IdempotencyEngine } from './engine.js';
import {
  resolveIdempotencyPolicy,
  UNSAFE_METHODS,
  type IdempotencyOptions,
  type IdempotencyPolicy,
} from './options.js';

/** Where a route's idempotency comes from, as the adapter reads it from its framework. */
export interface IdempotencyRouteOptions {
  /** The route's own options (`@Idempotent()`'s, `idempotent()`'s); undefined: the defaults alone. */
  route?: IdempotencyOptions | undefined;
  /** Module-wide defaults, under the route's own. */
  defaults?: IdempotencyOptions | undefined;
  /** Whether the route asked for protection itself: its key is then required unless it says not. */
  decorated: boolean;
  /** The methods protected, or `every` one. Default: the unsafe ones (POST, PUT, PATCH, DELETE). */
  methods?: readonly string[] | 'every' | undefined;
}

/**
 * The one way the adapters get a route's idempotency: its options merged over the defaults,
 * validated (a misconfiguration fails at start-up, not on a request), and the methods it protects.
 */
export function idempotency(
  engine: IdempotencyEngine,
  options: IdempotencyRouteOptions,
): RouteIdempotency {
  const policy = resolveIdempotencyPolicy(options.route, options.defaults, {
    decorated: options.decorated,
  });
  return new RouteIdempotency(engine, policy, methodsOf(options));
}

/** The policy of a route for one method; null when that method is not protected. */
export function idempotencyPolicyFor(
  options: IdempotencyRouteOptions,
  method: string,
): IdempotencyPolicy | null {
  const methods = methodsOf(options);
  if (methods !== undefined && !methods.has(method.toUpperCase())) return null;
  return resolveIdempotencyPolicy(options.route, options.defaults, {
    decorated: options.decorated,
  });
}

/** Upper-case names of the protected methods; undefined: every method. */
function methodsOf(options: IdempotencyRouteOptions): ReadonlySet<string> | undefined {
  if (options.methods === 'every') return undefined;
  if (options.methods === undefined) return UNSAFE_METHODS;
  return new Set(options.methods.map((method) => method.toUpperCase()));
}

/**
 * One route's idempotency: its policy, the methods it protects, and the decision for each
 * request. Applying a decision to a response is `respond.ts`'s; running the handler and sending
 * bytes is the adapter's.
 */
export class RouteIdempotency {
  constructor(
    private readonly engine: IdempotencyEngine,
    readonly policy: IdempotencyPolicy,
    /** Upper-case names of the protected methods; undefined: every method. */
    readonly methods: ReadonlySet<string> | undefined,
  ) {}

  /** Whether requests with this method are protected. */
  protects(method: string): boolean {
    return this.methods === undefined || this.methods.has(method.toUpperCase());
  }

  /** What this request does: run once, replay, be refused, or run unprotected (see the engine). */
  begin(request: IdempotencyRequest): Promise<IdempotencyDecision> {
    return this.engine.begin(request, this.policy);
  }

  /**
   * The decision for a request refused before it could be described (a user the scope cannot
   * identify), reported as every request's is; the adapter applies it as any rejection.
   */
  refuse(route: string, method: string, error: TollgateHttpError): IdempotencyDecision {
    return this.engine.refuse(route, method, this.policy, error);
  }
}
