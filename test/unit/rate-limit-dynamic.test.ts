import { describe, expect, it } from 'vitest';

import { TollgateConfigError } from '../../src/core/errors.js';
import { RateLimitEngine } from '../../src/core/ratelimit/engine.js';
import type {
  RateLimitRequest,
  ThrottleLimit,
  ThrottleLimits,
} from '../../src/core/ratelimit/options.js';
import { resolveThrottlePolicy } from '../../src/core/ratelimit/policy.js';
import { MemoryStore } from '../../src/stores/memory/memory-store.js';
import { FakeClock } from '../helpers/fake-clock.js';

function request(plan: string, tracker = 'client'): RateLimitRequest {
  return {
    method: 'GET',
    route: '/reports',
    principal: tracker,
    remoteAddress: '203.0.113.9',
    header: (name) => (name === 'x-plan' ? plan : undefined),
    raw: {},
  };
}

const planOf = (req: RateLimitRequest): string => String(req.header('x-plan'));

function engine(): RateLimitEngine {
  const clock = new FakeClock();
  return new RateLimitEngine(new MemoryStore({ clock }), { clock, onEvent: () => undefined });
}

async function admitted(
  subject: RateLimitEngine,
  limits: ThrottleLimits,
  req: RateLimitRequest,
  times: number,
): Promise<number> {
  const policy = resolveThrottlePolicy([{ limits }]);
  let allowed = 0;
  for (let i = 0; i < times; i++) {
    if ((await subject.check(req, policy)).action === 'allow') allowed++;
  }
  return allowed;
}

describe('limits, windows and costs as functions of the request', () => {
  it('gives each request the limit its function returns, async or not, in the headers too', async () => {
    const subject = engine();
    const limits: ThrottleLimits = {
      plan: {
        limit: async (req) => (planOf(req) === 'pro' ? 5 : 2),
        ttl: (req) => (planOf(req) === 'pro' ? '1m' : '10s'),
      },
    };
    expect(await admitted(subject, limits, request('free', 'a'), 10)).toBe(2);
    expect(await admitted(subject, limits, request('pro', 'b'), 10)).toBe(5);
    const decision = await subject.check(request('pro', 'c'), resolveThrottlePolicy([{ limits }]));
    expect(decision.action === 'allow' && decision.headers).toMatchObject({
      'RateLimit-Policy': '"plan";q=5;w=60',
      RateLimit: '"plan";r=4;t=60',
    });
  });

  it('charges the cost its function returns, and never admits a request that does not fit', async () => {
    const subject = engine();
    const limits: ThrottleLimits = {
      units: {
        limit: 10,
        ttl: '1m',
        cost: (req) => (req.header('x-plan') === 'bulk' ? 4 : 1),
      },
    };
    expect(await admitted(subject, limits, request('bulk'), 5)).toBe(2);
    // 8 of 10 units taken: two single requests still fit, the third does not.
    expect(await admitted(subject, limits, request('single'), 5)).toBe(2);
  });

  const badAnswers: Array<[string, ThrottleLimit, string, string]> = [
    [
      'a limit of 0',
      { limit: () => 0, ttl: '1s' },
      'TOLLGATE_INVALID_LIMIT',
      'got from its function',
    ],
    [
      'a limit that is not a number',
      { limit: () => '5' as unknown as number, ttl: '1s' },
      'TOLLGATE_INVALID_LIMIT',
      'limit 5',
    ],
    [
      'a window that is not a duration',
      { limit: 5, ttl: () => 'soon' as '1s' },
      'TOLLGATE_INVALID_DURATION',
      'from its function',
    ],
    [
      'a window of undefined',
      { limit: 5, ttl: () => undefined as unknown as number },
      'TOLLGATE_INVALID_DURATION',
      'got undefined',
    ],
    [
      'a cost above the limit',
      { limit: 3, ttl: '1s', cost: () => 4 },
      'TOLLGATE_INVALID_COST',
      'cost 4',
    ],
    [
      'a cost above a dynamic limit',
      { limit: () => 2, ttl: '1s', cost: 3 },
      'TOLLGATE_INVALID_COST',
      'to its limit (2)',
    ],
    [
      'a fractional cost',
      { limit: 3, ttl: '1s', cost: async () => 1.5 },
      'TOLLGATE_INVALID_COST',
      'cost 1.5',
    ],
  ];
  it.each(badAnswers)(
    'refuses %s with a TollgateConfigError naming the limit',
    async (_, given, code, text) => {
      const subject = engine();
      const policy = resolveThrottlePolicy([{ limits: { tiered: given } }]);
      const error = await subject.check(request('free'), policy).then(
        () => undefined,
        (thrown: unknown) => thrown,
      );
      expect(error).toBeInstanceOf(TollgateConfigError);
      expect((error as TollgateConfigError).code).toBe(code);
      expect((error as Error).message).toContain('"tiered"');
      expect((error as Error).message).toContain(text);
    },
  );

  it('still checks the fields that are fixed when the app starts', () => {
    expect(() =>
      resolveThrottlePolicy([{ limits: { tiered: { limit: () => 5, ttl: '1s', cost: 0 } } }]),
    ).toThrow(TollgateConfigError);
    expect(() =>
      resolveThrottlePolicy([
        { limits: { tiered: { limit: 5, ttl: 'soon' as '1s', cost: () => 1 } } },
      ]),
    ).toThrow(/ttl of limit "tiered"/);
  });

  it('reads the policy once for fixed limits: no function, no per-request rules', () => {
    const policy = resolveThrottlePolicy([{ limits: { fixed: { limit: 5, ttl: '1s' } } }]);
    expect(policy.dynamic).toBe(false);
    const dynamic = resolveThrottlePolicy([{ limits: { tiered: { limit: () => 5, ttl: '1s' } } }]);
    expect(dynamic.dynamic).toBe(true);
  });
});
