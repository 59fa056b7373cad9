import { describe, expect, it } from 'vitest';

import { TollgateConfigError } from '../../src/core/errors.js';
import { RateLimitEngine } from '../../src/core/ratelimit/engine.js';
import { rateLimiter } from '../../src/core/ratelimit/limiter.js';
import type { RateLimitRequest, ThrottleLimits } from '../../src/core/ratelimit/options.js';
import { resolveThrottlePolicy } from '../../src/core/ratelimit/policy.js';
import { throttle } from '../../src/express.js';
import type { RateLimitResult } from '../../src/core/store.js';
import { MemoryStore } from '../../src/stores/memory/memory-store.js';
import { FakeClock } from '../helpers/fake-clock.js';

const request = (overrides: Partial<RateLimitRequest> = {}): RateLimitRequest => ({
  method: 'POST',
  route: '/login',
  principal: undefined,
  remoteAddress: '203.0.113.9',
  header: () => undefined,
  raw: {},
  ...overrides,
});

function limiter(limits: ThrottleLimits, tracker?: (req: RateLimitRequest) => string) {
  const clock = new FakeClock();
  const engine = new RateLimitEngine(new MemoryStore({ clock }), { clock });
  return rateLimiter(engine, [{ limits, settings: tracker ? { tracker } : {} }]);
}

async function code(action: Promise<unknown> | (() => unknown)): Promise<string | undefined> {
  try {
    await (typeof action === 'function' ? action() : action);
  } catch (error) {
    expect(error).toBeInstanceOf(TollgateConfigError);
    return (error as TollgateConfigError).code;
  }
  return undefined;
}

describe('RateLimiter: the admin API', () => {
  it('acts on a request exactly where it was counted, and on the same client named directly', async () => {
    const subject = limiter({ tries: { limit: 2, ttl: '1m' } });
    const req = request();
    await subject.check(req);
    expect((await subject.get(req)).limits[0]?.remaining).toBe(1);
    const named = { counter: 'POST /login', address: '203.0.113.9' };
    expect((await subject.get(named)).limits[0]?.remaining).toBe(1);
    await subject.penalty(named);
    expect((await subject.get(req)).allowed).toBe(false);
    await subject.reward(req, 2);
    expect((await subject.get(named)).limits[0]?.remaining).toBe(2);
  });

  it('names a client by principal or custom tracker as the tracker would count it', async () => {
    const byUser = limiter({ tries: { limit: 3, ttl: '1m' } }, () => 'alice');
    await byUser.check(request());
    const state: RateLimitResult = await byUser.get({ counter: 'POST /login', tracker: 'alice' });
    expect(state.limits[0]?.remaining).toBe(2);
    const byPrincipal = limiter({ tries: { limit: 3, ttl: '1m' } });
    await byPrincipal.check(request({ principal: 'u1' }));
    expect(
      (await byPrincipal.get({ counter: 'POST /login', principal: 'u1' })).limits[0]?.remaining,
    ).toBe(2);
  });

  it('refuses a client reference that names no one, or two at once', async () => {
    const subject = limiter({ tries: { limit: 2, ttl: '1m' } });
    expect(await code(subject.get({ counter: 'POST /login' }))).toBe('TOLLGATE_INVALID_CLIENT');
    expect(
      await code(subject.get({ counter: 'POST /login', tracker: 'a', address: '1.2.3.4' })),
    ).toBe('TOLLGATE_INVALID_CLIENT');
    expect(await code(subject.get({ counter: '', tracker: 'a' }))).toBe('TOLLGATE_INVALID_CLIENT');
  });

  it.each([0, -1, 1.5, Number.NaN])('refuses %s units', async (units) => {
    const subject = limiter({ tries: { limit: 2, ttl: '1m' } });
    expect(await code(subject.penalty(request(), units))).toBe('TOLLGATE_INVALID_UNITS');
    expect(await code(subject.reward(request(), units))).toBe('TOLLGATE_INVALID_UNITS');
  });

  it('needs the request to read limits that depend on it, but resets without one', async () => {
    const subject = limiter({ tries: { limit: () => 2, ttl: '1m' } }, () => 'bob');
    const req = request();
    await subject.check(req);
    await subject.check(req);
    expect((await subject.get(req)).allowed).toBe(false);
    const named = { counter: 'POST /login', tracker: 'bob' };
    expect(await code(subject.get(named))).toBe('TOLLGATE_ADMIN_NEEDS_REQUEST');
    await subject.reset(named);
    expect((await subject.get(req)).limits[0]?.remaining).toBe(2);
  });

  it('throttle() refuses a store that cannot give back, when a skip rule needs it', async () => {
    const store = {
      kind: 'consume-only',
      consume: async (): Promise<RateLimitResult> => ({
        allowed: true,
        retryAfterMs: 0,
        limits: [],
      }),
      begin: () => Promise.reject(new Error('unused')),
      complete: () => Promise.reject(new Error('unused')),
      markUnstorable: () => Promise.reject(new Error('unused')),
      release: () => Promise.reject(new Error('unused')),
      renew: () => Promise.reject(new Error('unused')),
      lock: () => Promise.reject(new Error('unused')),
    };
    const limits: ThrottleLimits = { tries: { limit: 2, ttl: '1m' } };
    expect(() => throttle({ store, limits })).not.toThrow();
    expect(await code(() => throttle({ store, limits, skipSuccessfulRequests: true }))).toBe(
      'TOLLGATE_STORE_CANNOT_ADJUST',
    );
  });

  it('refuses a client reference without a counter as a reference, never reading it as a request', async () => {
    const subject = limiter({ tries: { limit: 2, ttl: '1m' } });
    const middleware = throttle({ limits: { tries: { limit: 2, ttl: '1m' } } });
    for (const ref of [{ tracker: 'alice' }, { counter: 5, tracker: 'alice' }]) {
      expect(await code(subject.get(ref as never))).toBe('TOLLGATE_INVALID_CLIENT');
      expect(await code(middleware.get(ref as never))).toBe('TOLLGATE_INVALID_CLIENT');
    }
  });

  it('applies the deny list even where no limit is set', async () => {
    const engine = new RateLimitEngine(new MemoryStore(), { onEvent: () => undefined });
    const policy = resolveThrottlePolicy([
      { limits: {}, settings: { denyList: ['203.0.113.0/24'] } },
    ]);
    const denied = await engine.check(request(), policy);
    expect(denied.action).toBe('reject');
    expect(denied.action === 'reject' && denied.error.status).toBe(403);
    const other = await engine.check(request({ remoteAddress: '198.51.100.7' }), policy);
    expect(other.action).toBe('allow');
  });

  it('throttle() without limits is refused, not a middleware that limits nothing', async () => {
    expect(await code(() => throttle({} as never))).toBe('TOLLGATE_INVALID_LIMITS');
    expect(await code(() => throttle({ limits: {}, denyList: ['203.0.113.0/24'] }))).toBe(
      undefined,
    );
  });

  it('reports every request of a route with only a deny list: denied or skipped', async () => {
    const events: string[] = [];
    const engine = new RateLimitEngine(new MemoryStore(), {
      onEvent: (event) => {
        if (event.type === 'decision') events.push(event.outcome);
      },
    });
    const policy = resolveThrottlePolicy([
      { limits: {}, settings: { denyList: ['198.51.100.0/24'] } },
    ]);
    await engine.check(request({ remoteAddress: '198.51.100.7' }), policy);
    await engine.check(request({ remoteAddress: '203.0.113.9' }), policy);
    expect(events).toEqual(['denied', 'skipped']);
  });
});

describe('the engine’s peek, adjust and reset', () => {
  const rules = [
    { name: 'tries', limit: 2, windowMs: 1000, algorithm: 'fixed-window', cost: 1, blockMs: 0 },
  ] as const;

  it('reject, never throw, when the store cannot adjust or throws instead of rejecting', async () => {
    const throwing = {
      consume: () => Promise.reject(new Error('unused')),
      peek: () => {
        throw new Error('peek threw');
      },
      adjust: () => {
        throw new Error('adjust threw');
      },
      reset: () => {
        throw new Error('reset threw');
      },
    };
    for (const store of [{}, throwing]) {
      const engine = new RateLimitEngine(store, { onEvent: () => undefined });
      const calls = [
        () => engine.peek('k', rules),
        () => engine.adjust('k', rules, [-1]),
        () => engine.reset('k', rules),
      ];
      for (const call of calls) {
        let returned: Promise<unknown> | undefined;
        expect(() => (returned = call())).not.toThrow();
        await expect(returned).rejects.toBeInstanceOf(Error);
      }
    }
  });
});
