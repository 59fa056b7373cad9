import { describe, expect, it } from 'vitest';

import { RateLimitEngine } from '../../src/core/ratelimit/engine.js';
import type { RateLimitEvent } from '../../src/core/ratelimit/events.js';
import type { RateLimitRequest, ThrottleSettings } from '../../src/core/ratelimit/options.js';
import { resolveThrottlePolicy } from '../../src/core/ratelimit/policy.js';
import { MemoryStore } from '../../src/stores/memory/memory-store.js';
import { FakeClock } from '../helpers/fake-clock.js';

const request: RateLimitRequest = {
  method: 'POST',
  route: '/login',
  principal: undefined,
  remoteAddress: '203.0.113.9',
  header: () => undefined,
  raw: {},
};

function setup(settings: ThrottleSettings, algorithm: 'fixed-window' | 'sliding-window') {
  const clock = new FakeClock();
  const store = new MemoryStore({ clock });
  const events: RateLimitEvent[] = [];
  const engine = new RateLimitEngine(store, { clock, onEvent: (event) => events.push(event) });
  const policy = resolveThrottlePolicy([
    { limits: { tries: { limit: 2, ttl: '1s', algorithm } }, settings },
  ]);
  return { clock, store, engine, policy, events };
}

describe('giving back the units of skipped requests', () => {
  it.each(['fixed-window', 'sliding-window'] as const)(
    '%s: never gives back from a later window once the charge has left the window',
    async (algorithm) => {
      const { clock, engine, policy } = setup({ skipSuccessfulRequests: true }, algorithm);
      const slow = await engine.check(request, policy);
      if (slow.action !== 'allow' || !slow.charge) throw new Error('expected a charge');
      // The slow request's window ends while it runs; a new request is charged in the next one.
      clock.advance(1_500);
      expect((await engine.check(request, policy)).action).toBe('allow');
      await engine.settle(slow.charge, 200);
      // Had the slow request's unit come out of this window, two more would pass.
      expect((await engine.check(request, policy)).action).toBe('allow');
      expect((await engine.check(request, policy)).action).toBe('reject');
    },
  );

  it('gives back only on the outcome the route skips', async () => {
    const { engine, policy } = setup({ skipFailedRequests: true }, 'fixed-window');
    for (const status of [200, 200]) {
      const decision = await engine.check(request, policy);
      if (decision.action !== 'allow' || !decision.charge) throw new Error('expected a charge');
      await engine.settle(decision.charge, status);
    }
    expect((await engine.check(request, policy)).action).toBe('reject');

    const other = setup({ skipFailedRequests: true }, 'fixed-window');
    for (const status of [500, 429, 404]) {
      const decision = await other.engine.check(request, other.policy);
      if (decision.action !== 'allow' || !decision.charge) throw new Error('expected a charge');
      await other.engine.settle(decision.charge, status);
    }
    expect((await other.engine.check(request, other.policy)).action).toBe('allow');
  });

  it('keeps a request counted when its client went away: hanging up is no way around the limit', async () => {
    const { engine, policy } = setup(
      { skipFailedRequests: true, skipSuccessfulRequests: true },
      'fixed-window',
    );
    for (let i = 0; i < 2; i++) {
      const decision = await engine.check(request, policy);
      if (decision.action !== 'allow' || !decision.charge) throw new Error('expected a charge');
      await engine.settle(decision.charge, undefined);
    }
    expect((await engine.check(request, policy)).action).toBe('reject');
  });

  it('gives back to the in-process limiter what it counted while the store was down', async () => {
    const clock = new FakeClock();
    const down = { consume: () => Promise.reject(new Error('ECONNREFUSED')) };
    const engine = new RateLimitEngine(down, { clock, onEvent: () => undefined });
    const policy = resolveThrottlePolicy([
      {
        limits: { tries: { limit: 2, ttl: '1m', onStoreUnavailable: 'local' } },
        settings: { skipSuccessfulRequests: true },
      },
    ]);
    for (let i = 0; i < 5; i++) {
      const decision = await engine.check(request, policy);
      if (decision.action !== 'allow' || !decision.charge) throw new Error('expected a charge');
      expect(decision.charge.local).toBe(true);
      await engine.settle(decision.charge, 200);
    }
    expect((await engine.check(request, policy)).action).toBe('allow');
    expect((await engine.check(request, policy)).action).toBe('allow');
    expect((await engine.check(request, policy)).action).toBe('reject');
  });

  it('carries no charge when no skip rule gives anything back', async () => {
    const { engine, policy } = setup({}, 'fixed-window');
    const decision = await engine.check(request, policy);
    expect(decision.action === 'allow' && decision.charge).toBeUndefined();
  });

  it('reports a give-back the store refused, and never throws', async () => {
    const clock = new FakeClock();
    const store = new MemoryStore({ clock });
    const events: RateLimitEvent[] = [];
    const broken = Object.assign(Object.create(store) as MemoryStore, {
      adjust: () => Promise.reject(new Error('connection reset')),
    });
    const engine = new RateLimitEngine(broken, { clock, onEvent: (event) => events.push(event) });
    const policy = resolveThrottlePolicy([
      { limits: { tries: { limit: 2, ttl: '1s' } }, settings: { skipSuccessfulRequests: true } },
    ]);
    const decision = await engine.check(request, policy);
    if (decision.action !== 'allow' || !decision.charge) throw new Error('expected a charge');
    await expect(engine.settle(decision.charge, 200)).resolves.toBeUndefined();
    expect(events.filter((event) => event.type === 'refund-failed')).toMatchObject([
      { type: 'refund-failed', limits: ['tries'] },
    ]);
  });

  it('refuses a store that cannot give back when the route asks for it', () => {
    const engine = new RateLimitEngine({
      consume: async () => ({ allowed: true, retryAfterMs: 0, limits: [] }),
    });
    expect(engine.storeSupportsAdjusting).toBe(false);
  });
});
