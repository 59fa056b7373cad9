import { describe, expect, it } from 'vitest';

import { toMilliseconds } from '../../src/core/duration.js';
import { TollgateConfigError, TollgateHttpError } from '../../src/core/errors.js';
import {
  canonicalJson,
  fingerprintRequest,
  MAX_BODY_DEPTH,
  sortedKeys,
} from '../../src/core/fingerprint.js';
import { parseIdempotencyKey, storageKey, validateNamespace } from '../../src/core/keys.js';

const parse = (value: string | string[] | undefined): string | undefined =>
  parseIdempotencyKey(value, 'Idempotency-Key');

function expect400(value: string | string[]): TollgateHttpError {
  try {
    parse(value);
  } catch (error) {
    expect(error).toBeInstanceOf(TollgateHttpError);
    expect((error as TollgateHttpError).status).toBe(400);
    expect((error as TollgateHttpError).type).toMatch(/idempotency-key-invalid\.md$/);
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

  // Node.js joins the lines of a header sent twice with ", ", and trims each line: a line with an
  // empty value leaves a comma at one end of the key, and no space inside it once trimmed.
  it.each([
    ['a key, then an empty line', 'abc, '],
    ['two empty lines', ', '],
  ])('rejects a header sent twice as Node.js joins it (%s) with a 400', (_, joined) => {
    expect(expect400(joined).message).toMatch(/exactly one/);
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

/** A small seeded generator (mulberry32), so a failing case can be reproduced from its seed. */
function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

/**
 * Key material where a hand-written sort is easy to get wrong: integer-like keys (which
 * Object.keys lists first, in numeric order), digit strings that are not array indices, the empty
 * string, shared prefixes, non-ASCII and astral-plane characters (compared by UTF-16 code unit, so
 * U+FFFF sorts after U+1F600), and lone surrogates.
 */
const KEY_PIECES = [
  '',
  'a',
  'a',
  'aa',
  'ab',
  'b',
  'B',
  'Z',
  '_',
  '-',
  ' ',
  '~',
  'id',
  'id_',
  'idx',
  '0',
  '1',
  '2',
  '9',
  '10',
  '01',
  '007',
  '-1',
  '1.5',
  '4294967294',
  '4294967295',
  '99999999999',
  'é',
  'e\u0301',
  'ß',
  'Ω',
  '中',
  '中文',
  'ﬀ',
  '\uffff',
  '\u{1f600}',
  '\u{1f600}a',
  '\u{1d49c}',
  '\u{10000}',
  '\ud800',
  '\udfff',
  '\u0000',
  '\n',
  '__proto__',
  'constructor',
  'toString',
];

function randomKey(random: () => number): string {
  const parts = 1 + Math.floor(random() * 3);
  let key = '';
  for (let i = 0; i < parts; i++) key += KEY_PIECES[Math.floor(random() * KEY_PIECES.length)];
  // Sometimes a key of digits alone, often integer-like.
  if (random() < 0.15) key = String(Math.floor(random() * 1_000));
  return key;
}

/** An object with `count` own enumerable string keys (fewer when a key repeats). */
function randomRecord(random: () => number, count: number): Record<string, unknown> {
  const record: Record<string, unknown> = {};
  for (let i = 0; i < count; i++) {
    // defineProperty, so a `__proto__` key is data rather than the prototype.
    Object.defineProperty(record, randomKey(random), {
      value: i,
      enumerable: true,
      writable: true,
      configurable: true,
    });
  }
  // Neither is listed by Object.keys, so neither may appear in the sorted keys.
  if (random() < 0.2) Object.defineProperty(record, 'hidden', { value: 1, enumerable: false });
  if (random() < 0.2) (record as Record<symbol, unknown>)[Symbol('s')] = 1;
  return record;
}

describe('sortedKeys', () => {
  it('returns exactly what Object.keys(o).sort() returns, for 0 to 40 keys of every kind', () => {
    const random = seededRandom(0x70_11_9a_7e);
    for (let count = 0; count <= 40; count++) {
      for (let round = 0; round < 40; round++) {
        const record = randomRecord(random, count);
        const expected = Object.keys(record).sort();
        expect(sortedKeys(record), `${count} keys: ${JSON.stringify(Object.keys(record))}`).toEqual(
          expected,
        );
      }
    }
  });

  it('orders by UTF-16 code unit around the insertion-sort limit of 16 keys', () => {
    // Already sorted, reversed, and with integer-like keys that Object.keys lists first.
    for (const count of [15, 16, 17]) {
      const names = Array.from({ length: count }, (_, i) =>
        i % 3 === 0 ? String(i) : i % 3 === 1 ? `\u{1f600}${i}` : `\uffff${i}`,
      );
      for (const order of [names, [...names].reverse()]) {
        const record = Object.fromEntries(order.map((name) => [name, true]));
        expect(sortedKeys(record)).toEqual(Object.keys(record).sort());
      }
    }
  });
});

/**
 * The canonical form as it was written before it was optimised: keys sorted with
 * Array.prototype.sort, JSON.stringify for every leaf, undefined and functions dropped from
 * objects and written as null in arrays.
 */
function referenceCanonicalJson(value: unknown): string {
  if (
    value !== null &&
    typeof value === 'object' &&
    typeof (value as { toJSON?: unknown }).toJSON === 'function'
  ) {
    value = (value as { toJSON: () => unknown }).toJSON();
  }
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  const skipped = (item: unknown): boolean =>
    item === undefined || typeof item === 'function' || typeof item === 'symbol';
  if (Array.isArray(value)) {
    return `[${value.map((item: unknown) => (skipped(item) ? 'null' : referenceCanonicalJson(item))).join(',')}]`;
  }
  const record = value as Record<string, unknown>;
  const members = Object.keys(record)
    .sort()
    .filter((key) => !skipped(record[key]))
    .map((key) => `${JSON.stringify(key)}:${referenceCanonicalJson(record[key])}`);
  return `{${members.join(',')}}`;
}

function randomLeaf(random: () => number): unknown {
  const leaves: unknown[] = [
    null,
    undefined,
    true,
    false,
    0,
    -0,
    1,
    -17.25,
    1e21,
    Number.MAX_SAFE_INTEGER,
    Number.NaN,
    Number.POSITIVE_INFINITY,
    '',
    'plain',
    'quote " backslash \\ newline \n tab \t',
    'é中\u{1f600}',
    '\ud800 lone',
    '\u0000\u001f\u2028',
    () => 1,
    Symbol('leaf'),
    new Date(Date.UTC(2026, 0, 2, 3, 4, 5)),
  ];
  return leaves[Math.floor(random() * leaves.length)];
}

function randomValue(random: () => number, depth: number): unknown {
  const pick = random();
  if (depth >= 4 || pick < 0.4) return randomLeaf(random);
  // Wide objects (past the insertion-sort limit) at the top, small ones below, to stay quick.
  const count = Math.floor(random() * (pick < 0.7 ? 6 : depth === 0 ? 24 : 8));
  if (pick < 0.7) return Array.from({ length: count }, () => randomValue(random, depth + 1));
  const record: Record<string, unknown> = {};
  for (let i = 0; i < count; i++) {
    Object.defineProperty(record, randomKey(random), {
      value: randomValue(random, depth + 1),
      enumerable: true,
      writable: true,
      configurable: true,
    });
  }
  return record;
}

describe('canonicalJson against a reference implementation', () => {
  it('writes the same text for random nested objects and arrays', () => {
    const random = seededRandom(0xca_70_1c);
    for (let round = 0; round < 1_000; round++) {
      const value = randomValue(random, 0);
      const canonical = canonicalJson(value);
      expect(canonical, `round ${round}`).toBe(referenceCanonicalJson(value));
      // And it is still JSON, with the same content JSON.stringify would send.
      const sent = JSON.stringify(value) as string | undefined;
      expect(JSON.parse(canonical), `round ${round}`).toEqual(
        sent === undefined ? null : JSON.parse(sent),
      );
    }
  });

  it('writes the same text for a fixed body with every kind of member', () => {
    const body = {
      z: [1, undefined, () => 2, { b: 2, a: [null, { '10': 'ten', '9': 'nine', '': 'empty' }] }],
      '\u{1f600}': 'astral',
      '\uffff': 'last of the BMP',
      é: { drop: undefined, fn: () => 3, keep: false },
      '2': 2,
      '10': 10,
      at: new Date(Date.UTC(2026, 0, 2)),
    };
    expect(canonicalJson(body)).toBe(referenceCanonicalJson(body));
    expect(canonicalJson(body)).toBe(
      '{"10":10,"2":2,"at":"2026-01-02T00:00:00.000Z",' +
        '"z":[1,null,null,{"a":[null,{"":"empty","10":"ten","9":"nine"}],"b":2}],' +
        '"é":{"keep":false},"\u{1f600}":"astral","\uffff":"last of the BMP"}',
    );
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

  it('refuses a duration longer than a century, which Redis could not take as an expiry', () => {
    expect(toMilliseconds('36500d', 'ttl')).toBe(36_500 * 86_400_000);
    for (const value of [1e17, Number.MAX_VALUE, '36501d']) {
      expect(() => toMilliseconds(value, 'ttl')).toThrow(/ttl is .*longer than 100 years/);
    }
  });
});
