import { describe, expect, it } from 'vitest';

import type { RateLimitRequest } from '../../src/core/ratelimit/options.js';
import { clientAddress, groupAddress, parseIPv6 } from '../../src/core/addresses.js';
import { resolveTracker } from '../../src/core/ratelimit/tracker.js';

function request(overrides: Partial<RateLimitRequest> & { xff?: string } = {}): RateLimitRequest {
  const { xff, ...rest } = overrides;
  return {
    method: 'GET',
    route: '/quotes',
    principal: undefined,
    remoteAddress: '10.0.0.1',
    header: (name) => (name === 'x-forwarded-for' ? xff : undefined),
    raw: {},
    ...rest,
  };
}

const settings = { tracker: undefined, trustProxy: 1, ipv4Prefix: 32, ipv6Prefix: 64 };

describe('clientAddress', () => {
  it('uses the socket address and ignores X-Forwarded-For when no proxy is trusted', () => {
    expect(clientAddress('10.0.0.1', '203.0.113.9', 0)).toBe('10.0.0.1');
  });

  it('takes the entry the trusted proxy appended, never the leftmost one the client wrote', () => {
    // The client sent "X-Forwarded-For: 6.6.6.6"; the proxy appended the real peer.
    expect(clientAddress('10.0.0.1', '6.6.6.6, 203.0.113.9', 1)).toBe('203.0.113.9');
    expect(clientAddress('10.0.0.1', '6.6.6.6, 7.7.7.7, 203.0.113.9', 1)).toBe('203.0.113.9');
  });

  it('counts hops from the right across repeated header lines', () => {
    expect(clientAddress('10.0.0.2', ['6.6.6.6, 203.0.113.9', '10.0.0.1'], 2)).toBe('203.0.113.9');
  });

  it('takes the leftmost entry only when the chain is shorter than the trusted hops', () => {
    // Nothing in a chain this short can have come from the client.
    expect(clientAddress('10.0.0.2', '203.0.113.9', 3)).toBe('203.0.113.9');
    expect(clientAddress('10.0.0.2', undefined, 1)).toBe('10.0.0.2');
  });

  it('strips ports that some proxies write', () => {
    expect(clientAddress('10.0.0.1', '203.0.113.9:51234', 1)).toBe('203.0.113.9');
    expect(clientAddress('10.0.0.1', '[2001:db8::1]:443', 1)).toBe('2001:db8::1');
  });
});

describe('groupAddress', () => {
  it('keeps an IPv4 address, or groups it by a configured prefix', () => {
    expect(groupAddress('203.0.113.9')).toBe('203.0.113.9');
    expect(groupAddress('203.0.113.9', 24)).toBe('203.0.113.0/24');
  });

  it('groups IPv6 by /64, so addresses of one host share a counter', () => {
    expect(groupAddress('2001:db8:1:2::a')).toBe('2001:db8:1:2:0:0:0:0/64');
    expect(groupAddress('2001:db8:1:2:ffff:1:2:3')).toBe(groupAddress('2001:db8:1:2::b'));
    expect(groupAddress('2001:db8:1:3::a')).not.toBe(groupAddress('2001:db8:1:2::a'));
    expect(groupAddress('2001:db8:1:2::a', 32, 48)).toBe('2001:db8:1:0:0:0:0:0/48');
    expect(groupAddress('2001:db8:1:2::a', 32, 56)).toBe(groupAddress('2001:db8:1:ff::a', 32, 56));
    expect(groupAddress('fe80::1%eth0')).toBe('fe80:0:0:0:0:0:0:0/64');
  });

  it('counts IPv4-mapped IPv6, dotted or in hex, as the IPv4 address', () => {
    expect(groupAddress('::ffff:203.0.113.9')).toBe('203.0.113.9');
    expect(groupAddress('::ffff:cb00:7109')).toBe('203.0.113.9');
    expect(groupAddress('::FFFF:203.0.113.9', 24)).toBe('203.0.113.0/24');
  });

  it('keeps anything that is not an IP address as it is, bounded', () => {
    expect(groupAddress('unknown')).toBe('unknown');
    expect(groupAddress('x'.repeat(1000))).toHaveLength(256);
  });
});

describe('parseIPv6', () => {
  it('expands :: anywhere and a dotted IPv4 tail', () => {
    expect(parseIPv6('::')).toEqual([0, 0, 0, 0, 0, 0, 0, 0]);
    expect(parseIPv6('::1')).toEqual([0, 0, 0, 0, 0, 0, 0, 1]);
    expect(parseIPv6('1::')).toEqual([1, 0, 0, 0, 0, 0, 0, 0]);
    expect(parseIPv6('1:2::7:8')).toEqual([1, 2, 0, 0, 0, 0, 7, 8]);
    expect(parseIPv6('64:ff9b::192.0.2.33')).toEqual([0x64, 0xff9b, 0, 0, 0, 0, 0xc000, 0x0221]);
    expect(parseIPv6('1:2:3:4:5:6:1.2.3.4')).toEqual([1, 2, 3, 4, 5, 6, 0x0102, 0x0304]);
    expect(parseIPv6('not-an-address')).toBeUndefined();
  });
});

describe('resolveTracker', () => {
  it('counts an authenticated principal, wherever it comes from', async () => {
    expect(await resolveTracker(request({ principal: '["alice"]' }), settings)).toBe(
      'principal:["alice"]',
    );
  });

  it('counts an anonymous request by its grouped client address behind the trusted proxy', async () => {
    expect(await resolveTracker(request({ xff: '6.6.6.6, ::ffff:203.0.113.9' }), settings)).toBe(
      'address:203.0.113.9',
    );
  });

  it('keeps principals and addresses apart even when they read the same', async () => {
    const asUser = await resolveTracker(request({ principal: '203.0.113.9' }), settings);
    const asAddress = await resolveTracker(request({ xff: '203.0.113.9' }), settings);
    expect(asUser).not.toBe(asAddress);
  });

  it('asks a custom tracker first, and falls back when it has no answer', async () => {
    const byApiKey = {
      ...settings,
      tracker: (req: RateLimitRequest) => req.header('x-api-key') as string | undefined,
    };
    const withKey = request({
      header: (name) => (name === 'x-api-key' ? 'key-1' : undefined),
      principal: '["alice"]',
    });
    expect(await resolveTracker(withKey, byApiKey)).toBe('custom:key-1');
    expect(await resolveTracker(request({ principal: '["alice"]' }), byApiKey)).toBe(
      'principal:["alice"]',
    );
    const asyncTracker = { ...settings, tracker: async () => 'tenant-7' };
    expect(await resolveTracker(request(), asyncTracker)).toBe('custom:tenant-7');
  });

  it('counts requests without any address together rather than failing', async () => {
    expect(await resolveTracker(request({ remoteAddress: undefined }), settings)).toBe(
      'address:unknown',
    );
  });
});
