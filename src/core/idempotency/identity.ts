import { fingerprintRequest, sortedKeys, UNREADABLE_BODY } from '../fingerprint.js';
import { clientAddress, groupAddress } from '../addresses.js';
import type { IdempotencyDecision, IdempotencyRequest } from './decision.js';
import type { IdempotencyDecisionOutcome } from './events.js';
import type { IdempotencyPolicy } from './options.js';
import { bodyNotReadable } from './problems.js';

/* Who is asking and what for, as keys and fingerprints name them, and how a decision is reported. */

/** The request's fingerprint: what it asks for, whoever sends it (see `fingerprintRequest`). */
export function requestFingerprint(request: IdempotencyRequest, policy: IdempotencyPolicy): string {
  // Built only when the route names extras or has path parameters: most requests have neither.
  let extra: Array<readonly [string, string | undefined]> | undefined;
  for (const name of policy.fingerprintHeaders) {
    const value = request.header(name);
    (extra ??= []).push([
      `header:${name}`,
      typeof value === 'string' || value === undefined ? value : value.join(', '),
    ]);
  }
  for (const name of policy.fingerprintQuery) {
    (extra ??= []).push([`query:${name}`, request.query(name)]);
  }
  const params = request.params;
  if (params !== undefined) {
    // Own fields only (Object.keys), so a hostile parameter name cannot reach the prototype.
    const names = sortedKeys(params);
    if (names.length > 0) {
      for (const name of names) {
        const value = params[name];
        (extra ??= []).push([
          `param:${name}`,
          typeof value === 'string' ? value : JSON.stringify(value),
        ]);
      }
    }
  }
  let body = request.body;
  if (body === UNREADABLE_BODY) {
    const contentType = request.header('content-type');
    const type = typeof contentType === 'string' ? contentType : undefined;
    // Deduplicating by a body it cannot see would take different requests for one: refuse.
    if (policy.strategy !== 'key') throw bodyNotReadable(type);
    // A key names the operation; without the body, a changed body is only caught by its size.
    body = `unreadable:${type ?? ''}:${String(request.header('content-length') ?? '')}`;
  }
  return fingerprintRequest({
    method: request.method,
    route: request.route,
    body,
    ...(extra ? { extra } : {}),
  });
}

/** The outcome a decision is reported as: one rule, read off the decision the adapters get. */
export function outcomeOf(decision: IdempotencyDecision): IdempotencyDecisionOutcome {
  switch (decision.action) {
    case 'proceed':
      return 'first-execution';
    case 'replay':
      return 'replay';
    case 'bypass':
      return decision.reason === 'no-key' ? 'no-key' : 'store-unavailable-allowed';
    case 'reject':
      switch (decision.error.code) {
        case 'TOLLGATE_IN_PROGRESS':
          return 'in-progress';
        case 'TOLLGATE_KEY_REUSED':
          return 'key-reused';
        case 'TOLLGATE_DUPLICATE':
          return 'lock-refused';
        case 'TOLLGATE_NOT_REPLAYABLE':
          return 'not-replayable';
        case 'TOLLGATE_STORE_UNAVAILABLE':
          return 'store-unavailable-rejected';
        default:
          return 'invalid-request';
      }
  }
}

/** The scope of a key strategy's anonymous requests: the client's key alone tells them apart. */
export const ANONYMOUS = 'anonymous';

/**
 * The scope of a `fingerprint` or `lock` request: who is asking, and for an anonymous request its
 * client address unless the route shares one scope: two anonymous clients sending the same body
 * are two requests, not a duplicate.
 */
export function scopeOf(request: IdempotencyRequest, policy: IdempotencyPolicy): string {
  if (request.scope !== undefined) return request.scope;
  if (policy.anonymousScope === 'shared') return ANONYMOUS;
  const address = clientAddress(
    request.remoteAddress,
    request.header('x-forwarded-for'),
    policy.trustProxy,
  );
  return address === undefined ? ANONYMOUS : `address:${groupAddress(address)}`;
}
