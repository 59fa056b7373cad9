import { describe, expect, it } from 'vitest';

import { IdempotencyEngine } from '../../src/core/idempotency/engine.js';
import {
  decodeMessageReply,
  defaultMessageId,
  describeMessage,
  encodeMessageReply,
  isDuplicateDelivery,
  MESSAGE_METHOD,
  type IncomingMessage,
} from '../../src/core/idempotency/message.js';
import { resolveIdempotencyPolicy } from '../../src/core/idempotency/options.js';
import {
  duplicateLocked,
  inProgress,
  keyReused,
  storeUnavailable,
} from '../../src/core/idempotency/problems.js';
import { MemoryStore } from '../../src/stores/memory/memory-store.js';
import type { StoredResponse } from '../../src/core/store.js';

const message = (overrides: Partial<IncomingMessage> = {}): IncomingMessage => ({
  route: '["charge"] Payments.charge',
  scope: 'anonymous',
  data: { id: 'm-1', amount: 5 },
  id: 'm-1',
  ...overrides,
});

const keyOf = (incoming: IncomingMessage): string | undefined =>
  describeMessage(incoming, 'Idempotency-Key').header('idempotency-key') as string | undefined;

describe('message ids', () => {
  it.each([
    [{ id: 'abc' }, 'abc'],
    [{ messageId: 'def' }, 'def'],
    [{ id: 42 }, '42'],
    [{ id: 'abc', messageId: 'def' }, 'abc'],
    [{ id: '' }, undefined],
    [{ id: { nested: 1 } }, undefined],
    [{ id: Number.NaN }, undefined],
    ['a string payload', undefined],
    [null, undefined],
  ])('reads %j as id %s', (data, id) => {
    expect(defaultMessageId(data)).toBe(id);
  });
});

describe('describeMessage', () => {
  it('describes a message as method MESSAGE on its handler, with its payload as the body', () => {
    const described = describeMessage(message(), 'Idempotency-Key');
    expect(described.method).toBe(MESSAGE_METHOD);
    expect(described.route).toBe('["charge"] Payments.charge');
    expect(described.body).toEqual({ id: 'm-1', amount: 5 });
    expect(described.header('authorization')).toBeUndefined();
  });

  it('turns any id into a valid key: long, spaced and non-ASCII ids included', () => {
    for (const id of ['x'.repeat(1000), 'with spaces', 'caf\u00e9', '"quoted"']) {
      expect(keyOf(message({ id }))).toMatch(/^id:[A-Za-z0-9_-]{43}$/);
    }
    expect(keyOf(message({ id: 'a' }))).not.toBe(keyOf(message({ id: 'b' })));
  });

  it('keys a message without an id by its payload, in any key order', () => {
    const a = keyOf(message({ id: undefined, data: { item: 'x', amount: 1 } }));
    const b = keyOf(message({ id: undefined, data: { amount: 1, item: 'x' } }));
    const c = keyOf(message({ id: undefined, data: { amount: 2, item: 'x' } }));
    expect(a).toMatch(/^payload:/);
    expect(b).toBe(a);
    expect(c).not.toBe(a);
  });

  it('answers under the configured key header name only', () => {
    const described = describeMessage(message(), 'X-Request-Id');
    expect(described.header('x-request-id')).toMatch(/^id:/);
    expect(described.header('idempotency-key')).toBeUndefined();
  });
});

describe('message replies', () => {
  const stored = (body: Uint8Array): StoredResponse => ({ status: 200, headers: [], body });

  it.each([[[{ a: 1 }]], [['text']], [[null]], [[1, 'two', { three: 3 }]], [[]], [[undefined]]])(
    'replays %j as the same values',
    (values) => {
      const reply = encodeMessageReply(values, 1024);
      expect(reply && 'body' in reply).toBe(true);
      if (!reply || !('body' in reply)) return;
      expect(decodeMessageReply(stored(reply.body))).toEqual(values);
    },
  );

  it('reports a reply over maxResponseBytes as too large', () => {
    expect(encodeMessageReply(['x'.repeat(100)], 50)).toEqual({
      status: 200,
      unstorable: 'too-large',
    });
  });

  it('refuses a value JSON cannot carry', () => {
    const circular: Record<string, unknown> = {};
    circular.self = circular;
    expect(encodeMessageReply([circular], 1024)).toBeUndefined();
    expect(encodeMessageReply([10n], 1024)).toBeUndefined();
  });

  it('treats already-handled as a duplicate; in progress and anything else as an error, so it is redelivered', () => {
    // The first delivery's consumer may have crashed holding the key: acknowledging this one as
    // handled elsewhere would lose the message.
    expect(isDuplicateDelivery(inProgress(1000))).toBe(false);
    expect(isDuplicateDelivery(duplicateLocked(1000))).toBe(true);
    expect(isDuplicateDelivery(keyReused('Idempotency-Key'))).toBe(false);
    expect(isDuplicateDelivery(storeUnavailable())).toBe(false);
  });
});

describe('the engine on messages', () => {
  const store = new MemoryStore();
  const engine = new IdempotencyEngine(store, { onEvent: () => undefined });
  const policy = resolveIdempotencyPolicy({}, undefined, { decorated: true });

  it('runs a message once, replays it, and refuses its id with another payload', async () => {
    const first = await engine.begin(describeMessage(message(), policy.headerName), policy);
    expect(first.action).toBe('proceed');
    if (first.action !== 'proceed') return;
    const reply = encodeMessageReply([{ charged: true }], policy.maxResponseBytes);
    if (!reply) throw new Error('expected a storable reply');
    await first.execution.finish(reply);

    const again = await engine.begin(describeMessage(message(), policy.headerName), policy);
    expect(again.action).toBe('replay');
    if (again.action === 'replay') {
      expect(decodeMessageReply(again.response)).toEqual([{ charged: true }]);
    }

    const reused = await engine.begin(
      describeMessage(message({ data: { id: 'm-1', amount: 6 } }), policy.headerName),
      policy,
    );
    expect(reused.action).toBe('reject');
    if (reused.action === 'reject') expect(reused.error.status).toBe(422);
  });

  it('keeps two handlers of one message apart', async () => {
    const audit = message({ route: '["charge"] Audit.charge', id: 'm-2' });
    const charge = message({ id: 'm-2' });
    expect((await engine.begin(describeMessage(charge, policy.headerName), policy)).action).toBe(
      'proceed',
    );
    expect((await engine.begin(describeMessage(audit, policy.headerName), policy)).action).toBe(
      'proceed',
    );
  });

  it('turns a payload nested too deeply into a rejection, not a throw', async () => {
    let deep: unknown = 1;
    for (let i = 0; i < 100; i++) deep = [deep];
    const decision = await engine.begin(
      describeMessage(message({ id: undefined, data: deep }), policy.headerName),
      policy,
    );
    expect(decision.action).toBe('reject');
  });
});
