import { describe, expect, it } from 'vitest';

import { legacyHeaders } from '../../src/core/ratelimit/headers.js';
import { rateLimited } from '../../src/core/ratelimit/problems.js';
import type { RateLimitState } from '../../src/core/store.js';

const state = (name: string, remaining: number, resetMs: number): RateLimitState => ({
  name,
  allowed: true,
  remaining,
  resetMs,
  retryAfterMs: 0,
});

describe('legacy X-RateLimit-* headers', () => {
  it('describe the limit with the fewest units left, the reset in epoch seconds rounded up', () => {
    const headers = legacyHeaders(
      [{ limit: 10 }, { limit: 100 }],
      [state('burst', 7, 1_000), state('daily', 3, 86_400_000)],
      1_700_000_000_500,
    );
    expect(headers).toEqual({
      'X-RateLimit-Limit': '100',
      'X-RateLimit-Remaining': '3',
      'X-RateLimit-Reset': String(1_700_000_000 + 86_401),
    });
  });

  it('on a tie, describe the limit that is whole again last', () => {
    const headers = legacyHeaders(
      [{ limit: 5 }, { limit: 50 }],
      [state('a', 0, 2_000), state('b', 0, 60_000)],
      0,
    );
    expect(headers['X-RateLimit-Limit']).toBe('50');
    expect(headers['X-RateLimit-Reset']).toBe('60');
  });
});

describe('the 429 problem', () => {
  it('names the exhausted limits as violated-policies (draft-ietf-httpapi-ratelimit-headers)', () => {
    expect(rateLimited(['burst', 'daily'], 1_500, {}).toProblem()).toMatchObject({
      status: 429,
      limits: ['burst', 'daily'],
      'violated-policies': ['burst', 'daily'],
    });
  });
});
