import { describe, expect, it } from 'vitest';

import { TollgateConfigError } from '../../src/core/errors.js';
import { AddressList, clientAddress } from '../../src/core/addresses.js';
import { RateLimitEngine } from '../../src/core/ratelimit/engine.js';
import type { RateLimitEvent } from '../../src/core/ratelimit/events.js';
import type { RateLimitRequest, ThrottleSettings } from '../../src/core/ratelimit/options.js';
import { resolveThrottlePolicy } from '../../src/core/ratelimit/policy.js';
import { MemoryStore } from '../../src/stores/memory/memory-store.js';

describe('AddressList', () => {
  const list = new AddressList(['10.0.0.0/8', '203.0.113.7', '2001:db8::/32', '::1'], 'test');

  it.each([
    ['10.200.3.4', true],
    ['11.0.0.1', false],
    ['203.0.113.7', true],
    ['203.0.113.8', false],
    ['::ffff:10.1.2.3', true],
    // The same IPv4-mapped address in hex form, as the one address module reads both.
    ['::ffff:a01:203', true],
    ['2001:db8:ffff::1', true],
    ['2001:db9::1', false],
    ['fe80::1%eth0', false],
    ['::1', true],
    ['not an address', false],
  ])('%s: %s', (address, expected) => {
    expect(list.has(address)).toBe(expected);
  });

  it.each([['10.0.0.0/33'], ['10.0.0/8'], ['example.com'], ['::1/129'], ['1.2.3.4/8/1'], [42]])(
    'refuses %j with a TollgateConfigError naming the option',
    (entry) => {
      expect(() => new AddressList([entry as string], 'denyList')).toThrow(TollgateConfigError);
      expect(() => new AddressList([entry as string], 'denyList')).toThrow(/denyList has/);
    },
  );
});

describe('clientAddress behind proxies trusted by address', () => {
  const proxies = new AddressList(['10.0.0.0/8'], 'trustProxy');

  it('walks from the right past trusted proxies to the first address that is not one', () => {
    expect(clientAddress('10.0.0.1', '198.51.100.7, 10.0.0.9', proxies)).toBe('198.51.100.7');
    // The client wrote its own leftmost entry: not believed past the first untrusted one.
    expect(clientAddress('10.0.0.1', '1.1.1.1, 198.51.100.7, 10.0.0.9', proxies)).toBe(
      '198.51.100.7',
    );
  });

  it('ignores the header when the peer itself is not a trusted proxy', () => {
    expect(clientAddress('198.51.100.7', '1.1.1.1', proxies)).toBe('198.51.100.7');
  });

  it('takes the leftmost entry when every one is a trusted proxy', () => {
    expect(clientAddress('10.0.0.1', '10.0.0.3, 10.0.0.2', proxies)).toBe('10.0.0.3');
    expect(clientAddress('10.0.0.1', undefined, proxies)).toBe('10.0.0.1');
  });
});

describe('the warning about X-Forwarded-For while no proxy is trusted', () => {
  const request = (forwarded?: string): RateLimitRequest => ({
    method: 'GET',
    route: '/x',
    principal: undefined,
    remoteAddress: '10.0.0.1',
    header: (name) => (name === 'x-forwarded-for' ? forwarded : undefined),
    raw: {},
  });
  const run = async (settings: ThrottleSettings, forwarded: Array<string | undefined>) => {
    const events: RateLimitEvent[] = [];
    // The warning only: decisions and store calls are reported too, to every listener.
    const engine = new RateLimitEngine(new MemoryStore(), {
      onEvent: (e) => {
        if (e.type === 'forwarded-for-ignored') events.push(e);
      },
    });
    const policy = resolveThrottlePolicy([{ limits: { a: { limit: 100, ttl: '1m' } }, settings }]);
    for (const header of forwarded) await engine.check(request(header), policy);
    return events;
  };

  it('is given once, on the first request that carries the header', async () => {
    const events = await run({}, [undefined, '198.51.100.7', '198.51.100.8']);
    expect(events).toMatchObject([{ type: 'forwarded-for-ignored', remoteAddress: '10.0.0.1' }]);
    expect(events).toHaveLength(1);
  });

  it.each([[{ trustProxy: 1 }], [{ trustProxy: ['10.0.0.0/8'] }], [{ trustProxy: 'framework' }]])(
    'is not given when proxies are trusted (%j)',
    async (settings) => {
      expect(await run(settings as ThrottleSettings, ['198.51.100.7'])).toEqual([]);
    },
  );
});
