import { describe, expect, it } from 'vitest';

import { TollgateConfigError, type TollgateHttpError } from '../../src/core/errors.js';
import { RateLimitEngine } from '../../src/core/ratelimit/engine.js';
import type { RateLimitDecision } from '../../src/core/ratelimit/decision.js';
import type { RateLimitEvent } from '../../src/core/ratelimit/events.js';
import { policyHeaderValue, rateLimitHeaderValue } from '../../src/core/ratelimit/headers.js';
import { InProcessRateLimiter } from '../../src/core/ratelimit/in-process.js';
import type {
  RateLimitRequest,
  ThrottleLayer,
  ThrottleLimits,
  ThrottlePolicy,
  ThrottleSettings,
} from '../../src/core/ratelimit/options.js';
import { validateThrottleOptions } from '../../src/core/ratelimit/option-names.js';
import {
  resolveThrottlePolicy,
  validateThrottleDefaults,
  validateThrottleLayer,
} from '../../src/core/ratelimit/policy.js';
import { MemoryStore } from '../../src/stores/memory/memory-store.js';
import type { RateLimitStore, RecordInvalidations } from '../../src/core/store.js';
import { FakeClock } from '../helpers/fake-clock.js';

function request(overrides: Partial<RateLimitRequest> = {}): RateLimitRequest {
  return {
    method: 'GET',
    route: '/quotes',
    principal: undefined,
    remoteAddress: '203.0.113.9',
    header: () => undefined,
    raw: {},
    ...overrides,
  };
}

const policy = (limits: ThrottleLimits, settings: ThrottleSettings = {}): ThrottlePolicy =>
  resolveThrottlePolicy([{ limits, settings }]);

function setup(options: { events?: RateLimitEvent[] } = {}) {
  const clock = new FakeClock();
  const store = new MemoryStore({ clock });
  const engine = new RateLimitEngine(store, {
    clock,
    onEvent: (event) => options.events?.push(event),
  });
  return { clock, store, engine };
}

function rejection(decision: RateLimitDecision): TollgateHttpError {
  if (decision.action !== 'reject') throw new Error(`expected a rejection, got ${decision.action}`);
  return decision.error;
}

describe('RateLimitEngine', () => {
  it('allows up to the limit with RateLimit headers, then rejects with a 429 problem', async () => {
    const { engine } = setup();
    const quotes = policy({ default: { limit: 2, ttl: '10s' } });
    const first = await engine.check(request(), quotes);
    expect(first).toMatchObject({
      action: 'allow',
      headers: { 'RateLimit-Policy': '"default";q=2;w=10', RateLimit: '"default";r=1;t=10' },
    });
    await engine.check(request(), quotes);
    const error = rejection(await engine.check(request(), quotes));
    expect(error.status).toBe(429);
    expect(error.code).toBe('TOLLGATE_RATE_LIMITED');
    expect(error.headers).toEqual({
      'RateLimit-Policy': '"default";q=2;w=10',
      RateLimit: '"default";r=0;t=10',
      'Retry-After': '10',
    });
    expect(error.toProblem()).toMatchObject({
      type: 'https://unpkg.com/tollgate/docs/problems/rate-limited.md',
      title: 'Too many requests',
      status: 429,
      limits: ['default'],
    });
  });

  it('rounds Retry-After up to whole seconds, never earlier than the real reset', async () => {
    const { engine, clock } = setup();
    const tight = policy({ default: { limit: 1, ttl: '10s', algorithm: 'fixed-window' } });
    await engine.check(request(), tight);
    // 8999 ms are left: a client told "8" would come back 999 ms too early.
    clock.advance(1_001);
    const error = rejection(await engine.check(request(), tight));
    expect(error.headers['Retry-After']).toBe('9');
    clock.advance(8_998);
    expect((await engine.check(request(), tight)).action).toBe('reject');
    clock.advance(1);
    expect((await engine.check(request(), tight)).action).toBe('allow');
  });

  it('names only the exhausted limits and keeps the others whole (all-or-nothing)', async () => {
    const { engine } = setup();
    const search = policy({
      burst: { limit: 1, ttl: '1s' },
      sustained: { limit: 10, ttl: '1m', algorithm: 'token-bucket' },
    });
    await engine.check(request(), search);
    for (let i = 0; i < 3; i++) {
      const error = rejection(await engine.check(request(), search));
      expect(error.toProblem()).toMatchObject({ limits: ['burst'] });
      expect(error.headers.RateLimit).toBe('"burst";r=0;t=1, "sustained";r=9;t=6');
    }
  });

  it('sends headers always, only when limited, or never, as configured', async () => {
    const { engine } = setup();
    const limits = { default: { limit: 1, ttl: '10s' } } as const;
    const whenLimited = policy(limits, { headers: 'when-limited' });
    expect(await engine.check(request(), whenLimited)).toMatchObject({ headers: {} });
    expect(Object.keys(rejection(await engine.check(request(), whenLimited)).headers)).toEqual([
      'RateLimit-Policy',
      'RateLimit',
      'Retry-After',
    ]);
    const never = policy(limits, { headers: 'never' });
    const other = request({ remoteAddress: '203.0.113.10' });
    expect(await engine.check(other, never)).toMatchObject({ headers: {} });
    expect(rejection(await engine.check(other, never)).headers).toEqual({ 'Retry-After': '10' });
  });

  it('keeps one counter per route and client unless a key function shares one', async () => {
    const { engine } = setup();
    const one = policy({ default: { limit: 1, ttl: '10s' } });
    await engine.check(request(), one);
    expect((await engine.check(request({ route: '/other' }), one)).action).toBe('allow');
    expect((await engine.check(request({ method: 'POST' }), one)).action).toBe('allow');
    expect((await engine.check(request({ remoteAddress: '203.0.113.10' }), one)).action).toBe(
      'allow',
    );
    expect((await engine.check(request(), one)).action).toBe('reject');

    const shared = policy({ default: { limit: 1, ttl: '10s' } }, { key: () => 'whole-api' });
    const client = { remoteAddress: '198.51.100.1' };
    await engine.check(request({ ...client, route: '/a' }), shared);
    expect((await engine.check(request({ ...client, route: '/b' }), shared)).action).toBe('reject');
  });

  it('counts by a custom tracker such as an API key', async () => {
    const { engine } = setup();
    const byKey = policy(
      { default: { limit: 1, ttl: '10s' } },
      { tracker: (req) => req.header('x-api-key') as string | undefined },
    );
    const withKey = (key: string, address: string) =>
      request({
        remoteAddress: address,
        header: (name) => (name === 'x-api-key' ? key : undefined),
      });
    await engine.check(withKey('k1', '203.0.113.1'), byKey);
    // Same key from another address: the same client.
    expect((await engine.check(withKey('k1', '203.0.113.2'), byKey)).action).toBe('reject');
    expect((await engine.check(withKey('k2', '203.0.113.1'), byKey)).action).toBe('allow');
  });

  it('does nothing, and asks no store, for a route without limits', async () => {
    const engine = new RateLimitEngine({
      consume: () => Promise.reject(new Error('must not be called')),
    });
    expect(await engine.check(request(), policy({}))).toEqual({
      action: 'allow',
      headers: {},
      result: undefined,
    });
  });

  it('refuses a store that cannot rate limit with a config error that says what to do', async () => {
    const engine = new RateLimitEngine({});
    expect(engine.storeSupportsRateLimiting).toBe(false);
    await expect(
      engine.check(request(), policy({ default: { limit: 1, ttl: '1s' } })),
    ).rejects.toMatchObject({ code: 'TOLLGATE_STORE_CANNOT_RATE_LIMIT' });
  });
});

describe('RateLimitEngine when the store cannot be reached', () => {
  const failing: Partial<RateLimitStore> = {
    consume: () => Promise.reject(new Error('ECONNREFUSED')),
  };
  const silent: Partial<RateLimitStore> = { consume: () => new Promise(() => undefined) };

  it('allow (default): passes without counting, sends only the policy, and reports it', async () => {
    const events: RateLimitEvent[] = [];
    const engine = new RateLimitEngine(failing, { onEvent: (event) => events.push(event) });
    const decision = await engine.check(request(), policy({ default: { limit: 1, ttl: '1s' } }));
    expect(decision).toEqual({
      action: 'allow',
      headers: { 'RateLimit-Policy': '"default";q=1;w=1' },
      result: undefined,
    });
    expect(events).toMatchObject([
      { type: 'store-call', operation: 'consume', ok: false },
      { type: 'store-unavailable', outcome: 'allowed', limits: { default: 'allow' } },
      { type: 'decision', outcome: 'store-unavailable-allowed', limits: [] },
    ]);
    const failure = events.find((event) => event.type === 'store-unavailable');
    expect(failure?.error.message).toMatch(/ECONNREFUSED/);
  });

  it('reject: answers 503 within the deadline when the store is silent', async () => {
    const engine = new RateLimitEngine(silent, { onEvent: () => undefined });
    const started = Date.now();
    const error = rejection(
      await engine.check(
        request(),
        policy(
          { default: { limit: 1, ttl: '1s', onStoreUnavailable: 'reject' } },
          { storeTimeout: '50ms' },
        ),
      ),
    );
    expect(Date.now() - started).toBeLessThan(1_000);
    expect(error.status).toBe(503);
    expect(error.headers).toEqual({ 'Retry-After': '1' });
    expect(error.toProblem()).toMatchObject({
      type: 'https://unpkg.com/tollgate/docs/problems/store-unavailable.md',
      limits: ['default'],
    });
  });

  it('local: counts in this process, only the limits that say so, until the store answers', async () => {
    const { engine, outage } = engineWithOutage();
    const mixed = policy({
      local: { limit: 2, ttl: '10s', onStoreUnavailable: 'local' },
      open: { limit: 1, ttl: '10s' },
    });
    const first = await engine.check(request(), mixed);
    expect(first).toMatchObject({
      action: 'allow',
      headers: { 'RateLimit-Policy': '"local";q=2;w=10', RateLimit: '"local";r=1;t=10' },
    });
    await engine.check(request(), mixed);
    const error = rejection(await engine.check(request(), mixed));
    expect(error.status).toBe(429);
    expect(error.toProblem()).toMatchObject({ limits: ['local'] });
    // Once the store answers, it decides again (its own counters, untouched by the outage).
    outage.down = false;
    expect(await engine.check(request(), mixed)).toMatchObject({
      action: 'allow',
      headers: { RateLimit: '"local";r=1;t=10, "open";r=0;t=10' },
    });
  });

  it('local: a reset lifts the client in the in-process counters too', async () => {
    const { engine, outage } = engineWithOutage();
    const login = policy({ tries: { limit: 1, ttl: '1m', onStoreUnavailable: 'local' } });
    expect((await engine.check(request(), login)).action).toBe('allow');
    expect(rejection(await engine.check(request(), login)).status).toBe(429);
    // The store is back; an admin resets the client (a support tool, a successful login).
    outage.down = false;
    const key = await engine.clientKey(request(), login);
    await engine.reset(key, login.rules);
    // The store goes down again within the minute: the client starts afresh there too.
    outage.down = true;
    expect((await engine.check(request(), login)).action).toBe('allow');
  });

  it('reject wins over local and allow when limits of one route disagree', async () => {
    const engine = new RateLimitEngine(failing, { onEvent: () => undefined });
    const error = rejection(
      await engine.check(
        request(),
        policy({
          a: { limit: 1, ttl: '1s', onStoreUnavailable: 'local' },
          b: { limit: 1, ttl: '1s', onStoreUnavailable: 'reject' },
          c: { limit: 1, ttl: '1s' },
        }),
      ),
    );
    expect(error.status).toBe(503);
    expect(error.toProblem()).toMatchObject({ limits: ['b'] });
  });

  it('bounds the in-process fallback by localMaxKeys', () => {
    const limiter = new InProcessRateLimiter({ maxKeys: 3 });
    const rule = {
      name: 'default',
      limit: 1,
      windowMs: 60_000,
      algorithm: 'sliding-window' as const,
      cost: 1,
      blockMs: 0,
    };
    for (let i = 0; i < 10; i++) limiter.consumeNow(`key-${i}`, [rule]);
    expect(limiter.size).toBe(3);
    expect(() => new RateLimitEngine(failing, { localMaxKeys: 0 })).toThrow(
      /TOLLGATE_INVALID_LOCAL_MAX_KEYS/,
    );
  });
});

describe('RateLimitEngine with a block cache', () => {
  it('counts a cached refusal down from when the answer arrived: Retry-After never too short', async () => {
    const clock = new FakeClock();
    const refusedAt: number[] = [];
    // A store 50 ms away: it decides when the call arrives, and its times count from then.
    const store: Partial<RateLimitStore> & { invalidations(): RecordInvalidations } = {
      consume: async () => {
        clock.advance(50);
        refusedAt.push(clock.now());
        return {
          allowed: false,
          retryAfterMs: 10_000,
          refusedForMs: 10_000,
          limits: [
            {
              name: 'default',
              allowed: false,
              remaining: 0,
              resetMs: 10_000,
              retryAfterMs: 10_000,
            },
          ],
        };
      },
      invalidations: () => ({ epoch: 1, listen: () => undefined }),
    };
    const engine = new RateLimitEngine(store, {
      clock,
      blockCache: true,
      onEvent: () => undefined,
    });
    const quotes = policy({ default: { limit: 1, ttl: '10s', algorithm: 'fixed-window' } });
    rejection(await engine.check(request(), quotes));
    const admitsAt = (refusedAt[0] as number) + 10_000;
    clock.advance(950);
    const cached = await engine.check(request(), quotes);
    // Answered from the cache: the store was asked once.
    expect(refusedAt).toHaveLength(1);
    const error = rejection(cached);
    const left = admitsAt - clock.now();
    expect(cached.result?.retryAfterMs).toBeGreaterThanOrEqual(left);
    expect(Number(error.headers['Retry-After']) * 1_000).toBeGreaterThanOrEqual(left);
  });
});

describe('resolveThrottlePolicy', () => {
  const base: ThrottleLayer = {
    limits: { default: { limit: 10, ttl: '1m' }, daily: { limit: 1000, ttl: '1d' } },
    settings: { trustProxy: 1, headers: 'when-limited' },
  };

  it('defaults: sliding window, cost 1, no block, allow when the store is down, headers always', () => {
    const resolved = resolveThrottlePolicy([{ limits: { default: { limit: 5, ttl: '10s' } } }]);
    expect(resolved).toMatchObject({
      limits: [
        {
          name: 'default',
          limit: 5,
          windowMs: 10_000,
          algorithm: 'sliding-window',
          cost: 1,
          blockMs: 0,
          onStoreUnavailable: 'allow',
        },
      ],
      trustProxy: 0,
      ipv6Prefix: 64,
      ipv4Prefix: 32,
      headers: 'always',
      storeTimeoutMs: 1_000,
      policyHeader: '"default";q=5;w=10',
    });
  });

  it('merges layers by limit name: a later layer may change some fields or add a limit', () => {
    const resolved = resolveThrottlePolicy([
      base,
      { limits: { default: { limit: 3 } } },
      { limits: { burst: { limit: 2, ttl: '1s' } }, settings: { headers: 'always' } },
    ]);
    expect(resolved.limits.map((limit) => [limit.name, limit.limit, limit.windowMs])).toEqual([
      ['default', 3, 60_000],
      ['daily', 1000, 86_400_000],
      ['burst', 2, 1_000],
    ]);
    expect(resolved.trustProxy).toBe(1);
    expect(resolved.headers).toBe('always');
  });

  it('never lets an explicit undefined erase an earlier setting', () => {
    expect(resolveThrottlePolicy([base, { settings: { trustProxy: undefined } }]).trustProxy).toBe(
      1,
    );
  });

  it('never lets an explicit undefined erase a field of a limit an earlier layer gave', () => {
    // A handler's limit read from optional configuration: `blockDuration: config.block` where
    // `config.block` is unset must keep the module's block, not drop it (and weaken the limit).
    const resolved = resolveThrottlePolicy([
      {
        limits: {
          login: {
            limit: 6,
            ttl: '1m',
            algorithm: 'fixed-window',
            cost: 2,
            blockDuration: '15m',
            onStoreUnavailable: 'reject',
          },
        },
      },
      {
        limits: {
          login: {
            limit: 10,
            ttl: undefined,
            algorithm: undefined,
            cost: undefined,
            blockDuration: undefined,
            onStoreUnavailable: undefined,
          },
        },
      },
    ]);
    expect(resolved.limits[0]).toMatchObject({
      limit: 10,
      windowMs: 60_000,
      algorithm: 'fixed-window',
      cost: 2,
      blockMs: 900_000,
      onStoreUnavailable: 'reject',
    });
  });

  it('leaves out skipped limits', () => {
    const resolved = resolveThrottlePolicy([base], (name) => name === 'daily');
    expect(resolved.limits.map((limit) => limit.name)).toEqual(['default']);
    expect(resolved.policyHeader).toBe('"default";q=10;w=60');
  });

  it.each([
    [{ limits: { 'bad name': { limit: 1, ttl: '1s' } } }, 'TOLLGATE_INVALID_LIMIT_NAME'],
    [{ limits: { a: { limit: 0, ttl: '1s' } } }, 'TOLLGATE_INVALID_LIMIT'],
    [{ limits: { a: { limit: 1.5, ttl: '1s' } } }, 'TOLLGATE_INVALID_LIMIT'],
    [{ limits: { a: { limit: 1 } } }, 'TOLLGATE_INCOMPLETE_LIMIT'],
    [{ limits: { a: { limit: 1, ttl: '1 week' } } }, 'TOLLGATE_INVALID_DURATION'],
    [{ limits: { a: { limit: 1, ttl: '1s', algorithm: 'leaky' } } }, 'TOLLGATE_INVALID_ALGORITHM'],
    [{ limits: { a: { limit: 2, ttl: '1s', cost: 3 } } }, 'TOLLGATE_INVALID_COST'],
    [{ limits: { a: { limit: 2, ttl: '1s', cost: 0 } } }, 'TOLLGATE_INVALID_COST'],
    [
      { limits: { a: { limit: 1, ttl: '1s', blockDuration: 'soon' } } },
      'TOLLGATE_INVALID_DURATION',
    ],
    [
      { limits: { a: { limit: 1, ttl: '1s', onStoreUnavailable: 'retry' } } },
      'TOLLGATE_INVALID_STORE_POLICY',
    ],
    [{ settings: { trustProxy: true } }, 'TOLLGATE_INVALID_TRUST_PROXY'],
    [{ settings: { trustProxy: -1 } }, 'TOLLGATE_INVALID_TRUST_PROXY'],
    [{ settings: { ipv6Prefix: 129 } }, 'TOLLGATE_INVALID_IP_PREFIX'],
    [{ settings: { ipv4Prefix: 0 } }, 'TOLLGATE_INVALID_IP_PREFIX'],
    [{ settings: { headers: 'sometimes' } }, 'TOLLGATE_INVALID_HEADERS_MODE'],
    [{ settings: { tracker: 'ip' } }, 'TOLLGATE_INVALID_THROTTLE_FUNCTION'],
    [{ settings: { storeTimeout: 0 } }, 'TOLLGATE_INVALID_DURATION'],
    [{ limits: [] }, 'TOLLGATE_INVALID_LIMITS'],
    // A misspelled field (plain JavaScript, a config file) must not drop the block silently.
    [{ limits: { a: { limit: 1, ttl: '1s', blockDuraton: '1m' } } }, 'TOLLGATE_INVALID_LIMITS'],
  ])('refuses %j with %s and a message that says what to change', (layer, code) => {
    let thrown: unknown;
    try {
      resolveThrottlePolicy([layer as unknown as ThrottleLayer]);
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(TollgateConfigError);
    expect((thrown as TollgateConfigError).code).toBe(code);
    expect((thrown as Error).message).toMatch(/use|needs|must|give|may only/);
  });

  it('refuses a misspelled field on a decorator layer, at start-up', () => {
    expect(() =>
      validateThrottleLayer({
        limits: { default: { limit: 3, ttl: '1s', blockDuraton: '1m' } as never },
      }),
    ).toThrow(/TOLLGATE_INVALID_LIMITS/);
  });

  it.each(['skipSucessfulRequests', 'onRejected', 'blockCache'])(
    'refuses the setting %s on a decorator layer, which it would ignore',
    (field) => {
      expect(() =>
        validateThrottleLayer({
          limits: { default: { limit: 3, ttl: '1s' } },
          settings: { [field]: true } as never,
        }),
      ).toThrow(/TOLLGATE_INVALID_LIMITS/);
    },
  );

  it('lets a decorator give a partial limit that the module completes', () => {
    expect(() => validateThrottleLayer({ limits: { default: { limit: 3 } } })).not.toThrow();
    expect(() => validateThrottleLayer({ limits: { default: { cost: 2 } } })).not.toThrow();
    expect(() => validateThrottleLayer({ limits: { default: { limit: -1 } } })).toThrow(
      /TOLLGATE_INVALID_LIMIT/,
    );
    expect(() =>
      validateThrottleLayer({ limits: { default: { algorithm: 'x' as 'fixed-window' } } }),
    ).toThrow(/TOLLGATE_INVALID_ALGORITHM/);
  });
});

describe('a decorator layer', () => {
  it.each([
    [{ burst: null }, /limit "burst" must be an object/],
    [{ burst: 5 }, /limit "burst" must be an object/],
    [{ limit: 5, ttl: '10s' }, /limits are named: write \{ default:/],
  ])('refuses %j at once, naming the fix', (limits, message) => {
    for (const check of [
      () => validateThrottleLayer({ limits: limits as never }),
      () => resolveThrottlePolicy([{ limits: limits as never }]),
    ]) {
      expect(check).toThrow(TollgateConfigError);
      expect(check).toThrow(message);
    }
  });
});

describe('the names of a whole options object (throttle(), the module defaults)', () => {
  const source = { where: 'throttle(options)', own: ['limits', 'store', 'handler'] };
  const refusal = (options: unknown): TollgateConfigError => {
    try {
      validateThrottleOptions(options, source);
    } catch (error) {
      return error as TollgateConfigError;
    }
    throw new Error(`${JSON.stringify(options)} was accepted`);
  };

  it("takes the shared settings and the adapter's own options", () => {
    expect(() =>
      validateThrottleOptions(
        { limits: {}, store: undefined, handler: () => undefined, trustProxy: 1, headers: 'never' },
        source,
      ),
    ).not.toThrow();
  });

  it.each([
    // A near miss of an option: that option.
    [{ limits: {}, trustproxy: 1 }, '"trustproxy" (did you mean "trustProxy"?): use'],
    [{ limts: {} }, '"limts" (did you mean "limits"?): use'],
    [
      { limits: {}, skipSucessfulRequests: true },
      '"skipSucessfulRequests" (did you mean "skipSuccessfulRequests"?)',
    ],
    // A limit's field at the top level, spelled right, wrong, or as another library names it.
    [{ limt: 5 }, '"limt" (did you mean "limit"?): a limit\'s fields go inside a named limit'],
    [{ limits: {}, windw: '1m' }, '"windw" (did you mean "ttl"?): a limit\'s fields go inside'],
    [{ limit: 5, windowMs: 60_000 }, '"limit": a limit\'s fields go inside a named limit'],
    [{ max: 5 }, '"max" (did you mean "limit"?)'],
    // Nothing near: the list.
    [{ limits: {}, banana: 1 }, "\"banana\": use 'limits', 'store', 'handler', 'tracker'"],
  ])('refuses %j, naming the field and the fix', (options, message) => {
    const error = refusal(options);
    expect(error).toBeInstanceOf(TollgateConfigError);
    expect(error.code).toBe('TOLLGATE_INVALID_LIMITS');
    expect(error.message).toContain(`throttle(options) has no option ${message}`);
  });

  it.each([null, 5, [], 'limits'])('refuses %j: options are an object', (options) => {
    expect(refusal(options).message).toMatch(/^throttle\(options\) must be an object of options/);
  });

  it("checks the module's defaults by the same rule, then resolves them", () => {
    const module = { where: 'TollgateModule.forRoot({ throttle })', own: ['limits', 'onRejected'] };
    expect(() => validateThrottleDefaults({ limt: 5 } as never, module)).toThrow(
      /TollgateModule\.forRoot\(\{ throttle \}\) has no option "limt"/,
    );
    expect(validateThrottleDefaults(undefined, module)).toBeUndefined();
    const policy = validateThrottleDefaults(
      { limits: { default: { limit: 5, ttl: '10s' } }, headers: 'never' },
      module,
    );
    expect(policy?.policyHeader).toBe('"default";q=5;w=10');
  });

  it('names a misspelled field of a limit rather than the ttl it leaves missing', () => {
    expect(() =>
      resolveThrottlePolicy([{ limits: { a: { limit: 1, windw: '1m' } as never } }]),
    ).toThrow(/limit "a" has no field "windw" \(did you mean "ttl"\?\): use 'limit', 'ttl'/);
    expect(() =>
      validateThrottleLayer({ limits: {}, settings: { trustproxy: 1 } as never }),
    ).toThrow(/has no setting "trustproxy" \(did you mean "trustProxy"\?\)/);
  });
});

describe('rate-limit header values (draft-ietf-httpapi-ratelimit-headers)', () => {
  it('lists one member per named limit, in whole seconds rounded up', () => {
    expect(
      policyHeaderValue([
        { name: 'burst', limit: 3, windowMs: 1_000 },
        { name: 'daily', limit: 1000, windowMs: 86_400_000 },
        { name: 'half', limit: 1, windowMs: 500 },
      ]),
    ).toBe('"burst";q=3;w=1, "daily";q=1000;w=86400, "half";q=1;w=1');
    expect(
      rateLimitHeaderValue([
        { name: 'burst', allowed: false, remaining: 0, resetMs: 1, retryAfterMs: 1 },
        { name: 'daily', allowed: true, remaining: 997, resetMs: 86_399_001, retryAfterMs: 0 },
      ]),
    ).toBe('"burst";r=0;t=1, "daily";r=997;t=86400');
  });

  it('escapes names as structured-field strings', () => {
    expect(policyHeaderValue([{ name: 'a"b\\c', limit: 1, windowMs: 1_000 }])).toBe(
      '"a\\"b\\\\c";q=1;w=1',
    );
  });
});

/** An engine on a memory store whose `consume` fails while `outage.down`; reads and admin pass. */
function engineWithOutage(): { engine: RateLimitEngine; outage: { down: boolean } } {
  const clock = new FakeClock();
  const outage = { down: true };
  const store = new MemoryStore({ clock });
  const flaky: Partial<RateLimitStore> = {
    consume: (key, rules) =>
      outage.down ? Promise.reject(new Error('down')) : store.consume(key, rules),
    peek: (key, rules) => store.peek(key, rules),
    adjust: (key, rules, units) => store.adjust(key, rules, units),
    reset: (key, rules) => store.reset(key, rules),
  };
  return { engine: new RateLimitEngine(flaky, { clock, onEvent: () => undefined }), outage };
}
