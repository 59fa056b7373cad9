/**
 * The run-once rules of messages (`beginMessage`, `runMessage`), which the Nest microservice
 * adapter and `MessageOnce` (tollgate/amqp, tollgate/bullmq) share: for each kind of message,
 * what a repeat gets, what is kept of a run, and what a failed run leaves.
 */
import { describe, expect, it } from 'vitest';

import { IdempotencyEngine } from '../../src/core/idempotency/engine.js';
import {
  beginMessage,
  runMessage,
  type MessageKind,
} from '../../src/core/idempotency/message-run.js';
import type { IncomingMessage } from '../../src/core/idempotency/message.js';
import { MessageOnce } from '../../src/core/idempotency/once.js';
import { resolveIdempotencyPolicy } from '../../src/core/idempotency/options.js';
import type { CommittedResult } from '../../src/core/store.js';
import { MemoryStore } from '../../src/stores/memory/memory-store.js';

const policy = resolveIdempotencyPolicy({ maxResponseBytes: 64 }, undefined, { decorated: true });
let next = 0;
const fresh = (): IncomingMessage => ({
  route: 'r',
  scope: undefined,
  data: { n: 1 },
  id: `m-${(next += 1)}`,
});

function setUp() {
  const engine = new IdempotencyEngine(new MemoryStore(), { onEvent: () => undefined });
  const warnings: string[] = [];
  const warn = (line: string): void => void warnings.push(line);
  /** One delivery: runs `handler` if the rules say so; what the delivery got. */
  const deliver = async (
    message: IncomingMessage,
    kind: MessageKind,
    handler: () => Promise<readonly unknown[]>,
  ) => {
    const step = await beginMessage(engine, policy, message, kind);
    if (step.action !== 'proceed') return step;
    return { action: 'ran', values: await runMessage(step.execution, kind, handler, warn) };
  };
  return { engine, warnings, deliver };
}

const values =
  (...list: unknown[]) =>
  () =>
    Promise.resolve(list);

describe('beginMessage and runMessage', () => {
  it('a repeat of a reply or a job gets its values again; of an event, nothing', async () => {
    const { deliver } = setUp();
    for (const kind of ['reply', 'job'] as const) {
      const message = fresh();
      expect(await deliver(message, kind, values(1, { two: 2 }))).toEqual({
        action: 'ran',
        values: [1, { two: 2 }],
      });
      expect(await deliver(message, kind, values('again'))).toEqual({
        action: 'replay',
        values: [1, { two: 2 }],
      });
    }
    const event = fresh();
    await deliver(event, 'event', values('ignored'));
    expect(await deliver(event, 'event', values('again'))).toEqual({ action: 'handled' });
  });

  it('a repeat whose values were too large to keep: refused for a reply, handled otherwise', async () => {
    const { deliver } = setUp();
    const large = values('x'.repeat(100));
    const reply = fresh();
    await deliver(reply, 'reply', large);
    expect(await deliver(reply, 'reply', large)).toMatchObject({
      action: 'reject',
      error: { code: 'TOLLGATE_NOT_REPLAYABLE' },
    });
    const job = fresh();
    await deliver(job, 'job', large);
    expect(await deliver(job, 'job', large)).toEqual({ action: 'handled' });
    // An event keeps only that it ran, whatever its handler produced.
    const event = fresh();
    await deliver(event, 'event', large);
    expect(await deliver(event, 'event', large)).toEqual({ action: 'handled' });
  });

  it('a handler that fails gives the message back: its redelivery runs', async () => {
    const { deliver } = setUp();
    for (const kind of ['reply', 'job', 'event'] as const) {
      const message = fresh();
      await expect(
        deliver(message, kind, () => Promise.reject(new Error('downstream'))),
      ).rejects.toThrow('downstream');
      expect(await deliver(message, kind, values('second'))).toEqual({
        action: 'ran',
        values: ['second'],
      });
    }
  });

  it('a reply JSON cannot carry is released with a warning; a job keeps "handled"', async () => {
    const { deliver, warnings } = setUp();
    const reply = fresh();
    await deliver(reply, 'reply', values(10n));
    expect(warnings).toEqual([expect.stringContaining('could not be stored as JSON')]);
    expect(await deliver(reply, 'reply', values('second'))).toMatchObject({ action: 'ran' });

    const job = fresh();
    await deliver(job, 'job', values(10n));
    expect(await deliver(job, 'job', values('second'))).toEqual({
      action: 'replay',
      values: [undefined],
    });
    expect(warnings).toHaveLength(1);
  });

  it('a duplicate while the first still runs: refused for a reply, handled otherwise', async () => {
    const { engine } = setUp();
    const lockPolicy = resolveIdempotencyPolicy({ strategy: 'lock', window: '5s' }, undefined, {
      decorated: true,
    });
    for (const kind of ['reply', 'job', 'event'] as const) {
      const message = fresh();
      const first = await beginMessage(engine, lockPolicy, message, kind);
      expect(first.action).toBe('proceed');
      const again = await beginMessage(engine, lockPolicy, message, kind);
      if (kind === 'reply') {
        expect(again).toMatchObject({ action: 'reject', error: { code: 'TOLLGATE_DUPLICATE' } });
      } else {
        expect(again).toEqual({ action: 'handled' });
      }
    }
  });
});

describe('a result committed in the work’s transaction', () => {
  /** A store that answers every begin with a committed result, as after a crash past the commit. */
  function committedStore(json: string): MemoryStore {
    const store = new MemoryStore();
    const result: CommittedResult = { status: 200, headers: [], json };
    store.begin = () => Promise.resolve({ state: 'committed', result });
    return store;
  }

  it('is replayed as the one value it was, an array included', async () => {
    const engine = new IdempotencyEngine(committedStore('[{"paid":7},"receipt"]'), {
      onEvent: () => undefined,
    });
    expect(await beginMessage(engine, policy, fresh(), 'reply')).toEqual({
      action: 'replay',
      values: [[{ paid: 7 }, 'receipt']],
    });
  });

  it('is what MessageOnce gives a redelivered job', async () => {
    const once = new MessageOnce(committedStore('[{"paid":7},"receipt"]'));
    expect(await once.run({ route: 'r', id: 'j-1', data: 1 }, () => 'not run')).toEqual({
      ran: false,
      value: [{ paid: 7 }, 'receipt'],
    });
  });
});
