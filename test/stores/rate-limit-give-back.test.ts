/**
 * A give-back (skipSuccessfulRequests / skipFailedRequests) lands only in what its request was
 * charged in: never in a window that started since (the give-back was delayed past the end of its
 * own), nor in counters an admin reset since. The store decides, with the charge's identity, not
 * the app from its own clock.
 */
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { RateLimitCharge } from '../../src/core/ratelimit/decision.js';
import { RateLimitEngine } from '../../src/core/ratelimit/engine.js';
import type { RateLimitRequest } from '../../src/core/ratelimit/options.js';
import { resolveThrottlePolicy } from '../../src/core/ratelimit/policy.js';
import type { RateLimitAlgorithm, RateLimitStore } from '../../src/core/store.js';
import { MemoryStore } from '../../src/stores/memory/memory-store.js';
import { RedisStore } from '../../src/stores/redis/redis-store.js';
import { QuorumStore } from '../../src/stores/quorum/quorum-store.js';
import { FakeClock } from '../helpers/fake-clock.js';
import { startRedis, type RedisServer } from '../helpers/redis-server.js';

const WINDOW_MS = 400;
const ALGORITHMS: RateLimitAlgorithm[] = ['fixed-window', 'sliding-window', 'token-bucket'];

const request = (): RateLimitRequest => ({
  method: 'POST',
  route: '/login',
  principal: randomUUID(),
  remoteAddress: undefined,
  header: () => undefined,
  raw: {},
});

/** A store whose `adjust` waits for `release()`: a give-back delayed on its way to the store. */
function withHeldAdjust(store: RateLimitStore): {
  store: RateLimitStore;
  release: () => void;
} {
  let release = (): void => undefined;
  const gate = new Promise<void>((resolve) => (release = resolve));
  const held: RateLimitStore = {
    consume: (...args) => store.consume(...args),
    peek: (...args) => store.peek(...args),
    reset: (...args) => store.reset(...args),
    adjust: async (...args) => {
      await gate;
      return store.adjust(...args);
    },
  };
  return { store: held, release };
}

interface Subject {
  name: string;
  /** A store ready to serve. */
  store: () => Promise<RateLimitStore>;
  /** Lets a window (and a whole token bucket) run out. */
  pass: (ms: number) => Promise<void>;
}

function giveBackSuite(subject: Subject): void {
  describe.each(ALGORITHMS)(`%s on ${subject.name}`, (algorithm) => {
    const policy = resolveThrottlePolicy([
      {
        limits: { tries: { limit: 2, ttl: WINDOW_MS, algorithm } },
        // Long enough for the held give-back below.
        settings: { skipFailedRequests: true, storeTimeout: '10s' },
      },
    ]);

    async function charged(engine: RateLimitEngine, req: RateLimitRequest) {
      const decision = await engine.check(req, policy);
      if (decision.action !== 'allow' || !decision.charge) throw new Error('not charged');
      return decision.charge;
    }

    async function remaining(engine: RateLimitEngine, charge: RateLimitCharge): Promise<number> {
      const state = await engine.peek(charge.key, charge.rules);
      return state.limits[0]?.remaining ?? -1;
    }

    it('takes nothing from the counters an admin reset started afresh', async () => {
      const engine = new RateLimitEngine(await subject.store(), { onEvent: () => undefined });
      const req = request();
      const first = await charged(engine, req);
      await engine.reset(first.key, first.rules);
      // A fixed window on Redis is told apart by its expiry time, in whole milliseconds.
      await subject.pass(5);
      const second = await charged(engine, req);
      expect(await remaining(engine, second)).toBe(1);
      // The first request fails after the reset: its unit was already forgotten.
      await engine.settle(first, 500);
      expect(await remaining(engine, second)).toBe(1);
    });

    it('takes nothing from a window that started after the one it was charged in', async () => {
      const held = withHeldAdjust(await subject.store());
      const engine = new RateLimitEngine(held.store, { onEvent: () => undefined });
      const req = request();
      const first = await charged(engine, req);
      // Sent while its window still runs, but the store gets it only after a new one started.
      const settled = engine.settle(first, 500);
      await subject.pass(WINDOW_MS + 100);
      const second = await charged(engine, req);
      expect(await remaining(engine, second)).toBe(1);
      held.release();
      await settled;
      expect(await remaining(engine, second)).toBe(1);
    });

    it('still gives back a charge that counts', async () => {
      const engine = new RateLimitEngine(await subject.store(), { onEvent: () => undefined });
      const req = request();
      const first = await charged(engine, req);
      const second = await charged(engine, req);
      expect(await remaining(engine, second)).toBe(0);
      await engine.settle(first, 500);
      expect(await remaining(engine, second)).toBe(1);
    });

    it('gives back a charge of more units than a script can pass to one command', async () => {
      // A sliding window keeps a member per unit: a give-back of 10,000 once overflowed Lua's stack.
      const heavy = resolveThrottlePolicy([
        {
          limits: { bulk: { limit: 20_000, ttl: '1h', cost: 10_000, algorithm } },
          settings: { skipFailedRequests: true },
        },
      ]);
      const engine = new RateLimitEngine(await subject.store(), { onEvent: () => undefined });
      const req = request();
      const first = await engine.check(req, heavy);
      const second = await engine.check(req, heavy);
      if (
        first.action !== 'allow' ||
        !first.charge ||
        second.action !== 'allow' ||
        !second.charge
      ) {
        throw new Error('not charged');
      }
      expect(await remaining(engine, second.charge)).toBe(0);
      await engine.settle(first.charge, 500);
      expect(await remaining(engine, second.charge)).toBe(10_000);
    });
  });
}

describe('a give-back lands only where its request was charged', () => {
  const clock = new FakeClock();
  giveBackSuite({
    name: 'the memory store',
    store: async () => new MemoryStore({ clock }),
    pass: async (ms) => clock.advance(ms),
  });

  let server: RedisServer;
  const stores: RedisStore[] = [];
  beforeAll(async () => {
    server = await startRedis();
  });
  afterAll(async () => {
    await Promise.all(stores.map((store) => store.close()));
    await server?.stop();
  });
  const redis = async (db = 0): Promise<RedisStore> => {
    const store = new RedisStore({ url: `${server.url}/${db}` });
    stores.push(store);
    await store.ready();
    return store;
  };
  giveBackSuite({ name: 'Redis', store: redis, pass: (ms) => sleep(ms) });
  giveBackSuite({
    name: 'a quorum of Redis stores',
    store: async () => {
      const quorum = new QuorumStore({ stores: [await redis(1), await redis(2), await redis(3)] });
      await quorum.ready();
      return quorum;
    },
    pass: (ms) => sleep(ms),
  });
});
