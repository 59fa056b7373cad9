/**
 * `MessageOnce`, the core runner under `exclusiveConsumer()` and `idempotentProcessor()`: what a
 * repeated, failed, concurrent or conflicting delivery of one message gets.
 */
import { setTimeout as sleep } from 'node:timers/promises';

import { describe, expect, it } from 'vitest';

import type { IdempotencyEvent } from '../../src/core/idempotency/events.js';
import { MessageOnce } from '../../src/core/idempotency/once.js';
import { MemoryStore } from '../../src/index.js';

const message = (id: string | undefined, data: unknown = { n: 1 }) => ({ route: 'r', id, data });

describe('MessageOnce', () => {
  it('runs a message once; a repeat gets the first result without running', async () => {
    const once = new MessageOnce(new MemoryStore());
    let runs = 0;
    const work = () => ({ run: (runs += 1) });
    expect(await once.run(message('m-1'), work)).toEqual({ ran: true, value: { run: 1 } });
    expect(await once.run(message('m-1'), work)).toEqual({ ran: false, value: { run: 1 } });
    expect(runs).toBe(1);
  });

  it('keeps routes apart: two consumers of one message each run it', async () => {
    const once = new MessageOnce(new MemoryStore());
    let runs = 0;
    await once.run({ route: 'a', id: 'm', data: 1 }, () => (runs += 1));
    await once.run({ route: 'b', id: 'm', data: 1 }, () => (runs += 1));
    expect(runs).toBe(2);
  });

  it('a run that fails releases the message: the redelivery runs', async () => {
    const once = new MessageOnce(new MemoryStore());
    await expect(
      once.run(message('m-2'), () => {
        throw new Error('downstream unavailable');
      }),
    ).rejects.toThrow('downstream unavailable');
    expect(await once.run(message('m-2'), () => 'second')).toEqual({ ran: true, value: 'second' });
  });

  it('an id reused with another payload is refused, not run', async () => {
    const once = new MessageOnce(new MemoryStore());
    await once.run(message('m-3', { n: 1 }), () => 'first');
    await expect(once.run(message('m-3', { n: 2 }), () => 'other')).rejects.toMatchObject({
      code: 'TOLLGATE_KEY_REUSED',
    });
  });

  it('without an id, the payload identifies the message (raw bytes included)', async () => {
    const once = new MessageOnce(new MemoryStore());
    let runs = 0;
    await once.run(message(undefined, Buffer.from('payload')), () => (runs += 1));
    await once.run(message(undefined, Buffer.from('payload')), () => (runs += 1));
    await once.run(message(undefined, Buffer.from('another')), () => (runs += 1));
    expect(runs).toBe(2);
  });

  it('a redelivery while the first run is in progress waits for it, then does not run', async () => {
    const once = new MessageOnce(new MemoryStore(), { lease: '2s' });
    let runs = 0;
    const first = once.run(message('m-4'), async () => {
      runs += 1;
      await sleep(200);
      return 'done';
    });
    await sleep(20);
    const second = await once.run(message('m-4'), () => (runs += 1));
    expect(await first).toEqual({ ran: true, value: 'done' });
    expect(second).toEqual({ ran: false, value: 'done' });
    expect(runs).toBe(1);
  });

  it('a result JSON cannot carry, or over 1 MiB, is not kept: a repeat gets undefined and does not run', async () => {
    const events: IdempotencyEvent[] = [];
    const once = new MessageOnce(new MemoryStore(), { onEvent: (event) => events.push(event) });
    let runs = 0;
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    const results: unknown[] = [10n, cyclic, 'x'.repeat(2 * 1024 * 1024)];
    for (const [i, result] of results.entries()) {
      const work = () => {
        runs += 1;
        return result;
      };
      // The run itself still hands its value on: only the record goes without it.
      expect(await once.run(message(`m-big-${i}`), work)).toEqual({ ran: true, value: result });
      expect(await once.run(message(`m-big-${i}`), work)).toEqual({ ran: false, value: undefined });
    }
    expect(runs).toBe(results.length);
    expect(
      events.flatMap((event) => (event.type === 'result-not-kept' ? [event.reason] : [])),
    ).toEqual(['not-json', 'not-json', 'too-large']);
  });

  it('a redelivery gives up with TOLLGATE_IN_PROGRESS when the first run outlasts its wait', async () => {
    const store = new MemoryStore();
    // Still running (renewing its lease): a redelivery must not run beside it. A run that died
    // stops renewing and is taken over after its lease: test/queues/bullmq.test.ts kills one.
    void new MessageOnce(store, { lease: '300ms' }).run(
      message('m-5'),
      () => new Promise(() => undefined),
    );
    await sleep(20);
    const impatient = new MessageOnce(store, { lease: '300ms', waitForInFlight: '100ms' });
    await expect(impatient.run(message('m-5'), () => 'early')).rejects.toMatchObject({
      code: 'TOLLGATE_IN_PROGRESS',
    });
  });
});
