import type { TollgateHttpError } from '../errors.js';
import { quietWarnings, type StoreCallEvent } from '../report.js';
import type { RateLimitDecisionOutcome } from './decision.js';
import type { ThrottleStoreUnavailablePolicy } from './options.js';

/** Where an event happened: the route template and method, never the tracker (who is counted). */
export interface RateLimitEventSite {
  area: 'rate-limit';
  route: string;
  method: string;
}

/** What the rate-limit engine reports, for logs and metrics; tell events apart by `type`. */
export type RateLimitEvent = RateLimitEventSite &
  (
    | {
        type: 'decision';
        outcome: RateLimitDecisionOutcome;
        /** The limits that refused the request (their names), for `throttled`, `local-throttled` and `store-unavailable-rejected`; else empty. */
        limits: readonly string[];
      }
    | {
        type: 'store-unavailable';
        /** What the request got: passed unchecked, 503, or the in-process limiter's decision. */
        outcome: 'allowed' | 'rejected' | 'local';
        /** Each limit of the route and its store-failure policy. */
        limits: Record<string, ThrottleStoreUnavailablePolicy>;
        error: Error;
      }
    /** The store call that checked the limits. */
    | StoreCallEvent
    | {
        /**
         * `X-Forwarded-For` arrived while no proxy is trusted (`trustProxy: 0`): reported once per
         * engine. Behind a proxy every client then counts as the proxy's address.
         */
        type: 'forwarded-for-ignored';
        remoteAddress: string | undefined;
      }
    | {
        /** A skip rule's give-back did not reach the store: the request stays counted. */
        type: 'refund-failed';
        limits: string[];
        error: Error;
      }
  );

/** One line for an event, for whichever logger the adapter uses. */
export function describeRateLimitEvent(event: RateLimitEvent): string {
  const where = `${event.method} ${event.route}`;
  switch (event.type) {
    case 'decision':
      return `${where}: ${event.outcome}${event.limits.length > 0 ? ` (${event.limits.join(', ')})` : ''}`;
    case 'store-call':
      return `${where}: store ${event.operation} ${event.ok ? 'answered' : 'failed'} in ${event.durationMs.toFixed(1)} ms`;
    case 'forwarded-for-ignored':
      return `a request to ${where} came with X-Forwarded-For from ${event.remoteAddress ?? 'an unknown address'}, but trustProxy is 0, so the header is ignored and the socket address counted: behind a proxy or load balancer every client then shares the proxy's limit. Set trustProxy to the number of proxies, their addresses ('10.0.0.0/8'), or 'framework'; leave it 0 if clients connect directly (this is said once)`;
    case 'refund-failed':
      return `could not give back the units of a skipped request to ${where} on ${event.limits.join(', ')}, it stays counted: ${event.error.message}`;
    case 'store-unavailable': {
      const outcome = {
        allowed: 'passed unchecked',
        rejected: 'rejected with 503',
        local: 'checked by the in-process limiter',
      }[event.outcome];
      return `store unavailable for rate limiting, request to ${where} ${outcome}: ${event.error.message}`;
    }
  }
}

/**
 * The default reporter, used when no `onEvent` is given: store failures, failed give-backs and the
 * proxy misconfiguration, each kind at most one line every 10 s through `write`.
 */
export function rateLimitWarnings(write: (line: string) => void): (event: RateLimitEvent) => void {
  const warn = quietWarnings(write);
  return (event) => {
    if (
      event.type === 'store-unavailable' ||
      event.type === 'refund-failed' ||
      event.type === 'forwarded-for-ignored'
    ) {
      warn(event.type, describeRateLimitEvent(event));
    }
  };
}

/** The names of the limits that refused a request, as its 429 or 503 problem lists them. */
export function refusingLimits(error: TollgateHttpError): readonly string[] {
  const limits = error.extensions.limits;
  return Array.isArray(limits) ? (limits as string[]) : [];
}
