import { describe, expect, it } from 'vitest';

import { toMilliseconds } from '../../src/core/duration.js';
import { TollgateConfigError, TollgateHttpError } from '../../src/core/errors.js';
import { canonicalJson, fingerprintRequest, MAX_BODY_DEPTH } from '../../src/core/fingerprint.js';
import { parseIdempotencyKey, storageKey, validateNamespace } from '../../src/core/keys.js';

const parse = (value: string | string[] | undefined): string | undefined =>
  parseIdempotencyKey(value, 'Idempotency-Key');

function expect400(value: string | string[]): TollgateHttpError {
  try {
    parse(value);
  } catch (error) {
    expect(error).toBeInstanceOf(TollgateHttpError);
    expect((error as TollgateHttpError).status).toBe(400);
    expect((error as TollgateHttpError).type).toMatch(/idempotency-key-invalid$/);
    return error as TollgateHttpError;
  }
  throw new Error(`expected ${JSON.stringify(value)} to be rejected`);
}

describe('parseIdempotencyKey', () => {
  it('accepts a raw token and the same token as a structured-field string', () => {
    expect(parse('abc-123')).toBe('abc-123');
    expect(parse('"abc-123"')).toBe('abc-123');
    expect(parse('"a\\"b\\\\c"')).toBe('a"b\\c');
  });

  it('returns undefined when the header is absent', () => {
    expect(parse(undefined)).toBeUndefined();
  });

  it('accepts 255 characters and rejects 256', () => {
    expect(parse('k'.repeat(255))).toHaveLength(255);
    expect(expect400('k'.repeat(256)).message).toMatch(/256 characters/);
  });

  it.each([
    ['empty', ''],
    ['empty quoted', '""'],
    ['only spaces', '   '],
    ['inner space', 'ab cd'],
    ['control character', 'ab\u0001cd'],
    ['tab', 'ab\tcd'],
    ['non-ASCII', 'clé'],
    ['emoji', 'key-🔑'],
    ['unterminated quote', '"abc'],
    ['bad escape', '"a\\nb"'],
    ['unescaped inner quote', '"a"b"'],
    ['DEL character', 'ab\u007f'],
  ])('rejects a malformed key (%s) with a 400', (_, value) => {
    expect400(value);
  });

  it('rejects a header sent twice', () => {
    expect400(['a', 'b']);
  });
});

describe('canonicalJson', () => {
  it('sorts object keys at every depth and keeps array order', () => {
    const a = { b: 1, a: { d: [3, { z: 1, y: 2 }], c: null } };
    const b = { a: { c: null, d: [3, { y: 2, z: 1 }] }, b: 1 };
    expect(canonicalJson(a)).toBe(canonicalJson(b));
    expect(canonicalJson(a)).toBe('{"a":{"c":null,"d":[3,{"y":2,"z":1}]},"b":1}');
    expect(canonicalJson([2, 1])).not.toBe(canonicalJson([1, 2]));
  });

  it('drops what JSON drops, as JSON.stringify does', () => {
    expect(canonicalJson({ a: undefined, b: 1 })).toBe('{"b":1}');
    expect(canonicalJson([undefined])).toBe('[null]');
  });

  it('rejects a body nested deeper than the limit with a 400 rather than recursing without end', () => {
    let deep: unknown = 1;
    for (let i = 0; i < MAX_BODY_DEPTH + 5; i++) deep = [deep];
    expect(() => canonicalJson(deep)).toThrow(TollgateHttpError);
  });

  it('treats a __proto__ key as data', () => {
    const parsed: unknown = JSON.parse('{"__proto__":{"x":1},"a":1}');
    expect(canonicalJson(parsed)).toBe('{"__proto__":{"x":1},"a":1}');
  });
});

describe('fingerprintRequest', () => {
  const base = { method: 'POST', route: '/orders', body: { item: 'x', amount: 1 } };

  it('does not depend on key order', () => {
    expect(fingerprintRequest(base)).toBe(
      fingerprintRequest({ ...base, body: { amount: 1, item: 'x' } }),
    );
  });

  it('differs for another method, route, body or named header', () => {
    const reference = fingerprintRequest(base);
    expect(fingerprintRequest({ ...base, method: 'PUT' })).not.toBe(reference);
    expect(fingerprintRequest({ ...base, route: '/refunds' })).not.toBe(reference);
    expect(fingerprintRequest({ ...base, body: { item: 'x', amount: 2 } })).not.toBe(reference);
    expect(fingerprintRequest({ ...base, extra: [['header:x-tenant', 'a']] })).not.toBe(
      fingerprintRequest({ ...base, extra: [['header:x-tenant', 'b']] }),
    );
    expect(fingerprintRequest({ ...base, extra: [['header:x-tenant', '']] })).not.toBe(
      fingerprintRequest({ ...base, extra: [['header:x-tenant', undefined]] }),
    );
  });

  it('hashes non-JSON bodies as bytes, and a string body like its bytes', () => {
    const bytes = fingerprintRequest({ ...base, body: Buffer.from('hello') });
    expect(fingerprintRequest({ ...base, body: 'hello' })).toBe(bytes);
    expect(fingerprintRequest({ ...base, body: Buffer.from('hellO') })).not.toBe(bytes);
    // A JSON string body is not confused with the same text sent as raw bytes.
    expect(fingerprintRequest({ ...base, body: { s: 'hello' } })).not.toBe(bytes);
  });
});

describe('storageKey', () => {
  it('hashes every part into one hash tag, so no client input reaches Redis', () => {
    const key = storageKey('tollgate', 'key', [
      'scope',
      'POST',
      '/orders',
      'evil}{key:*\r\nFLUSHALL',
    ]);
    expect(key).toMatch(/^tollgate:key:\{[A-Za-z0-9_-]{32}\}$/);
  });

  it('never confuses two different lists of parts', () => {
    expect(storageKey('n', 'k', ['ab', 'c'])).not.toBe(storageKey('n', 'k', ['a', 'bc']));
    expect(storageKey('n', 'k', ['a:b'])).not.toBe(storageKey('n', 'k', ['a', 'b']));
  });

  it('validates the namespace at start-up', () => {
    expect(validateNamespace('my-app.v2')).toBe('my-app.v2');
    expect(() => validateNamespace('has space')).toThrow(TollgateConfigError);
    expect(() => validateNamespace('{tag}')).toThrow(TollgateConfigError);
  });
});

describe('toMilliseconds', () => {
  it('reads numbers and unit strings', () => {
    expect(toMilliseconds(250, 'x')).toBe(250);
    expect(toMilliseconds('5s', 'x')).toBe(5_000);
    expect(toMilliseconds('1.5m', 'x')).toBe(90_000);
    expect(toMilliseconds('24h', 'x')).toBe(86_400_000);
    expect(toMilliseconds('1d', 'x')).toBe(86_400_000);
  });

  it('names the option in the error', () => {
    expect(() => toMilliseconds('5 weeks', 'retention')).toThrow(/retention/);
    expect(() => toMilliseconds(0, 'lease')).toThrow(/lease must be at least 1 ms/);
  });
});
