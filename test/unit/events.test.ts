import 'reflect-metadata';

import { randomUUID } from 'node:crypto';

import { Test } from '@nestjs/testing';
import { afterEach, describe, expect, it, vi } from 'vitest';

import type { TollgateEvent } from '../../src/core/events.js';
import {
  IdempotencyEngine,
  type IdempotencyEvent,
  type IdempotencyRequest,
} from '../../src/core/idempotency/engine.js';
import { resolveIdempotencyPolicy } from '../../src/core/idempotency/options.js';
import type { ExclusiveLeaseEvent } from '../../src/core/lease/events.js';
import { ExclusiveLeases } from '../../src/core/lease/exclusive.js';
import { RateLimitEngine } from '../../src/core/ratelimit/engine.js';
import type { RateLimitEvent } from '../../src/core/ratelimit/events.js';
import type { RateLimitRequest } from '../../src/core/ratelimit/options.js';
import { resolveThrottlePolicy } from '../../src/core/ratelimit/policy.js';
import type { TollgateStore } from '../../src/core/store.js';
import { TollgateModule } from '../../src/nest.js';
import { MemoryStore } from '../../src/stores/memory/memory-store.js';

const KEY = 'a-key-only-the-client-knows';
const PRINCIPAL = '["alice-the-principal",null]';
const ADDRESS = '203.0.113.77';

function idempotentRequest(key = KEY, body: unknown = { amount: 1 }): IdempotencyRequest {
  return {
    method: 'POST',
    route: '/payments/:account',
    scope: PRINCIPAL,
    remoteAddress: ADDRESS,
    header: (name) => (name === 'idempotency-key' ? key : undefined),
    query: () => undefined,
    body,
    params: { account: 'acc-1' },
  };
}

function throttledRequest(): RateLimitRequest {
  return {
    method: 'GET',
    route: '/quotes',
    principal: PRINCIPAL,
    remoteAddress: ADDRESS,
    header: () => undefined,
    raw: {},
  };
}

const keyPolicy = resolveIdempotencyPolicy({}, undefined, { decorated: true });
const throttlePolicy = resolveThrottlePolicy([{ limits: { burst: { limit: 1, ttl: '10s' } } }]);

const silentStore = (): TollgateStore => {
  const never = (): Promise<never> => new Promise(() => undefined);
  return {
    kind: 'silent',
    begin: never,
    complete: never,
    markUnstorable: never,
    release: never,
    renew: never,
    lock: never,
    consume: never,
  };
};

afterEach(() => {
  vi.restoreAllMocks();
});

describe('idempotency events', () => {
  it('report one decision per request, and each store call with its operation and duration', async () => {
    const events: IdempotencyEvent[] = [];
    const engine = new IdempotencyEngine(new MemoryStore(), {
      onEvent: (event) => events.push(event),
    });
    const first = await engine.begin(idempotentRequest(), keyPolicy);
    if (first.action !== 'proceed') throw new Error(first.action);
    await first.execution.finish({ status: 201, headers: {}, body: Buffer.from('{}') });
    expect(events.map((event) => event.type)).toEqual(['store-call', 'decision', 'store-call']);
    expect(events[1]).toEqual({
      area: 'idempotency',
      type: 'decision',
      route: '/payments/:account',
      method: 'POST',
      outcome: 'first-execution',
      strategy: 'key',
    });
    expect(events[0]).toMatchObject({ operation: 'begin', ok: true });
    expect(events[2]).toMatchObject({ operation: 'complete', ok: true });
    for (const event of [events[0], events[2]]) {
      if (event?.type !== 'store-call') throw new Error('expected a store call');
      expect(event.durationMs).toBeGreaterThanOrEqual(0);
      expect(event.durationMs).toBeLessThan(1_000);
    }
  });

  it('never carry the key, the principal or the address', async () => {
    const events: IdempotencyEvent[] = [];
    const engine = new IdempotencyEngine(new MemoryStore(), {
      onEvent: (event) => events.push(event),
    });
    const policy = resolveIdempotencyPolicy({ strategy: 'fingerprint' }, undefined, {
      decorated: true,
    });
    await engine.begin(idempotentRequest(), keyPolicy);
    await engine.begin(idempotentRequest(), keyPolicy);
    await engine.begin(idempotentRequest(KEY, { amount: 2 }), keyPolicy);
    await engine.begin({ ...idempotentRequest(), scope: undefined }, policy);
    const text = JSON.stringify(events);
    expect(text).not.toContain(KEY);
    expect(text).not.toContain('alice');
    expect(text).not.toContain(ADDRESS);
    expect(events.flatMap((event) => (event.type === 'decision' ? [event.outcome] : []))).toEqual([
      'first-execution',
      'in-progress',
      'key-reused',
      'first-execution',
    ]);
  });

  it('report a failed store call with its error, then the store-unavailable decision', async () => {
    const events: IdempotencyEvent[] = [];
    const engine = new IdempotencyEngine(silentStore(), {
      onEvent: (event) => events.push(event),
    });
    const policy = resolveIdempotencyPolicy({ storeTimeout: 50 }, undefined, { decorated: true });
    await engine.begin(idempotentRequest(), policy);
    expect(events).toMatchObject([
      { type: 'store-call', operation: 'begin', ok: false },
      { type: 'store-unavailable', policy: 'reject' },
      {
        type: 'decision',
        outcome: 'store-unavailable-rejected',
        code: 'TOLLGATE_STORE_UNAVAILABLE',
      },
    ]);
    const call = events[0];
    if (call?.type !== 'store-call') throw new Error('expected a store call');
    expect(call.durationMs).toBeGreaterThanOrEqual(45);
    expect(call.error?.name).toBe('StoreUnavailableError');
  });

  it('without onEvent: failures only, on the console, one line per kind every 10 s', async () => {
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => undefined);
    const quiet = new IdempotencyEngine(new MemoryStore());
    for (let i = 0; i < 3; i++) await quiet.begin(idempotentRequest(randomUUID()), keyPolicy);
    expect(warn).not.toHaveBeenCalled();

    const failing = new IdempotencyEngine(silentStore());
    const policy = resolveIdempotencyPolicy({ storeTimeout: 20 }, undefined, { decorated: true });
    for (let i = 0; i < 5; i++) await failing.begin(idempotentRequest(randomUUID()), policy);
    expect(warn).toHaveBeenCalledTimes(1);
    expect(String(warn.mock.calls[0]?.[0])).toMatch(
      /^tollgate: store unavailable, request to POST \/payments\/:account rejected with 503/,
    );
  });
});

describe('rate-limit events', () => {
  it('report one decision per request with the refusing limit, and the consume call', async () => {
    const events: RateLimitEvent[] = [];
    const engine = new RateLimitEngine(new MemoryStore(), {
      onEvent: (event) => events.push(event),
    });
    await engine.check(throttledRequest(), throttlePolicy);
    await engine.check(throttledRequest(), throttlePolicy);
    expect(events).toMatchObject([
      { area: 'rate-limit', type: 'store-call', operation: 'consume', ok: true },
      { type: 'decision', route: '/quotes', method: 'GET', outcome: 'allowed', limits: [] },
      { type: 'store-call', operation: 'consume', ok: true },
      { type: 'decision', outcome: 'throttled', limits: ['burst'] },
    ]);
    expect(JSON.stringify(events)).not.toMatch(/alice|203\.0\.113/);
  });

  it('without onEvent: store failures at most once every 10 s, decisions never', async () => {
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => undefined);
    await new RateLimitEngine(new MemoryStore()).check(throttledRequest(), throttlePolicy);
    expect(warn).not.toHaveBeenCalled();
    const failing = new RateLimitEngine(silentStore());
    const policy = resolveThrottlePolicy([
      { limits: { burst: { limit: 1, ttl: '10s' } }, settings: { storeTimeout: 20 } },
    ]);
    for (let i = 0; i < 4; i++) await failing.check(throttledRequest(), policy);
    expect(warn).toHaveBeenCalledTimes(1);
  });
});

describe('exclusive-lease events', () => {
  it('report the take, the release and their store calls, by the lease name', async () => {
    const events: ExclusiveLeaseEvent[] = [];
    const leases = new ExclusiveLeases(new MemoryStore(), {
      onEvent: (event) => events.push(event),
    });
    const lease = await leases.tryAcquire('nightly-report', { ttl: '5s' });
    await lease?.release();
    expect(events).toMatchObject([
      { area: 'lease', name: 'nightly-report', type: 'store-call', operation: 'lock', ok: true },
      { area: 'lease', name: 'nightly-report', type: 'lease-acquired' },
      { type: 'store-call', operation: 'release', ok: true },
      { type: 'lease-released' },
    ]);
  });
});

describe('TollgateModule onEvent', () => {
  it('one handler hears idempotency, rate limiting and leases; throttle.onEvent hears its own too', async () => {
    const all: TollgateEvent[] = [];
    const own: RateLimitEvent[] = [];
    const moduleRef = await Test.createTestingModule({
      imports: [
        TollgateModule.forRoot({
          onEvent: (event) => all.push(event),
          throttle: { onEvent: (event) => own.push(event) },
        }),
      ],
    }).compile();
    try {
      await moduleRef.get(IdempotencyEngine).begin(idempotentRequest(), keyPolicy);
      await moduleRef.get(RateLimitEngine).check(throttledRequest(), throttlePolicy);
      const lease = await moduleRef.get(ExclusiveLeases).tryAcquire('job', { ttl: '5s' });
      await lease?.release();
      const decided = (area: string): number =>
        all.filter((event) => event.area === area && event.type !== 'store-call').length;
      expect(decided('idempotency')).toBe(1);
      expect(decided('rate-limit')).toBe(1);
      expect(decided('lease')).toBe(2);
      expect(own.map((event) => event.type)).toEqual(['store-call', 'decision']);
    } finally {
      await moduleRef.close();
    }
  });
});
